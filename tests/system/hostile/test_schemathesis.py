"""Schemathesis against the service's own `/api/schema/`: every operation,
called in-process through the WSGI application with a valid token of the
right role, a token of the wrong role and invalid credentials, in positive
and negative generation modes.

Checks: no 5xx (`not_a_server_error`), the status code is documented, the
body conforms to the documented schema, the content type is documented.

Every request commits (`transaction=True`), as in production, so the
database's deferred rules (balance == ledger) run on each one. Seeded data
gives the generator real ids (its own and another seller's), valid phone
numbers and used Idempotency-Keys to draw from, so success paths, replays and
404s for another seller's objects are reached, not only 400s.

Bounded and deterministic: a fixed number of examples per operation and
credential, `derandomize=True`, no example database, no shrinking (failures
are collected, not raised inside Hypothesis, so one run reports all of them).
"""

import json
import traceback
from dataclasses import dataclass

import pytest
import schemathesis
from django.conf import settings
from django.core.cache import cache
from django.core.signals import got_request_exception
from django.test import override_settings
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application
from credits.services import approve_credit_request, reject_credit_request, request_credit
from ledger.services import adjust_balance
from recharges.services import sell_recharge, sell_recharge_batch
from sellers.services import issue_api_token
from tests.helpers.stats import STATS

pytestmark = pytest.mark.django_db(transaction=True)

SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# Who may call what (the contract); every operation in the schema must be listed.
SELLER, STAFF, PUBLIC = "seller", "staff", "public"
ROLES = {
    "GET /healthz": {PUBLIC},
    "GET /api/v1/me/": {SELLER},
    "GET /api/v1/sellers/": {STAFF},
    "POST /api/v1/sellers/": {STAFF},
    "GET /api/v1/sellers/{seller_id}/": {STAFF},
    "POST /api/v1/sellers/{seller_id}/adjustments/": {STAFF},
    "POST /api/v1/sellers/{seller_id}/adjustments/{adjustment_id}/approve/": {STAFF},
    "POST /api/v1/sellers/{seller_id}/adjustments/{adjustment_id}/reject/": {STAFF},
    "GET /api/v1/banks/": {SELLER, STAFF},
    "GET /api/v1/credit-requests/{credit_request_id}/receipt/": {SELLER, STAFF},
    "GET /api/v1/credit-requests/": {SELLER, STAFF},
    "POST /api/v1/credit-requests/": {SELLER},
    "GET /api/v1/credit-requests/{credit_request_id}/": {SELLER, STAFF},
    "POST /api/v1/credit-requests/{credit_request_id}/approve/": {STAFF},
    "POST /api/v1/credit-requests/{credit_request_id}/reject/": {STAFF},
    "GET /api/v1/recharges/": {SELLER},
    "POST /api/v1/recharges/": {SELLER},
    "GET /api/v1/recharges/{recharge_id}/": {SELLER},
    "POST /api/v1/recharge-batches/": {SELLER},
    "GET /api/v1/recharge-batches/{batch_id}/": {SELLER},
    "GET /api/v1/transactions/": {SELLER},
    "GET /api/v1/me/callback/": {SELLER},
    "PUT /api/v1/me/callback/": {SELLER},
    "DELETE /api/v1/me/callback/": {SELLER},
    "GET /api/v1/operators/": {SELLER, STAFF},
    "GET /api/v1/reports/daily/": {SELLER, STAFF},
    "GET /api/v1/transactions/export/": {SELLER},
    "GET /api/v1/sellers/{seller_id}/transactions/export/": {STAFF},
    "GET /api/v1/sellers/{seller_id}/commissions/": {STAFF},
    "PUT /api/v1/sellers/{seller_id}/commissions/": {STAFF},
    "GET /api/v1/sellers/{seller_id}/limits/": {STAFF},
    "PUT /api/v1/sellers/{seller_id}/limits/": {STAFF},
    "GET /api/v1/me/alerts/": {SELLER},
    "PUT /api/v1/me/alerts/": {SELLER},
    "GET /api/v1/products/": {SELLER, STAFF},
}

# Examples per operation: (credential, generation mode) -> max_examples.
OWN_ROLE_POSITIVE = 40
OWN_ROLE_NEGATIVE = 20
WRONG_ROLE = 5
INVALID_CREDENTIALS = 10

BAD_CREDENTIALS = [
    None,  # no Authorization header
    "Token " + "0" * 64,
    "Token not-a-real-token",
    "Token",
    "Token two parts",
    "Bearer " + "0" * 64,
    "Basic c2hvcDE6c2VjcmV0",
]
PHONE = "+989121234567"
PHONES = [PHONE, "09351234567", "0098 912 765 4321", "98-901-111-2222", "۰۹۱۲۱۲۳۴۵۶۷"]
SEED_KEYS = ["seed-recharge", "seed-batch", "seed-credit", "fresh-key-1", "fresh-key-2"]

STATUSES: dict[int, int] = {}


@dataclass
class Seeded:
    tokens: dict  # role -> API token
    ids: dict  # path parameter name -> ids of real objects


@pytest.fixture
def seeded(make_seller, staff_user):
    """Sellers A (the caller) and B (another seller), each funded, with a
    pending, an approved and a rejected credit request, a keyed recharge, a
    keyed two-item batch and an adjustment; tokens for A and for staff."""
    cache.clear()  # no auth-failure counts from earlier tests
    sellers = [make_seller(name="Shop A", balance=1_000_000), make_seller(name="Shop B", balance=1_000_000)]
    ids = {"seller_id": [seller.pk for seller in sellers], "credit_request_id": [], "recharge_id": [], "batch_id": []}
    for seller in sellers:
        pending, approved, rejected = (
            request_credit(seller_id=seller.pk, amount=amount).pk for amount in (1_000, 2_000, 3_000)
        )
        approve_credit_request(credit_request_id=approved, decided_by=staff_user)
        reject_credit_request(credit_request_id=rejected, decided_by=staff_user)
        ids["credit_request_id"] += [pending, approved, rejected]
        single = sell_recharge(
            seller_id=seller.pk, phone_number=PHONE, amount=5_000, idempotency_key="seed-recharge", request_hash="seed"
        )
        batch = json.loads(
            sell_recharge_batch(
                seller_id=seller.pk,
                items=[(PHONE, 1_000), ("+989351234567", 2_000)],
                idempotency_key="seed-batch",
                request_hash="seed",
            ).body
        )
        ids["recharge_id"] += [json.loads(single.body)["id"], *(recharge["id"] for recharge in batch["recharges"])]
        ids["batch_id"].append(batch["id"])
        adjust_balance(seller_id=seller.pk, amount=-1_000, reason="seed", created_by=staff_user)
    tokens = {SELLER: issue_api_token(user=sellers[0].user), STAFF: issue_api_token(user=staff_user)}
    yield Seeded(tokens=tokens, ids=ids)
    cache.clear()  # the counts are committed and outlive the flush: leave none to later tests


def _operations():
    operations = [result.ok() for result in SCHEMA.get_all_operations()]  # the schema is ours and valid
    return sorted(operations, key=lambda operation: operation.label)


OPERATIONS = _operations()


def test_every_operation_has_roles():
    assert {operation.label for operation in OPERATIONS} == set(ROLES)


def _runs(label: str):
    """(credential name, generation mode, max_examples) for an operation."""
    roles = ROLES[label]
    if roles == {PUBLIC}:
        return [
            (PUBLIC, GenerationMode.POSITIVE, OWN_ROLE_POSITIVE),
            (PUBLIC, GenerationMode.NEGATIVE, OWN_ROLE_NEGATIVE),
        ]
    runs = []
    for role in sorted(roles):
        runs += [(role, GenerationMode.POSITIVE, OWN_ROLE_POSITIVE), (role, GenerationMode.NEGATIVE, OWN_ROLE_NEGATIVE)]
    runs += [(role, GenerationMode.POSITIVE, WRONG_ROLE) for role in sorted({SELLER, STAFF} - roles)]
    runs += [("invalid", GenerationMode.POSITIVE, INVALID_CREDENTIALS)]
    return runs


class ServerExceptions:
    """Tracebacks of exceptions the Django app turned into 500s."""

    def __init__(self):
        self.latest = None

    def __call__(self, sender, request=None, **kwargs):
        self.latest = traceback.format_exc()


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_operation_conforms_to_schema(operation, seeded):
    failures: dict[str, str] = {}
    exceptions = ServerExceptions()
    got_request_exception.connect(exceptions)
    try:
        for credential, mode, max_examples in _runs(operation.label):
            sent = _fuzz(operation, credential, mode, max_examples, seeded, failures, exceptions)
            STATS["schemathesis requests generated"] = STATS.get("schemathesis requests generated", 0) + sent
    finally:
        got_request_exception.disconnect(exceptions)
    STATS["schemathesis responses by status"] = ", ".join(
        f"{code}: {count}" for code, count in sorted(STATUSES.items())
    )
    assert not failures, "\n\n".join(failures.values())


def _fuzz(operation, credential, mode, max_examples, seeded, failures, exceptions) -> int:
    sent = 0
    prefix = f"{operation.label} [{credential}, {mode.value}]"

    @hypothesis_settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def run(case, data):
        nonlocal sent
        headers, auth_failure_limit = _credentials(case, credential, seeded, data)
        if mode is GenerationMode.POSITIVE:
            _use_real_values(case, seeded, data)
        exceptions.latest = None
        sent += 1
        try:
            with override_settings(AUTH_FAILURE_LIMIT=auth_failure_limit):
                response = case.call(app=application, headers=headers)
            STATUSES[response.status_code] = STATUSES.get(response.status_code, 0) + 1
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:  # collected, not raised: one run reports every distinct failure
            for failure in group.exceptions:
                first_line = failure.message.splitlines()[0] if failure.message else ""
                _record(failures, f"{prefix} {failure.code} {failure.title}: {first_line}", str(group), exceptions)
        except Exception as error:  # noqa: BLE001 - any crash of a case is a finding, recorded with the others
            _record(failures, f"{prefix} {type(error).__name__}: {error}", traceback.format_exc(), exceptions)

    try:
        run()
    except Unsatisfiable:
        if sent:
            raise
        # Nothing to make invalid (no parameters, no body): no negative case exists.
    return sent


def _record(failures: dict, title: str, detail: str, exceptions) -> None:
    if title not in failures:
        if exceptions.latest:
            detail += "\nServer traceback:\n" + exceptions.latest
        failures[title] = f"{title}\n{detail}"


def _credentials(case, credential, seeded, data) -> tuple[dict, int]:
    """Headers to send and the failed-authentication limit to run under.

    Invalid credentials are sent by a fresh client (401) or by one that is
    over the limit (429, the contract's throttle on failed authentication).
    """
    if credential == PUBLIC:
        return {}, settings.AUTH_FAILURE_LIMIT
    if credential != "invalid":
        return {"Authorization": f"Token {seeded.tokens[credential]}"}, settings.AUTH_FAILURE_LIMIT
    bad = data.draw(st.sampled_from(BAD_CREDENTIALS), label="credentials")
    throttled = data.draw(st.booleans(), label="client over the failure limit")
    limit = 0 if throttled else 10**9
    if bad is None:
        if case.headers:
            case.headers.pop("Authorization", None)  # the generator's own security header
        return {}, limit
    return {"Authorization": bad}, limit


def _use_real_values(case, seeded, data) -> None:
    """Mostly swaps generated values for real ones: ids of seeded objects (the
    caller's and another seller's), valid phone numbers, used keys. The schema
    cannot say what a real id or an Iranian mobile number is, so without this
    almost every request would stop at 404 or 400."""
    for name in list(case.path_parameters or {}):
        if name in seeded.ids and _often(data, f"real {name}"):
            case.path_parameters[name] = data.draw(st.sampled_from(seeded.ids[name]), label=name)
    if case.headers and "Idempotency-Key" in case.headers and _often(data, "used key"):
        case.headers["Idempotency-Key"] = data.draw(st.sampled_from(SEED_KEYS), label="key")
    items = case.body.get("items") if isinstance(case.body, dict) else None
    for item in [case.body, *(items if isinstance(items, list) else [])]:
        if isinstance(item, dict) and "phone_number" in item and _often(data, "real phone"):
            item["phone_number"] = data.draw(st.sampled_from(PHONES), label="phone")


def _often(data, label: str) -> bool:
    return data.draw(st.sampled_from([True, True, True, False]), label=label)
