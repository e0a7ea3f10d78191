#!/usr/bin/env bash
# Print the variables that point deploy/compose.yaml at the images `make images` built:
#   eval "$(deploy/images/env.sh)" && podman-compose -f deploy/compose.yaml up
# With public base images (var/images/base says "public") the service images stay the public ones.
cd "$(dirname "$0")/../.."
echo "export WEB_IMAGE=localhost/comfyweb-web:local AGENT_IMAGE=localhost/comfyweb-agent:local"
if [ "$(cat var/images/base 2>/dev/null)" = debian ]; then
  for service in postgres redis s3 nginx; do
    echo "export $(echo "$service" | tr a-z A-Z)_IMAGE=localhost/comfyweb-$service:local"
  done
fi
