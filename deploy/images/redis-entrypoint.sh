#!/bin/sh
# `redis-server <options>` reachable from the other containers of the network (no protected mode), as in the
# public redis image; any other command runs as given.
set -eu
if [ "${1:-}" = redis-server ]; then
  shift
  exec redis-server --protected-mode no "$@"
fi
exec "$@"
