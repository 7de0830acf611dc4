import pytest

from loadtests.server import ApiServer
from tests.helpers.workers import current_database_url


@pytest.fixture
def gunicorn(transactional_db):
    """A real gunicorn (4 sync workers, loadtests/server.py's ApiServer) serving
    the pytest-django test database; stopped with SIGTERM at teardown, before
    the tables are flushed."""
    with ApiServer(current_database_url(), workers=4) as api:
        yield api
