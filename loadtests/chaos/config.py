"""What a chaos run does: its phases and their sizes (short and long presets)."""

from __future__ import annotations

from dataclasses import dataclass

PHASES = ("kill", "restart", "storm", "disconnect", "worker_kill", "operator_down", "operator_slow", "callbacks")
PHASES_ALL = ("warmup", *PHASES, "cooldown", "settle")
RECHARGE = "/api/v1/recharges/"


@dataclass
class ChaosConfig:
    phases: tuple = PHASES
    warmup_seconds: float = 2.0
    phase_seconds: float = 6.0
    cooldown_seconds: float = 2.0
    clients: int = 3  # client processes of steady traffic
    workers: int = 4  # gunicorn workers
    sellers_per_client: int = 3
    credit: int = 50_000_000  # rials each seeded seller starts with
    # Basis points every seeded seller earns on each operator: successes pay
    # commissions while the faults hit, and the checks count them.
    commission_rate: int = 275
    kill_interval: float = 1.0  # seconds between worker SIGKILLs
    restarts: int = 1  # PostgreSQL restarts in the restart phase
    outage_seconds: float = 0.0  # 0: `restart -m <stop_mode>`; else stop -m <stop_mode>, stay down this long, start
    # immediate: PostgreSQL stops without waiting for commits in flight, so a
    # client may lose the answer to a commit that happened (issue 10, item 1).
    stop_mode: str = "fast"
    storm_requests: int = 300
    storm_threads: int = 100
    disconnects: int = 60
    request_timeout: float = 10.0
    op_deadline: float = 30.0  # a terminal gives up on an operation after this long
    database_url: str | None = None
    data_dir: str | None = None
    allow_restart: bool = False
    keep_database: bool = False
    random_seed: int = 0
    out_dir: str | None = None
    port: int | None = None  # gunicorn's; a free one by default
    operator_latency_ms: float = 20.0
    operator_read_timeout: float = 1.0  # the delivery worker's
    operator_outage_seconds: float = 4.0
    settle_seconds: float = 120.0  # after the load: until every recharge is final and every event delivered


PRESETS = {
    "short": ChaosConfig(),
    "long": ChaosConfig(
        warmup_seconds=10,
        phase_seconds=120,
        cooldown_seconds=15,
        clients=6,
        sellers_per_client=5,
        kill_interval=3.0,
        restarts=4,
        outage_seconds=3.0,
        stop_mode="immediate",
        storm_requests=3000,
        storm_threads=300,
        disconnects=600,
        operator_outage_seconds=30.0,
        settle_seconds=300.0,
    ),
}
