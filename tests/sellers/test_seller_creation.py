"""POST /api/v1/sellers/ honours Idempotency-Key, and usernames are unique
ignoring case and width (issue 10, item 12)."""

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError

from tests.helpers.api import API, assert_error, nothing_written, post


def test_a_lost_201_is_replayed_with_the_same_token(staff_client):
    body = {"name": "Shop R", "username": "shop-r"}
    first = post(staff_client, f"{API}/sellers/", body, key="create-shop-r")
    with nothing_written():
        again = post(staff_client, f"{API}/sellers/", body, key="create-shop-r")
    assert first.status_code == again.status_code == 201, again.content
    assert again.json() == first.json() and first.json()["api_token"]
    assert again["Idempotent-Replayed"] == "true"
    token = first.json()["api_token"]
    me = staff_client.__class__()
    me.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert me.get(f"{API}/me/").json()["name"] == "Shop R"


def test_the_key_with_another_body_is_422(staff_client):
    post(staff_client, f"{API}/sellers/", {"name": "Shop S", "username": "shop-s"}, key="create-s")
    with nothing_written():
        response = post(staff_client, f"{API}/sellers/", {"name": "Shop T", "username": "shop-t"}, key="create-s")
    assert_error(response, 422, "idempotency_key_reused")


def test_a_refused_creation_keeps_no_key(staff_client):
    post(staff_client, f"{API}/sellers/", {"name": "Shop U", "username": "shop-u"})
    refused = post(staff_client, f"{API}/sellers/", {"name": "Shop U2", "username": "shop-u"}, key="k-u")
    assert_error(refused, 400, "validation_error")
    created = post(staff_client, f"{API}/sellers/", {"name": "Shop U2", "username": "shop-u2"}, key="k-u")
    assert created.status_code == 201, created.content


@pytest.mark.parametrize(
    "taken, given", [("staff", "ＳＴＡＦＦ"), ("staff", "Staff"), ("shopä", "SHOPÄ"), ("Shop-V", "shop-v")]
)
def test_a_username_differing_only_in_case_or_width_is_refused(staff_client, taken, given):
    get_user_model().objects.create_user(username=taken)
    with nothing_written():
        response = post(staff_client, f"{API}/sellers/", {"name": "Copycat", "username": given})
    error = assert_error(response, 400, "validation_error")
    assert "username" in error["details"]


def test_the_database_refuses_a_folded_duplicate_bypassing_python(db):
    get_user_model().objects.create_user(username="staff")
    with pytest.raises(IntegrityError, match="auth_user_username_folded_unique"):
        # objects.create skips create_user's NFKC: the index folds width itself.
        get_user_model().objects.create(username="ＳＴＡＦＦ")
