"""`probe`: the browser's view of each endpoint, with an optional webhook on failure."""

from __future__ import annotations

import json
import sys
from typing import Any

import requests
from vetroi_probe import EndpointReport, format_table, probe_endpoints

from ops.errors import OpsError
from ops.stacks import StackOutputs


def endpoints_of(outputs: StackOutputs, stack: str) -> list[str]:
    """The edge's URL (when the stack exports one) and the stack's own API URL."""
    urls = [outputs.optional(stack, "edgeUrl"), outputs.value(stack, "apiUrl", "a URL argument")]
    return [url for url in urls if url]


def origin_of(outputs: StackOutputs, stack: str) -> str | None:
    origins = outputs.optional(stack, "corsOrigins")
    return origins[0] if isinstance(origins, list) and origins else None


def run(
    urls: list[str],
    origin: str,
    *,
    timeout: float,
    webhook: str | None = None,
    as_json: bool = False,
) -> int:
    if not urls:
        raise OpsError("nothing to probe: give one or more URLs, or --stack")
    reports = probe_endpoints(urls, origin, timeout=timeout)
    if as_json:
        print(json.dumps([report.as_dict() for report in reports], indent=2))
    else:
        print(format_table(reports))
    failed = [report for report in reports if not report.ok]
    if failed and webhook:
        _alert(webhook, origin, failed)
    if failed:
        print(f"\n{len(failed)} of {len(reports)} endpoint(s) failed", file=sys.stderr)
        return 1
    return 0


def _alert(webhook: str, origin: str, failed: list[EndpointReport]) -> None:
    lines = [f"VetROI probe failed for {len(failed)} endpoint(s) (origin {origin}):"]
    for report in failed:
        for check in report.failures:
            lines.append(f"- {report.url} {check.name}: {check.detail}")
    # `text` is what Slack and most chat webhooks display; the details are for integrations.
    body: dict[str, Any] = {
        "text": "\n".join(lines),
        "failures": [report.as_dict() for report in failed],
    }
    try:
        response = requests.post(webhook, json=body, timeout=5)
        response.raise_for_status()
    except requests.RequestException as error:
        print(f"warning: the webhook did not take the alert: {error}", file=sys.stderr)
