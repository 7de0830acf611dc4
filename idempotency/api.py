import re

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

_KEY = r"[\x21-\x7e]{1,255}"  # 1 to 255 visible ASCII characters
_VALID_KEY = re.compile(_KEY)

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    pattern=f"^{_KEY}$",
    description=(
        "1 to 255 visible ASCII characters. A repeat of the same request with the same key "
        "returns the first response with `Idempotent-Replayed: true` and moves no money; "
        "a repeat that arrives while the first is still running waits for it and replays it."
    ),
)


def valid_idempotency_key(key: str) -> bool:
    return _VALID_KEY.fullmatch(key) is not None


def idempotency_key(request: Request) -> str | None:
    """The request's Idempotency-Key header, or None; 400 if malformed."""
    key: str | None = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not valid_idempotency_key(key):
        raise ValidationError({"Idempotency-Key": ["Use 1 to 255 visible ASCII characters."]})
    return key


def replay_headers(replayed: bool) -> dict[str, str]:
    return {"Idempotent-Replayed": "true"} if replayed else {}
