"""The daily settlement job: after the business day closes, every enabled
operator's yesterday is settled once; a later run settles nothing again
(tests/settlement/test_settlement_edges.py: the days it looks back on)."""

from datetime import timedelta

from procrastinate.contrib.django import app

from config.dates import business_today
from recharges.models import Operator
from settlement.models import Settlement
from settlement.tasks import QUEUE, TASK, settle_yesterday
from tests.helpers.simulator import SimulatorProcess


def test_the_job_is_periodic_on_its_own_queue():
    task = app.tasks[TASK]
    assert task.queue == QUEUE
    assert any(periodic.periodic_id == "settle" for periodic in app.periodic_registry.periodic_tasks.values())


def test_the_job_settles_yesterday_once_for_every_enabled_operator(db, settings, tmp_path):
    settings.SETTLEMENT_LOOKBACK_DAYS = 1
    Operator.objects.filter(code="aptel").update(enabled=False)
    simulator = SimulatorProcess(tmp_path / "sim.sqlite3")
    simulator.start()
    try:
        settings.OPERATOR_GATEWAY_URL = simulator.base_url
        settle_yesterday()
        settle_yesterday()
    finally:
        simulator.stop()

    yesterday = business_today() - timedelta(days=1)
    enabled = set(Operator.objects.filter(enabled=True).values_list("code", flat=True))
    assert sorted(Settlement.objects.values_list("operator_id", flat=True)) == sorted(enabled)
    assert set(Settlement.objects.values_list("day", "differences")) == {(yesterday, 0)}


def test_without_a_statement_the_job_writes_nothing_and_tries_again_later(db, settings, tmp_path):
    stopped = SimulatorProcess(tmp_path / "sim.sqlite3")  # its port reserved, never listening: refused
    settings.OPERATOR_GATEWAY_URL = stopped.base_url
    try:
        settle_yesterday()
    finally:
        stopped.stop()
    assert not Settlement.objects.exists()
