# Shared by scripts/up, scripts/test and .ci/run: install what a fresh Debian machine lacks and start
# PostgreSQL, Redis and RabbitMQ when they are stopped. Sourced, not run.

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

say() { printf '==> %s\n' "$*" >&2; }

# as_postgres CMD… — run a command as the postgres system user.
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

# apt_ensure PKG… — install the Debian packages that are not installed yet.
apt_ensure() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

require_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    say "cargo not found: install Rust 1.95 or newer with rustup (https://rustup.rs), then re-run"
    exit 1
  fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # PORT NAME SECONDS
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    port_open "$1" && return 0
    sleep 0.1
  done
  say "$2 did not open port $1 within $3 s"
  return 1
}

ensure_postgres() {
  apt_ensure postgresql
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    say "starting PostgreSQL"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start
  fi
  wait_port 5432 PostgreSQL 30
}

ensure_redis() {
  apt_ensure redis-server
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    say "starting Redis"
    $SUDO redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no
  fi
  wait_port 6379 Redis 15
}

ensure_rabbitmq() {
  apt_ensure rabbitmq-server
  if ! port_open 5672; then
    say "starting RabbitMQ"
    $SUDO rabbitmq-server -detached
  fi
  wait_port 5672 RabbitMQ 90
}

# pg_test_url — prints a URL for a local superuser role `heartguard_test` (created when missing, with a
# fresh password each call), so tests and benchmarks can create databases whatever pg_hba.conf says
# about 127.0.0.1 (trust or scram).
pg_test_url() {
  local password
  password="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  as_postgres psql -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
do \$\$ begin
  if not exists (select 1 from pg_roles where rolname = 'heartguard_test') then
    create role heartguard_test login superuser;
  end if;
end \$\$;
alter role heartguard_test password '$password';
SQL
  printf 'postgresql://heartguard_test:%s@127.0.0.1:5432/postgres' "$password"
}
