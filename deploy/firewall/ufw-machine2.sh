#!/usr/bin/env bash
# Machine 2's firewall with ufw, as in the deployment guide (spec/06 "Firewall"); the same policy as
# machine2.nft: the gateway (5000) from machine 1 only; the components (5001–5011) and RabbitMQ
# (5672, 15672) from nowhere but this machine; SSH.
#
#   sudo deploy/firewall/ufw-machine2.sh MACHINE1_IP
#
# Replaces every ufw rule of this machine (ufw --force reset), then enables ufw. Idempotent.
set -euo pipefail
machine1="${1:?usage: $0 MACHINE1_IP}"

ufw --force reset >/dev/null
ufw default deny incoming
ufw default allow outgoing
ufw allow 22/tcp comment 'ssh'
ufw allow from "$machine1" to any port 5000 proto tcp comment 'heartguard: gateway for machine 1'
ufw --force enable
