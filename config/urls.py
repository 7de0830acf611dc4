from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.negotiation import DefaultContentNegotiation

from callbacks import api as callbacks
from config.views import HealthView, metrics, ready
from credits import api as credits
from ledger import api as ledger
from portal import views as portal
from recharges import api as recharges
from reports import api as reports
from reports.dashboard import dashboard
from sellers import api as sellers

api = [
    # First: the hottest route, resolved with the fewest pattern tries.
    path("recharges/", recharges.RechargeListCreateView.as_view()),
    path("me/", sellers.MeView.as_view()),
    path("sellers/", sellers.SellerListCreateView.as_view()),
    path("sellers/<int:seller_id>/", sellers.SellerDetailView.as_view()),
    path("sellers/<int:seller_id>/adjustments/", ledger.AdjustmentCreateView.as_view()),
    path(
        "sellers/<int:seller_id>/adjustments/<int:adjustment_id>/approve/",
        ledger.AdjustmentApproveView.as_view(),
    ),
    path(
        "sellers/<int:seller_id>/adjustments/<int:adjustment_id>/reject/",
        ledger.AdjustmentRejectView.as_view(),
    ),
    path("sellers/<int:seller_id>/commissions/", recharges.SellerCommissionsView.as_view()),
    path("sellers/<int:seller_id>/limits/", sellers.SellerLimitsView.as_view()),
    path("credit-requests/", credits.CreditRequestListCreateView.as_view()),
    path("credit-requests/<int:credit_request_id>/", credits.CreditRequestDetailView.as_view()),
    path("credit-requests/<int:credit_request_id>/approve/", credits.CreditRequestApproveView.as_view()),
    path("credit-requests/<int:credit_request_id>/reject/", credits.CreditRequestRejectView.as_view()),
    path(
        "credit-requests/<int:credit_request_id>/receipt/",
        credits.CreditRequestReceiptView.as_view(),
        name="credit_request_receipt",
    ),
    path("banks/", credits.BankListView.as_view()),
    path("recharges/<int:recharge_id>/", recharges.RechargeDetailView.as_view()),
    path("recharge-batches/", recharges.BatchCreateView.as_view()),
    path("recharge-batches/<int:batch_id>/", recharges.BatchDetailView.as_view()),
    path("operators/", recharges.OperatorListView.as_view()),
    path("products/", recharges.ProductListView.as_view()),
    path("transactions/", ledger.TransactionListView.as_view()),
    path("me/callback/", callbacks.CallbackView.as_view()),
    path("me/alerts/", sellers.AlertsView.as_view()),
    path("transactions/export/", reports.TransactionExportView.as_view()),
    path("sellers/<int:seller_id>/transactions/export/", reports.SellerTransactionExportView.as_view()),
    path("reports/daily/", reports.DailyReportView.as_view()),
]

urlpatterns = [
    path("api/v1/", include(api)),
    path("admin/dashboard/", admin.site.admin_view(dashboard), name="reports_dashboard"),
    path("admin/", admin.site.urls),
    path("healthz", HealthView.as_view()),
    path("readyz", ready),
    path("metrics", metrics),
    # The schema alone comes in two formats (YAML, or JSON with ?format=json).
    path("api/schema/", SpectacularAPIView.as_view(content_negotiation_class=DefaultContentNegotiation), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("", portal.landing, name="landing"),
    path("portal/", include("portal.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]

# The admin's "View site" leads to the landing page (portal, admin, API docs).
admin.site.site_url = "/"

handler400 = "config.views.bad_request"
handler403 = "config.views.permission_denied"
handler404 = "config.views.not_found"
handler500 = "config.views.server_error"
