"""X-Ray subsegments reach the daemon's UDP port, without the X-Ray SDK."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from api_support import OnetServer, call, make_event
from vetroi_api import handlers

TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled={}"


@pytest.fixture
def daemon(env: Any) -> Iterator[socket.socket]:
    """A UDP socket standing in for the X-Ray daemon Lambda runs beside the function."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    env(AWS_XRAY_DAEMON_ADDRESS=f"127.0.0.1:{sock.getsockname()[1]}")
    yield sock
    sock.close()


def received(sock: socket.socket) -> list[dict[str, Any]]:
    documents = []
    while True:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return documents
        header, _, body = data.partition(b"\n")
        assert json.loads(header) == {"format": "json", "version": 1}
        documents.append(json.loads(body))


def test_subsegments_for_table_and_onet(
    aws: Any, onet: OnetServer, daemon: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sampled request sends one subsegment per table call and per O*NET call."""
    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE.format(1))
    event = make_event("v2", "GET", "/career/11-1011.00")
    assert call(handlers.lambda_handler, event).status == 200

    documents = received(daemon)
    names = [(d["name"], d.get("aws", {}).get("operation")) for d in documents]
    assert names == [("DynamoDB", "GetItem"), ("O*NET", None), ("DynamoDB", "PutItem")]
    for document in documents:
        assert document["type"] == "subsegment"
        assert document["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
        assert document["parent_id"] == "53995c3f42cd8ad8"
        assert document["end_time"] >= document["start_time"]
    assert documents[1]["http"]["response"]["status"] == 200
    assert documents[1]["namespace"] == "remote"


def test_failed_onet_call_is_marked(
    aws: Any, onet: OnetServer, daemon: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 500 from O*NET shows as a fault on its subsegment."""
    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE.format(1))
    onet.mode = "error"
    call(handlers.lambda_handler, make_event("v2", "GET", "/career/11-1011.00"))

    faults = [d for d in received(daemon) if d["name"] == "O*NET"]
    assert len(faults) == 3
    assert all(d["fault"] and d["http"]["response"]["status"] == 500 for d in faults)


def test_nothing_sent_when_not_sampled(
    aws: Any, daemon: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unsampled trace sends nothing."""
    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE.format(0))
    call(handlers.lambda_handler, make_event("v1", "GET", "/health"))

    assert received(daemon) == []
