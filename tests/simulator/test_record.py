"""The simulator's record: a reference is charged at most once, whatever
arrives twice or at the same moment, and the record outlives the process."""

import sqlite3
import threading

import httpx
import pytest

from tests.helpers.simulator import SimulatorProcess

PLAIN = "+989121234567"


def test_a_duplicate_topup_answers_the_existing_state_without_charging_again(simulator, gateway):
    first = gateway.top_up(reference="201", number=PLAIN, amount=2_000, operator="mci")
    second = gateway.top_up(reference="201", number=PLAIN, amount=2_000, operator="mci")

    assert (second.outcome, second.operator_reference) == ("successful", first.operator_reference)
    row = simulator.references()["201"]
    assert (row["charges"], row["topup_requests"]) == (1, 2)
    stats = simulator.stats()
    assert (stats["charges"], stats["charged_twice"], stats["repeated_topup_requests"]) == (1, 0, 1)


def test_a_duplicate_of_a_declined_topup_stays_declined(simulator, gateway):
    gateway.top_up(reference="202", number="+989121239990", amount=2_000, operator="mci")

    assert gateway.top_up(reference="202", number="+989121239990", amount=2_000, operator="mci").outcome == "declined"
    assert simulator.stats()["charges"] == 0


def test_a_reference_reused_for_another_topup_is_refused_and_not_charged(simulator, gateway):
    first = gateway.top_up(reference="203", number=PLAIN, amount=2_000, operator="mci")

    answer = gateway.top_up(reference="203", number=PLAIN, amount=3_000, operator="mci")

    assert answer.outcome == "unknown"
    assert "409" in answer.message
    status = gateway.status(reference="203", number=PLAIN, amount=2_000)
    assert (status.outcome, status.operator_reference) == ("successful", first.operator_reference)
    assert (simulator.stats()["charges"], simulator.references()["203"]["amount"]) == (1, 2_000)


def test_the_same_topup_sent_by_many_threads_at_once_is_charged_once(start_simulator):
    simulator = start_simulator(latency_ms=50)
    gateway = simulator.gateway()
    start = threading.Barrier(40)
    answers = []

    def send() -> None:
        start.wait()
        answers.append(gateway.top_up(reference="204", number=PLAIN, amount=5_000, operator="mci"))

    threads = [threading.Thread(target=send) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(answers) == 40
    assert {(a.outcome, a.operator_reference) for a in answers} == {("successful", answers[0].operator_reference)}
    stats = simulator.stats()
    assert (stats["topups"], stats["charges"], stats["charged_twice"], stats["topup_requests"]) == (1, 1, 0, 40)
    gateway.close()


def test_many_topups_at_once_wait_out_their_latency_concurrently(start_simulator):
    simulator = start_simulator(latency_ms=100)
    gateway = simulator.gateway()
    outcomes = {}

    def send(reference: str) -> None:
        outcomes[reference] = gateway.top_up(reference=reference, number=PLAIN, amount=1_000, operator="mci").outcome

    threads = [threading.Thread(target=send, args=(f"c{i}",)) for i in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert set(outcomes.values()) == {"successful"} and len(outcomes) == 200
    stats = simulator.stats()
    assert (stats["topups"], stats["charges"], stats["charged_twice"], stats["repeated_topup_requests"]) == (
        200,
        200,
        0,
        0,
    )
    gateway.close()


def test_the_record_survives_a_kill_and_a_restart(tmp_path):
    simulator = SimulatorProcess(tmp_path / "simulator.sqlite3")
    simulator.start()
    gateway = simulator.gateway()
    try:
        before = {
            "301": gateway.top_up(reference="301", number=PLAIN, amount=1_000, operator="mci"),
            "302": gateway.top_up(reference="302", number="+989121239990", amount=1_000, operator="mci"),
        }
        simulator.kill()
        assert gateway.status(reference="301", number=PLAIN, amount=1_000).outcome == "unknown"  # nobody listening

        simulator.start()

        after_301 = gateway.status(reference="301", number=PLAIN, amount=1_000)
        assert (after_301.outcome, after_301.operator_reference) == ("successful", before["301"].operator_reference)
        assert gateway.status(reference="302", number="+989121239990", amount=1_000).outcome == "declined"
        again = gateway.top_up(reference="301", number=PLAIN, amount=1_000, operator="mci")
        assert (again.outcome, again.operator_reference) == ("successful", before["301"].operator_reference)
        stats = simulator.stats()
        assert (stats["topups"], stats["charges"], stats["charged_twice"], stats["topup_requests"]) == (2, 1, 0, 3)
    finally:
        gateway.close()
        simulator.stop()


def test_a_reference_is_kept_with_its_product(simulator):
    sent = {"reference": "205", "msisdn": PLAIN, "amount": 2_000, "operator": "mci", "product": "data-1gb"}

    created = httpx.post(f"{simulator.base_url}/v1/topups", json=sent, timeout=5)

    assert created.status_code == 201
    assert {key: created.json()[key] for key in sent} == sent
    airtime = httpx.post(f"{simulator.base_url}/v1/topups", json={**sent, "reference": "206", "product": None}).json()
    assert airtime["product"] is None
    assert httpx.get(f"{simulator.base_url}/v1/topups/205", timeout=5).json() == created.json()


@pytest.mark.parametrize(
    "change",
    [{"msisdn": "+989121234568"}, {"amount": 2_001}, {"product": "data-1gb"}, {"operator": "irancell"}],
    ids=lambda change: next(iter(change)),
)
def test_a_reference_repeated_for_another_topup_is_a_409_that_records_nothing(simulator, change):
    url = f"{simulator.base_url}/v1/topups"
    sent = {"reference": "207", "msisdn": PLAIN, "amount": 2_000, "operator": "mci", "product": None}
    topup = httpx.post(url, json=sent, timeout=5).json()
    record = (simulator.stats(), simulator.references())

    response = httpx.post(url, json={**sent, **change}, timeout=5)

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "reference_conflict"
    assert error["details"]["topup"] == {key: value for key, value in topup.items() if key != "message"}
    assert (simulator.stats(), simulator.references()) == record


def test_a_restart_keeps_every_reference_with_its_top_up_and_its_conflicts(tmp_path):
    simulator = SimulatorProcess(tmp_path / "simulator.sqlite3")
    simulator.start()
    url = f"{simulator.base_url}/v1/topups"
    sent = {"reference": "311", "msisdn": PLAIN, "amount": 1_000, "operator": "mci", "product": "data-1gb"}
    declined = {**sent, "reference": "312", "msisdn": "+989121239990", "product": None}
    try:
        before = {
            "311": httpx.post(url, json=sent, timeout=5).json(),
            "312": httpx.post(url, json=declined, timeout=5).json(),
        }
        record = simulator.references()

        simulator.stop()  # SIGTERM: the process ends; a new one opens the same file
        simulator.start()

        assert {ref: httpx.get(f"{url}/{ref}", timeout=5).json() for ref in before} == before
        assert simulator.references() == {
            ref: {**row, "status_queries": row["status_queries"] + 1} for ref, row in record.items()
        }
        assert httpx.post(url, json={**sent, "product": None}, timeout=5).status_code == 409
        again = httpx.post(url, json=sent, timeout=5)
        assert (again.status_code, again.json()) == (200, before["311"])
        stats = simulator.stats()
        assert (stats["topups"], stats["charges"], stats["topup_requests"], stats["status_queries"]) == (2, 1, 3, 2)
    finally:
        simulator.stop()


def test_a_record_from_before_products_is_kept_and_read_as_airtime(tmp_path):
    """A simulator file written before the protocol named products opens with its
    top-ups: each is airtime (product null)."""
    db = tmp_path / "old.sqlite3"
    with sqlite3.connect(db) as old:
        old.executescript(
            """
            CREATE TABLE requests (reference TEXT PRIMARY KEY, topup_requests INTEGER NOT NULL DEFAULT 0,
                                   status_queries INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE topups (reference TEXT PRIMARY KEY, msisdn TEXT NOT NULL, amount INTEGER NOT NULL,
                                 operator TEXT NOT NULL, status TEXT NOT NULL, operator_reference TEXT,
                                 charges INTEGER NOT NULL, created_at TEXT NOT NULL);
            INSERT INTO requests VALUES ('9', 1, 0);
            INSERT INTO topups VALUES ('9', '+989121234567', 5000, 'mci', 'successful', 'SIM-OLD', 1,
                                       '2026-11-30T14:16:34.396+00:00');
            """
        )
    old.close()
    simulator = SimulatorProcess(db)
    simulator.start()
    url = f"{simulator.base_url}/v1/topups"
    sent = {"reference": "9", "msisdn": PLAIN, "amount": 5_000, "operator": "mci", "product": None}
    try:
        kept = httpx.get(f"{url}/9", timeout=5).json()
        assert {key: kept[key] for key in (*sent, "operator_reference")} == {**sent, "operator_reference": "SIM-OLD"}
        assert httpx.post(url, json=sent, timeout=5).status_code == 200
        assert httpx.post(url, json={**sent, "product": "data-1gb"}, timeout=5).status_code == 409
        assert simulator.stats()["charges"] == 1
    finally:
        simulator.stop()
