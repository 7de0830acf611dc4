"""The `Recharge-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`,
keyed with the endpoint's 64-character secret as ASCII."""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Recharge-Signature"


def signature_header(*, secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify_signature(*, secret: str, header: str, body: bytes, tolerance_seconds: int = 300) -> bool:
    """What a receiver checks: a well-formed header whose v1 matches the body,
    with a timestamp within `tolerance_seconds` of now (a replayed old request fails)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
        given = fields["v1"]
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(given, _digest(secret, timestamp, body))


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode("ascii"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()
