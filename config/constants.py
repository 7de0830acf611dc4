"""Values that more than one layer must agree on, each defined once."""

from datetime import date

MAX_AMOUNT = 10**15
"""The largest amount, in rials, one credit request, sale or adjustment (of
either sign) may move; the models' CHECK constraints and the API fields use it."""

FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9999, 12, 30)
"""The days a report or a portal filter may name: a day's business-time
midnight, the next day's, and an hour either side of them (portal/selectors.py)
must exist as timestamps; date(1, 1, 1) and date(9999, 12, 31) overflow."""
