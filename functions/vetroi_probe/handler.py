"""The scheduled synthetic check: probe the public domain and this region's endpoint.

Each run publishes, per endpoint, `ProbeSuccess` (1 or 0) and `ProbeDuration` (milliseconds)
in the namespace given by `VETROI_PROBE_NAMESPACE`, with the dimension `Endpoint` set to the
endpoint's label (`public` or `regional`). The alarms of the monitoring component watch
`ProbeSuccess`; a run that cannot publish fails, so its absence alarms too.

Environment:
- `VETROI_PROBE_TARGETS`: JSON object mapping a label to a base URL;
- `VETROI_PROBE_ORIGIN`: the browser origin the CORS checks use;
- `VETROI_PROBE_NAMESPACE`: the CloudWatch namespace (default `VetROI/Synthetics`);
- `VETROI_PROBE_TIMEOUT`: seconds per request (default 5).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import boto3
from botocore.config import Config

from vetroi_probe.probe import EndpointReport, probe_endpoints

DEFAULT_NAMESPACE = "VetROI/Synthetics"
SUCCESS_METRIC = "ProbeSuccess"
DURATION_METRIC = "ProbeDuration"

logger = logging.getLogger("vetroi_probe")
logger.setLevel(logging.INFO)

# Short timeouts and few attempts: a probe that hangs on CloudWatch misses its next run.
_CLIENT_CONFIG = Config(
    connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3}
)
_cloudwatch: Any = None


def _metrics_client() -> Any:
    global _cloudwatch
    if _cloudwatch is None:
        _cloudwatch = boto3.client("cloudwatch", config=_CLIENT_CONFIG)
    return _cloudwatch


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    targets: dict[str, str] = json.loads(os.environ["VETROI_PROBE_TARGETS"])
    origin = os.environ["VETROI_PROBE_ORIGIN"]
    namespace = os.environ.get("VETROI_PROBE_NAMESPACE", DEFAULT_NAMESPACE)
    timeout = float(os.environ.get("VETROI_PROBE_TIMEOUT", "5"))

    labels = list(targets)
    reports = probe_endpoints([targets[label] for label in labels], origin, timeout=timeout)
    publish(namespace, dict(zip(labels, reports, strict=True)))

    for label, report in zip(labels, reports, strict=True):
        line = {"endpoint": label, **report.as_dict()}
        if report.ok:
            logger.info(json.dumps(line))
        else:
            logger.error(json.dumps(line))
    return {label: report.ok for label, report in zip(labels, reports, strict=True)}


def publish(namespace: str, reports: dict[str, EndpointReport]) -> None:
    """Put one success and one duration datum per endpoint."""
    data = []
    for label, report in reports.items():
        dimensions = [{"Name": "Endpoint", "Value": label}]
        data.append(
            {
                "MetricName": SUCCESS_METRIC,
                "Dimensions": dimensions,
                "Value": 1.0 if report.ok else 0.0,
                "Unit": "Count",
            }
        )
        data.append(
            {
                "MetricName": DURATION_METRIC,
                "Dimensions": dimensions,
                "Value": report.seconds * 1000,
                "Unit": "Milliseconds",
            }
        )
    _metrics_client().put_metric_data(Namespace=namespace, MetricData=data)
