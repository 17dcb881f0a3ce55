"""A local demo environment run the way `make demo` runs it, for the tests that use it.

`RunningDemo` starts `python -m localdemo` as a child process on a free port (never 8000), waits
until its edge answers with both regions healthy, and stops it with Ctrl-C's signal, recording
every process it had started, so that a test can check that none is left.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import requests

from localdemo.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = "http://localhost:5173"


class RunningDemo:
    def __init__(
        self,
        work_dir: Path,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.work_dir = work_dir
        self.output = work_dir / "demo.out"
        self.args = args or []
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.children: list[psutil.Process] = []
        self.ports: list[int] = []
        self.http = requests.Session()
        self.http.headers["Origin"] = ORIGIN

    def start(self, timeout: float = 120.0) -> RunningDemo:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with open(self.output, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "localdemo", "--port", str(self.port),
                 "--work-dir", str(self.work_dir), *self.args],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the demo exited early:\n{self.output.read_text()}")
            if "Press Ctrl-C" in self.output.read_text():
                break
            time.sleep(0.1)
        else:
            self.stop()
            raise TimeoutError(f"the demo did not start:\n{self.output.read_text()}")
        self.children = psutil.Process(self.process.pid).children(recursive=True)
        status = self.status()
        self.ports = [
            self.port,
            *(region["port"] for region in status["regions"].values()),
            int(status["aws"]["endpoint"].rsplit(":", 1)[1]),
        ]
        return self

    def stop(self) -> int:
        """Ctrl-C's signal, then wait; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def left_behind(self) -> list[str]:
        """Processes started by the demo that still run, and its ports that still listen."""
        alive = [
            f"pid {child.pid} ({' '.join(child.cmdline()[:3])})"
            for child in self.children
            if child.is_running() and child.status() != psutil.STATUS_ZOMBIE
        ]
        listening = [f"port {port}" for port in self.ports if _listening(port)]
        return alive + listening

    def status(self) -> dict[str, Any]:
        response = requests.get(f"{self.url}/_demo/status", timeout=5)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def faults(self, **faults: Any) -> requests.Response:
        return requests.post(f"{self.url}/_demo/faults", json=faults, timeout=30)

    def wait_for(self, condition: Any, timeout: float, what: str) -> float:
        """Poll the status until `condition(status)`; returns the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if condition(self.status()):
                return time.monotonic() - started
            time.sleep(0.05)
        raise AssertionError(f"not within {timeout} s: {what}; status: {self.status()}")

    def settle(self) -> None:
        """Every fault cleared, both regions healthy, traffic on the primary."""
        asked = time.time()
        self.faults(primary="up", backup="up", onet="up", table="up", forceFailover=False)

        def settled(status: dict[str, Any]) -> bool:
            # A check that passed after the faults were cleared: a region restarted a moment
            # ago may still count as healthy from before its fault, without listening yet.
            return status["serving"] == "primary" and all(
                r["health"]["healthy"]
                and r["health"]["lastStatus"] == 200
                and r["health"]["lastChecked"] > asked
                for r in status["regions"].values()
            )

        self.wait_for(settled, 30, "both regions healthy again")


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
