"""Sellers funded and clients authenticated the way production does it:
through the services and real tokens."""

from rest_framework.test import APIClient

from credits.services import approve_credit_request, request_credit
from sellers.services import issue_api_token


def fund(seller, amount: int, staff_user) -> None:
    """Credits `amount` through an approved credit request."""
    credit_request = request_credit(seller_id=seller.pk, amount=amount)
    approve_credit_request(credit_request_id=credit_request.pk, decided_by=staff_user)


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue_api_token(user=user)}")
    return client
