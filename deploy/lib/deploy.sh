# shellcheck shell=bash
# What deploy-backend.sh (machine 1) and deploy-microservices.sh (machine 2) share: install a
# heartguard binary as a new release, migrate before it starts, switch, restart the systemd unit,
# check health, and go back to the previous release if the new one is not healthy. Idempotent: a run
# with the binary, unit and env file already in place changes nothing and restarts nothing. Never
# drops data: the only database step is `heartguard migrate`, whose migrations only add (docs/runbook.md
# "Upgrade"), so the previous binary keeps working on the migrated schema after a rollback.
#
# The sourcing script sets UNIT (systemd unit name), UNIT_TEMPLATE (file in deploy/systemd),
# ENV_NAME (file name under $ETC) and defines health_urls (prints one URL per line), then calls
# deploy_main "$@".
#
# Settings (environment): HEARTGUARD_PREFIX (/opt/heartguard), HEARTGUARD_ETC (/etc/heartguard),
# HEARTGUARD_STATE (/var/lib/heartguard), HEARTGUARD_UNIT_DIR (/etc/systemd/system), HEARTGUARD_USER
# (heartguard), SYSTEMCTL (systemctl), HEALTH_TIMEOUT (seconds, 60), KEEP_RELEASES (3).

PREFIX="${HEARTGUARD_PREFIX:-/opt/heartguard}"
ETC="${HEARTGUARD_ETC:-/etc/heartguard}"
STATE="${HEARTGUARD_STATE:-/var/lib/heartguard}"
UNIT_DIR="${HEARTGUARD_UNIT_DIR:-/etc/systemd/system}"
SVC_USER="${HEARTGUARD_USER:-heartguard}"
SYSTEMCTL="${SYSTEMCTL:-systemctl}"
HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-60}"
KEEP_RELEASES="${KEEP_RELEASES:-3}"
DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
changes=0

say() { echo "deploy: $*"; }
die() {
  echo "deploy: error: $*" >&2
  exit 1
}
changed() {
  changes=$((changes + 1))
  say "$*"
}

# env_get KEY: the value of KEY in the env file (the last assignment wins, as for systemd), or "".
env_get() {
  sed -n "s/^[[:space:]]*$1=//p" "$ENV_FILE" | tail -n 1
}

check_env_file() {
  [ -f "$ENV_FILE" ] || die "$ENV_FILE is missing: copy deploy/env/$ENV_NAME.example there, fill it in, chmod 600"
  local mode owner
  mode="$(stat -c %a "$ENV_FILE")" owner="$(stat -c %U "$ENV_FILE")"
  if [ "$owner" != root ] || [ "$mode" != 600 ]; then
    die "$ENV_FILE holds secrets: it must belong to root with mode 600 (now $owner, $mode): chown root:root $ENV_FILE && chmod 600 $ENV_FILE"
  fi
  local unfilled
  unfilled="$(grep -n '^[[:space:]]*[A-Za-z_][A-Za-z0-9_]*=.*CHANGE_ME' "$ENV_FILE" | cut -d= -f1 | tr '\n' ' ' || true)"
  [ -z "$unfilled" ] || die "$ENV_FILE still has placeholders (line:variable): $unfilled"
}

# The files the service reads must be readable by its user (root-only key files are the usual slip):
# those under $ETC are given to its group (mode 640); any other is the operator's to fix.
check_readable_files() {
  local key path
  for key in JWT_PRIVATE_KEY_FILE JWT_PUBLIC_KEY_FILE REDIS_CA_CERT SMTP_CA_CERT; do
    path="$(env_get "$key")"
    [ -n "$path" ] || continue
    [ -f "$path" ] || die "$key=$path: no such file"
    runuser -u "$SVC_USER" -- test -r "$path" && continue
    case "$path" in
      "$ETC"/*)
        chgrp "$SVC_USER" "$path" && chmod 640 "$path"
        runuser -u "$SVC_USER" -- test -r "$path" ||
          die "$key=$path is not readable by $SVC_USER even with mode 640: check the directories above it"
        changed "made $path readable by the group $SVC_USER (mode 640)"
        ;;
      *) die "$key=$path is not readable by $SVC_USER: chgrp $SVC_USER $path && chmod 640 $path" ;;
    esac
  done
}

ensure_user() {
  id -u "$SVC_USER" >/dev/null 2>&1 && return 0
  useradd --system --user-group --home-dir "$STATE" --no-create-home --shell /usr/sbin/nologin "$SVC_USER"
  changed "created the system user $SVC_USER"
}

# ensure_dir PATH MODE OWNER[:GROUP]
ensure_dir() {
  if [ ! -d "$1" ]; then
    install -d -m "$2" -o "${3%%:*}" -g "${3##*:}" "$1"
    changed "created $1"
  elif [ "$(stat -c '%a %U:%G' "$1")" != "$2 ${3%%:*}:${3##*:}" ]; then
    chmod "$2" "$1" && chown "${3%%:*}:${3##*:}" "$1"
    changed "set $1 to $2 ${3%%:*}:${3##*:}"
  fi
}

# install_if_changed SOURCE DEST MODE: copies when the content differs; returns 0 when it copied.
install_if_changed() {
  if [ -f "$2" ] && cmp -s "$1" "$2"; then
    return 1
  fi
  install -D -m "$3" -o root -g root "$1" "$2"
  changed "installed $2"
}

render_unit() {
  sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@ETC@|$ETC|g" -e "s|@STATE@|$STATE|g" -e "s|@USER@|$SVC_USER|g" \
    "$DEPLOY_DIR/systemd/$UNIT_TEMPLATE"
}

# healthy: every URL of health_urls answers 2xx within HEALTH_TIMEOUT, while the unit stays up. The
# headers of health_headers (when the script defines it: the gateway's key) go from a file of mode
# 600, never on a command line.
healthy() {
  local deadline=$((SECONDS + HEALTH_TIMEOUT)) url headers failed=0
  headers="$(mktemp)"
  if declare -F health_headers >/dev/null; then health_headers >"$headers"; fi
  for url in $(health_urls); do
    until curl -fsS --max-time 2 -H "@$headers" -o /dev/null "$url" 2>/dev/null; do
      if [ "$SECONDS" -ge "$deadline" ] || ! "$SYSTEMCTL" is-active --quiet "$UNIT"; then
        say "not healthy: $url does not answer 2xx"
        failed=1
        break 2
      fi
      sleep 0.5
    done
  done
  rm -f "$headers"
  return "$failed"
}

# switch_to RELEASE_DIR: points $PREFIX/current at it atomically.
switch_to() {
  ln -sfn "$1" "$PREFIX/current.new"
  mv -Tf "$PREFIX/current.new" "$PREFIX/current"
}

prune_releases() {
  local keep current previous dir
  current="$(readlink "$PREFIX/current" || true)" previous="${1:-}"
  keep=0
  # Newest first; the current and the previous release are always kept.
  # Release directories hold no spaces (their names are hashes).
  # shellcheck disable=SC2045
  for dir in $(ls -1td "$PREFIX"/releases/*/ 2>/dev/null); do
    dir="${dir%/}"
    if [ "$dir" = "$current" ] || [ "$dir" = "$previous" ]; then
      continue
    fi
    keep=$((keep + 1))
    if [ "$keep" -gt $((KEEP_RELEASES - 2)) ]; then
      rm -rf "$dir"
      changed "removed the old release $dir"
    fi
  done
}

deploy_main() {
  local binary="${1:-}"
  if [ -z "$binary" ] || [ ! -x "$binary" ]; then
    die "usage: $0 PATH_TO_HEARTGUARD_BINARY"
  fi
  [ "$(id -u)" = 0 ] || die "run as root (it installs files, a system user and a systemd unit)"
  command -v curl >/dev/null || die "curl is needed for the health check: apt-get install curl"
  ENV_FILE="$ETC/$ENV_NAME"
  check_env_file
  ensure_user
  ensure_dir "$ETC" 750 "root:$SVC_USER"
  [ -d "$ETC/keys" ] && ensure_dir "$ETC/keys" 750 "root:$SVC_USER"
  check_readable_files
  ensure_dir "$PREFIX" 755 root:root
  ensure_dir "$PREFIX/releases" 755 root:root
  ensure_dir "$STATE" 700 "$SVC_USER:$SVC_USER"

  local sum release previous unit_changed=0 env_sum
  sum="$(sha256sum "$binary" | cut -c1-16)"
  release="$PREFIX/releases/$sum"
  install_if_changed "$binary" "$release/heartguard" 755 || true
  "$release/heartguard" --version >/dev/null || die "$release/heartguard does not run on this machine"

  local rendered
  rendered="$(mktemp)"
  render_unit >"$rendered"
  if install_if_changed "$rendered" "$UNIT_DIR/$UNIT.service" 644; then
    unit_changed=1
    "$SYSTEMCTL" daemon-reload
  fi
  rm -f "$rendered"
  "$SYSTEMCTL" is-enabled --quiet "$UNIT" 2>/dev/null || {
    "$SYSTEMCTL" enable --quiet "$UNIT"
    changed "enabled $UNIT"
  }

  previous="$(readlink "$PREFIX/current" 2>/dev/null || true)"
  env_sum="$(sha256sum "$ENV_FILE" | cut -d' ' -f1)"
  if [ "$previous" = "$release" ] && [ "$unit_changed" = 0 ] &&
    [ "$env_sum" = "$(cat "$PREFIX/.env.sha256" 2>/dev/null)" ] &&
    "$SYSTEMCTL" is-active --quiet "$UNIT" && healthy; then
    if [ "$changes" = 0 ]; then
      say "nothing to change: $UNIT runs release $sum and is healthy"
    else
      say "$UNIT runs release $sum and is healthy"
    fi
    return 0
  fi

  # Migrate before the new binary starts (as the schema owner when MIGRATE_DATABASE_URL is set).
  local migrate_url
  migrate_url="$(env_get MIGRATE_DATABASE_URL)"
  if [ -n "$migrate_url" ]; then
    say "migrating with release $sum"
    DATABASE_URL="$migrate_url" "$release/heartguard" --env-file "$ENV_FILE" migrate ||
      die "migration failed; nothing was switched, $UNIT still runs ${previous:-nothing}"
  fi

  switch_to "$release"
  "$SYSTEMCTL" restart "$UNIT"
  changed "started $UNIT on release $sum"
  if healthy; then
    echo "$env_sum" >"$PREFIX/.env.sha256"
    prune_releases "$previous"
    say "deployed release $sum; $UNIT is healthy"
    return 0
  fi
  if [ -z "$previous" ] || [ "$previous" = "$release" ]; then
    die "$UNIT is not healthy on release $sum and there is no other release to go back to (see its log: journalctl -u $UNIT)"
  fi
  say "release $sum is not healthy: rolling back to $(basename "$previous")"
  switch_to "$previous"
  "$SYSTEMCTL" restart "$UNIT"
  if healthy; then
    die "rolled back: $UNIT runs the previous release $(basename "$previous") again and is healthy; release $sum stays in $release for inspection (journalctl -u $UNIT)"
  fi
  die "rolled back to $(basename "$previous"), but $UNIT is still not healthy (journalctl -u $UNIT)"
}
