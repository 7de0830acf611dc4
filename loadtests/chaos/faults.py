"""The faults, one phase each: SIGKILLed workers, PostgreSQL restarts, a
lock storm on one hot seller, clients that disconnect mid-request. A mixin of
`Run` (loadtests/chaos/run.py), whose state (phase, children, report) they use."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from typing import Any

from loadtests.chaos.clients import _phone, disconnect_client, storm_client
from loadtests.chaos.config import PHASES_ALL, ChaosConfig
from loadtests.chaos.report import Report
from loadtests.server import ApiServer


class Faults:
    # The Run's state that the phases use (set in Run.__init__ and Run._run).
    config: ChaosConfig
    report: Report
    api: ApiServer
    ctx: Any  # a multiprocessing spawn context
    phase: Any  # a shared Value: index into PHASES_ALL
    events: list[tuple[float, str]]
    log: Callable[..., object]
    log_marks: dict[str, int]
    children: list[Any]
    restarts: list[dict[str, Any]]

    def _start_child(self, process) -> None:
        process.daemon = True  # never outlives the harness
        process.start()
        self.children.append(process)

    def _phase(self, name: str, seconds: float) -> None:
        self.phase.value = PHASES_ALL.index(name)
        self.log_marks[name] = self.api.log_size()
        self.events.append((time.time(), f"{name} start"))
        self.log(f"phase {name} ({seconds:.0f} s)")
        time.sleep(seconds)

    def _enter(self, name: str) -> None:
        self.phase.value = PHASES_ALL.index(name)
        self.log_marks[name] = self.api.log_size()
        self.events.append((time.time(), f"{name} start"))
        self.log(f"phase {name}")

    def _inject_kill(self, pg, api, work, *args):
        self._enter("kill")
        killed = []
        end = time.monotonic() + self.config.phase_seconds
        while time.monotonic() < end:
            time.sleep(self.config.kill_interval * random.uniform(0.5, 1.5))
            pid = api.kill_worker()
            if pid:
                killed.append(pid)
        recovered = api.wait_healthy(60, workers=self.config.workers)
        self.report.faults["workers SIGKILLed"] = (
            f"{len(killed)} (all {self.config.workers} back {recovered:.1f} s after the last)"
        )

    def _inject_restart(self, pg, api, work, *args):
        self._enter("restart")
        config = self.config
        slot = config.phase_seconds / (config.restarts + 1)
        restarts: list[dict[str, Any]] = []
        for _ in range(config.restarts):
            time.sleep(slot / 2)
            began = time.time()
            # The long mode alternates a plain restart with a longer outage.
            down = config.outage_seconds if (len(restarts) % 2 or config.restarts == 1) else 0
            took = pg.outage(down, config.stop_mode) if down else pg.restart(config.stop_mode)
            restarts.append({"began": began, "pg_ctl_seconds": took, "down": down})
            self.log(f"  PostgreSQL {'down ' + str(down) + ' s' if down else 'restarted'} (took {took:.2f} s)")
            time.sleep(slot / 2)
        time.sleep(max(0.0, config.phase_seconds - slot * config.restarts))
        self.restarts = restarts
        self.report.faults["PostgreSQL restarts"] = f"{len(restarts)} via {type(pg).__name__}; down for " + ", ".join(
            f"{r['pg_ctl_seconds']:.2f} s"
            + (f" (stop -m {config.stop_mode}, wait, start)" if r["down"] else f" (restart -m {config.stop_mode})")
            for r in restarts
        )

    def _inject_storm(self, pg, api, work, hot, disconnect_seller, staff_token, cfg):
        self._enter("storm")
        config = self.config
        rng = random.Random(config.random_seed)
        # Enough debits to drain the hot seller by about half again: some end in 402.
        amount = max(1000, int(config.credit * 1.5 / max(1, config.storm_requests)) // 1000 * 1000)
        jobs: list[dict[str, Any]] = []
        while len(jobs) < config.storm_requests:
            key = f"storm-{len(jobs)}-{uuid.uuid4().hex[:8]}"
            if rng.random() < 0.05:
                body = {"amount": rng.choice([1, -1]) * 50_000, "reason": f"chaos {key}"}
                jobs.append({"kind": "adjustment", "key": key, "body": body})
                continue
            job: dict[str, Any] = {
                "kind": "recharge",
                "key": key,
                "body": {"phone_number": _phone(rng), "amount": amount},
            }
            if rng.random() < 0.1:  # a double tap: the same request twice at once
                jobs += [dict(job, double_tap=True), dict(job, double_tap=True)]
            else:
                jobs.append(job)
        processes = []
        threads = max(1, config.storm_threads // 2)
        for index in range(2):
            out = str(work / f"storm-{index}.json")
            process = self.ctx.Process(
                target=storm_client,
                args=(
                    f"s{index}",
                    api.url,
                    hot,
                    staff_token,
                    dict(cfg, storm_threads=threads),
                    self.phase,
                    out,
                    jobs[index::2],
                ),
            )
            self._start_child(process)
            processes.append((process, out))
        started = time.monotonic()
        for process, _ in processes:
            process.join(config.phase_seconds + config.op_deadline * 4)
        self.report.faults["lock storm"] = (
            f"{len(jobs)} requests on seller {hot['seller_id']} from {threads * 2} threads, "
            f"{amount} IRR each, done in {time.monotonic() - started:.1f} s"
        )
        rest = config.phase_seconds - (time.monotonic() - started)
        if rest > 0:
            time.sleep(rest)
        return processes

    def _inject_disconnect(self, pg, api, work, hot, disconnect_seller, staff_token, cfg):
        self._enter("disconnect")
        out = str(work / "disconnect.json")
        process = self.ctx.Process(
            target=disconnect_client, args=("d", api.url, [disconnect_seller], cfg, self.phase, out)
        )
        self._start_child(process)
        started = time.monotonic()
        process.join(self.config.phase_seconds + self.config.op_deadline * 2)
        healthy = api.wait_healthy(30, workers=self.config.workers)
        self.report.faults["client disconnects"] = (
            f"{self.config.disconnects} raw sockets (partial body, complete, complete+RST, headers only); "
            f"healthy {healthy:.1f} s after"
        )
        rest = self.config.phase_seconds - (time.monotonic() - started)
        if rest > 0:
            time.sleep(rest)
        return [(process, out)]
