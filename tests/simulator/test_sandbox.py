"""Each sandbox suffix of the contract, through the real HttpGateway against
the simulator running as its own process."""

import time

import httpx

PLAIN = "+989121234567"


def test_a_plain_number_is_topped_up_once(simulator, gateway):
    answer = gateway.top_up(reference="101", number=PLAIN, amount=50_000, operator="mci")

    assert answer.outcome == "successful"
    assert answer.operator_reference.startswith("SIM-")
    status = gateway.status(reference="101", number=PLAIN, amount=50_000)
    assert (status.outcome, status.operator_reference) == ("successful", answer.operator_reference)
    row = simulator.references()["101"]
    assert (row["msisdn"], row["amount"], row["operator"], row["charges"]) == (PLAIN, 50_000, "mci", 1)


def test_9990_is_declined_and_not_charged(simulator, gateway):
    answer = gateway.top_up(reference="102", number="+989121239990", amount=1_000, operator="mci")

    assert (answer.outcome, answer.operator_reference) == ("declined", None)
    assert answer.message
    assert gateway.status(reference="102", number="+989121239990", amount=1_000).outcome == "declined"
    assert simulator.references()["102"]["charges"] == 0


def test_9994_rejects_the_number(simulator, gateway):
    answer = gateway.top_up(reference="103", number="+989351239994", amount=1_000, operator="irancell")

    assert (answer.outcome, answer.operator_reference) == ("rejected_number", None)
    assert gateway.status(reference="103", number="+989351239994", amount=1_000).outcome == "rejected_number"
    assert simulator.references()["103"]["charges"] == 0


def test_9991_times_out_but_is_recorded_and_the_status_says_successful(start_simulator):
    simulator = start_simulator(hang_seconds=6)
    gateway = simulator.gateway(read_timeout=0.5)

    started = time.monotonic()
    answer = gateway.top_up(reference="104", number="+989121239991", amount=1_000, operator="mci")

    assert answer.outcome == "unknown"
    assert "ReadTimeout" in answer.message
    assert time.monotonic() - started < 5  # the read timeout, not the end of the hold
    status = gateway.status(reference="104", number="+989121239991", amount=1_000)
    assert status.outcome == "successful"
    assert status.operator_reference.startswith("SIM-")
    assert simulator.references()["104"]["charges"] == 1
    gateway.close()


def test_9992_times_out_without_recording_and_the_status_says_no_such_topup(start_simulator):
    simulator = start_simulator(hang_seconds=3)
    gateway = simulator.gateway(read_timeout=0.5)

    assert gateway.top_up(reference="105", number="+989121239992", amount=1_000, operator="mci").outcome == "unknown"

    assert gateway.status(reference="105", number="+989121239992", amount=1_000).outcome == "not_found"
    row = simulator.references()["105"]
    assert (row["status"], row["charges"], row["topup_requests"], row["status_queries"]) == (None, 0, 1, 1)
    gateway.close()


def test_9993_answers_503_three_times_while_recording_then_successful(simulator, gateway):
    first = gateway.top_up(reference="106", number="+989121239993", amount=1_000, operator="mci")

    assert first.outcome == "unknown"
    assert "503" in first.message
    assert [gateway.status(reference="106", number="+989121239993", amount=1_000).outcome for _ in range(2)] == [
        "unknown",
        "unknown",
    ]
    fourth = gateway.status(reference="106", number="+989121239993", amount=1_000)
    assert fourth.outcome == "successful"
    assert fourth.operator_reference.startswith("SIM-")
    assert simulator.references()["106"]["charges"] == 1


def test_a_status_query_for_an_unknown_reference_is_not_found(gateway):
    assert gateway.status(reference="no-such-reference", number=PLAIN, amount=1_000).outcome == "not_found"


def test_the_configured_latency_delays_each_answer(start_simulator):
    simulator = start_simulator(latency_ms=300)
    gateway = simulator.gateway()

    started = time.monotonic()
    assert gateway.top_up(reference="107", number=PLAIN, amount=1_000, operator="mci").outcome == "successful"

    assert time.monotonic() - started >= 0.3
    gateway.close()


def test_an_answer_slower_than_the_read_timeout_is_unknown(start_simulator):
    simulator = start_simulator(latency_ms=5_000)
    gateway = simulator.gateway(read_timeout=0.2)

    started = time.monotonic()
    answer = gateway.top_up(reference="108", number=PLAIN, amount=1_000, operator="mci")

    assert answer.outcome == "unknown"
    assert "ReadTimeout" in answer.message
    assert time.monotonic() - started < 4  # it gave up long before the answer came
    gateway.close()


def test_error_rate_one_answers_503_to_everything_after_recording_the_topup(start_simulator):
    simulator = start_simulator(error_rate=1.0)
    gateway = simulator.gateway()

    top_up = gateway.top_up(reference="109", number=PLAIN, amount=1_000, operator="mci")
    status = gateway.status(reference="109", number=PLAIN, amount=1_000)

    assert (top_up.outcome, status.outcome) == ("unknown", "unknown")
    assert "HTTP 503" in top_up.message and "HTTP 503" in status.message
    assert simulator.references()["109"]["charges"] == 1
    gateway.close()


def test_an_invalid_request_is_400_with_every_problem_and_records_nothing(simulator):
    response = httpx.post(
        f"{simulator.base_url}/v1/topups", json={"reference": "a b", "amount": True, "product": 5}, timeout=5
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert set(error["details"]) == {"reference", "msisdn", "amount", "operator", "product"}
    assert simulator.stats()["references"] == 0
