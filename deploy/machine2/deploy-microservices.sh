#!/usr/bin/env bash
# Machine 2: installs or upgrades the gateway and the eleven components (one process, systemd unit
# heartguard-services) from a heartguard binary; migrates first, rolls back on a failed health check.
#
#   sudo deploy/machine2/deploy-microservices.sh ./heartguard
#
# Needs /etc/heartguard/machine2.env (deploy/env/machine2.env.example, root, mode 600) and RabbitMQ
# (deploy/machine2/rabbitmq). Running it again with the same binary changes nothing. deploy/lib/deploy.sh
# has the steps and the settings.
set -euo pipefail
UNIT=heartguard-services
UNIT_TEMPLATE=heartguard-services.service
ENV_NAME=machine2.env
# shellcheck source=deploy/lib/deploy.sh
. "$(dirname "$0")/../lib/deploy.sh"

# The gateway on its interface, each component on the services' address (loopback when they listen
# on every interface).
health_urls() {
  local bind gateway port name
  bind="$(env_get BIND_HOST)"
  bind="${bind:-127.0.0.1}"
  [ "$bind" = 0.0.0.0 ] && bind=127.0.0.1
  gateway="$(env_get GATEWAY_BIND_HOST)"
  gateway="${gateway:-$bind}"
  [ "$gateway" = 0.0.0.0 ] && gateway=127.0.0.1
  port="$(env_get GATEWAY_PORT)"
  echo "http://$gateway:${port:-5000}/ready"
  port=5001
  for name in AUTH ORGANIZATION USER PATIENT DEVICE TIMESERIES INFERENCE ALERT NOTIFICATION MEDIA AUDIT; do
    echo "http://$bind:$(env_get "${name}_PORT" | grep . || echo "$port")/ready"
    port=$((port + 1))
  done
}

# The gateway's /ready, like every route but /health, wants the internal key.
health_headers() {
  echo "X-Internal-API-Key: $(env_get INTERNAL_API_KEY | cut -d, -f1)"
}

deploy_main "$@"
