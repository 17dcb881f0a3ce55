"""Child processes that never outlive the environment, and the ports they listen on.

Each child runs in its own session (so its own process group): stopping it signals the whole
group, a hung region is one `SIGSTOP` to its group, and Ctrl-C in the terminal reaches only the
supervisor, which then stops every child in order. The children also ask the kernel to kill them
when the supervisor dies (`PR_SET_PDEATHSIG`, see gateway.py and motoserver.py), so even a
`kill -9` of the supervisor leaves nothing behind. An `atexit` hook stops whatever is still
running when the interpreter exits by any other path.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import logging
import os
import signal
import socket
import subprocess
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)
_LIVE: weakref.WeakSet[ManagedProcess] = weakref.WeakSet()


class PortInUseError(RuntimeError):
    """The port the environment must listen on is taken by another program, or (`errno`
    EACCES) this user may not listen on it."""

    def __init__(self, host: str, port: int, error: int = errno.EADDRINUSE) -> None:
        self.port = port
        if error == errno.EACCES:
            cause = (
                f"port {port} on {host} may not be used by this user (permission denied"
                f"{'; ports below 1024 need root' if port < 1024 else ''})."
            )
            fix = "Choose a port from 1024 up"
            other = 8000 if port < 1024 else port + 1
        else:
            cause = f"port {port} on {host} is already in use by another program."
            fix = "Stop that program, or choose another port"
            other = port + 1
        super().__init__(f"{cause} {fix}: VETROI_PORT={other} make demo")


class ManagedProcess:
    """A child process in its own process group, with its output in a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.running and self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log_file:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.paused = False
        _LIVE.add(self)
        log.debug("started %s (pid %s)", self.name, self.process.pid)

    def pause(self) -> None:
        """Freeze the process: its port still accepts connections, but nothing answers."""
        if self.running and not self.paused:
            self._signal_group(signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self.running and self.paused:
            self._signal_group(signal.SIGCONT)
        self.paused = False

    def kill(self) -> None:
        """End the process at once, as a crash would; its port closes."""
        self.stop(grace=0.0)

    def stop(self, grace: float = 3.0) -> None:
        """SIGTERM to the group, then SIGKILL after `grace` seconds; waits until it is gone."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            if self.paused:
                # A stopped process cannot act on SIGTERM until it runs again.
                self._signal_group(signal.SIGCONT)
            self._signal_group(signal.SIGTERM if grace > 0 else signal.SIGKILL)
            try:
                process.wait(timeout=grace if grace > 0 else 5.0)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                process.wait(timeout=5.0)
        # Anything the child started in its group goes too.
        self._signal_group(signal.SIGKILL)
        self.paused = False
        _LIVE.discard(self)

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)


@atexit.register
def stop_all() -> None:
    """Stop every child still running; called at exit and by the signal handlers."""
    for process in list(_LIVE):
        with contextlib.suppress(Exception):
            process.stop(grace=1.0)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_port_free(host: str, port: int) -> None:
    """Raise PortInUseError when `port` cannot be bound the way the edge will bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # The same option the server sets, so a port in TIME_WAIT counts as free, as it is.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortInUseError(host, port, error.errno) from error
            raise


def wait_for_port(host: str, port: int, timeout: float, process: ManagedProcess) -> None:
    """Block until something accepts connections on `port`; fail early if `process` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.running:
            raise RuntimeError(
                f"{process.name} exited with code {process.process and process.process.poll()}"
                f" before listening; see {process.log_path}"
            )
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{process.name} did not listen on {host}:{port} within {timeout} s")
