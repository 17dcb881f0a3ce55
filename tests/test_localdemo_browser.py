"""The local demo in a real browser: Debian's Chromium, headless, driven by Playwright.

A page served from another origin (http://localhost:<port>, while the edge is 127.0.0.1) calls
`POST /recommend` with a JSON body, so the browser sends a preflight first, and
`GET /career/...`, before a primary failure, while it happens and after the backup took over.
The browser must accept every answer: a CORS failure would make `fetch` throw. Chromium keeps
a preflight's answer for its Max-Age (600 s), so after the failover a fresh browser context
(with an empty preflight cache) makes the call again, and the backup must answer its preflight.
Then the status page loads and its buttons kill and restore the primary.

The environment runs as `make demo` runs it: O*NET not called, answers from the cache.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from localdemo.processes import free_port
from tests.localdemo_env import RunningDemo

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
PAGE = b"""<!doctype html><html><head><meta charset="utf-8"><title>front end</title></head>
<body><h1>VetROI front end</h1><script>
async function call(url, init) {
  try {
    const response = await fetch(url, init);
    return {ok: true, status: response.status, body: await response.json(),
            source: response.headers.get("X-Vetroi-Source")};
  } catch (error) {
    return {ok: false, error: String(error)};
  }
}
window.recommend = (edge) => call(edge + "/recommend", {
  method: "POST",
  headers: {"Content-Type": "application/json"},
  body: JSON.stringify({branch: "army", code: "25B"}),
});
window.career = (edge, soc) => call(edge + "/career/" + soc);
</script></body></html>"""


class FrontEnd(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass


@pytest.fixture(scope="module")
def front_end() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), FrontEnd)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://localhost:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, front_end: str) -> Iterator[RunningDemo]:
    running = RunningDemo(
        tmp_path_factory.mktemp("browser-demo"),
        ["--health-interval", "0.5", "--origin-read-timeout", "4", "--function-timeout", "3"],
        {"VETROI_ORIGINS": front_end, "ONET_USERNAME": "", "ONET_PASSWORD": ""},
    ).start()
    yield running
    assert running.stop() == 0
    assert running.left_behind() == []


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


def _page(browser: Browser, url: str) -> Page:
    """A page in a browser context of its own: its own caches, the preflight cache included."""
    page = browser.new_context().new_page()
    page.goto(url)
    return page


def _accepted(result: dict[str, Any], status: int = 200) -> None:
    assert result["ok"], f"the browser refused the answer: {result}"
    assert result["status"] == status, result


def test_cross_origin_calls_work_before_during_and_after_a_primary_failure(
    demo: RunningDemo, front_end: str, browser: Browser
) -> None:
    """Preflighted POST and GET from another origin: accepted at every stage."""
    page = _page(browser, front_end)
    edge = demo.url

    before = page.evaluate("edge => recommend(edge)", edge)
    _accepted(before)
    assert before["body"]["careers"] and before["source"] == "primary"
    _accepted(page.evaluate("edge => career(edge, '11-1011.00')", edge))

    demo.faults(primary="down")
    # Before the health checks notice: the GET falls back per request; a POST may fail, but
    # with CORS headers, so the browser can read why.
    during_get = page.evaluate("edge => career(edge, '15-1231.00')", edge)
    _accepted(during_get)
    assert during_get["source"] in ("backup", "static")
    during_post = page.evaluate("edge => recommend(edge)", edge)
    assert during_post["ok"], during_post
    assert during_post["status"] in (200, 502), during_post

    demo.wait_for(lambda s: s["serving"] == "backup", 10, "failover to the backup")
    after = page.evaluate("edge => recommend(edge)", edge)
    _accepted(after)
    assert after["source"] == "backup"
    _accepted(page.evaluate("edge => career(edge, '15-1244.00')", edge))

    # The first page's preflight answer is cached; a new context must ask the backup.
    asked = time.time()
    fresh = _page(browser, front_end)
    preflighted = fresh.evaluate("edge => recommend(edge)", edge)
    _accepted(preflighted)
    assert preflighted["source"] == "backup"
    preflights = [
        r
        for r in demo.status()["recent"]
        if r["method"] == "OPTIONS" and r["path"] == "/recommend" and r["at"] >= asked
    ]
    assert preflights, demo.status()["recent"][:5]
    assert all(r["source"] == "backup" and r["status"] == 204 and r["cors"] for r in preflights)
    demo.settle()


def test_status_page_shows_the_regions_and_its_buttons_work(
    demo: RunningDemo, browser: Browser, tmp_path: Path
) -> None:
    """The page shows who serves; Kill and Up on the primary move traffic and back."""
    page = _page(browser, demo.url + "/")
    serving = page.locator("#serving")
    expect(serving).to_have_text("primary", timeout=10_000)
    expect(page.locator("#primary-health")).to_have_text("healthy")

    page.click("button[data-fault=primary][data-value=down]")
    expect(page.locator("#primary-fault")).to_have_text("killed", timeout=5_000)
    expect(serving).to_have_text("backup", timeout=10_000)
    expect(page.locator("#primary-health")).to_have_text("unhealthy")

    page.click("#try-career")
    expect(page.locator("#try-result")).to_contain_text("200", timeout=10_000)
    page.screenshot(path=str(tmp_path / "status-page.png"), full_page=True)

    page.click("button[data-fault=primary][data-value=up]")
    expect(serving).to_have_text("primary", timeout=15_000)
    expect(page.locator("#recent tbody tr").first).to_be_visible()
