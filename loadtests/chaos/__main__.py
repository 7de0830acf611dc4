"""`python -m loadtests.chaos`: see the package's docstring."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

import loadtests.chaos
from loadtests.chaos.config import PHASES, PRESETS, ChaosConfig
from loadtests.chaos.run import run_chaos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.chaos", description=(loadtests.chaos.__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--mode", choices=sorted(PRESETS), default="short", help="short: ~1 minute; long: ~10 minutes")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated subset of {','.join(PHASES)}")
    for name in (
        "warmup_seconds",
        "phase_seconds",
        "cooldown_seconds",
        "kill_interval",
        "request_timeout",
        "op_deadline",
        "outage_seconds",
    ):
        parser.add_argument("--" + name.replace("_", "-"), type=float)
    for name in (
        "clients",
        "workers",
        "sellers_per_client",
        "credit",
        "restarts",
        "storm_requests",
        "storm_threads",
        "disconnects",
        "random_seed",
        "port",
    ):
        parser.add_argument("--" + name.replace("_", "-"), type=int)
    parser.add_argument(
        "--stop-mode",
        choices=("fast", "immediate"),
        help="how PostgreSQL is stopped in the restart phase (immediate: commits in flight lose their answer)",
    )
    parser.add_argument("--database-url", help="default: $DATABASE_URL, else a private PostgreSQL under /tmp")
    parser.add_argument("--data-dir", help="data directory of the private PostgreSQL (default /tmp/chaos-pg-<pid>)")
    parser.add_argument(
        "--allow-restart", action="store_true", help="allow restarting a PostgreSQL this run did not create"
    )
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--out-dir", help="keep the clients' records and gunicorn.log here")
    parser.add_argument("--json", help="also write the report as JSON to this file")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if v is not None and k in ChaosConfig.__dataclass_fields__}
    phases = tuple(p for p in args.phases.split(",") if p)
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases {sorted(unknown)}")
    config = replace(
        PRESETS[args.mode],
        **{**overrides, "phases": phases, "allow_restart": args.allow_restart, "keep_database": args.keep_database},
    )
    report = run_chaos(config)
    print(report.table())
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(report), indent=1, default=str))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
