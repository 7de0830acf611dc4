"""Operator simulator: a stand-alone HTTP service that plays a mobile
operator's top-up gateway (protocol in docs/operators.md).

It answers by the number's last four digits as the contract's sandbox table
says, refuses to charge a reference twice, and keeps every top-up in SQLite so
that tests can check, across restarts, that no reference was charged twice.
It imports nothing from Django: it runs as its own process
(`python -m simulator --port 8010 --db simulator.sqlite3`).
"""
