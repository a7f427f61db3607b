"""The movies module's public API: the only names other modules may import."""

from fastapi import APIRouter

from app.movies.events import MovieCreated, MovieDeleted, MovieUpdated
from app.movies.gateway import MoviesGateway, MoviesGatewayDep
from app.movies.router import router
from app.movies.schemas import MovieRead

routers: list[APIRouter] = [router]

__all__ = [
    "MovieCreated",
    "MovieDeleted",
    "MovieRead",
    "MovieUpdated",
    "MoviesGateway",
    "MoviesGatewayDep",
    "routers",
]
