"""AWS clients, created once per container and reused by every request it serves.

botocore's default (legacy) retry mode gives DynamoDB ten attempts and its sockets a 60 s
timeout: a broken replica would hold a request for minutes. These clients use the standard
retry mode with few attempts and timeouts of a second or two (`VETROI_AWS_*`). The health
check has its own DynamoDB client with one attempt and `VETROI_HEALTH_TIMEOUT`, so a slow table
makes /health fail quickly rather than late. `AWS_ENDPOINT_URL` (read by botocore itself) points
every client at a local endpoint in the offline demo.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from .config import Config

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def client(config: Config, service: str, purpose: str = "default") -> Any:
    key = f"{service}:{purpose}"
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        if key not in _clients:
            _clients[key] = _create(config, service, purpose)
        return _clients[key]


def _create(config: Config, service: str, purpose: str) -> Any:
    if purpose == "health":
        timeout, read, attempts = config.health_timeout, config.health_timeout, 1
    else:
        timeout, read = config.aws_connect_timeout, config.aws_read_timeout
        attempts = config.aws_max_attempts
    options: dict[str, Any] = {
        "region_name": config.region,
        "connect_timeout": timeout,
        "read_timeout": read,
        "retries": {"mode": "standard", "total_max_attempts": attempts},
    }
    if service == "s3":
        # SigV4 signs for one region, and S3 refuses a POST signed for any region but the
        # bucket's: the backup region's functions sign for the primary's bucket.
        options["region_name"] = config.upload_region
        # Presigned POSTs must be SigV4 to carry the policy conditions. Virtual-hosted style
        # makes botocore presign the regional endpoint (bucket.s3.<region>.amazonaws.com):
        # the global one answers a POST to a bucket outside us-east-1 with a redirect a
        # browser will not follow. A local endpoint (the offline demo) needs path style.
        options["signature_version"] = "s3v4"
        if not (os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")):
            options["s3"] = {"addressing_style": "virtual"}
    return boto3.client(service, config=BotoConfig(**options))


def reset() -> None:
    """Forget every client (tests start each case with a fresh container)."""
    with _lock:
        _clients.clear()
