import pytest

from tests.helpers.simulator import SimulatorProcess


@pytest.fixture
def start_simulator(tmp_path):
    """start_simulator(latency_ms=..., error_rate=..., hang_seconds=...) -> a running SimulatorProcess."""
    started = []

    def start(**options) -> SimulatorProcess:
        simulator = SimulatorProcess(tmp_path / f"simulator{len(started)}.sqlite3", **options)
        started.append(simulator)
        simulator.start()
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


@pytest.fixture
def simulator(start_simulator):
    return start_simulator()


@pytest.fixture
def gateway(simulator):
    gateway = simulator.gateway()
    yield gateway
    gateway.close()
