#!/usr/bin/env bash
# Onboarding: from a fresh clone to a running, migrated (and seeded) stack of the four stores.
#
#   scripts/onboard.sh          set up or catch up; safe to run again (a second run changes nothing and says so)
#   scripts/onboard.sh down     stop the servers this script started (data is kept)
#
# Stack: `docker compose` (docker/docker-compose.yml) when a Docker engine answers; otherwise the
# servers already running at the addresses in docker/env.local, else servers of our own kept running
# in .sandbox/ (PostgreSQL, Redis, mongod when installed) and the embedded engine chdb for ClickHouse.
# Addresses of our own servers go to .sandbox/env; load both files in your shell with
#   eval "$(.venv/bin/python -m dbtools.envfile docker/env.local .sandbox/env)"
# Environment: PYTHON (interpreter for the venv, default python3), DBTOOLS_ONBOARD_NO_DOCKER=1 (ignore Docker),
# ONBOARD_VENV (default .venv), DBTOOLS_SANDBOX_DIR (default .sandbox).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
VENV=${ONBOARD_VENV:-$ROOT/.venv}
SANDBOX=${DBTOOLS_SANDBOX_DIR:-$ROOT/.sandbox}
ENV_FILE=$ROOT/docker/env.local
COMPOSE=(docker compose --env-file "$ENV_FILE" -f "$ROOT/docker/docker-compose.yml")
CHANGES=()
STARTED_AT=$SECONDS

say() { printf 'onboard: %s\n' "$*"; }
changed() { CHANGES+=("$1"); say "$1"; }
die() {
  printf 'onboard: error: %s\n' "$1" >&2
  if [ -n "${2:-}" ]; then printf 'onboard: hint: %s\n' "$2" >&2; fi
  exit 1
}

# -- Python and the virtualenv -------------------------------------------------------------------

check_python() {
  command -v "$PYTHON" >/dev/null 2>&1 ||
    die "no '$PYTHON' on PATH" "install Python 3.11 or newer, or run PYTHON=/path/to/python3.11 $0"
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "$("$PYTHON" -V 2>&1) is too old: dbtools needs Python 3.11 or newer" \
      "install Python 3.11+ and run PYTHON=python3.11 $0"
  say "python: $("$PYTHON" -V 2>&1)"
}

ensure_venv() {
  if [ -x "$VENV/bin/python" ]; then
    say "virtualenv: $VENV already there"
  else
    "$PYTHON" -m venv "$VENV" || die "could not create $VENV" "install the venv module (apt-get install python3-venv)"
    changed "created the virtualenv $VENV"
  fi
}

requirements_stamp() {
  cat "$ROOT/requirements.txt" "$ROOT/requirements-dev.txt" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1
}

ensure_requirements() {
  local stamp_file=$VENV/.dbtools-requirements want
  want=$(requirements_stamp)
  if [ "$(cat "$stamp_file" 2>/dev/null)" = "$want" ]; then
    say "requirements: already installed"
    return
  fi
  say "installing requirements (requirements-dev.txt and dbtools itself)..."
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -r "$ROOT/requirements-dev.txt"
  "$VENV/bin/python" -m pip install -q --no-deps -e "$ROOT"
  echo "$want" >"$stamp_file"
  changed "installed the requirements"
}

# Small questions answered by dbtools itself (store list, reachability, masked addresses).
dbt() {
  "$VENV/bin/python" - "$@" <<'PY'
import sys
from dbtools import backends, runner
from dbtools.errors import DatabaseMissing, DbtoolsError

command, *args = sys.argv[1:]
if command == "stores":  # stores with a migrations folder whose backend exists, audit sinks first
    from dbtools.audit import sink_stores

    sinks = sink_stores()
    for store in sorted(runner.configured_stores(), key=lambda s: s not in sinks):
        try:
            backends.load(store)
        except DbtoolsError:
            continue
        print(store)
elif command == "reachable":  # the server at the configured address answers (database may be missing)
    from dbtools.sandbox import port_answers

    store = args[0]
    settings = runner.settings_for(store)
    if settings.host and not port_answers(settings.host, settings.port):
        sys.exit(1)  # nothing listens: no need to wait for a driver's timeout
    try:
        backend = backends.load(store)(settings)
        backend.connect()
        backend.close()
    except DatabaseMissing:
        pass
    except DbtoolsError:
        sys.exit(1)
elif command == "where":
    print(runner.settings_for(args[0]).display_url)
elif command == "free-port":
    from dbtools.sandbox import free_port, port_answers
    wanted = int(args[0])
    print(wanted if not port_answers("127.0.0.1", wanted) else free_port())
PY
}

load_env() {
  [ -f "$ENV_FILE" ] || die "$ENV_FILE is missing" "restore it from git: git checkout -- docker/env.local"
  # variables already set in this shell win over docker/env.local; our own servers' addresses win over both
  eval "$("$VENV/bin/python" -m dbtools.envfile "$ENV_FILE")"
  if [ -f "$SANDBOX/env" ]; then eval "$("$VENV/bin/python" -m dbtools.envfile --override "$SANDBOX/env")"; fi
}

wait_reachable() { # STORE SECONDS
  local deadline=$((SECONDS + $2))
  until dbt reachable "$1"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.5
  done
}

# -- servers of our own, kept running in .sandbox/ -----------------------------------------------

set_sandbox_var() { # NAME VALUE: record an address in .sandbox/env (rewritten only when it changes)
  local file=$SANDBOX/env
  mkdir -p "$SANDBOX"
  touch "$file"
  if ! grep -qxF "$1=$2" "$file"; then
    grep -v "^$1=" "$file" >"$file.tmp" || true
    echo "$1=$2" >>"$file.tmp"
    mv "$file.tmp" "$file"
  fi
  export "$1=$2"
}

as_user() { # run as USER when we are root (initdb and postgres refuse root)
  local user=$1
  shift
  if [ "$(id -u)" = 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi
}

pg_bindir() {
  local dir
  dir=$(find /usr/lib/postgresql -maxdepth 3 -name initdb -path '*/bin/*' 2>/dev/null | sort -V | tail -1)
  if [ -n "$dir" ]; then dirname "$dir"; elif command -v initdb >/dev/null; then dirname "$(command -v initdb)"; fi
}

local_postgres() {
  local dir=$SANDBOX/postgres bin port
  bin=$(pg_bindir)
  [ -n "$bin" ] || return 1
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
  if [ -f "$dir/port" ]; then port=$(cat "$dir/port"); else port=$(dbt free-port 5433); fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_user postgres "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 >"$dir/initdb.log" 2>&1 ||
      die "initdb failed (see $dir/initdb.log)" "remove $dir and run again"
    echo "$port" >"$dir/port"
    changed "postgres: created a cluster in $dir"
  fi
  if as_user postgres "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    say "postgres: own server already running on 127.0.0.1:$port"
  else
    as_user postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null ||
      die "postgres did not start (see $dir/server.log)" "fix the cause, or remove $dir and run again"
    changed "postgres: started its own server on 127.0.0.1:$port"
  fi
  set_sandbox_var POSTGRES_URL "postgres://postgres@127.0.0.1:$port/${POSTGRES_DB:-trading_users}"
}

local_redis() {
  local dir=$SANDBOX/redis port
  command -v redis-server >/dev/null || return 1
  mkdir -p "$dir"
  if [ -f "$dir/port" ]; then port=$(cat "$dir/port"); else port=$(dbt free-port 6380); fi
  echo "$port" >"$dir/port"
  if [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then
    say "redis: own server already running on 127.0.0.1:$port"
  else
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --appendonly yes --daemonize yes \
      --pidfile "$dir/redis.pid" --logfile "$dir/server.log" ||
      die "redis-server did not start (see $dir/server.log)"
    changed "redis: started its own server on 127.0.0.1:$port"
  fi
  set_sandbox_var REDIS_URL "redis://127.0.0.1:$port/${REDIS_DB:-0}"
}

local_mongodb() {
  local dir=$SANDBOX/mongodb port
  command -v mongod >/dev/null || return 1
  mkdir -p "$dir/data"
  if [ -f "$dir/port" ]; then port=$(cat "$dir/port"); else port=$(dbt free-port 27018); fi
  echo "$port" >"$dir/port"
  if [ -f "$dir/mongod.pid" ] && kill -0 "$(cat "$dir/mongod.pid")" 2>/dev/null; then
    say "mongodb: own server already running on 127.0.0.1:$port"
  else
    mongod --dbpath "$dir/data" --port "$port" --bind_ip 127.0.0.1 --fork --logpath "$dir/server.log" \
      --pidfilepath "$dir/mongod.pid" >/dev/null || die "mongod did not start (see $dir/server.log)"
    changed "mongodb: started its own server on 127.0.0.1:$port"
  fi
  set_sandbox_var MONGO_URL "mongodb://127.0.0.1:$port/${MONGO_DATABASE:-trading_meta}"
}

embedded_clickhouse() {
  "$VENV/bin/python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("chdb") is None)' || return 1
  mkdir -p "$SANDBOX/clickhouse"
  set_sandbox_var CLICKHOUSE_URL "chdb://$SANDBOX/clickhouse"
  say "clickhouse: embedded engine chdb in $SANDBOX/clickhouse"
}

# One store without Docker: the configured server if it answers, else our own, else say what to install.
local_store() {
  local store=$1 var
  case $store in
    postgres) var=POSTGRES_URL ;; clickhouse) var=CLICKHOUSE_URL ;; mongodb) var=MONGO_URL ;; redis) var=REDIS_URL ;;
    *) var="" ;;
  esac
  # an address recorded in .sandbox/env is a server of ours: keep it (restarted if it stopped)
  if [ -n "$var" ] && grep -q "^$var=" "$SANDBOX/env" 2>/dev/null; then
    :
  elif dbt reachable "$store"; then
    say "$store: using the running server at $(dbt where "$store")"
    return 0
  fi
  case $store in
    postgres) local_postgres ;;
    redis) local_redis ;;
    mongodb) local_mongodb ;;
    clickhouse) embedded_clickhouse ;;
    *) false ;;
  esac || {
    say "$store: no server here and none to start: $(install_hint "$store"); skipping it"
    return 1
  }
  wait_reachable "$store" 60 || die "$store at $(dbt where "$store") did not become ready" "see its log in $SANDBOX/$store"
}

install_hint() {
  case $1 in
    postgres) echo "apt-get install postgresql, or run Docker" ;;
    redis) echo "apt-get install redis-server, or run Docker" ;;
    clickhouse) echo "pip install chdb (in requirements.txt), or run Docker" ;;
    mongodb) echo "set MONGO_URL to a MongoDB server, install mongod, or run Docker" ;;
    *) echo "see README.md" ;;
  esac
}

docker_engine() {
  [ -z "${DBTOOLS_ONBOARD_NO_DOCKER:-}" ] && command -v docker >/dev/null 2>&1 &&
    timeout 5 docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1
}

start_stack() {
  READY=()
  local store
  if docker_engine; then
    local before
    before=$("${COMPOSE[@]}" ps --status running --quiet 2>/dev/null | wc -l)
    say "starting the stack with docker compose (waits for the healthchecks)..."
    "${COMPOSE[@]}" up -d --wait || die "docker compose up failed" "see: ${COMPOSE[*]} logs"
    if [ "$("${COMPOSE[@]}" ps --status running --quiet | wc -l)" -gt "$before" ]; then
      changed "started the docker compose stack"
    else
      say "docker compose: every service already running"
    fi
    rm -f "$SANDBOX/env" # the compose stack lives at docker/env.local's addresses
    load_env
    for store in $(dbt stores); do READY+=("$store"); done
    return
  fi
  say "no Docker engine answers: using local servers and embedded engines"
  for store in $(dbt stores); do
    if local_store "$store"; then READY+=("$store"); fi
  done
}

# -- migrate, seed, report ----------------------------------------------------------------------

migrate() {
  [ ${#READY[@]} -gt 0 ] || die "no store is reachable" "start Docker, or install postgresql / redis-server"
  local args=() store out
  for store in "${READY[@]}"; do args+=(--db "$store"); done
  out=$("$VENV/bin/python" -m dbtools migrate --create-db "${args[@]}" 2>&1) || {
    printf '%s\n' "$out"
    die "migrate failed (see above)" "fix the migration and run $0 again"
  }
  printf '%s\n' "$out" | sed 's/^/  /'
  if printf '%s\n' "$out" | grep -qE '^[a-z]+: applied '; then changed "applied migrations"; fi
}

seed() {
  if ! "$VENV/bin/python" -m dbtools seed --help >/dev/null 2>&1; then
    say "seeding: not available in this version, skipped"
    return
  fi
  local store out code
  for store in "${READY[@]}"; do
    if [ -f "$SANDBOX/seeded-$store" ]; then
      say "seeding: $store already seeded (remove $SANDBOX/seeded-$store to seed again)"
      continue
    fi
    code=0
    out=$("$VENV/bin/python" -m dbtools seed --db "$store" 2>&1) || code=$?
    if [ $code -eq 0 ]; then
      printf '%s\n' "$out" | sed 's/^/  /'
      mkdir -p "$SANDBOX"
      date -u +%FT%TZ >"$SANDBOX/seeded-$store"
      changed "seeded $store"
    elif [ $code -eq 2 ]; then # a usage error: no seeding for this store yet
      say "seeding: $store skipped: $(printf '%s\n' "$out" | sed -n 's/^error: //p' | head -1)"
    else
      printf '%s\n' "$out" | sed 's/^/  /'
      say "seeding: $store failed (see above); the stack works without it, run $0 again to retry"
    fi
  done
}

report() {
  local store args=()
  for store in "${READY[@]}"; do args+=(--db "$store"); done
  echo
  "$VENV/bin/python" -m dbtools status "${args[@]}" || true
  echo
  say "where each store lives:"
  for store in "${READY[@]}"; do printf '  %-10s %s\n' "$store" "$(dbt where "$store")"; done
  if [ -f "$SANDBOX/env" ]; then
    say "load these addresses in your shell with:"
    echo "  eval \"\$(.venv/bin/python -m dbtools.envfile docker/env.local ${SANDBOX#"$ROOT"/}/env)\""
  else
    say "load the settings in your shell with:  eval \"\$(.venv/bin/python -m dbtools.envfile docker/env.local)\""
  fi
  if [ ${#CHANGES[@]} -eq 0 ]; then
    say "nothing changed: everything was already set up ($((SECONDS - STARTED_AT)) s)"
  else
    local joined
    joined=$(printf '%s; ' "${CHANGES[@]}")
    say "done in $((SECONDS - STARTED_AT)) s; changed: ${joined%; }"
  fi
}

# stop_pid PIDFILE NAME: TERM the process and wait until it is gone (redis saves on the way out)
stop_pid() {
  local pid tries=100
  [ -f "$1" ] && pid=$(cat "$1") && kill "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null && [ $tries -gt 0 ]; do sleep 0.1; tries=$((tries - 1)); done
  say "$2: stopped"
}

stop_own_servers() {
  local bin
  if [ -f "$SANDBOX/postgres/data/PG_VERSION" ] && bin=$(pg_bindir) && [ -n "$bin" ]; then
    as_user postgres "$bin/pg_ctl" -D "$SANDBOX/postgres/data" -m fast stop >/dev/null 2>&1 && say "postgres: stopped"
  fi
  stop_pid "$SANDBOX/redis/redis.pid" redis
  stop_pid "$SANDBOX/mongodb/mongod.pid" mongodb
  if docker_engine; then "${COMPOSE[@]}" stop; fi
  say "data kept in $SANDBOX (and the compose volumes); run $0 to start again"
}

main() {
  case "${1:-up}" in
    up)
      check_python
      ensure_venv
      ensure_requirements
      load_env
      start_stack
      migrate
      seed
      report
      ;;
    down) stop_own_servers ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$1'" "use: $0 [up|down]" ;;
  esac
}

if [ "${ONBOARD_LIBRARY:-}" != 1 ]; then main "$@"; fi
