from dataclasses import dataclass

from django.db import connection
from django.db.models import F, Func, JSONField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import translation

from config.formats import latin_digits
from recharges.models import CommissionRate, Operator, Product, Recharge, RechargeBatch


def _rendered(recharges: QuerySet) -> QuerySet:
    # recharge_json (recharges/sql/recharge_json.sql) renders every recharge
    # body the API gives, here as for the sale's own 201.
    return recharges.annotate(body=Func(F("id"), function="recharge_json", output_field=JSONField()))


def recharge_list(*, seller_id: int, idempotency_key: str | None = None, status: str | None = None) -> QuerySet:
    """A seller's recharges, each with its rendered `body`."""
    recharges = Recharge.objects.filter(seller_id=seller_id).only("id")
    if idempotency_key is not None:
        # A key names one request: a sale, or a batch and every recharge it made.
        # The batch is found first, so that each side is an index probe.
        batch = (
            RechargeBatch.objects.filter(seller_id=seller_id, idempotency_key=idempotency_key)
            .values_list("id", flat=True)
            .first()
        )
        recharges = recharges.filter(
            Q(idempotency_key=idempotency_key) | Q(batch_id=batch) if batch else Q(idempotency_key=idempotency_key)
        )
    if status is not None:
        recharges = recharges.filter(status=status)
    return _rendered(recharges)


def get_recharge(*, recharge_id: int, seller_id: int) -> dict:
    """The recharge's body; 404 for an unknown id or another seller's."""
    recharge = recharge_list(seller_id=seller_id).filter(pk=recharge_id).first()
    if recharge is None:
        raise Http404
    return recharge.body


def get_batch(*, batch_id: int, seller_id: int) -> str:
    """The batch's body as JSON text; 404 for an unknown id or another seller's."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT recharge_batch_json(id)::text FROM recharges_rechargebatch WHERE id = %s AND seller_id = %s",
            [batch_id, seller_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise Http404
    return row[0]


def operator_list() -> list[Operator]:
    return list(Operator.objects.order_by("code"))


def display_name(item: Operator | Product) -> str:
    """The name people read: on Persian pages the Persian name where staff
    gave one (its digits Latin, as every figure on the pages), else the name."""
    if translation.get_language() == "fa" and item.name_fa:
        return latin_digits(item.name_fa)
    return item.name


def operator_names() -> dict[str, str]:
    """{code: display_name} of every operator, enabled or not (old recharges name them too)."""
    return {operator.code: display_name(operator) for operator in operator_list()}


def product_list() -> list[Product]:
    """Every package, enabled or not, by operator, amount and code."""
    return list(Product.objects.order_by("operator_id", "amount", "code"))


def commission_rates(*, seller_id: int) -> dict[str, int]:
    """The seller's rate for every operator, by code; 0 where none is set."""
    rate = CommissionRate.objects.filter(seller_id=seller_id, operator=OuterRef("pk")).values("rate")
    operators = Operator.objects.order_by("code").annotate(rate=Coalesce(Subquery(rate), Value(0)))
    return dict(operators.values_list("code", "rate"))


@dataclass(frozen=True)
class FloatState:
    """A tracked operator float as staff read it (recharges/sql/operator_float_state.sql)."""

    operator: str
    balance: int
    pending: int
    available: int
    burn_per_hour: int  # rials drawn by deliveries in the last hour
    hours_left: float | None  # at that rate; None when nothing was drawn
    alert_below_hours: int

    @property
    def low(self) -> bool:
        """Under its threshold: the available float lasts fewer hours than it
        warns below, or nothing is left."""
        return self.available <= 0 or (self.hours_left is not None and self.hours_left < self.alert_below_hours)


def operator_floats() -> list[FloatState]:
    """Every tracked operator float, in operator order."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM operator_float_state()")
        return [FloatState(*row) for row in cursor.fetchall()]
