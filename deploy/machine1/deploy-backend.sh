#!/usr/bin/env bash
# Machine 1: installs or upgrades the admin panel and public API edge (`heartguard serve admin`,
# systemd unit heartguard-admin, behind nginx) from a heartguard binary; migrates the database on
# this machine first, rolls back on a failed health check.
#
#   sudo deploy/machine1/deploy-backend.sh ./heartguard
#
# Needs /etc/heartguard/machine1.env (deploy/env/machine1.env.example, root, mode 600), PostgreSQL
# and Redis (deploy/machine1) and nginx (deploy/machine1/nginx). Running it again with the same
# binary changes nothing. deploy/lib/deploy.sh has the steps and the settings.
set -euo pipefail
UNIT=heartguard-admin
UNIT_TEMPLATE=heartguard-admin.service
ENV_NAME=machine1.env
# shellcheck source=deploy/lib/deploy.sh
. "$(dirname "$0")/../lib/deploy.sh"

health_urls() {
  local bind port
  bind="$(env_get ADMIN_BIND_HOST)"
  [ -n "$bind" ] || bind="$(env_get BIND_HOST)"
  bind="${bind:-127.0.0.1}"
  [ "$bind" = 0.0.0.0 ] && bind=127.0.0.1
  port="$(env_get ADMIN_PORT)"
  echo "http://$bind:${port:-8080}/ready"
}

deploy_main "$@"
