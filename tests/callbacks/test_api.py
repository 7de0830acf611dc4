"""PUT/GET/DELETE /api/v1/me/callback/: statuses, validation, secrets."""

import json
import re

import pytest
from rest_framework.test import APIClient

from callbacks.models import CallbackEndpoint
from tests.callbacks.test_targets import IPV6_SPELLINGS_OF_PRIVATE_IPV4
from tests.helpers.api import Raw, assert_error

URL = "/api/v1/me/callback/"
HOOK = "https://shop.example/hooks"


def put(client, body):
    if isinstance(body, Raw):
        return client.put(URL, body.text, content_type=body.content_type)
    return client.put(URL, json.dumps(body), content_type="application/json")


@pytest.fixture
def seller(make_seller):
    return make_seller()


@pytest.fixture
def client(seller, seller_client):
    return seller_client(seller)


def test_put_sets_the_url_and_answers_a_new_secret_every_time(client, seller):
    first = put(client, {"url": HOOK})
    second = put(client, {"url": HOOK + "/v2"})
    assert first.status_code == second.status_code == 200
    assert set(first.json()) == set(second.json()) == {"url", "secret"}
    assert first.json()["url"] == HOOK and second.json()["url"] == HOOK + "/v2"
    secrets = [first.json()["secret"], second.json()["secret"]]
    assert all(re.fullmatch(r"[0-9a-f]{64}", secret) for secret in secrets)
    assert secrets[0] != secrets[1]
    endpoint = CallbackEndpoint.objects.get(seller=seller)
    assert (endpoint.url, endpoint.secret) == (HOOK + "/v2", secrets[1])
    assert CallbackEndpoint.objects.count() == 1


def test_the_same_url_again_still_rotates_the_secret(client):
    assert put(client, {"url": HOOK}).json()["secret"] != put(client, {"url": HOOK}).json()["secret"]


def test_get_shows_the_url_never_the_secret(client):
    put(client, {"url": HOOK})
    response = client.get(URL)
    assert (response.status_code, response.json()) == (200, {"url": HOOK})


def test_get_without_a_url_is_404(client):
    assert_error(client.get(URL), 404, "not_found")


def test_delete_removes_the_url_and_is_idempotent(client, seller):
    put(client, {"url": HOOK})
    for _ in range(2):
        response = client.delete(URL)
        assert (response.status_code, response.content) == (204, b"")
    assert not CallbackEndpoint.objects.filter(seller=seller).exists()
    assert_error(client.get(URL), 404, "not_found")


def test_each_seller_sees_only_its_own_url(client, make_seller, seller_client):
    put(client, {"url": HOOK})
    other = seller_client(make_seller())
    assert_error(other.get(URL), 404, "not_found")
    assert other.delete(URL).status_code == 204
    assert client.get(URL).json() == {"url": HOOK}


def test_staff_are_refused(staff_client):
    for response in (staff_client.get(URL), put(staff_client, {"url": HOOK}), staff_client.delete(URL)):
        assert_error(response, 403, "permission_denied")
    assert CallbackEndpoint.objects.count() == 0


@pytest.mark.parametrize("credentials", [None, "Token " + "0" * 64])
def test_no_or_bad_token_is_401(db, credentials):
    anonymous = APIClient()
    if credentials:
        anonymous.credentials(HTTP_AUTHORIZATION=credentials)
    for response in (anonymous.get(URL), put(anonymous, {"url": HOOK}), anonymous.delete(URL)):
        assert_error(response, 401, "not_authenticated")


def test_other_methods_are_405(client):
    assert_error(
        client.post(URL, json.dumps({"url": HOOK}), content_type="application/json"), 405, "method_not_allowed"
    )


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"url": None},
        {"url": 5},
        {"url": ["https://shop.example/"]},
        {"url": ""},
        {"url": "shop.example/hooks"},
        {"url": "ftp://shop.example/hooks"},
        {"url": "javascript:alert(1)"},
        {"url": "file:///etc/passwd"},
        {"url": "http://"},
        {"url": "http:///path-only"},
        {"url": "https://shop.example:99999/"},
        {"url": "https://user:password@shop.example/"},
        {"url": "https://shop.example/a b"},
        {"url": "https://shop.example/\x00"},
        {"url": "https://shop.example/" + "a" * 2048},
        [{"url": HOOK}],
        Raw('{"url": "https://shop.example/"'),
        Raw("url=https://shop.example/", "application/x-www-form-urlencoded"),
    ],
)
def test_bad_bodies_are_400_and_change_nothing(client, seller, body):
    put(client, {"url": HOOK})
    before = CallbackEndpoint.objects.values().get(seller=seller)
    response = put(client, body)
    assert_error(response, 400, "validation_error")
    assert CallbackEndpoint.objects.values().get(seller=seller) == before


def test_the_url_error_names_the_field(client):
    error = assert_error(put(client, {"url": "ftp://shop.example/"}), 400, "validation_error")
    assert list(error["details"]) == ["url"]


def test_http_is_refused_in_production(client, settings):
    settings.PRODUCTION = True
    error = assert_error(put(client, {"url": "http://shop.example/hooks"}), 400, "validation_error")
    assert "https://" in error["details"]["url"][0]
    assert CallbackEndpoint.objects.count() == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/",
        "http://localhost/hooks",
        "http://10.1.2.3/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[::ffff:127.0.0.1]/",
        *(f"http://[{address}]/" for address in IPV6_SPELLINGS_OF_PRIVATE_IPV4),
        "http://2130706433/",
        "http://0x7f.1/",
    ],
)
def test_non_public_targets_are_refused_when_private_targets_are_off(client, settings, url):
    settings.CALLBACK_ALLOW_PRIVATE_TARGETS = False
    assert_error(put(client, {"url": url}), 400, "validation_error")
    assert CallbackEndpoint.objects.count() == 0


def test_a_public_address_is_accepted_when_private_targets_are_off(client, settings):
    settings.CALLBACK_ALLOW_PRIVATE_TARGETS = False
    settings.PRODUCTION = True
    response = put(client, {"url": "https://93.184.216.34/hooks"})
    assert response.status_code == 200, response.content


def test_private_targets_are_accepted_in_development(client):
    assert put(client, {"url": "http://127.0.0.1:8301/"}).status_code == 200


def test_the_schema_documents_the_operations(db):
    schema = json.loads(APIClient().get("/api/schema/?format=json").content)
    operations = schema["paths"]["/api/v1/me/callback/"]
    assert set(operations) == {"get", "put", "delete"}
    assert set(operations["put"]["responses"]) >= {"200", "400", "401", "403"}
    assert set(operations["get"]["responses"]) >= {"200", "401", "403", "404"}
    assert "204" in operations["delete"]["responses"]
