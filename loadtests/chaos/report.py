"""The report of a run: its checks, money, faults and responses, and the
tables `python -m loadtests.chaos` prints."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    config: dict
    operations: dict = field(default_factory=dict)
    faults: dict = field(default_factory=dict)
    money: dict = field(default_factory=dict)
    statuses: dict = field(default_factory=dict)  # phase -> Counter of outcome labels
    recovery: dict = field(default_factory=dict)
    checks: list = field(default_factory=list)
    bad_responses: list = field(default_factory=list)
    server_errors: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def violations(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    def check(self, name: str) -> Check:
        return next(check for check in self.checks if check.name == name)

    def table(self) -> str:
        return render(self)


def outcome_label(outcome: dict) -> str:
    status = outcome.get("status")
    if status is None:
        return outcome.get("error", "error")
    if status >= 500:
        return "503 contract" if outcome.get("contract_503") else f"{status} NOT CONTRACT"
    if status in (200, 201) and outcome.get("replayed"):
        return f"{status} replayed"
    return str(status) + (f" {outcome['code']}" if outcome.get("code") and status >= 400 else "")


def render(report: Report) -> str:
    lines = []

    def table(title: str, rows: list[tuple], header: tuple | None = None) -> None:
        lines.append(f"\n{title}")
        all_rows = ([header] if header else []) + [tuple(str(c) for c in row) for row in rows]
        widths = [max(len(row[i]) for row in all_rows) for i in range(len(all_rows[0]))] if all_rows else []
        for index, row in enumerate(all_rows):
            lines.append("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip())
            if header and index == 0:
                lines.append("  " + "  ".join("-" * width for width in widths))

    table(
        "OPERATIONS (final outcome per operation)",
        [(k, ", ".join(f"{name} {n}" for name, n in sorted(v.items()))) for k, v in report.operations.items()],
        ("operation", "outcomes"),
    )
    table("FAULTS INJECTED", list(report.faults.items()), ("fault", "what happened"))
    table("MONEY", list(report.money.items()), ("quantity", "IRR / count"))
    labels = sorted({label for counts in report.statuses.values() for label in counts})
    table(
        "RESPONSES BY PHASE (every attempt)",
        [(phase, *(counts.get(name, 0) for name in labels)) for phase, counts in report.statuses.items()],
        ("phase", *labels),
    )
    if report.recovery.get("restarts"):
        table(
            "RECOVERY AFTER POSTGRESQL RESTART",
            [
                (f"#{i + 1}", "; ".join(f"{k}: {v}" for k, v in r.items()))
                for i, r in enumerate(report.recovery["restarts"])
            ],
            ("restart", "timings"),
        )
    table(
        "CHECKS", [("PASS" if c.ok else "FAIL", c.name, c.detail) for c in report.checks], ("result", "check", "detail")
    )
    if report.server_errors:
        table(
            "SERVER LOG (errors)",
            [(e["phase"], e["line"][:90], "; ".join(e["exception"])[:120]) for e in report.server_errors[:15]],
            ("phase", "line", "exception"),
        )
    lines.append(f"\n{'OK: no violation' if report.ok else f'VIOLATIONS: {len(report.violations)}'}")
    return "\n".join(lines)
