"""One chaos run: a private or given PostgreSQL, a fresh database, gunicorn,
the client processes, each fault phase in turn, then the checks."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from loadtests.chaos.checks import Checks
from loadtests.chaos.clients import steady_client
from loadtests.chaos.config import ChaosConfig
from loadtests.chaos.delivery import Delivery
from loadtests.chaos.faults import Faults
from loadtests.chaos.report import Report
from loadtests.server import ApiServer, database_facts, postgres_for, seed


class Run(Faults, Delivery, Checks):
    """One chaos run: set up, load + faults, checks."""

    def __init__(self, config: ChaosConfig, log=print, postgres=None):
        self.config = config
        self.postgres = postgres  # a running server to use (tests); else one is chosen from the config
        self.log = log
        self.report = Report(config=asdict(config))
        self.ctx = multiprocessing.get_context("spawn")
        self.phase = self.ctx.Value("i", 0)
        self.stop = self.ctx.Event()
        self.events: list[tuple] = []  # (time, what)
        self.children: list = []
        self.stopped_at: float | None = None
        self.log_marks: dict[str, int] = {}

    def execute(self) -> Report:
        config = self.config
        pg = self.postgres or postgres_for(
            config.database_url or os.environ.get("DATABASE_URL"), data_dir=config.data_dir
        )
        owned = self.postgres is None and pg.private
        if "restart" in config.phases and not pg.private and pg.restartable and not config.allow_restart:
            raise SystemExit(
                f"The restart phase would restart {pg.url()} (not created by this run). Pass --allow-restart if that "
                "server is yours alone, or leave out the restart phase (--phases)."
            )
        if "restart" in config.phases and not pg.restartable:
            raise SystemExit("This PostgreSQL cannot be restarted by the harness; leave out the restart phase.")
        work = Path(config.out_dir or tempfile.mkdtemp(prefix="chaos-run-"))
        work.mkdir(parents=True, exist_ok=True)
        if owned:
            pg.start()  # type: ignore[union-attr]  # owned: a PrivatePostgres
        database_name = f"chaos_{uuid.uuid4().hex[:10]}"
        try:
            url = pg.fresh_database(database_name)
            self.log(f"database {url}")
            self._run(pg, url, work)
        finally:
            if not config.keep_database:
                try:
                    pg.drop_database(database_name)
                except Exception as error:  # noqa: BLE001 - cleanup must not hide the run's result
                    self.log(f"could not drop {database_name}: {error}")
            if owned:
                pg.stop()  # type: ignore[union-attr]
            if not config.out_dir:
                shutil.rmtree(work, ignore_errors=True)
        return self.report

    def _run(self, pg, url: str, work: Path) -> None:
        config = self.config
        steady_sellers = config.clients * config.sellers_per_client
        seeded = seed(url, sellers=steady_sellers + 2, credit=config.credit, commission_rate=config.commission_rate)
        hot, disconnect_seller = seeded.sellers[-2], seeded.sellers[-1]
        cfg = asdict(config)
        with ApiServer(url, workers=config.workers, port=config.port, log_path=work / "gunicorn.log") as api:
            self.api = api
            self.log(f"gunicorn {api.url} workers {api.worker_pids()}")
            clients: list[tuple[Any, str]] = []
            self.children = []
            try:
                self._start_delivery(url, work, api.url, seeded.sellers)
                self._load_and_faults(pg, api, work, seeded, hot, disconnect_seller, cfg, clients)
            except BaseException:
                self._stop_delivery()
                raise
            finally:
                self.stop.set()
                for process in self.children:  # only the processes this run started
                    process.join(
                        max(1.0, config.op_deadline + 30 - (time.monotonic() - self.stopped_at))
                        if self.stopped_at
                        else 1
                    )
                    if process.is_alive():
                        process.terminate()
                        process.join(5)
            ops, lost = [], []
            for process, out in clients:
                if Path(out).exists():
                    ops += json.loads(Path(out).read_text())
                else:
                    lost.append(f"{Path(out).stem} (exit {process.exitcode})")
            self._add(
                "every client process reported",
                not lost,
                f"{len(clients)} processes" + (f"; NO RECORDS: {lost}" if lost else ""),
            )
            api.wait_healthy(30)
            delivery = self._settle_deliveries()
            self._scan_log(api)
        facts = database_facts(url)
        self._check(ops, facts, seeded, hot)
        self._check_deliveries(facts, delivery)

    def _load_and_faults(self, pg, api, work, seeded, hot, disconnect_seller, cfg, clients) -> None:
        config = self.config
        for index in range(config.clients):
            mine = seeded.sellers[index * config.sellers_per_client : (index + 1) * config.sellers_per_client]
            out = str(work / f"steady-{index}.json")
            process = self.ctx.Process(
                target=steady_client,
                args=(f"c{index}", api.url, mine, seeded.staff_token, cfg, self.phase, self.stop, out),
            )
            self._start_child(process)
            clients.append((process, out))
        self._phase("warmup", config.warmup_seconds)
        extra: list[tuple[Any, str]] = []
        for name in config.phases:
            extra += (
                getattr(self, f"_inject_{name}")(pg, api, work, hot, disconnect_seller, seeded.staff_token, cfg) or []
            )
        self._phase("cooldown", config.cooldown_seconds)
        self.stopped_at = time.monotonic()
        self.stop.set()
        clients += extra

    def _scan_log(self, api) -> None:
        text = api.log_text()
        marks = sorted(self.log_marks.items(), key=lambda item: item[1])
        for pattern in (r"Internal Server Error: .*", r"Error handling request.*", r"WORKER TIMEOUT.*", r"Traceback"):
            for match in re.finditer(pattern, text):
                phase = next((name for name, offset in reversed(marks) if offset <= match.start()), "setup")
                context = text[match.start() : match.start() + 1200]
                exception = re.findall(r"\n(\w[\w.]*(?:Error|Exception|Exit)[^\n]*)", context)
                self.report.server_errors.append(
                    {"phase": phase, "line": match.group(0)[:200], "exception": exception[:1]}
                )


def run_chaos(config: ChaosConfig, log=print, postgres=None) -> Report:
    """Runs the chaos scenario and returns its report (what tests/system/chaos use).
    `postgres`: a running `loadtests.server.Postgres` to use and leave running."""
    return Run(config, log=log, postgres=postgres).execute()
