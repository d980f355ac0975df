"""Drives nvisy's web console in headless Chromium over the DevTools protocol.

Run by the Swift end-to-end test (Tests/NvisyEndToEndTests/ClientEndToEndTests.swift) against a
live `nvisy serve`: it opens /console, signs in, starts a run of the named pipeline with the
page's Run button, watches the run's progress on the page until it completes, writes a
screenshot, and fails on any browser console error (a CSP violation is one).

    python console_browser.py URL EMAIL PASSWORD PIPELINE SCREENSHOT.png

Prints one JSON line: {"status", "totals": [...seen...], "errors": [...]}; exit 0 only when the
run completed on the page and the console logged no error.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

import websockets


class DevTools:
    """A minimal Chrome DevTools Protocol session: commands by id, events kept in a list."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            if "id" in message and message["id"] in self.pending:
                self.pending.pop(message["id"]).set_result(message)
            elif "method" in message:
                self.events.append(message)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[ident] = future
        await self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        answer = await asyncio.wait_for(future, 30)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    async def eval(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def until(self, expression: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await self.eval(expression)
            if value:
                return value
            await asyncio.sleep(0.1)
        raise TimeoutError(f"waited {timeout}s for: {expression}")

    def errors(self) -> list[str]:
        found = []
        for event in self.events:
            params = event.get("params", {})
            if event["method"] == "Runtime.exceptionThrown":
                found.append(json.dumps(params.get("exceptionDetails", {}))[:400])
            elif event["method"] == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
            elif event["method"] == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                found.append(params["entry"].get("text", "") + " " + params["entry"].get("url", ""))
        return found


async def drive(url: str, email: str, password: str, pipeline: str, screenshot: str) -> dict[str, Any]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    profile = tempfile.mkdtemp(prefix="nvisy-console-")
    browser = subprocess.Popen(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-port=0",
         f"--user-data-dir={profile}", "--window-size=1280,1000", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        deadline = time.monotonic() + 60
        while not os.path.exists(port_file) or not open(port_file).read().strip():
            if time.monotonic() > deadline or browser.poll() is not None:
                raise SystemExit("chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = int(open(port_file).read().split()[0])
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=10))
        page = next(t for t in targets if t.get("type") == "page")
        async with websockets.connect(page["webSocketDebuggerUrl"], max_size=64 << 20) as ws:
            cdp = DevTools(ws)
            for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
                await cdp.send(domain)
            await cdp.send("Page.navigate", url=url)
            await cdp.until("document.readyState === 'complete' && !!document.getElementById('login-form')")
            await cdp.eval(
                "(() => { const f = document.getElementById('login-form');"
                f" f.email.value = {json.dumps(email)}; f.password.value = {json.dumps(password)}; f.requestSubmit(); }})()")
            await cdp.until("document.querySelectorAll('#pipeline-rows tr').length > 0")
            await cdp.eval(
                "[...document.querySelectorAll('#pipeline-rows tr')]"
                f".find(r => r.cells[0].textContent === {json.dumps(pipeline)}).querySelector('button').click()")
            totals: list[str] = []
            status = ""
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                seen = await cdp.eval("[document.getElementById('live-status').textContent,"
                                      " document.getElementById('live-totals').textContent]")
                status = seen[0]
                if seen[1] and (not totals or totals[-1] != seen[1]):
                    totals.append(seen[1])
                if status in ("completed", "failed", "cancelled"):
                    break
                await asyncio.sleep(0.05)
            # Let the runs table refresh after the end event, then take the picture.
            await cdp.until("document.querySelectorAll('#run-rows tr').length > 0")
            await asyncio.sleep(0.5)
            shot = await cdp.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
            with open(screenshot, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
            errors = cdp.errors()
            cdp.reader.cancel()
            return {"status": status, "totals": totals, "errors": errors}
    finally:
        browser.terminate()
        try:
            browser.wait(10)
        except subprocess.TimeoutExpired:
            browser.kill()
        shutil.rmtree(profile, ignore_errors=True)


def main() -> int:
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    result = asyncio.run(drive(*sys.argv[1:6]))
    print(json.dumps(result))
    return 0 if result["status"] == "completed" and not result["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
