import pytest

from tests.concurrency.workers import current_database_url
from tests.live import server


@pytest.fixture
def gunicorn(transactional_db):
    """A real gunicorn (4 sync workers) serving the pytest-django test
    database; stopped with SIGTERM at teardown, before the tables are flushed."""
    base_url = server.start(current_database_url(), workers=4)
    yield base_url
    server.stop(base_url)
