"""A real HTTP receiver for callback tests: a server in a thread on a free
port of this worktree's range, recording every request it gets."""

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORTS = range(8310, 8350)


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict
    body: bytes
    at: float


class Receiver:
    """Answers each path with the statuses in `answers[path]` in turn (the
    last one repeats; 200 for any other path), after `delays[path]` seconds.
    A path in `trickle` never finishes its answer: one byte of its headers
    every second, until the client hangs up or the receiver closes."""

    def __init__(
        self,
        answers: dict[str, list[int]] | None = None,
        delays: dict[str, float] | None = None,
        trickle: set[str] | frozenset[str] = frozenset(),
    ):
        self.answers = {path: list(statuses) for path, statuses in (answers or {}).items()}
        self.delays = delays or {}
        self.trickle = trickle
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.server = _bind(self._handler())
        self.port = self.server.server_address[1]
        # A short poll: shutdown() waits out one poll interval (0.5 s by default), at every test's end.
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._closing.set()
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, path: str, request: Received) -> int:
        with self._lock:
            self.received.append(request)
            statuses = self.answers.get(path, [200])
            return statuses.pop(0) if len(statuses) > 1 else statuses[0]

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time())
                status = receiver._answer(self.path, request)
                if self.path in receiver.trickle:
                    self._trickle()
                    return
                time.sleep(receiver.delays.get(self.path, 0))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _trickle(self):
                self.close_connection = True
                try:
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Trickle: ")
                    while not receiver._closing.wait(1):
                        self.wfile.write(b"a")
                except OSError:
                    pass  # the client hung up

            def log_message(self, format, *args):
                pass

        return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128


def _bind(handler) -> _Server:
    for port in PORTS:
        try:
            return _Server(("127.0.0.1", port), handler)
        except OSError:
            continue
    raise RuntimeError(f"no free port in {PORTS}")


def wait_for_next_second() -> None:
    """Until the Unix second changes, so the next attempt's `t` is a new one."""
    start = int(time.time())
    while int(time.time()) == start:
        time.sleep(0.01)
