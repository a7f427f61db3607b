"""A headless browser page driven through the Chrome DevTools Protocol, for tests that
use a page as a person would: click, type, and read what it shows."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

PORT_FILE = "DevToolsActivePort"  # where Chromium writes its debugging port, once listening


class Page:
    """One browser tab, over its DevTools connection."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result (events are skipped)."""
        message_id = next(self._ids)
        await self._socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        async for raw in self._socket:
            message = json.loads(raw)
            if message.get("id") != message_id:
                continue
            if "error" in message:
                raise RuntimeError(f"{method}: {message['error']}")
            result: dict[str, Any] = message["result"]
            return result
        raise RuntimeError("the browser closed the connection")

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        reply = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    async def wait_for(self, expression: str, seconds: float = 20.0) -> Any:
        """The first truthy value of `expression`, evaluated until then."""
        deadline = time.monotonic() + seconds
        while not (value := await self.evaluate(expression)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"still falsy after {seconds} s: {expression}")
            await asyncio.sleep(0.05)
        return value

    async def click(self, selector: str) -> None:
        """Click the element, once the page shows it."""
        element = await self._wait_for_element(selector)
        await self.evaluate(f"{element}.click()")

    async def type_into(self, selector: str, text: str) -> None:
        """Focus the field and type `text`, as keystrokes would (frameworks see input events)."""
        element = await self._wait_for_element(selector)
        await self.evaluate(f"{element}.focus()")
        await self.call("Input.insertText", text=text)

    async def _wait_for_element(self, selector: str) -> str:
        """The expression of the element `selector` finds, once there is one."""
        element = f"document.querySelector({json.dumps(selector)})"
        await self.wait_for(f"{element} !== null")
        return element


async def _debugging_port(profile: Path, browser: asyncio.subprocess.Process) -> int:
    deadline = time.monotonic() + 30
    while not (port_file := profile / PORT_FILE).exists() or not port_file.read_text():
        if browser.returncode is not None:
            raise RuntimeError(f"the browser exited with {browser.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError("the browser opened no debugging port in 30 s")
        await asyncio.sleep(0.05)
    return int(port_file.read_text().splitlines()[0])


@asynccontextmanager
async def browser_page(browser: str, flags: Sequence[str], profile: Path) -> AsyncIterator[Page]:
    """A blank page of a new browser process (`flags` given, profile in `profile`)."""
    process = await asyncio.create_subprocess_exec(
        browser,
        *flags,
        f"--user-data-dir={profile}",
        "--remote-debugging-port=0",
        "about:blank",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port = await _debugging_port(profile, process)
        async with httpx.AsyncClient(trust_env=False) as devtools:
            targets = (await devtools.get(f"http://127.0.0.1:{port}/json/list")).json()
        [tab] = [target for target in targets if target["type"] == "page"]
        async with connect(tab["webSocketDebuggerUrl"], max_size=None, proxy=None) as socket:
            yield Page(socket)
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=10)
