# syntax=docker/dockerfile:1
# The kit's image: `docker build -t fastapi-modulith .`
# With tracing and Sentry (OTEL_EXPORTER_OTLP_ENDPOINT, SENTRY_DSN), which need the
# optional packages of pyproject.toml's observability extra:
# `docker build --build-arg EXTRAS=observability -t fastapi-modulith .`
# The same image runs every role: the API (default command), `python -m app worker`,
# `python -m app scheduler` and `python -m app migrate` (see docker-compose.yaml).

# --- build: resolve the locked dependencies into /app/.venv ---------------------------------
FROM python:3.11-slim-bookworm AS build

# uv comes from PyPI like every other package: the build fetches nothing but packages.
# Its version is the one that wrote uv.lock.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv

RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /app

# An extra of pyproject.toml to install too (`observability`), or none: the default image
# leaves out what only some deployments use.
ARG EXTRAS=""

# Dependencies first, so a change of the code alone reuses this layer.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project ${EXTRAS:+--extra "$EXTRAS"}

COPY app ./app
COPY migrations ./migrations
# The project is not a package (no build system): the code runs from /app as it is.
# Compile it too, checked by hash so that a bind-mounted source is never shadowed.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev ${EXTRAS:+--extra "$EXTRAS"} \
    && python -m compileall -q --invalidation-mode checked-hash app migrations

# --- runtime: the interpreter, the environment and the code; no build tools ----------------
FROM python:3.11-slim-bookworm AS runtime

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/app/.venv \
    PATH=/app/.venv/bin:$PATH

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app

WORKDIR /app

# Owned by root and read-only to the app user; only var/ (the embedded SQLite database and
# mail files, used when no DATABASE_URL is given) is writable.
COPY --from=build /app/.venv ./.venv
COPY --from=build /app/app ./app
COPY --from=build /app/migrations ./migrations
COPY pyproject.toml ./
RUN mkdir var && chown app:app var

# Numeric, so that a runtime can verify the user is not root without reading /etc/passwd.
USER 10001:10001

EXPOSE 8000

# slim has no curl: probe with the interpreter. The worker and the scheduler do not listen:
# compose checks their heartbeat file instead, and turns the check off for migrate.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4)"]

CMD ["python", "-m", "app", "serve", "--host", "0.0.0.0", "--port", "8000"]
