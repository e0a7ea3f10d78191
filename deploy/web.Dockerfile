# syntax=docker/dockerfile:1
# The web role (daphne: pages, REST API, browser WebSockets) and, with another command, the job worker
# (python manage.py runjobs), the migrations and the ComfyUI emulator. Runs as an unprivileged user.
#
#   docker build -f deploy/web.Dockerfile -t comfyweb-web .
#   docker run -e SECRET_KEY=... -e DATABASE_URL=... -p 8000:8000 comfyweb-web
#   docker run ... comfyweb-web python manage.py runjobs

ARG PYTHON_IMAGE=python:3.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.txt deploy/runtime_requirements.py /tmp/
RUN python /tmp/runtime_requirements.py /tmp/requirements.txt > /tmp/runtime.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir -r /tmp/runtime.txt

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=comfyweb.settings \
    STATIC_ROOT=/app/staticfiles \
    MEDIA_ROOT=/data/media
# A font with Chinese glyphs for the visible AI-generated label on images (LABEL_FONT, docs/privacy.md).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 comfyweb \
    && useradd --system --uid 10001 --gid comfyweb --home-dir /app --no-create-home --shell /usr/sbin/nologin comfyweb
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY manage.py ./
COPY comfyweb ./comfyweb
COPY templates ./templates
COPY static ./static
COPY workflows ./workflows
COPY deploy/probe.py ./deploy/probe.py
# Static files are collected (and compressed for WhiteNoise) once, at build time.
RUN python manage.py collectstatic --noinput \
    && mkdir -p /app/var /data/media \
    && chown -R comfyweb:comfyweb /app/var /data
USER 10001:10001

EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "deploy/probe.py", "tcp://127.0.0.1:8000"]
CMD ["python", "manage.py", "web", "--host", "0.0.0.0", "--port", "8000"]
