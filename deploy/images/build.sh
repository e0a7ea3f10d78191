#!/usr/bin/env bash
# Build the container images with podman: comfyweb-web and comfyweb-agent, and the service images the compose
# trial needs (PostgreSQL, Redis, an S3 API, nginx).
#
#   deploy/images/build.sh            # what `make images` runs
#   IMAGE_BASE=public deploy/images/build.sh   # force the public base images (docker.io)
#   IMAGE_BASE=debian deploy/images/build.sh   # force a Debian base made here
#
# With a registry within reach the Dockerfiles start from their public defaults (docker.io's python
# 3.13-slim-trixie; the compose file's postgres, redis, nginx and moto images). Without one (a closed
# network), a base image is made here from Debian's packages: `debootstrap --variant=minbase` of a release
# whose Python is >= 3.12, from the mirror in apt's sources, turned into an image by `podman import`; the
# web and agent images are built on it, and the service images install Debian's postgresql, redis-server
# and nginx, and moto from PyPI.
#
# Every build is cached: the Debian base is made again only when its recipe changes (a label records it),
# podman's layer cache keeps the installed requirements until requirements.txt changes, and pip's downloads
# stay in a build cache mount (never in an image) for the next image and the next build.
# Images are tagged localhost/comfyweb-<name>:local; `deploy/images/env.sh` prints the variables that point
# deploy/compose.yaml at them.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=deploy/images/podman.sh
. deploy/images/podman.sh

RELEASE=${DEBIAN_RELEASE:-trixie}
# Packages of the Debian base: Python with venv (the images' interpreter) and the CA certificates.
BASE_PACKAGES=python3,python3-venv,python-is-python3,ca-certificates
BASE_IMAGE=localhost/comfyweb-debian:$RELEASE
TAG=localhost/comfyweb
WORK=${IMAGE_WORKDIR:-var/images}

log() { printf '[images %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

registry_reachable() {
  # Docker Hub answers 401 to an anonymous /v2/ request: any HTTP answer means images can be pulled.
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 https://registry-1.docker.io/v2/ || true)
  [ "$code" != "000" ]
}

debian_mirror() {
  # The Debian mirror apt already uses (one-line or deb822 sources), unless DEBIAN_MIRROR says otherwise.
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local uri
  uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | sed -n -E 's#^(deb[[:space:]]+(\[[^]]*\][[:space:]]+)?|URIs:[[:space:]]+)(https?://[^[:space:]]+/debian)/?([[:space:]].*)?$#\3#p' \
    | head -1)
  echo "${uri:-http://deb.debian.org/debian}"
}

base_recipe() {
  # What the Debian base is made of; a change makes it again. The CA certificates this machine trusts go in
  # (a TLS-inspecting egress proxy signs with its own CA, and pip inside the builds must trust it).
  {
    echo "$RELEASE $BASE_PACKAGES $(debian_mirror)"
    cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true
  } | sha256sum | cut -c1-16
}

build_debian_base() {
  local recipe current
  recipe=$(base_recipe)
  current=$(podman image inspect --format '{{index .Labels "org.comfyweb.recipe"}}' "$BASE_IMAGE" 2>/dev/null || true)
  if [ "$current" = "$recipe" ]; then
    log "$BASE_IMAGE is up to date"
    return
  fi
  local root="$WORK/debian-$RELEASE"
  rm -rf "$root"
  mkdir -p "$root"
  log "debootstrap --variant=minbase $RELEASE from $(debian_mirror) (a few minutes)"
  debootstrap --variant=minbase --include="$BASE_PACKAGES" "$RELEASE" "$root" "$(debian_mirror)" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null
  fi
  # apt's sources inside the image: the same mirror; no package caches or lists are kept.
  echo "deb $(debian_mirror) $RELEASE main" >"$root/etc/apt/sources.list"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/tmp/*
  log "podman import -> $BASE_IMAGE"
  tar -C "$root" --numeric-owner -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change "LABEL org.comfyweb.recipe=$recipe" \
    --change 'CMD ["/bin/bash"]' \
    - "$BASE_IMAGE" >/dev/null
  rm -rf "$root"
}

build() {
  # build NAME CONTAINERFILE [--build-arg ...]: the repository root is the context (its .dockerignore beside it).
  local name=$1 file=$2
  shift 2
  log "building $TAG-$name:local from $file"
  local started=$SECONDS
  local ignore="$file.dockerignore"
  [ -f "$ignore" ] || ignore=deploy/web.Dockerfile.dockerignore
  # --format docker: the OCI image format has no HEALTHCHECK, which podman would drop.
  podman build "${PODMAN_ULIMITS[@]}" --format docker --network host --layers --ignorefile "$ignore" -f "$file" \
    -t "$TAG-$name:local" "$@" . \
    >"$WORK/build-$name.log" 2>&1 || { tail -40 "$WORK/build-$name.log" >&2; exit 1; }
  log "$TAG-$name:local built in $((SECONDS - started)) s"
}

main() {
  mkdir -p "$WORK"
  local base=${IMAGE_BASE:-auto}
  if [ "$base" = auto ]; then
    if registry_reachable; then base=public; else base=debian; fi
  fi
  log "base images: $base"
  if [ "$base" = public ]; then
    build web deploy/web.Dockerfile
    # The agent in front of the emulator: no ComfyUI inside (the GPU image is built with COMFYUI_IMAGE).
    build agent deploy/agent.Dockerfile --build-arg COMFYUI_IMAGE=docker.io/library/python:3.13-slim-trixie \
      --build-arg AGENT_PYTHON_FROM=system --build-arg COMFYUI_CMD=
    echo public >"$WORK/base"
    return
  fi
  build_debian_base
  # The web image first: the agent and the S3 image then find its wheels in the pip cache mount. The
  # service images only wait for Debian's mirror, so they build meanwhile.
  build web deploy/web.Dockerfile --build-arg PYTHON_IMAGE="$BASE_IMAGE" &
  local web=$!
  for service in postgres redis nginx; do
    build "$service" "deploy/images/$service.Containerfile" --build-arg BASE_IMAGE="$BASE_IMAGE"
  done
  wait "$web"
  build agent deploy/agent.Dockerfile --build-arg COMFYUI_IMAGE="$BASE_IMAGE" \
    --build-arg AGENT_PYTHON_FROM=system --build-arg COMFYUI_CMD= &
  local agent=$!
  build s3 deploy/images/s3.Containerfile --build-arg BASE_IMAGE="$BASE_IMAGE"
  wait "$agent"
  echo debian >"$WORK/base"
}

main "$@"
