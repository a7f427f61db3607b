"""The posts module's public API: the only names other modules may import."""

from fastapi import APIRouter

from app.posts.events import PostCreated, PostDeleted, PostUpdated
from app.posts.gateway import PostsGateway, PostsGatewayDep
from app.posts.router import router
from app.posts.schemas import PostRead

routers: list[APIRouter] = [router]

__all__ = [
    "PostCreated",
    "PostDeleted",
    "PostRead",
    "PostUpdated",
    "PostsGateway",
    "PostsGatewayDep",
    "routers",
]
