"""The simulator's daily statement (docs/operators.md, "The daily statement"):
a CSV file per operator and Tehran day of every top-up it recorded."""

from datetime import timedelta

import httpx

from config.dates import business_today


def test_the_statement_lists_the_days_top_ups_of_one_operator(simulator, gateway):
    gateway.top_up(reference="ref-1", number="+989121230001", amount=5_000, operator="mci")
    gateway.top_up(reference="ref-2", number="+989121239990", amount=6_000, operator="mci")  # declined
    gateway.top_up(reference="ref-3", number="+989351230001", amount=7_000, operator="irancell", product="pkg-1")
    today = business_today()

    lines = gateway.statement(operator="mci", day=today)

    assert [(line.reference, line.amount, line.status, line.product) for line in lines] == [
        ("ref-1", 5_000, "successful", None),
        ("ref-2", 6_000, "declined", None),
    ]
    assert lines[0].operator_reference and lines[0].operator_reference.startswith("SIM-")
    assert lines[1].operator_reference is None
    assert [line.product for line in gateway.statement(operator="irancell", day=today)] == ["pkg-1"]
    assert gateway.statement(operator="mci", day=today - timedelta(days=1)) == []


def test_the_statement_is_a_csv_file_with_a_header(simulator, gateway):
    gateway.top_up(reference="ref-1", number="+989121230001", amount=5_000, operator="mci")
    response = httpx.get(f"{simulator.base_url}/v1/statements/mci/{business_today().isoformat()}.csv")
    assert response.headers["content-type"].startswith("text/csv")
    header, line, end = response.text.split("\n")
    assert header == "reference,msisdn,amount,product,status,operator_reference,recorded_at"
    assert line.startswith("ref-1,+989121230001,5000,,successful,SIM-")
    assert end == ""
    assert httpx.get(f"{simulator.base_url}/v1/statements/mci/2026-13-01.csv").status_code == 404
    assert httpx.get(f"{simulator.base_url}/v1/statements/mci/today.csv").status_code == 404
