"""Run the emulator in a child process, as the upstream every benchmark measures against."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

_SERVE = (
    "import sys, uvicorn\n"
    "from gemgate.emulator import EmulatorSettings, create_emulator_app\n"
    "app = create_emulator_app(EmulatorSettings(api_keys=frozenset({'bench-key'})))\n"
    "uvicorn.run(app, host='127.0.0.1', port=int(sys.argv[1]), log_level='warning')\n"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def emulator_process() -> Iterator[str]:
    """Start the emulator on a free loopback port; yield its base URL; stop it afterwards."""
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-c", _SERVE, str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/emulator/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
