# syntax=docker/dockerfile:1
# The service's production image: web (default command), delivery worker and
# operator simulator all run from it (docker-compose.yml).

# --- build: a virtualenv with the runtime requirements only -----------------
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
# requirements.txt (the runtime's; tools are in requirements-dev.txt) also
# pins the embedded PostgreSQL (pgserver) and honcho (`make run`): the image
# always has a DATABASE_URL and runs one process per container.
RUN grep -viE '^(pgserver|honcho)==' /tmp/requirements.txt > /tmp/runtime.txt \
    && /opt/venv/bin/pip install -r /tmp/runtime.txt

# --- runtime ------------------------------------------------------------------
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    STATIC_ROOT=/app/staticfiles \
    MEDIA_ROOT=/media
# /data: the simulator's volume; /media: credit requests' receipts (never
# served statically); both writable by the non-root user.
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir /data /media && chown app /data /media
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --chown=root:root . /app
# Static files (admin, Swagger UI) collected into the image; settings need a
# database URL and a key to load, neither is used by collectstatic.
RUN DATABASE_URL=postgres://build@localhost/build SECRET_KEY=build DJANGO_ENV=development \
        python manage.py collectstatic --noinput --verbosity 0
USER app
EXPOSE 8000
# Liveness of the web server (the worker and simulator override or disable it).
# X-Forwarded-Proto: the production HTTPS redirect does not apply to this probe.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request as u; r = u.urlopen(u.Request('http://127.0.0.1:8000/healthz', headers={'X-Forwarded-Proto': 'https'}), timeout=3); sys.exit(r.status != 200)"]
CMD ["python", "-m", "config.serve"]
