"""The small landing page at `/`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.core.config import Settings
from app.core.injection import Provide

router = APIRouter(include_in_schema=False)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto}}</style>
</head><body><h1>{title}</h1>
<p>An async modular-monolith starter kit for FastAPI.</p>
<ul>{docs}<li><a href="/health/live">/health/live</a></li>
<li><a href="/health/ready">/health/ready</a></li><li><a href="/metrics">/metrics</a></li></ul>
</body></html>"""


@router.get("/", response_class=HTMLResponse)
async def index(request: Request, settings: Provide[Settings]) -> HTMLResponse:
    """A page naming the kit and linking its docs and health checks."""
    docs = ""
    if settings.show_docs:
        docs = '<li><a href="/docs">/docs</a> (Swagger UI)</li><li><a href="/redoc">/redoc</a></li>'
    return HTMLResponse(_PAGE.format(title=request.app.title, docs=docs))
