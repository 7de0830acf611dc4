"""The simulator's HTTP protocol (docs/operators.md) as a plain ASGI
application, served by uvicorn on uvloop with the httptools parser: one
process, one thread, and any number of requests waiting out their simulated
latency at once (an asyncio timer each, not a thread each)."""

import asyncio
import json
import os

from simulator.operator import Answer, SimulatedOperator
from simulator.statements import parse_path, statement_csv

_TOPUPS = "/v1/topups"
_STATEMENTS = "/v1/statements/"
_MAX_BODY = 16 * 1024


class SimulatorApp:
    def __init__(self, operator: SimulatedOperator):
        self.operator = operator

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "GET" and scope["path"].startswith(_STATEMENTS):
            await self._statement(scope["path"][len(_STATEMENTS) :], send)
            return
        answer = await self._answer(scope, receive)
        if answer.body is None:
            # Held past the client's read timeout: the client has given up and closed the
            # connection by then. (One that waits longer gets uvicorn's 500: unknown all the same.)
            await asyncio.sleep(self.operator.config.hang_seconds)
            return
        payload = json.dumps(answer.body).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _statement(self, path: str, send) -> None:
        """GET /v1/statements/<operator>/<YYYY-MM-DD>.csv: the day's statement."""
        wanted = parse_path(path)
        if wanted is None:
            message = "no such statement: /v1/statements/<operator>/<YYYY-MM-DD>.csv"
            payload = json.dumps({"error": {"code": "no_such_statement", "message": message, "details": {}}}).encode()
            status, content_type = 404, b"application/json"
        else:
            operator, day = wanted
            payload = await statement_csv(self.operator.store, operator=operator, day=day)
            status, content_type = 200, b"text/csv; charset=utf-8"
        headers = [(b"content-type", content_type), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _answer(self, scope, receive) -> Answer:
        method, path = scope["method"], scope["path"]
        if method == "POST" and path == _TOPUPS:
            body = await _read_body(receive)
            try:
                request = json.loads(body) if body is not None else None
            except ValueError:
                request = None
            if request is None:
                return _bad_body()
            answer = await self.operator.top_up(request)
        elif method == "GET" and path.startswith(_TOPUPS + "/"):
            answer = await self.operator.status(path[len(_TOPUPS) + 1 :])  # ASGI has percent-decoded it
        elif method == "GET" and path == "/_sim/health":
            return Answer(200, {"pid": os.getpid()})
        elif method == "GET" and path == "/_sim/stats":
            return Answer(200, await self.operator.store.stats())
        elif method == "GET" and path == "/_sim/topups":
            return Answer(200, {"results": await self.operator.store.all_references()})
        else:
            return Answer(404, {"error": {"code": "no_such_endpoint", "message": "no such endpoint", "details": {}}})
        if answer.body is not None and answer.status != 400:
            await asyncio.sleep(self.operator.config.latency)
        return answer


async def _read_body(receive) -> bytes | None:
    """The request body, or None when it is larger than any top-up request."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > _MAX_BODY:
            return None
        if not message.get("more_body"):
            return b"".join(chunks)


def _bad_body() -> Answer:
    message = f"the body must be a JSON object of at most {_MAX_BODY} bytes"
    return Answer(400, {"error": {"code": "invalid_request", "message": message, "details": {}}})
