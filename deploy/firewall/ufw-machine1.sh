#!/usr/bin/env bash
# Machine 1's firewall with ufw, as in the deployment guide (spec/06 "Firewall"); the same policy as
# machine1.nft: HTTPS from anywhere, PostgreSQL (5432) and Redis (6380) from machine 2 only, SSH.
#
#   sudo deploy/firewall/ufw-machine1.sh MACHINE2_IP
#
# Replaces every ufw rule of this machine (ufw --force reset), then enables ufw. Idempotent.
set -euo pipefail
machine2="${1:?usage: $0 MACHINE2_IP}"

ufw --force reset >/dev/null
ufw default deny incoming
ufw default allow outgoing
ufw allow 22/tcp comment 'ssh'
ufw allow 443/tcp comment 'heartguard: nginx'
ufw allow from "$machine2" to any port 5432 proto tcp comment 'heartguard: PostgreSQL for machine 2'
ufw allow from "$machine2" to any port 6380 proto tcp comment 'heartguard: Redis TLS for machine 2'
ufw --force enable
