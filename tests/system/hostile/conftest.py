"""Hostile tests: Schemathesis against the published OpenAPI schema, a
Hypothesis state machine over the ledger services, and requests found in
review."""

from tests.helpers.stats import STATS


def pytest_terminal_summary(terminalreporter):
    if STATS:
        terminalreporter.section("hostile tests")
        for name, value in STATS.items():
            terminalreporter.write_line(f"{name}: {value}")
