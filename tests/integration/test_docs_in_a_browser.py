"""A real browser renders the API docs: Swagger UI lists the operations, ReDoc renders,
and a failed "Authorize" in Swagger UI shows why it failed.

Headless Chromium (Debian's `chromium`, or Chrome) loads `/docs` and `/redoc` from the
real app served on a loopback port, with every other host unresolvable and no proxy, so
the pages must work offline. Skipped only when no such browser is installed (`.ci/run`
installs Debian's `chromium`).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
from app.main import create_app
from tests.devtools import browser_page
from tests.processes import free_port

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
OFFLINE_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]

pytestmark = pytest.mark.browser


def find_browser() -> str:
    for name in BROWSERS:
        if found := shutil.which(name):
            return found
    pytest.skip(f"no headless browser: none of {', '.join(BROWSERS)} is on PATH "
                "(Debian: apt-get install chromium)")  # fmt: skip


@pytest.fixture
def served(settings: Settings) -> Iterator[str]:
    """The real app on a free loopback port (uvicorn in a thread); its base URL."""
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "the server stopped while starting"
        assert time.monotonic() < deadline, "the server did not start in 20 s"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_swagger_ui_lists_the_operations_and_redoc_renders(served: str, tmp_path: Path) -> None:
    browser = find_browser()
    pages = {"docs": f"{served}/docs", "redoc": f"{served}/redoc"}
    loads = {
        name: subprocess.Popen(
            [browser, *OFFLINE_FLAGS, f"--user-data-dir={tmp_path / name}",
             "--virtual-time-budget=5000", "--dump-dom", url],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for name, url in pages.items()
    }  # fmt: skip
    dom = {name: load.communicate(timeout=60)[0] for name, load in loads.items()}

    swagger = dom["docs"]
    assert 'class="swagger-ui' in swagger
    assert swagger.count('class="opblock opblock-') > 20
    assert 'data-path="/api/v1/posts"' in swagger
    redoc = dom["redoc"]
    assert "api-content" in redoc
    assert "/api/v1/posts" in redoc  # the operations, rendered from /openapi.json


@pytest.mark.runs_long
async def test_a_failed_authorize_in_swagger_ui_shows_the_problem_detail(
    engine: AsyncEngine, served: str, tmp_path: Path
) -> None:
    """The dialog shows the token endpoint's `error` and `error_description`: the detail."""
    async with browser_page(find_browser(), OFFLINE_FLAGS, tmp_path / "profile") as page:
        await page.call("Page.navigate", url=f"{served}/docs")
        await page.click("button.authorize")
        await page.type_into("#oauth_username", "nobody")
        await page.type_into("#oauth_password", "wrong-password")
        await page.click(".modal-ux button.modal-btn.authorize")
        shown = await page.wait_for("document.querySelector('.modal-ux .errors span')?.innerText")
    assert (
        shown
        == "Error: Bad Request, error: invalid_grant, description: Incorrect username or password"
    )
