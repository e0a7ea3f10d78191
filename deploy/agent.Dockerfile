# syntax=docker/dockerfile:1
# The GPU agent in front of ComfyUI: one image, one port (8189). The agent starts ComfyUI itself
# (--comfyui-cmd / AGENT_COMFYUI_CMD) on 127.0.0.1:8188, restarts it when it dies and answers
# /api/health (process alive) and /api/ready (ComfyUI up and warm).
#
#   docker build -f deploy/agent.Dockerfile -t comfyweb-agent .
#
# How the layers stack: the image that holds ComfyUI and the GPU drivers' user-space libraries (CUDA, cuDNN,
# PyTorch built for them) is the base, COMFYUI_IMAGE; the agent adds its own Python (a venv under
# /opt/comfyweb, so ComfyUI's Python and packages are left exactly as they are), its code and an unprivileged
# user, and replaces the base's entrypoint. The kernel driver stays on the host: run the image with the NVIDIA
# container toolkit (`docker run --gpus all`, or `nvidia.com/gpu` on Kubernetes). Bring your own ComfyUI
# (models, custom nodes): change the image address, and the command that starts ComfyUI inside it when it
# lives elsewhere than /opt/ComfyUI:
#
#   docker build -f deploy/agent.Dockerfile \
#     --build-arg COMFYUI_IMAGE=registry.example.com/team/comfyui-sdxl:2024-10 \
#     --build-arg COMFYUI_DIR=/root/ComfyUI \
#     --build-arg COMFYUI_CMD="python3 /root/ComfyUI/main.py --listen 127.0.0.1 --port 8188" \
#     -t comfyweb-agent:sdxl .
#
# The agent's Python (AGENT_PYTHON_FROM): "uv" installs a standalone CPython with uv (any base image);
# "system" makes the venv with the base image's own python3, which must be >= 3.12 with venv (Ubuntu 24.04,
# Debian 13). `make images` builds it with "system" on a plain Debian base, without ComfyUI, to run in front of
# the emulator: the GPU path (the default COMFYUI_IMAGE below, CUDA, a real ComfyUI) is not built there.

# The image that holds ComfyUI. Default: the `comfyui` stage below (ComfyUI with no model).
ARG COMFYUI_IMAGE=comfyui
ARG CUDA_IMAGE=docker.io/nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9
ARG AGENT_PYTHON_FROM=uv

FROM ${UV_IMAGE} AS uv

# --- A plain ComfyUI on CUDA: used only when COMFYUI_IMAGE is left at its default.
FROM ${CUDA_IMAGE} AS comfyui
ARG COMFYUI_VERSION=v0.3.75
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# git only for the clone: it is purged in the same layer.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git python3 python3-venv \
    && git clone --depth 1 --branch "${COMFYUI_VERSION}" https://github.com/comfyanonymous/ComfyUI.git /opt/ComfyUI \
    && rm -rf /opt/ComfyUI/.git \
    && apt-get purge -y --auto-remove git \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/comfyui-venv \
    && /opt/comfyui-venv/bin/pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" \
        torch==2.9.1 torchvision==0.24.1 torchaudio==2.9.1 \
    && /opt/comfyui-venv/bin/pip install --no-cache-dir -r /opt/ComfyUI/requirements.txt

# --- The agent's Python, one of two ways (AGENT_PYTHON_FROM).
FROM ${COMFYUI_IMAGE} AS agent-python-uv
ARG AGENT_PYTHON=3.13
# ComfyUI images usually run as root; the agent's files are written as root and run by its own user below.
# hadolint ignore=DL3002
USER 0:0
ENV UV_PYTHON_INSTALL_DIR=/opt/comfyweb/python \
    UV_PYTHON_PREFERENCE=only-managed \
    UV_NO_CACHE=1
RUN --mount=type=bind,from=uv,source=/uv,target=/usr/local/bin/uv \
    uv python install "${AGENT_PYTHON}" \
    && uv venv --seed --python "${AGENT_PYTHON}" /opt/comfyweb/venv

FROM ${COMFYUI_IMAGE} AS agent-python-system
# hadolint ignore=DL3002
USER 0:0
RUN python3 -m venv /opt/comfyweb/venv

# --- The agent on top of the chosen ComfyUI image.
# hadolint ignore=DL3006
FROM agent-python-${AGENT_PYTHON_FROM} AS agent
# How the agent starts ComfyUI inside this image (listening on loopback only: the agent is the front door);
# empty when ComfyUI runs elsewhere (COMFYUI_URL).
ARG COMFYUI_CMD="/opt/comfyui-venv/bin/python /opt/ComfyUI/main.py --listen 127.0.0.1 --port 8188"
# ComfyUI's folder: the agent's user gets write access to its input/, output/, temp/ and user/.
ARG COMFYUI_DIR=/opt/ComfyUI
WORKDIR /opt/comfyweb/app
COPY requirements.txt deploy/runtime_requirements.py /opt/comfyweb/
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/comfyweb/venv/bin/python /opt/comfyweb/runtime_requirements.py /opt/comfyweb/requirements.txt \
        > /opt/comfyweb/runtime.txt \
    && /opt/comfyweb/venv/bin/python -m pip install --disable-pip-version-check -r /opt/comfyweb/runtime.txt \
    && /opt/comfyweb/venv/bin/python -m pip uninstall --yes pip \
    && rm /opt/comfyweb/requirements.txt /opt/comfyweb/runtime.txt
COPY comfyweb ./comfyweb
COPY deploy/probe.py /opt/comfyweb/probe.py
RUN groupadd --system --gid 10001 comfyweb \
    && useradd --system --uid 10001 --gid comfyweb --home-dir /opt/comfyweb --no-create-home \
        --shell /usr/sbin/nologin comfyweb \
    && mkdir -p /data/agent-tasks /data/agent-state \
    && chown -R comfyweb:comfyweb /data \
    && if [ -d "${COMFYUI_DIR}" ]; then \
        for sub in input output temp user; do mkdir -p "${COMFYUI_DIR}/${sub}"; done \
        && chown -R comfyweb:comfyweb "${COMFYUI_DIR}/input" "${COMFYUI_DIR}/output" "${COMFYUI_DIR}/temp" \
            "${COMFYUI_DIR}/user"; \
    fi

# The agent reads each option from these variables (python -m comfyweb.agent --help). It needs no
# Django settings: only the db:// store uses Django, configured from DATABASE_URL by the agent itself.
# On 0.0.0.0 it starts only with AGENT_TOKEN (give it at run time: -e AGENT_TOKEN=...) or AGENT_NO_AUTH=1
# (the platform in front authenticates). ComfyUI's input/output folders are read from its command line
# (an absolute main.py path), so the agent deletes its uploads and, after AGENT_RECORD_TTL, its outputs.
ENV AGENT_HOST=0.0.0.0 \
    AGENT_PORT=8189 \
    COMFYUI_URL=http://127.0.0.1:8188 \
    AGENT_COMFYUI_CMD="${COMFYUI_CMD}" \
    AGENT_STORE=file:///data/agent-tasks \
    AGENT_STATE_DIR=/data/agent-state \
    AGENT_CONCURRENCY=1 \
    LOG_FORMAT=json \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001

EXPOSE 8189
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/opt/comfyweb/venv/bin/python", "/opt/comfyweb/probe.py", "/api/health"]
# A ComfyUI image's own entrypoint (often a launcher script) must not wrap the agent.
ENTRYPOINT []
# uvicorn serves the agent in this one process (comfyweb/agent/server.py).
CMD ["/opt/comfyweb/venv/bin/python", "-m", "comfyweb.agent"]
