"""What the simulator does for a number, by its last four digits (the
contract's sandbox table)."""

import enum


class Behaviour(enum.Enum):
    DECLINE = "decline"  # 9990: a definite "declined"
    HANG_RECORDED = "hang_recorded"  # 9991: records the top-up, never answers the first request
    HANG_UNRECORDED = "hang_unrecorded"  # 9992: records nothing, never answers
    FLAKY = "flaky"  # 9993: 503 to the first three requests for the reference, top-up recorded
    REJECT_NUMBER = "reject_number"  # 9994: the number is not a subscriber
    SUCCEED = "succeed"


_BY_SUFFIX = {
    "9990": Behaviour.DECLINE,
    "9991": Behaviour.HANG_RECORDED,
    "9992": Behaviour.HANG_UNRECORDED,
    "9993": Behaviour.FLAKY,
    "9994": Behaviour.REJECT_NUMBER,
}

FLAKY_FAILURES = 3


def behaviour_for(msisdn: str) -> Behaviour:
    return _BY_SUFFIX.get(msisdn[-4:], Behaviour.SUCCEED)


def final_status(behaviour: Behaviour) -> str:
    """The status a recorded top-up for this behaviour has."""
    if behaviour is Behaviour.DECLINE:
        return "declined"
    if behaviour is Behaviour.REJECT_NUMBER:
        return "rejected_number"
    return "successful"
