# syntax=docker/dockerfile:1
# The web role (uvicorn via `manage.py web`: pages, REST API, browser WebSockets) and, with another command, the job worker
# (python manage.py runjobs), the migrations and the ComfyUI emulator. Runs as an unprivileged user.
#
#   docker build -f deploy/web.Dockerfile -t comfyweb-web .
#   docker run -e SECRET_KEY=... -e DATABASE_URL=... -p 8000:8000 comfyweb-web
#   docker run ... comfyweb-web python manage.py runjobs
#
# PYTHON_IMAGE is any image with Python >= 3.12 as `python` (with venv): the public python image by default;
# `make images` passes a Debian base it makes itself when no registry is within reach (deploy/images/build.sh).

ARG PYTHON_IMAGE=docker.io/library/python:3.13-slim-trixie

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.txt deploy/runtime_requirements.py /tmp/
# The runtime requirements only; pip itself is not kept in the image, and its downloads stay in a build cache
# mount (reused by the next build, never part of an image).
RUN --mount=type=cache,target=/root/.cache/pip \
    python /tmp/runtime_requirements.py /tmp/requirements.txt > /tmp/runtime.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install -r /tmp/runtime.txt \
    && /opt/venv/bin/pip uninstall --yes pip

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
# Liveness: the process answers /healthz (readiness, the database and Redis, is /readyz).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "deploy/probe.py", "http://127.0.0.1:8000/healthz"]
# The web server's command, in this one place: compose and Kubernetes run the image's CMD.
CMD ["python", "manage.py", "web", "--host", "0.0.0.0", "--port", "8000"]
