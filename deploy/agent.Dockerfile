# syntax=docker/dockerfile:1
# The GPU agent in front of ComfyUI: one image, one port (8189). The agent starts ComfyUI itself
# (--comfyui-cmd / AGENT_COMFYUI_CMD) on 127.0.0.1:8188, restarts it when it dies and answers
# /api/health (process alive) and /api/ready (ComfyUI up and warm).
#
#   docker build -f deploy/agent.Dockerfile -t comfyweb-agent .
#
# Bring your own ComfyUI (models, custom nodes): change the image address, and the command that starts
# ComfyUI inside it when it lives elsewhere than /opt/ComfyUI:
#
#   docker build -f deploy/agent.Dockerfile \
#     --build-arg COMFYUI_IMAGE=registry.example.com/team/comfyui-sdxl:2024-10 \
#     --build-arg COMFYUI_CMD="python3 /root/ComfyUI/main.py --listen 127.0.0.1 --port 8188" \
#     -t comfyweb-agent:sdxl .
#
# The agent brings its own Python (a standalone CPython installed by uv under /opt/comfyweb), so
# ComfyUI's Python and packages in your image are left exactly as they are.

# The image that holds ComfyUI. Default: the `comfyui` stage below (ComfyUI with no model).
ARG COMFYUI_IMAGE=comfyui
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

# --- A plain ComfyUI on CUDA: used only when COMFYUI_IMAGE is left at its default.
FROM ${CUDA_IMAGE} AS comfyui
ARG COMFYUI_VERSION=v0.3.75
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
RUN git clone --depth 1 --branch "${COMFYUI_VERSION}" https://github.com/comfyanonymous/ComfyUI.git /opt/ComfyUI \
    && python3 -m venv /opt/comfyui-venv \
    && /opt/comfyui-venv/bin/pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" \
        torch==2.9.1 torchvision==0.24.1 torchaudio==2.9.1 \
    && /opt/comfyui-venv/bin/pip install --no-cache-dir -r /opt/ComfyUI/requirements.txt

# --- The agent on top of the chosen ComfyUI image.
FROM ${COMFYUI_IMAGE} AS agent
# How the agent starts ComfyUI inside this image (listening on loopback only: the agent is the front door).
ARG COMFYUI_CMD="/opt/comfyui-venv/bin/python /opt/ComfyUI/main.py --listen 127.0.0.1 --port 8188"
ARG AGENT_PYTHON=3.13
# ComfyUI images usually run as root and write models/, input/ and output/ under their own directory;
# the agent runs as the same user so that ComfyUI, started by it, keeps working.
# hadolint ignore=DL3002
USER 0:0
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_PYTHON_INSTALL_DIR=/opt/comfyweb/python \
    UV_PYTHON_PREFERENCE=only-managed \
    UV_NO_CACHE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
WORKDIR /opt/comfyweb/app
COPY requirements.txt deploy/runtime_requirements.py /opt/comfyweb/
RUN uv python install "${AGENT_PYTHON}" \
    && uv venv --python "${AGENT_PYTHON}" /opt/comfyweb/venv \
    && /opt/comfyweb/venv/bin/python /opt/comfyweb/runtime_requirements.py /opt/comfyweb/requirements.txt \
        > /opt/comfyweb/runtime.txt \
    && uv pip install --python /opt/comfyweb/venv/bin/python -r /opt/comfyweb/runtime.txt
COPY comfyweb ./comfyweb
COPY deploy/probe.py /opt/comfyweb/probe.py
RUN mkdir -p /data/agent-tasks /data/agent-state

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
    PYTHONUNBUFFERED=1

EXPOSE 8189
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/opt/comfyweb/venv/bin/python", "/opt/comfyweb/probe.py", "/api/health"]
# A ComfyUI image's own entrypoint (often a launcher script) must not wrap the agent.
ENTRYPOINT []
# uvicorn serves the agent in this one process (comfyweb/agent/server.py).
CMD ["/opt/comfyweb/venv/bin/python", "-m", "comfyweb.agent"]
