"""python -m simulator --host 127.0.0.1 --port 8010 --latency-ms 50 --error-rate 0 --db simulator.sqlite3"""

import argparse

import uvicorn

from simulator.app import SimulatorApp
from simulator.operator import Config, SimulatedOperator
from simulator.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m simulator", description="Mobile operator top-up simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8010)
    parser.add_argument("--latency-ms", type=float, default=50, help="delay before every /v1 answer")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of /v1 requests answered 503, 0 to 1")
    parser.add_argument("--hang-seconds", type=float, default=30, help="how long a timing-out request is held")
    parser.add_argument("--db", default="simulator.sqlite3", help="SQLite file with the record of every top-up")
    args = parser.parse_args()
    if not 0 <= args.error_rate <= 1:
        parser.error("--error-rate must be between 0 and 1")

    store = Store(args.db)
    config = Config(latency=args.latency_ms / 1000, error_rate=args.error_rate, hang_seconds=args.hang_seconds)
    server = uvicorn.Server(
        uvicorn.Config(
            SimulatorApp(SimulatedOperator(store, config)),
            host=args.host,
            port=args.port,
            loop="uvloop",
            http="httptools",
            lifespan="off",
            access_log=False,
            proxy_headers=False,
            server_header=False,
            log_level="warning",
            backlog=2048,
            # Longer than httpx's 5 s pool expiry, so the client always closes an idle
            # connection first and never sends on one the server is closing.
            timeout_keep_alive=75,
            # Held ("timing out") requests must not keep a stopped simulator alive.
            timeout_graceful_shutdown=1,
        )
    )
    print(f"operator simulator on http://{args.host}:{args.port} (db {args.db})", flush=True)
    try:
        server.run()
    finally:
        store.close()


if __name__ == "__main__":
    main()
