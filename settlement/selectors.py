from django.db.models import Count

from settlement.models import Settlement, SettlementCase


def latest_settlements() -> list[dict]:
    """The last settlement of each operator settled so far, with its open cases
    (of every day), in operator order."""
    latest = Settlement.objects.order_by("operator_id", "-settled_at", "-id").distinct("operator_id")
    open_cases = dict(
        SettlementCase.objects.filter(resolved_at__isnull=True)
        .values_list("operator_id")
        .annotate(count=Count("id"))
        .values_list("operator_id", "count")
    )
    return [
        {
            "operator": settlement.operator_id,
            "day": settlement.day,
            "matched": settlement.matched,
            "differences": settlement.differences,
            "settled_at": settlement.settled_at,
            "open_cases": open_cases.get(settlement.operator_id, 0),
        }
        for settlement in latest
    ]
