"""The race demo's core (loadtests/race_demo.py): the conditional UPDATE keeps
the books exact under threads and processes. The naive read-modify-write is
run and reported, not asserted: whether it loses money depends on timing."""

import pytest
from django.db import connection

from loadtests import race_demo

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("runner", ["threads", "processes"])
def test_conditional_update_keeps_the_books_exact(runner):
    conninfo = race_demo.conninfo_from(connection.settings_dict)

    safe = race_demo.run(conninfo, strategy="safe", runner=runner, workers=4, attempts=50)
    naive = race_demo.run(conninfo, strategy="naive", runner=runner, workers=4, attempts=50)

    print(f"\n{race_demo.table([naive, safe])}")
    assert safe.sold == safe.start // safe.amount == 100  # exactly what the balance covers
    assert safe.final == 0
    assert safe.books_exact
