"""The two local regions: the deployment package, unpacked, served by gateway.py in a process each.

The package is the one `components.packaging.build_package` makes for deployment, built for
this machine (`platform="host"`) and taken from its content cache when nothing changed, then
unpacked once per package hash. Each region's interpreter is started with `-I -S`, so nothing
of the project's virtualenv is importable there: a missing dependency fails the demo the way it
would fail in Lambda.

Faults: `down` kills the process (its port refuses connections), `hung` stops it with SIGSTOP
(the kernel still accepts connections, nobody answers), `up` resumes or restarts it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from .config import ROOT, DemoConfig
from .processes import ManagedProcess

GATEWAY = Path(__file__).resolve().parent / "gateway.py"
FUNCTIONS_DIR = ROOT / "functions"
REQUIREMENTS = FUNCTIONS_DIR / "requirements.txt"

# The routes of components/api.py (ROUTES, MONOLITH_HANDLER, CORS_HEADERS); a test holds them
# equal, and they are repeated here so that starting the demo never imports Pulumi.
ROUTES = (
    {"method": "POST", "path": "/recommend", "handler": "vetroi_api.handlers.recommend_handler"},
    {"method": "GET", "path": "/career/{socCode}", "handler": "vetroi_api.handlers.career_handler"},
    {"method": "GET", "path": "/health", "handler": "vetroi_api.handlers.health_handler"},
    {"method": "POST", "path": "/uploads", "handler": "vetroi_api.handlers.uploads_handler"},
)
MONOLITH_HANDLER = "vetroi_api.handlers.lambda_handler"
CORS_HEADERS = "Content-Type,Authorization,X-Api-Key,X-Amz-Date,X-Amz-Security-Token"
FAULTS = ("up", "down", "hung")
# What the status page shows of a region's insides, read from its loaded modules (never
# importing one): the O*NET circuit breaker of the container's App.
PROBES = {"breaker": "vetroi_api.handlers:_app._onet.breaker_state"}


def unpacked_package(work_dir: Path = ROOT / ".build" / "localdemo") -> tuple[Path, str]:
    """Build (or reuse) the host package and unpack it; returns its folder and its hash."""
    from components.packaging import build_package

    package = build_package(
        FUNCTIONS_DIR,
        REQUIREMENTS,
        platform="host",
        python_version=None,
        out_dir=ROOT / ".build",
        name="vetroi_api",
    )
    target = work_dir / "packages" / package.key
    if not (target / ".complete").exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{package.key}-", dir=target.parent))
        with zipfile.ZipFile(package.path) as archive:
            archive.extractall(staging)
        (staging / ".complete").write_text(package.sha256_b64)
        shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(staging, target)
        except OSError:
            # Another environment unpacked the same package at the same moment.
            shutil.rmtree(staging, ignore_errors=True)
            if not (target / ".complete").exists():
                raise
    return target, package.sha256_b64


class Region:
    """One region's gateway process and what it was started with."""

    def __init__(
        self,
        role: str,
        aws_region: str,
        port: int,
        control_port: int,
        code_dir: Path,
        config: DemoConfig,
        env: dict[str, str],
        log_dir: Path,
    ) -> None:
        self.role = role
        self.aws_region = aws_region
        self.port = port
        self.control_port = control_port
        self.fault = "up"
        self.state: dict[str, Any] = {}
        gateway_config = {
            "role": role,
            "region": aws_region,
            "stage": config.stage,
            "host": config.host,
            "port": port,
            "control_port": control_port,
            "probes": PROBES,
            "preload": True,
            "code_dir": str(code_dir),
            "parent_pid": os.getpid(),
            "timeout_seconds": config.function_timeout,
            "routes": list(ROUTES),
            "monolith_handler": MONOLITH_HANDLER if config.layout == "monolith" else None,
            "cors_origins": [o for o in config.origins if o != "*"],
            "allow_any_origin": config.allow_any_origin,
            "cors_headers": CORS_HEADERS,
            "function_prefix": f"vetroi-local-{role}",
        }
        self.process = ManagedProcess(
            f"{role} region",
            [sys.executable, "-I", "-S", str(GATEWAY), json.dumps(gateway_config)],
            env,
            log_dir / f"{role}.log",
            cwd=code_dir,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.control_port}/state"

    def start(self) -> None:
        self.process.start()

    def stop(self) -> None:
        self.process.stop()

    def snapshot(self) -> dict[str, Any]:
        return {
            "fault": self.fault,
            "awsRegion": self.aws_region,
            "port": self.port,
            "pid": self.process.pid,
            "running": self.process.running,
            "paused": self.process.paused,
            "log": str(self.process.log_path),
            # Empty when the region did not answer its control port (down or hung).
            "stateKnown": bool(self.state),
            "breaker": self.state.get("probes", {}).get("breaker"),
            "invocations": self.state.get("invocations"),
            "coldStartsMs": self.state.get("coldStartsMs"),
        }
