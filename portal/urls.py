from django.urls import path

from portal import views

app_name = "portal"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("login/code/", views.login_code, name="login_code"),
    path("two-factor/", views.two_factor_settings, name="two_factor"),
    path("statement/", views.statement, name="statement"),
    path("statement.csv", views.statement_csv, name="statement_csv"),
    path("recharges/", views.recharges, name="recharges"),
    path("recharges/<int:recharge_id>/", views.recharge_detail, name="recharge_detail"),
    path("credit-requests/", views.credit_requests, name="credit_requests"),
    path(
        "credit-requests/<int:credit_request_id>/receipt/", views.credit_request_receipt, name="credit_request_receipt"
    ),
    path("api-token/", views.api_token, name="api_token"),
    path("api-token/rotate/", views.rotate_token, name="rotate_token"),
    path("callback/", views.callback, name="callback"),
    path("callback/remove/", views.remove_callback, name="remove_callback"),
]
