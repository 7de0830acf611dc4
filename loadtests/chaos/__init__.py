"""Fault injection: `python -m loadtests.chaos [--mode short|long] [options]`.

Starts gunicorn (4 workers by default) on a fresh, migrated database, seeds
sellers, and drives recharges, credit approvals and balance adjustments from
several client processes that behave like point-of-sale terminals: every
operation carries an Idempotency-Key and, on a timeout, a connection error,
a 503 or a 409 idempotency_in_progress, is sent again with the SAME key.
While the load runs it injects, one phase each:

  kill        SIGKILL of random gunicorn workers (gunicorn replaces them);
  restart     a PostgreSQL restart in fast mode (`pg_ctl -D <datadir> restart
              -m fast` for a private/pgserver server, `pg_ctlcluster
              --skip-systemctl-redirect <ver> <cluster> restart -m fast` for the
              machine's service); `--stop-mode immediate` (the long mode's
              default) stops it without waiting for commits in flight, and
              every unanswered request is then retried with its key;
  storm       hundreds of concurrent debits, adjustments and double-tapped
              keys on one hot seller;
  disconnect  clients that send the headers and part or all of the body of a
              recharge and close the socket without reading (some with RST),
              then retry with the same key as a terminal would.

Afterwards it checks, and prints as a table: every 201/200 a client saw has
exactly one ledger entry; at most one recharge (and one adjustment) per
Idempotency-Key; replays returned the first response; reconcile is clean; no
negative balance; every 5xx was 503 with the contract's body and Retry-After
(never a 500, also none logged by the server); the time the service took to
recover after the restart. Exit status 1 on any violation.

Which PostgreSQL: with no --database-url (and no DATABASE_URL) a private
server is created under /tmp and removed afterwards. A DATABASE_URL whose
socket directory is a pgserver data directory is restarted with its pg_ctl;
one on 127.0.0.1/localhost with pg_ctlcluster. Restarting a server the
harness did not create needs --allow-restart: other people's connections
drop too.

Short run (about a minute; what tests/system/chaos runs, phase by phase):
    .venv/bin/python -m loadtests.chaos --mode short
Long run, for operators (about 10 minutes, more clients, repeated faults):
    .venv/bin/python -m loadtests.chaos --mode long
On the machine's service (a dedicated machine only):
    DATABASE_URL=postgres://postgres:...@127.0.0.1:5432/postgres \\
        .venv/bin/python -m loadtests.chaos --mode long --allow-restart
"""

from loadtests.chaos.config import PRESETS, ChaosConfig
from loadtests.chaos.run import run_chaos

__all__ = ["PRESETS", "ChaosConfig", "run_chaos"]
