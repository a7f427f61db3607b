"""The movies module's public API: the only names other modules may import."""

from fastapi import APIRouter

routers: list[APIRouter] = []

__all__ = ["routers"]
