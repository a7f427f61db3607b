"""fastapi-modulith: an async modular-monolith starter kit for FastAPI."""
