"""Shared test helpers, imported by tests (never from a conftest module):
`api` (requests, errors, proof that nothing was written), `sellers` (funding,
clients), `books` (exact checks of the ledger), `workers` (threads and
processes started together), `live_clients` (HTTP clients in processes),
`stats` (counters the hostile tests report)."""
