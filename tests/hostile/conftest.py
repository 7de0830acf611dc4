"""Hostile tests: Schemathesis against the published OpenAPI schema, and a
Hypothesis state machine over the ledger services."""

# Counters the hostile tests fill in (e.g. requests Schemathesis sent); the
# summary prints them even under -q and output capture.
STATS: dict[str, object] = {}


def pytest_terminal_summary(terminalreporter):
    if STATS:
        terminalreporter.section("hostile tests")
        for name, value in STATS.items():
            terminalreporter.write_line(f"{name}: {value}")
