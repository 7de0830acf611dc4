"""A short run of each fault-injection phase of loadtests/chaos.py, with the
same checks: every 2xx has exactly one ledger entry, one recharge per
Idempotency-Key, replays return the first response, reconcile clean, no
negative balance, every 5xx the contract's 503, no 500 logged, recovery.

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
    assert report.check("every 5xx is 503 service_unavailable + Retry-After").ok


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
