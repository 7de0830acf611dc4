"""HTTP with a total deadline: connect, TLS, send and the answer's status
line and headers all end within a few seconds of the start, whatever the
other side does.

A timeout per socket operation (httpx's, httpcore's) never fires on a server
that sends one byte now and then: each read gets a byte in time. The pool
made here runs httpcore on sockets whose every wait is cut to what is left
of the deadline of the block it runs in, and fails with httpcore's own
timeout error when nothing is left. (A TLS handshake is one wait: Python
bounds it as a whole by the socket's timeout. A write can only outlast its
timeout if the peer stops reading more than a socket buffer, far beyond a
callback's body.) DNS resolution is not a socket wait: a slow resolver can
hold an attempt past its deadline; its next socket wait then fails at once.
"""

import functools
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from ssl import SSLContext
from typing import Any

import httpcore
import httpx

# A context variable: each thread running requests has its own deadline.
_deadline: ContextVar[float | None] = ContextVar("http_deadline", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every socket wait of this thread's requests on `pool()` ends within `seconds` from now."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


@functools.cache
def pool() -> httpcore.ConnectionPool:
    """The process's connection pool (thread-safe). One: making it loads the
    CA bundle, which costs more than a local request. No limit on connections,
    so no request waits for another's; idle ones are kept 5 s, as httpx does.
    httpcore follows no redirect and reads no proxy from the environment."""
    return httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=None,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=_Backend(),
    )


def _wait(timeout: float | None, timeout_error: type[httpcore.TimeoutException]) -> float | None:
    """The longest a socket may wait now: `timeout`, cut to what is left of this thread's deadline."""
    ends = _deadline.get()
    if ends is None:
        return timeout
    left = ends - time.monotonic()
    if left <= 0:
        raise timeout_error("The deadline passed.")
    return left if timeout is None else min(timeout, left)


class _Backend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._sockets = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        wait = _wait(timeout, httpcore.ConnectTimeout)
        return _Stream(self._sockets.connect_tcp(host, port, wait, local_address, socket_options))


class _Stream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _wait(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _wait(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _Stream(self._stream.start_tls(ssl_context, server_hostname, _wait(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)
