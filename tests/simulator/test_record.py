"""The simulator's record: a reference is charged at most once, whatever
arrives twice or at the same moment, and the record outlives the process."""

import threading

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
    status = gateway.status(reference="203")
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
        assert gateway.status(reference="301").outcome == "unknown"  # nobody listening

        simulator.start()

        after_301 = gateway.status(reference="301")
        assert (after_301.outcome, after_301.operator_reference) == ("successful", before["301"].operator_reference)
        assert gateway.status(reference="302").outcome == "declined"
        again = gateway.top_up(reference="301", number=PLAIN, amount=1_000, operator="mci")
        assert (again.outcome, again.operator_reference) == ("successful", before["301"].operator_reference)
        stats = simulator.stats()
        assert (stats["topups"], stats["charges"], stats["charged_twice"], stats["topup_requests"]) == (2, 1, 0, 3)
    finally:
        gateway.close()
        simulator.stop()
