"""Headless Chromium (Debian's ``chromium`` package, which ``make test`` installs) driven over the
Chrome DevTools protocol with ``websockets``: open a page, evaluate JavaScript in it, wait for
what a user would see, keep a screenshot, and record every request the page made (so a test can
assert that none left loopback). No browser is ever downloaded."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
#: Screenshots, kept after the run (CI keeps the folder as the tests' artifacts).
ARTIFACTS = Path(os.environ.get("MLGRAPH_TEST_ARTIFACTS", ROOT / "test-artifacts"))
CHROMIUM = os.environ.get("MLGRAPH_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--window-size=1400,1000",
    "--remote-debugging-port=0",
    "--remote-debugging-address=127.0.0.1",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def chromium_path() -> str:
    """Chromium's path, or a failure that says how to install it (the test never skips)."""
    found = shutil.which(CHROMIUM) or shutil.which("chromium")
    if found is None:
        raise RuntimeError(
            "browser tests need Debian's Chromium: `apt-get install chromium` "
            "(make test installs it when run as root), or set MLGRAPH_CHROMIUM to its path"
        )
    return found


def off_loopback(urls: list[str]) -> list[str]:
    """The requests that went anywhere but this machine (data: and blob: URLs stay local)."""
    return [
        u
        for u in urls
        if urlsplit(u).scheme not in ("data", "blob", "about", "chrome")
        and urlsplit(u).hostname not in LOOPBACK
    ]


class Page:
    """One tab. ``requests`` holds every URL it asked for, HTTP and WebSocket alike."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser, self.session = browser, session
        self.requests: list[str] = []
        self.console: list[str] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        return await self.browser.call(method, session=self.session, **params)

    async def goto(self, url: str) -> None:
        """Navigate, and wait until the document (and its scripts) loaded."""
        await self.call("Page.navigate", url=url)
        await self.wait_for(
            f"location.href.startsWith({url!r}) && document.readyState === 'complete'"
        )

    async def evaluate(self, expression: str) -> Any:
        answer = await self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in answer:
            raise AssertionError(f"{expression}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    async def wait_for(self, expression: str, within: float = 15.0) -> Any:
        """Poll ``expression`` until it is truthy; fail with the last value and the console."""
        deadline = asyncio.get_running_loop().time() + within
        value: Any = None
        while asyncio.get_running_loop().time() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.1)
        raise AssertionError(
            f"timed out after {within}s waiting for {expression!r} (last: {value!r}); "
            f"console: {self.console[-10:]}"
        )

    async def screenshot(self, name: str) -> Path:
        shot = await self.call("Page.captureScreenshot", format="png")
        path = ARTIFACTS / f"{name}.png"
        await asyncio.to_thread(_write, path, base64.b64decode(shot["data"]))
        return path

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Network.webSocketCreated":
            self.requests.append(params["url"])
        elif method == "Runtime.consoleAPICalled":
            self.console.append(
                " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            )
        elif method == "Runtime.exceptionThrown":
            self.console.append(str(params["exceptionDetails"]))


class Browser:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.pages: dict[str, Page] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            if "id" in message and message["id"] in self.waiting:
                self.waiting.pop(message["id"]).set_result(message)
            elif (page := self.pages.get(message.get("sessionId", ""))) is not None:
                page.on_event(message["method"], message.get("params", {}))

    async def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        future = asyncio.get_running_loop().create_future()
        self.waiting[ident] = future
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        await self.ws.send(json.dumps(message))
        answer = await asyncio.wait_for(future, 30)
        if "error" in answer:
            raise AssertionError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer["result"]
        return result

    async def new_page(self) -> Page:
        target = await self.call("Target.createTarget", url="about:blank")
        attached = await self.call(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        page = Page(self, attached["sessionId"])
        self.pages[page.session] = page
        for domain in ("Network.enable", "Page.enable", "Runtime.enable"):
            await page.call(domain)
        return page


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A fresh headless Chromium with its own profile, stopped (and its profile removed) after."""
    profile = tempfile.mkdtemp(prefix="mlgraph-chromium-")
    process = await asyncio.to_thread(
        subprocess.Popen,
        [chromium_path(), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = await asyncio.to_thread(_devtools_url, process)
        drain = threading.Thread(target=_drain, args=(process,), daemon=True)
        drain.start()
        async with connect(url, max_size=None) as ws:
            browser = Browser(ws)
            try:
                yield browser
            finally:
                browser.reader.cancel()
    finally:
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 10)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)
        if process.stderr is not None:
            process.stderr.close()
        await asyncio.to_thread(shutil.rmtree, profile, ignore_errors=True)


def _devtools_url(process: subprocess.Popen[str]) -> str:
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        if line.startswith("DevTools listening on "):
            return line.split(" on ", 1)[1].strip()
        seen.append(line)
        if len(seen) > 200:
            break
    raise RuntimeError(f"chromium did not start: {''.join(seen[-20:])}")


def _drain(process: subprocess.Popen[str]) -> None:
    """Keep reading Chromium's stderr, so that a full pipe never blocks it."""
    assert process.stderr is not None
    for _ in process.stderr:
        pass


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
