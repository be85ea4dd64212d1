"""The HTML digest as a person sees it: rendered by real headless Chromium, offline.

Chromium (Debian package `chromium`, installed by scripts/bootstrap.sh) is driven over the
Chrome DevTools Protocol, so the test sees every request the page makes, every console
message and every script error. The page must load from its file:// URL alone: any other
request (http, https, a font, an image) fails the test. The screenshot is kept in the test's
temporary folder; with UPDATE_DOCS_SCREENSHOT=1 it also replaces docs/digest.png, the
picture in the README.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket

from boundary_mail.config import Config
from boundary_mail.digest import build_digests, render_digest
from boundary_mail.digest_job import load_digest_data
from boundary_mail.store import Store
from boundary_mail.templates import environment
from tests.digest_week import LEAD, NOW, config_data, seed_week

DOCS_PNG = Path(__file__).resolve().parents[2] / "docs" / "digest.png"
WIDTH = 900


class DevTools:
    """A minimal CDP client over one browser websocket (flattened target sessions)."""

    def __init__(self, url: str) -> None:
        # Chromium refuses websocket clients that send an Origin it was not told to allow.
        self.ws = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self.events: list[dict[str, Any]] = []
        self._id = 0

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._id += 1
        wanted = self._id
        message: dict[str, Any] = {"id": wanted, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        while True:
            data = json.loads(self.ws.recv())
            if data.get("id") == wanted:
                if "error" in data:
                    raise AssertionError(f"{method} failed: {data['error']}")
                return dict(data.get("result", {}))
            self.events.append(data)

    def wait_for(self, method: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("method") == method:
                    return event
            if time.monotonic() > deadline:
                raise AssertionError(f"no {method} within {timeout}s")
            self.ws.settimeout(max(deadline - time.monotonic(), 0.1))
            self.events.append(json.loads(self.ws.recv()))

    def settle(self, seconds: float) -> None:
        """Collect whatever else arrives for a moment (late requests, late errors)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.ws.settimeout(left)
            try:
                self.events.append(json.loads(self.ws.recv()))
            except websocket.WebSocketTimeoutException:
                return

    def of(self, method: str) -> list[dict[str, Any]]:
        return [e["params"] for e in self.events if e.get("method") == method]


@pytest.fixture
def devtools(tmp_path: Path) -> Iterator[DevTools]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("chromium is not installed; run scripts/bootstrap.sh", pytrace=False)
    profile = tmp_path / "profile"
    log = (tmp_path / "chromium.log").open("wb")
    process = subprocess.Popen(
        [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-extensions",
            "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
            f"--user-data-dir={profile}", f"--window-size={WIDTH},1400", "about:blank",
        ],
        stdout=log, stderr=log,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (tmp_path / "chromium.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"chromium did not start:\n{tail}", pytrace=False)
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        client = DevTools(f"ws://127.0.0.1:{port}{path}")
        try:
            yield client
        finally:
            client.ws.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _lead_digest_html(tmp_path: Path) -> Path:
    config = Config(**config_data(state_dir=str(tmp_path / "state")))
    store = Store(config.state_file)
    seed_week(store)
    digests = build_digests(config, load_digest_data(store, config, NOW), NOW)
    lead = next(d for d in digests if d.recipient == LEAD)
    page = tmp_path / "digest.html"
    page.write_text(render_digest(environment(None, "en"), lead, config).html, encoding="utf-8")
    return page


def test_the_html_digest_renders_offline_in_chromium(tmp_path: Path, devtools: DevTools) -> None:
    """Loaded from file:// with no other request, no console error and no script error;
    the hostile subject is visible as text; overdue rows are red; the chart is drawn."""
    page = _lead_digest_html(tmp_path)
    url = page.as_uri()
    target = devtools.send("Target.createTarget", url="about:blank")["targetId"]
    session = devtools.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Network", "Runtime", "Log", "Page"):
        devtools.send(f"{domain}.enable", session)
    devtools.send("Emulation.setDeviceMetricsOverride", session, width=WIDTH, height=1400,
                  deviceScaleFactor=1, mobile=False)
    devtools.events.clear()  # only what the digest itself causes counts from here on

    navigation = devtools.send("Page.navigate", session, url=url)
    assert "errorText" not in navigation, navigation
    devtools.wait_for("Page.loadEventFired")
    devtools.settle(1.0)

    requested = [p["request"]["url"] for p in devtools.of("Network.requestWillBeSent")]
    assert requested == [url], f"the digest made requests besides its own file: {requested}"
    assert devtools.of("Network.loadingFailed") == []
    assert devtools.of("Runtime.exceptionThrown") == []
    assert [p for p in devtools.of("Runtime.consoleAPICalled") if p["type"] == "error"] == []
    assert [p for p in devtools.of("Log.entryAdded") if p["entry"]["level"] == "error"] == []

    def evaluate(expression: str) -> Any:
        result = devtools.send("Runtime.evaluate", session, expression=expression,
                               returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"]["value"]

    assert evaluate("document.querySelectorAll('script, img, iframe, link, object, embed')"
                    ".length") == 0
    assert evaluate("document.body.innerText.includes('<script>alert(1)</script>')")
    assert evaluate("document.body.innerText.includes('OVER ALLOWANCE')")
    assert evaluate("getComputedStyle(document.querySelector('tr.overdue td')).color") == (
        "rgb(176, 0, 32)"
    )
    assert evaluate("document.querySelectorAll('svg rect').length") > 10

    height = evaluate("Math.ceil(document.documentElement.scrollHeight)")
    shot = devtools.send(
        "Page.captureScreenshot", session, format="png", captureBeyondViewport=True,
        clip={"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1},
    )
    png = base64.b64decode(shot["data"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, tall = struct.unpack(">II", png[16:24])
    assert (width, tall) == (WIDTH, height) and tall > 1000
    (tmp_path / "digest.png").write_bytes(png)
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        DOCS_PNG.parent.mkdir(exist_ok=True)
        DOCS_PNG.write_bytes(png)
