"""Values that more than one layer must agree on, each defined once."""

MAX_AMOUNT = 10**15
"""The largest amount, in rials, one credit request, sale or adjustment (of
either sign) may move; the models' CHECK constraints and the API fields use it."""
