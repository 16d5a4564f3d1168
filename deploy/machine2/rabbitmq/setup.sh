#!/usr/bin/env bash
# Machine 2, once, after RabbitMQ starts: the platform's vhost and user (AMQP_URL =
# amqp://heartguard:<password>@127.0.0.1:5672/heartguard). Usage: setup.sh NODE PASSWORD
set -euo pipefail
node="$1" password="$2"
rabbitmqctl -n "$node" -q add_vhost heartguard 2>/dev/null || true
rabbitmqctl -n "$node" -q add_user heartguard "$password" 2>/dev/null ||
  rabbitmqctl -n "$node" -q change_password heartguard "$password"
rabbitmqctl -n "$node" -q set_permissions -p heartguard heartguard '.*' '.*' '.*'
