"""/healthz, the OpenAPI document and Swagger UI: no token needed, nothing
fetched from outside the service, and the schema describes the contract."""

import json
import re

import pytest
import yaml
from openapi_spec_validator import validate

from tests.helpers.api import API, ITEM_BODY, post

CONTRACT_PATHS = {
    "/healthz",
    "/api/v1/me/",
    "/api/v1/sellers/",
    "/api/v1/sellers/{seller_id}/",
    "/api/v1/sellers/{seller_id}/adjustments/",
    "/api/v1/credit-requests/",
    "/api/v1/credit-requests/{credit_request_id}/",
    "/api/v1/credit-requests/{credit_request_id}/approve/",
    "/api/v1/credit-requests/{credit_request_id}/reject/",
    "/api/v1/recharges/",
    "/api/v1/recharges/{recharge_id}/",
    "/api/v1/recharge-batches/",
    "/api/v1/recharge-batches/{batch_id}/",
    "/api/v1/transactions/",
    "/api/v1/operators/",
    "/api/v1/me/callback/",
    "/api/v1/transactions/export/",
    "/api/v1/sellers/{seller_id}/transactions/export/",
    "/api/v1/reports/daily/",
    # v1.2
    "/api/v1/sellers/{seller_id}/commissions/",
    "/api/v1/sellers/{seller_id}/limits/",
    "/api/v1/me/alerts/",
    "/api/v1/products/",
    # Money in (issue 21): the banks, a credit request's receipt (its receipt_url), an adjustment's second approval.
    "/api/v1/banks/",
    "/api/v1/credit-requests/{credit_request_id}/receipt/",
    "/api/v1/sellers/{seller_id}/adjustments/{adjustment_id}/approve/",
    "/api/v1/sellers/{seller_id}/adjustments/{adjustment_id}/reject/",
}
LISTS = ["/api/v1/sellers/", "/api/v1/credit-requests/", "/api/v1/recharges/", "/api/v1/transactions/"]


@pytest.fixture
def schema(anonymous_client) -> dict:
    response = anonymous_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    return json.loads(response.content)


def resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def response_schema(schema: dict, path: str, method: str, status: int) -> dict:
    return resolve(
        schema, schema["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    )


def test_healthz(anonymous_client, db):
    response = anonymous_client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok", "database": "ok"})


def test_schema_is_valid_openapi_3_in_yaml(anonymous_client):
    response = anonymous_client.get("/api/schema/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    document = yaml.safe_load(response.content)
    assert document["openapi"].startswith("3.")
    validate(document)


def test_schema_is_valid_openapi_3_in_json(schema, anonymous_client):
    assert anonymous_client.get("/api/schema/?format=json")["Content-Type"].startswith(
        "application/vnd.oai.openapi+json"
    )
    validate(schema)


def test_schema_and_docs_ignore_a_bad_token(bad_token_client):
    assert bad_token_client.get("/api/schema/").status_code == 200
    assert bad_token_client.get("/api/docs/").status_code == 200


def test_schema_lists_exactly_the_contracts_paths(schema):
    assert set(schema["paths"]) == CONTRACT_PATHS


def test_schema_declares_token_authentication_on_every_api_operation(schema):
    assert schema["components"]["securitySchemes"] == {
        "tokenAuth": {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'Token-based authentication with required prefix "Token"',
        }
    }
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            expected: list[dict[str, list[str]]] = [] if path == "/healthz" else [{"tokenAuth": []}]
            assert operation.get("security", []) == expected, (method, path)


@pytest.mark.parametrize("path", LISTS)
def test_schema_lists_are_cursor_pages(schema, path):
    page = response_schema(schema, path, "get", 200)
    assert set(page["properties"]) == {"next", "previous", "results"}
    assert {p["name"] for p in schema["paths"][path]["get"]["parameters"]} >= {"cursor", "page_size"}


@pytest.mark.parametrize("path", ["/api/v1/recharges/", "/api/v1/recharge-batches/", "/api/v1/credit-requests/"])
def test_schema_documents_the_idempotency_key(schema, path):
    operation = schema["paths"][path]["post"]
    assert {"in": "header", "name": "Idempotency-Key"}.items() <= operation["parameters"][0].items()
    assert {"201", "400", "401", "403", "422"} <= set(operation["responses"])


@pytest.mark.parametrize("path", ["/api/v1/recharges/", "/api/v1/recharge-batches/"])
def test_schema_documents_the_replay_header_on_the_answers_a_key_replays(schema, path):
    responses = schema["paths"][path]["post"]["responses"]
    replayed = {
        status for status, response in responses.items() if "Idempotent-Replayed" in response.get("headers", {})
    }
    assert replayed == {"201", "402", "403", "409"}
    assert "Idempotent-Replayed" not in str(schema["paths"]["/api/v1/recharges/"]["get"])


def test_schema_documents_retry_after_on_every_429_and_503(schema):
    waits = [
        (status, "Retry-After" in response.get("headers", {}))
        for operations in schema["paths"].values()
        for operation in operations.values()
        for status, response in operation["responses"].items()
        if status in ("429", "503")
    ]
    assert waits and all(declared for _, declared in waits)


def test_schema_documents_the_error_body(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) and path != "/healthz":
                    error = resolve(schema, response["content"]["application/json"]["schema"])
                    assert set(error["properties"]) == {"error"}, (method, path, status)


def test_schema_bodies_match_real_responses(schema, client_a, staff_client, seller_a):
    """The documented properties of each body are exactly those the API sends."""
    sale = post(client_a, f"{API}/recharges/", ITEM_BODY).json()
    batch = post(client_a, f"{API}/recharge-batches/", {"items": [ITEM_BODY]}).json()
    request = post(client_a, f"{API}/credit-requests/", {"amount": 1000}).json()
    adjustment = post(staff_client, f"{API}/sellers/{seller_a.pk}/adjustments/", {"amount": 1, "reason": "x"}).json()
    new_seller = post(staff_client, f"{API}/sellers/", {"name": "N", "username": "n1"}).json()
    entry = client_a.get(f"{API}/transactions/").json()["results"][0]
    for path, method, status, body in [
        ("/api/v1/recharges/", "post", 201, sale),
        ("/api/v1/recharge-batches/", "post", 201, batch),
        ("/api/v1/credit-requests/", "post", 201, request),
        ("/api/v1/sellers/{seller_id}/adjustments/", "post", 201, adjustment),
        ("/api/v1/sellers/", "post", 201, new_seller),
        ("/api/v1/me/", "get", 200, client_a.get(f"{API}/me/").json()),
    ]:
        documented = response_schema(schema, path, method, status)
        # An optional property (an adjustment's four-eyes status) may be absent from a v1 body.
        optional = set(documented["properties"]) - set(documented.get("required", []))
        assert set(body) <= set(documented["properties"]), path
        assert set(documented["properties"]) - set(body) <= optional, path
    item = resolve(
        schema, response_schema(schema, "/api/v1/transactions/", "get", 200)["properties"]["results"]["items"]
    )
    assert set(item["properties"]) == set(entry)


def test_schema_documents_an_adjustment_that_waits_for_a_second_approval(schema, staff_client, seller_a, settings):
    settings.FOUR_EYES_ADJUSTMENT_THRESHOLD = 10
    path = f"{API}/sellers/{seller_a.pk}/adjustments/"
    waiting = post(staff_client, path, {"amount": 11, "reason": "x"}).json()
    documented = response_schema(schema, "/api/v1/sellers/{seller_id}/adjustments/", "post", 201)
    assert set(documented["properties"]) == set(waiting)
    approve = response_schema(schema, "/api/v1/sellers/{seller_id}/adjustments/{adjustment_id}/approve/", "post", 201)
    assert set(approve["properties"]) == set(waiting)


def test_docs_are_served_locally_without_a_token(anonymous_client):
    response = anonymous_client.get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert not re.search(r"(?:https?:)?//(?!/)[\w.-]+\.[a-z]{2,}", html.replace("http://testserver", "")), (
        "external host"
    )
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets)
    for asset in assets:
        assert asset.startswith("/"), asset
        assert anonymous_client.get(asset).status_code == 200, asset


def test_schema_generates_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "schema.yaml"))
