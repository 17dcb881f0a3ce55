"""The local O*NET stand-in: what the regions call as O*NET, and where O*NET's faults are made.

The regions' `VETROI_ONET_BASE_URL` points here. In `real` mode each call is forwarded to the
real O*NET web services with the caller's credentials; in `replay` mode (and `off`, where the
regions have no credentials and never call) it answers as O*NET from the bundled data
(onetdata.py), asking for Basic credentials as O*NET does. Faults:

- `down`: the port is closed, and a call on a connection opened earlier is cut off unanswered;
- `slow`: every answer waits `slow_seconds` first (longer than the functions' read timeout);
- `up`: neither.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
from aiohttp import web

from .onetdata import documents

log = logging.getLogger(__name__)
FAULTS = ("up", "down", "slow")


class OnetStandIn:
    def __init__(
        self,
        host: str,
        port: int,
        mode: str,
        upstream: str,
        slow_seconds: float,
    ) -> None:
        self.host = host
        self.port = port
        self.mode = mode
        self.upstream = upstream.rstrip("/")
        self.slow_seconds = slow_seconds
        self.fault = "up"
        self.calls = 0
        self.documents = documents()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/ws"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/ws/{path:.*}", self._answer)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        if self.mode == "real":
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        await self._listen()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def set_fault(self, fault: str) -> None:
        self.fault = fault
        if fault == "down":
            if self._site is not None:
                await self._site.stop()
                self._site = None
        elif self._site is None:
            await self._listen()

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await self._site.start()

    def snapshot(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "fault": self.fault,
            "calls": self.calls,
            "baseUrl": self.base_url,
            "calledByRegions": self.mode in ("real", "replay"),
        }

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        self.calls += 1
        if self.fault == "down":
            # A keep-alive connection from before the fault: cut it, as a dead server would.
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable()
        if self.fault == "slow":
            await asyncio.sleep(self.slow_seconds)
        if self.mode == "real":
            return await self._forward(request)
        if not request.headers.get("Authorization", "").startswith("Basic "):
            return web.json_response(
                {"error": "Authentication required"},
                status=401,
                headers={"WWW-Authenticate": 'Basic realm="O*NET Web Services"'},
            )
        path = request.match_info["path"]
        if request.query_string:
            path = f"{path}?{request.query_string}"
        document = self.documents.get(path)
        if document is None:
            return web.json_response({"error": f"Resource not found: {path}"}, status=404)
        return web.json_response(document)

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        url = f"{self.upstream}/{request.match_info['path']}"
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() in ("authorization", "accept", "user-agent")
        }
        try:
            async with self._session.get(url, params=request.query, headers=headers) as upstream:
                body = await upstream.read()
                return web.Response(
                    status=upstream.status,
                    body=body,
                    content_type=upstream.content_type,
                    headers={
                        k: v for k, v in upstream.headers.items() if k.lower() == "retry-after"
                    },
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("real O*NET unreachable: %s", type(exc).__name__)
            return web.json_response({"error": "O*NET unreachable"}, status=502)
