# syntax=docker/dockerfile:1
# oncall service image.
#   docker build -t oncall .
#   docker run --rm -v oncall-data:/data oncall db upgrade        # once, and after each upgrade
#   docker run -d -p 8080:8080 -v oncall-data:/data --env-file oncall.env oncall
#   docker stop -t 30 <container>   # the service takes up to 20 s to finish work in flight
# PostgreSQL instead of the SQLite file in /data: set ONCALL_DATABASE_URL=postgresql://...

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: the project's wheel and the wheels of everything it needs ---------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY oncall ./oncall
# Shipped inside the wheel as oncall/runbooks and oncall/migrations (pyproject force-include).
COPY runbooks ./runbooks
COPY alembic ./alembic
# The [postgres] extra brings psycopg (binary wheels): one image for SQLite and PostgreSQL.
RUN pip wheel --wheel-dir /wheels ".[postgres]"

# --- runtime: the wheels installed, no build tools, no sources, not root ---------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    ONCALL_DATABASE_URL=sqlite:////data/oncall.db
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels "ds-oncall[postgres]"
RUN groupadd --system --gid 10001 oncall \
    && useradd --system --uid 10001 --gid oncall --home-dir /data --shell /usr/sbin/nologin oncall \
    && mkdir -p /data \
    && chown oncall:oncall /data
VOLUME ["/data"]
WORKDIR /data
USER oncall:oncall
EXPOSE 8080
# Slim images have no curl: ask /healthz with the interpreter that is already there.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]
# Uvicorn stops gracefully on SIGTERM (Docker's default stop signal) and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["oncall"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
