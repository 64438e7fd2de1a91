# syntax=docker/dockerfile:1
# Pitwall: one image, three roles chosen by the command (compose.yaml): web (default CMD, gunicorn
# on :8001), worker (celery worker), beat (celery beat, exactly one). The release step
# (scripts/release.sh: migrate + schedule seeding) runs as its own one-shot container before them.
# Linted by hadolint and checked step by step without an engine in tests/test_container.py.

# Pinned to the patch release the project is developed and tested on (.venv: Python 3.11.7).
ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm

# --- build: a virtualenv with the locked runtime dependencies + compressed, hashed static files ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src
# Dependencies first, so a code change does not reinstall them: the runtime list from pyproject,
# every version pinned by requirements.lock (wheels only: no compiler in the image).
COPY pyproject.toml requirements.lock ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.runtime.txt \
    && pip install --no-cache-dir --only-binary=:all: -c requirements.lock -r requirements.runtime.txt
COPY manage.py gunicorn.conf.py ./
COPY f1site ./f1site
COPY ingestion ./ingestion
COPY predictions ./predictions
COPY analytics ./analytics
COPY templates ./templates
COPY static ./static
# Static files are part of the image (immutable, fingerprinted, gzip/brotli-compressed by whitenoise);
# the throwaway key only lets settings load: nothing is signed at build time.
RUN SECRET_KEY=collectstatic-only-not-a-secret-0123456789abcdef DEBUG=false \
    python manage.py collectstatic --noinput --verbosity 0

# --- runtime: the venv, the code and the static files; runs as an unprivileged user ----------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=f1site.settings \
    PORT=8001 \
    PITWALL_VAR_DIR=/var/lib/pitwall \
    MODEL_STORAGE_PATH=/var/lib/pitwall/models \
    PROMETHEUS_MULTIPROC_DIR=/var/lib/pitwall/metrics
RUN groupadd --system --gid 10001 pitwall \
    && useradd --system --uid 10001 --gid pitwall --home-dir /app --no-create-home --shell /usr/sbin/nologin pitwall \
    && mkdir -p /var/lib/pitwall/models /var/lib/pitwall/metrics \
    && chown -R pitwall:pitwall /var/lib/pitwall
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --from=build /src /app
COPY Procfile ./
COPY scripts ./scripts
USER 10001:10001
EXPOSE 8001
VOLUME ["/var/lib/pitwall"]
# Health = the API's own check (database, cache, broker, model). Host and proto headers make the
# probe pass ALLOWED_HOSTS and the HTTPS redirect whatever the deployment's hostname.
HEALTHCHECK --interval=30s --timeout=5s --start-period=40s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:' + os.environ.get('PORT', '8001') + '/api/v1/health', headers={'Host': os.environ.get('HEALTHCHECK_HOST', 'localhost'), 'X-Forwarded-Proto': 'https'}), timeout=4)"]
CMD ["gunicorn", "-c", "gunicorn.conf.py"]
