# Sourced by the image and compose scripts: podman as this kind of machine needs it.
# - runc, not crun: crun fails on hybrid (v1 + v2) cgroup hierarchies;
# - explicit rlimits: the defaults podman asks for are above what the sandbox allows, and are refused.
# Both are harmless elsewhere. Override with PODMAN_RUNTIME / PODMAN_NOFILE / PODMAN_NPROC.
# shellcheck shell=bash

PODMAN_RUNTIME=${PODMAN_RUNTIME:-runc}
_hard_nofile=$(ulimit -Hn)
[ "$_hard_nofile" = unlimited ] && _hard_nofile=65536
PODMAN_NOFILE=${PODMAN_NOFILE:-$((_hard_nofile < 65536 ? _hard_nofile : 65536))}
_hard_nproc=$(ulimit -Hu)
[ "$_hard_nproc" = unlimited ] && _hard_nproc=32768
PODMAN_NPROC=${PODMAN_NPROC:-$((_hard_nproc < 32768 ? _hard_nproc : 32768))}
PODMAN_ULIMITS=(--ulimit "nofile=$PODMAN_NOFILE:$PODMAN_NOFILE" --ulimit "nproc=$PODMAN_NPROC:$PODMAN_NPROC")
export PODMAN_RUNTIME PODMAN_NOFILE PODMAN_NPROC

podman() { command podman --runtime "$PODMAN_RUNTIME" "$@"; }
