"""Measures the simulator: CPU per top-up and throughput.

    python -m simulator.bench --topups 2000 --clients 100 --latency-ms 100
    python -m simulator.bench --topups 20000 --clients 64 --latency-ms 0 --processes 2
    python -m simulator.bench --tool wrk --clients 64 --seconds 10 --latency-ms 0

Starts the simulator as its own process on a fresh SQLite file, sends
distinct top-ups through recharges.gateway.HttpGateway from client threads
(split over client processes), or from wrk (`--tool wrk`, far lighter than
httpx, for the simulator's own ceiling), and reads the simulator's CPU time
with psutil.
"""

import argparse
import itertools
import multiprocessing
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

from recharges.gateway import HttpGateway


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m simulator.bench")
    parser.add_argument("--topups", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=100, help="concurrent client threads in all")
    parser.add_argument("--processes", type=int, default=1, help="client processes sharing the threads")
    parser.add_argument("--latency-ms", type=float, default=100)
    parser.add_argument("--port", type=int, default=8299)
    parser.add_argument("--tool", choices=("httpx", "wrk"), default="httpx")
    parser.add_argument("--seconds", type=int, default=10, help="how long wrk runs")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        simulator = _start(args.port, args.latency_ms, Path(folder) / "bench.sqlite3")
        try:
            (_measure_wrk if args.tool == "wrk" else _measure)(simulator, args)
        finally:
            simulator.terminate()
            simulator.wait(timeout=10)


def _measure(simulator: subprocess.Popen, args: argparse.Namespace) -> None:
    process = psutil.Process(simulator.pid)
    base_url = f"http://127.0.0.1:{args.port}"
    share = (base_url, args.topups // args.processes, args.clients // args.processes)
    shares = [(*share, n) for n in range(args.processes)]
    cpu_before = process.cpu_times()
    started = time.monotonic()
    with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
        results = pool.starmap(_send, shares)
    elapsed = time.monotonic() - started
    outcomes = [outcome for process_outcomes, _ in results for outcome in process_outcomes]
    client_cpu = sum(cpu for _, cpu in results)
    cpu_after = process.cpu_times()
    cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    stats = httpx.get(f"{base_url}/_sim/stats").json()
    successful = outcomes.count("successful")
    print(
        f"{len(outcomes)} top-ups ({successful} successful), {args.clients} clients in {args.processes} processes,"
        f" latency {args.latency_ms:g} ms: {elapsed:.2f} s, {len(outcomes) / elapsed:.0f} top-ups/s;"
        f" simulator CPU {cpu:.2f} s = {cpu / len(outcomes) * 1e6:.0f} us per top-up;"
        f" client (HttpGateway) CPU {client_cpu / len(outcomes) * 1e6:.0f} us per top-up;"
        f" charges {stats['charges']}, charged_twice {stats['charged_twice']}"
    )


def _measure_wrk(simulator: subprocess.Popen, args: argparse.Namespace) -> None:
    process = psutil.Process(simulator.pid)
    base_url = f"http://127.0.0.1:{args.port}"
    script = Path(__file__).with_name("topup.lua")
    command = ["wrk", "-t", "2", "-c", str(args.clients), "-d", f"{args.seconds}s", "-s", str(script), base_url]
    cpu_before = process.cpu_times()
    output = subprocess.run([*command, "--", f"run{time.time_ns()}"], capture_output=True, text=True, check=True).stdout
    cpu_after = process.cpu_times()
    cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    stats = httpx.get(f"{base_url}/_sim/stats").json()
    topups = stats["topups"]
    print(
        f"wrk, {args.clients} connections, latency {args.latency_ms:g} ms, {args.seconds} s:"
        f" {topups} top-ups recorded, {topups / args.seconds:.0f} top-ups/s;"
        f" simulator CPU {cpu:.2f} s = {cpu / topups * 1e6:.0f} us per top-up;"
        f" charged_twice {stats['charged_twice']}"
    )
    print(output.strip().splitlines()[-2])  # wrk's "Requests/sec" line


def _send(base_url: str, topups: int, clients: int, process_number: int) -> tuple[list[str], float]:
    """(outcomes, CPU seconds this client process spent)"""
    started = time.process_time()
    gateway = HttpGateway(base_url, connect_timeout=5, read_timeout=30)
    references = (f"bench-{process_number}-{i}" for i in range(topups))
    lock = threading.Lock()
    outcomes: list[str] = []

    def client() -> None:
        while True:
            with lock:
                reference = next(references, None)
            if reference is None:
                return
            answer = gateway.top_up(reference=reference, number="+989121234567", amount=1_000, operator="mci")
            outcomes.append(answer.outcome)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    gateway.close()
    return outcomes, time.process_time() - started


def _start(port: int, latency_ms: float, db: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "simulator", "--port", str(port), "--latency-ms", str(latency_ms), "--db", str(db)]
    simulator = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    for _ in itertools.repeat(None, 200):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return simulator
        time.sleep(0.05)
    simulator.kill()
    raise RuntimeError(f"the simulator did not listen on port {port}")


if __name__ == "__main__":
    main()
