"""A short run of each fault-injection phase of loadtests/chaos, with the
same checks: every 2xx has exactly one ledger entry, one recharge per
Idempotency-Key, replays return the first response, reconcile clean (its
commissions included: every seller earns on every operator), no negative
balance, money adds up with the commissions paid, every 5xx the contract's
503, no 500 logged, recovery.

Each test starts gunicorn (4 workers) on a fresh copy of a migrated database
on a private PostgreSQL (tests/system/conftest.py) and runs its phase for a
few seconds under steady load from two client processes.
"""

from loadtests.chaos import ChaosConfig, run_chaos

SHORT = ChaosConfig(
    warmup_seconds=1,
    phase_seconds=5,
    cooldown_seconds=1,
    clients=2,
    sellers_per_client=2,
    kill_interval=0.8,
    storm_requests=200,
    storm_threads=60,
    disconnects=24,
    op_deadline=25,
)


def _run(private_postgres, **overrides):
    report = run_chaos(
        ChaosConfig(**{**SHORT.__dict__, **overrides}), log=lambda *args: None, postgres=private_postgres
    )
    print(report.table())
    assert not report.violations, report.table()
    return report


def _outcomes(report, operation: str) -> dict:
    return report.operations.get(operation, {})


def test_workers_killed_mid_request(private_postgres):
    report = _run(private_postgres, phases=("kill",))
    assert report.faults["workers SIGKILLed"].split()[0] != "0"
    assert _outcomes(report, "recharge").get("201", 0) > 0


def test_postgresql_restart_mid_load(private_postgres):
    report = _run(private_postgres, phases=("restart",))
    (restart,) = report.recovery["restarts"]
    assert restart["first 2xx after the outage (from restart begin)"] != "NEVER"
    assert report.check("every 5xx is 503 service_unavailable + Retry-After + details.outcome").ok


def test_lock_storm_on_one_hot_seller(private_postgres):
    report = _run(private_postgres, phases=("storm",))
    storm = _outcomes(report, "storm recharge")
    assert storm.get("201", 0) > 0
    assert storm.get("402 insufficient_balance", 0) > 0  # the storm drains the hot seller
    assert report.money["hot seller balance"] >= 0


def test_clients_that_disconnect_mid_request(private_postgres):
    report = _run(private_postgres, phases=("disconnect",))
    for how in ("partial", "complete", "complete_rst", "headers_only"):
        outcomes = _outcomes(report, f"recharge after disconnect ({how})")
        assert set(outcomes) <= {"201", "201 replayed", "attempts"}, outcomes
    for how in ("partial", "headers_only"):  # never a whole request: nothing was stored under the key
        assert _outcomes(report, f"recharge after disconnect ({how})").get("201 replayed", 0) == 0


def _delivered(report) -> None:
    """The delivery checks of every run, spelled out: all final, nothing charged
    twice, refunds exactly for failures, every final status told, signed."""
    for name in (
        "every recharge final after the faults",
        "no reference charged twice at the operator",
        "a refund exactly for each failed recharge, by its amount",
        "no refund of a top-up the operator charged",
        "each final status reached its seller, signed",
        "a commission exactly for each successful recharge, at its rate, and none for any other",
    ):
        assert report.check(name).ok, report.check(name)
    successful, failed = map(int, report.money["recharges successful / failed"].split(" / "))
    assert successful > 0 and failed > 0  # the sandbox numbers fail some
    assert report.money["commissions"] > 0  # the sellers earn on every operator: the books count commissions


def test_delivery_worker_killed_mid_delivery(private_postgres):
    report = _run(private_postgres, phases=("worker_kill",))
    assert report.faults["delivery worker SIGKILLed"].split()[0] != "0"
    _delivered(report)


def test_operator_down_then_back(private_postgres):
    _delivered(_run(private_postgres, phases=("operator_down",)))


def test_operator_slower_than_the_timeout(private_postgres):
    _delivered(_run(private_postgres, phases=("operator_slow",)))


def test_callback_receiver_failing_then_recovering(private_postgres):
    report = _run(private_postgres, phases=("callbacks",))
    assert "500 to 0 " not in report.faults["callback receiver failing"]
    _delivered(report)
