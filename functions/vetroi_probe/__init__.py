"""The synthetic probe: the operations plan's health check, done properly.

The same code runs in the scheduled synthetic-check function in each region and in the
`python -m ops probe` command, so what pages the on-call engineer and what they run by hand agree.
"""

from vetroi_probe.probe import (
    CAREER_CODE,
    CheckResult,
    EndpointReport,
    format_table,
    probe_endpoint,
    probe_endpoints,
)

__all__ = [
    "CAREER_CODE",
    "CheckResult",
    "EndpointReport",
    "format_table",
    "probe_endpoint",
    "probe_endpoints",
]
