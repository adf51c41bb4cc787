#!/usr/bin/env bash
# Onboarding: from a fresh clone to a running, migrated and seeded stack of the four stores.
# Run `scripts/onboard.sh --help` for usage.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/onboard.sh [up | down | --help]

  up (default)  set up, or catch up after a pull; safe to run again (a second run changes nothing):
                .venv with the packages (uv: on PATH, else installed into the venv first), the stores (docker compose when
                a Docker engine answers; else the servers already running at docker/env.local's
                addresses, else servers of its own in .sandbox/ and the embedded ClickHouse engine chdb),
                migrate, seed. The addresses it set up go to .env, which every front reads.
  down          stop the servers it started (data is kept in .sandbox/ and the compose volumes)

environment: PYTHON (interpreter for the venv, default python3), DBTOOLS_ONBOARD_NO_DOCKER=1 (ignore
Docker), ONBOARD_VENV (default .venv), DBTOOLS_SANDBOX_DIR (default .sandbox), ONBOARD_ENV_FILE
(default .env), ONBOARD_PORT_LOCK (the lock every checkout takes to choose its servers' ports, default
/tmp/dbtools-onboard-ports.lock). Details of each phase go to .sandbox/onboard.log.
EOF
}

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# uv installs without compiling bytecode (pip compiles at install): let the first imports cache theirs in
# the venv, or every later command would compile chdb's, pandas' and pyarrow's modules again
unset PYTHONDONTWRITEBYTECODE
ROOT=$PWD
PYTHON=${PYTHON:-python3}
VENV=${ONBOARD_VENV:-$ROOT/.venv}
SANDBOX=${DBTOOLS_SANDBOX_DIR:-$ROOT/.sandbox}
ENV_FILE=${ONBOARD_ENV_FILE:-$ROOT/.env}
STACK_ENV=$ROOT/docker/env.local
LOG=$SANDBOX/onboard.log
COMPOSE=(docker compose --env-file "$STACK_ENV" -f "$ROOT/docker/docker-compose.yml")
CHANGES=()   # what this run changed; empty on a run that had nothing to do
NOTES=()     # what the current phase did, printed as its one line
STARTED_AT=$(date +%s%N)
OPEN_PHASE=""

say() { printf 'onboard: %s\n' "$*"; }
note() { NOTES+=("$1"); log "$1"; }
changed() { CHANGES+=("$1"); note "$1"; }
log() { mkdir -p "$SANDBOX" && printf '[%s] %s\n' "$(seconds "$(ms_since "$STARTED_AT")")" "$*" >>"$LOG"; }
die() {
  if [ -n "$OPEN_PHASE" ]; then echo; fi # end the phase line that was opened
  printf 'onboard: error: %s\n' "$1" >&2
  if [ -n "${2:-}" ]; then printf 'onboard: hint: %s\n' "$2" >&2; fi
  exit 1
}
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
seconds() { printf '%d.%d s' $(($1 / 1000)) $(($1 % 1000 / 100)); }

# phase NAME FUNCTION: run one phase and print its one line: what it did and how long it took
phase() {
  local name=$1 started
  shift
  NOTES=()
  started=$(date +%s%N)
  log "== $name"
  printf 'onboard: %-9s ' "$name"
  OPEN_PHASE=$name
  "$@"
  OPEN_PHASE=""
  local joined
  joined=$(printf '%s; ' "${NOTES[@]}")
  printf '%s (%s)\n' "${joined%; }" "$(seconds "$(ms_since "$started")")"
}

# -- venv and packages ---------------------------------------------------------------------------

# uv: the one on PATH, else the venv's own (requirements-dev.txt lists it; a new venv gets it first)
UV=""
find_uv() {
  UV=$(command -v uv 2>/dev/null || true)
  if [ -z "$UV" ] && [ -x "$VENV/bin/uv" ]; then UV=$VENV/bin/uv; fi
}
have_uv() { [ -n "$UV" ]; }

# bootstrap_uv: put uv into a new venv made without pip (pip's own set-up costs more than all of uv's
# installs): with the interpreter's pip (22.3+ installs into another environment), else the venv's
# pip set up for it; when neither works the packages go in with pip as before
bootstrap_uv() {
  local quiet=(-q --disable-pip-version-check)
  if "$PYTHON" -m pip --python "$VENV/bin/python" install "${quiet[@]}" uv >>"$LOG" 2>&1 ||
    { "$VENV/bin/python" -m ensurepip -q >>"$LOG" 2>&1 && "$VENV/bin/python" -m pip install "${quiet[@]}" uv >>"$LOG" 2>&1; }; then
    find_uv
  fi
}

ensure_venv() {
  if [ -x "$VENV/bin/python" ]; then
    note "${VENV#"$ROOT"/} already there"
    return
  fi
  command -v "$PYTHON" >/dev/null 2>&1 ||
    die "no '$PYTHON' on PATH" "install Python 3.11 or newer, or run PYTHON=/path/to/python3.11 $0"
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "$("$PYTHON" -V 2>&1) is too old: dbtools needs Python 3.11 or newer" \
      "install Python 3.11+ and run PYTHON=python3.11 $0"
  if have_uv; then
    "$UV" venv -q --python "$PYTHON" "$VENV" >>"$LOG" 2>&1 || die "uv could not create $VENV (see $LOG)"
    changed "created ${VENV#"$ROOT"/} with uv ($("$VENV/bin/python" -V 2>&1))"
  else
    "$PYTHON" -m venv --without-pip "$VENV" >>"$LOG" 2>&1 ||
      die "could not create $VENV (see $LOG)" "install the venv module (apt-get install python3-venv), or uv"
    bootstrap_uv
    if ! have_uv && ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
      "$VENV/bin/python" -m ensurepip -q >>"$LOG" 2>&1 || die "could not set up pip in $VENV (see $LOG)"
    fi
    changed "created ${VENV#"$ROOT"/} ($("$VENV/bin/python" -V 2>&1)$(have_uv && echo ", uv in it"))"
  fi
}

requirements_stamp() {
  cat "$ROOT"/requirements*.txt "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1
}

# pip_install ARGS...: uv pip into the venv where uv is installed, else the venv's pip; output to the log
pip_install() {
  if have_uv; then
    VIRTUAL_ENV=$VENV "$UV" pip install --python "$VENV/bin/python" "$@" >>"$LOG" 2>&1
  else
    "$VENV/bin/python" -m pip --version >/dev/null 2>&1 || "$VENV/bin/python" -m ensurepip -q >>"$LOG" 2>&1
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install -q "$@" >>"$LOG" 2>&1
  fi
}

ensure_packages() {
  local stamp_file=$VENV/.dbtools-requirements want
  want=$(requirements_stamp)
  if [ "$(cat "$stamp_file" 2>/dev/null)" = "$want" ]; then
    note "up to date"
    return
  fi
  if ! { pip_install -r "$ROOT/requirements-dev.txt" && pip_install --no-deps -e "$ROOT"; }; then
    die "installing the packages failed (see $LOG)" "fix the cause shown there and run $0 again"
  fi
  echo "$want" >"$stamp_file"
  changed "installed requirements-dev.txt and dbtools with $(have_uv && echo uv || echo pip)"
}

# -- settings: .env ----------------------------------------------------------------------------------

# set_env NAME VALUE: record a store's address in .env (only that line is rewritten, and only when it changes)
set_env() {
  touch "$ENV_FILE"
  if ! grep -qxF "$1=$2" "$ENV_FILE"; then
    { grep -v "^$1=" "$ENV_FILE" || true; } >"$ENV_FILE.tmp"
    echo "$1=$2" >>"$ENV_FILE.tmp"
    mv "$ENV_FILE.tmp" "$ENV_FILE"
  fi
  export "$1=$2"
}

# Small questions answered by dbtools itself, one process: settings are the shell's, then .env, then
# docker/env.local (the stack's addresses), then the stores' defaults.
dbt() {
  "$VENV/bin/python" - "$ENV_FILE" "$STACK_ENV" "$@" <<'PY'
import sys
from dbtools import backends, envfile, runner
from dbtools.errors import DatabaseMissing, DbtoolsError

env_file, stack_env, command, *args = sys.argv[1:]
envfile.load_default(env_file)
envfile.load_default(stack_env)
if command == "stores":  # per store with a migrations folder (audit sinks first): NAME URL_VARIABLE ANSWERS URL
    import os

    from dbtools.audit import sink_stores
    from dbtools.sandbox import port_answers

    sinks = sink_stores()
    for store in sorted(runner.configured_stores(), key=lambda s: s not in sinks):
        try:
            cls = backends.load(store)
            settings = runner.settings_for(store)
        except DbtoolsError:
            continue
        answers = 0
        ours = os.path.isdir(os.path.join(args[0], store))  # a server of our own: not probed, kept
        if not ours and settings.host and port_answers(settings.host, settings.port):  # does it let us in?
            try:
                backend = cls(settings)
                backend.connect()
                backend.close()
                answers = 1
            except DatabaseMissing:
                answers = 1
            except DbtoolsError:
                pass
        print(store, cls.defaults.url_env, answers, settings.url)
elif command == "free-port":  # WANTED when nothing answers there, else (or for "any") a free port
    from dbtools.sandbox import free_port, port_answers

    wanted = 0 if args[0] == "any" else int(args[0])
    print(wanted if wanted and not port_answers("127.0.0.1", wanted) else free_port())
elif command == "own-port":  # PIDFILE PORT SECONDS: exit 0 once the process in PIDFILE listens on PORT,
    import os  # 1 when it is gone (or never came) first: then another program may hold the port
    import time

    from dbtools.sandbox import holds_port, port_answers

    def gone(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie is gone
        except FileNotFoundError:
            if os.path.isdir("/proc/self"):
                return True
        except OSError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            pass
        return False

    pidfile, port, seconds = args[0], int(args[1]), float(args[2])
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open(pidfile) as lines:
                pid = int(lines.readline() or 0)  # postmaster.pid: its first line; empty while being written
        except FileNotFoundError:  # the server removed it on the way out
            sys.exit(1)
        except (OSError, ValueError):
            pid = 0
        if pid and gone(pid):
            sys.exit(1)
        held = holds_port(pid, port) if pid else False
        if held or (held is None and port_answers("127.0.0.1", port)):  # None: this machine cannot tell
            sys.exit(0)
        time.sleep(0.05)
    sys.exit(1)
PY
}

# -- ports: one onboarding at a time chooses a port and starts its server there -------------------------

# Two onboardings at once (two checkouts, two CI runs on one machine) would both find the same port free
# and start their servers on it: one fails, or the other's .env ends up pointing at the first's server.
# So choosing a port, starting the server and seeing it listen there happen under a lock on a file all
# checkouts share; the servers never inherit the lock's descriptor (each start closes it), or they
# would hold it for as long as they run.
PORT_LOCK=${ONBOARD_PORT_LOCK:-/tmp/dbtools-onboard-ports.lock}
PORT_LOCK_FD=""

lock_ports() { # without flock (util-linux) or the file, the check that the server listening is ours still holds
  { : >>"$PORT_LOCK"; } 2>/dev/null || true # another user's file: read access is enough for flock
  if [ -r "$PORT_LOCK" ]; then exec {PORT_LOCK_FD}<"$PORT_LOCK"; else exec {PORT_LOCK_FD}</dev/null; fi
  if command -v flock >/dev/null && ! flock -w 600 "$PORT_LOCK_FD"; then
    die "another onboarding held $PORT_LOCK for 10 minutes" "see whether one hangs (fuser $PORT_LOCK), then run again"
  fi
}

unlock_ports() {
  if [ -n "$PORT_LOCK_FD" ]; then exec {PORT_LOCK_FD}<&-; fi
  PORT_LOCK_FD=""
}

# own_server STORE DIR WANTED PIDFILE: start STORE's server of our own (`start_STORE PORT`) on the port kept
# in DIR/port (else WANTED) when nothing answers there, else on any free port; succeed once the process in
# PIDFILE listens there (not another program's server). A start that lost its port to another program (the
# server says "address already in use", or something else answers there) is tried again on another free
# port. Sets SERVER_PORT.
own_server() {
  local store=$1 dir=$2 wanted=$3 pidfile=$4 log=$2/server.log try size
  lock_ports
  for try in 1 2 3 4 5; do
    if [ "$try" = 1 ] && [ -f "$dir/port" ]; then wanted=$(cat "$dir/port"); fi # .env names it already
    if [ "$try" -gt 1 ]; then wanted=any; fi
    SERVER_PORT=$(dbt free-port "$wanted")
    size=$(stat -c %s "$log" 2>/dev/null || echo 0)
    rm -f "$pidfile"
    if "start_$store" "$SERVER_PORT" {PORT_LOCK_FD}<&- && dbt own-port "$pidfile" "$SERVER_PORT" 60; then
      echo "$SERVER_PORT" >"$dir/port"
      unlock_ports
      return 0
    fi
    stop_server "$pidfile"
    if ! { grep -qi "address already in use" < <(tail -c +$((size + 1)) "$log" 2>/dev/null) ||
      (exec 3<>"/dev/tcp/127.0.0.1/$SERVER_PORT") 2>/dev/null; }; then
      die "$store did not start (see $log)" "fix the cause, or remove $dir and run again"
    fi
    note "$store: port $SERVER_PORT was taken by another program before the server listened there; trying another"
  done
  die "$store: 5 ports in a row were taken by another program before the server listened there" "run $0 again"
}

stop_server() { # PIDFILE: our server that lost its port, if it still runs (quietly; postgres by its pid too)
  local pid
  pid=$(head -1 "$1" 2>/dev/null) || return 0
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
}

wait_port() { # PORT SECONDS: until a server of ours accepts connections on 127.0.0.1:PORT (no Python per try)
  local deadline=$((SECONDS + $2))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}

# -- servers of our own, kept running in .sandbox/ -----------------------------------------------

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

# Each local_<store> starts (or finds running) the store's own server and records its URL in .env.
# Return 1 when the store has no server binary here.
local_postgres() {
  local dir=$SANDBOX/postgres bin
  bin=$(pg_bindir)
  [ -n "$bin" ] || return 1
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    rm -f "$SANDBOX/seeded-postgres" "$SANDBOX/migrated" # a new, empty cluster
    as_user postgres "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 >"$dir/initdb.log" 2>&1 ||
      die "initdb failed (see $dir/initdb.log)" "remove $dir and run again"
  fi
  if as_user postgres "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    SERVER_PORT=$(cat "$dir/port")
    note "postgres: own server running on 127.0.0.1:$SERVER_PORT"
  else
    PG_BIN=$bin own_server postgres "$dir" 5433 "$dir/data/postmaster.pid"
    changed "postgres: started its own server on 127.0.0.1:$SERVER_PORT"
    STARTED+=("postgres $SERVER_PORT")
  fi
  set_env POSTGRES_URL "postgres://postgres@127.0.0.1:$SERVER_PORT/${POSTGRES_DB:-trading_users}"
}

start_postgres() { # PORT (pg_ctl waits until it accepts connections, or has failed)
  local dir=$SANDBOX/postgres
  as_user postgres "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $1 -k '' -c listen_addresses=127.0.0.1" start >/dev/null
}

local_redis() {
  local dir=$SANDBOX/redis
  command -v redis-server >/dev/null || return 1
  [ -d "$dir" ] || rm -f "$SANDBOX/seeded-redis" "$SANDBOX/migrated" # a new, empty server
  mkdir -p "$dir"
  if [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then
    SERVER_PORT=$(cat "$dir/port")
    note "redis: own server running on 127.0.0.1:$SERVER_PORT"
  else
    own_server redis "$dir" 6380 "$dir/redis.pid"
    changed "redis: started its own server on 127.0.0.1:$SERVER_PORT"
    STARTED+=("redis $SERVER_PORT")
  fi
  set_env REDIS_URL "redis://127.0.0.1:$SERVER_PORT/${REDIS_DB:-0}"
}

# start_redis PORT: in its own session, not daemonized, so that its pid is known at once and so is its exit
# (a daemonized redis-server exits 0 before it tries the port)
start_redis() {
  local dir=$SANDBOX/redis
  setsid redis-server --port "$1" --bind 127.0.0.1 --dir "$dir" --appendonly yes --daemonize no \
    --pidfile "$dir/redis.pid" --logfile "$dir/server.log" </dev/null >/dev/null 2>&1 &
  echo $! >"$dir/redis.pid"
}

# MongoDB: mongod when installed; else SecantusDB, the MongoDB-compatible development server that
# requirements-dev.txt brings (GPL-2.0, run as its own process). The kind is kept in .sandbox/mongodb/kind:
# a data folder is only ever reopened by the server that wrote it.
local_mongodb() {
  local dir=$SANDBOX/mongodb kind
  kind=$(cat "$dir/kind" 2>/dev/null || true)
  if [ -z "$kind" ]; then
    if command -v mongod >/dev/null; then kind=mongod; elif [ -x "$VENV/bin/secantusd-py" ]; then kind=secantusdb; else return 1; fi
  fi
  [ -d "$dir" ] || rm -f "$SANDBOX/seeded-mongodb" "$SANDBOX/migrated" # a new, empty server
  mkdir -p "$dir/data"
  echo "$kind" >"$dir/kind"
  if [ -f "$dir/mongod.pid" ]; then mv "$dir/mongod.pid" "$dir/server.pid"; fi # written by older versions
  local what="mongod"
  [ "$kind" = mongod ] || what="SecantusDB, a MongoDB-compatible development server, not mongod"
  if [ -f "$dir/server.pid" ] && kill -0 "$(cat "$dir/server.pid")" 2>/dev/null; then
    SERVER_PORT=$(cat "$dir/port")
    note "mongodb: own server running on 127.0.0.1:$SERVER_PORT ($what)"
  else
    if [ "$kind" != mongod ] && [ ! -x "$VENV/bin/secantusd-py" ]; then
      die "$dir holds SecantusDB data but $VENV has no secantusd-py" \
        "install the dev requirements (rerun $0 after deleting $VENV/.dbtools-requirements), or remove $dir"
    fi
    MONGO_KIND=$kind own_server mongodb "$dir" 27018 "$dir/server.pid"
    changed "mongodb: started its own server on 127.0.0.1:$SERVER_PORT ($what)"
    STARTED+=("mongodb $SERVER_PORT")
  fi
  set_env MONGO_URL "mongodb://127.0.0.1:$SERVER_PORT/${MONGO_DATABASE:-trading_meta}"
}

# start_mongodb PORT: mongod forks once it is up; SecantusDB runs in its own session (it outlives this
# script, stopped by `$0 down`, like the other servers here)
start_mongodb() {
  local dir=$SANDBOX/mongodb
  if [ "$MONGO_KIND" = mongod ]; then
    mongod --dbpath "$dir/data" --port "$1" --bind_ip 127.0.0.1 --fork --logpath "$dir/server.log" \
      --logappend --pidfilepath "$dir/server.pid" >/dev/null
  else
    setsid "$VENV/bin/secantusd-py" --host 127.0.0.1 --port "$1" --storage-path "$dir/data" --standalone \
      --cache-size 256M --log-level WARNING </dev/null >>"$dir/server.log" 2>&1 &
    echo $! >"$dir/server.pid"
  fi
}

local_clickhouse() {
  compgen -G "$VENV/lib/python3*/site-packages/chdb" >/dev/null || return 1 # installed with the requirements
  if [ ! -d "$SANDBOX/clickhouse" ]; then
    rm -f "$SANDBOX/seeded-clickhouse" "$SANDBOX/migrated" # a new, empty engine folder
    mkdir -p "$SANDBOX/clickhouse"
    changed "clickhouse: embedded engine chdb in ${SANDBOX#"$ROOT"/}/clickhouse"
  else
    note "clickhouse: embedded engine chdb"
  fi
  set_env CLICKHOUSE_URL "chdb://$SANDBOX/clickhouse"
}

install_hint() {
  case $1 in
    postgres) echo "apt-get install postgresql, or run Docker" ;;
    redis) echo "apt-get install redis-server, or run Docker" ;;
    clickhouse) echo "pip install chdb (in requirements.txt), or run Docker" ;;
    mongodb) echo "set MONGO_URL to a MongoDB server, install mongod, run Docker, or install requirements-dev.txt (SecantusDB)" ;;
    *) echo "see README.md" ;;
  esac
}

# One store without Docker: a server of ours (.sandbox/<store>/ exists) is kept running; otherwise the
# server at the configured address if it answers; otherwise one of our own; otherwise say what to install.
local_store() {
  local store=$1 var=$2 answers=$3 url=$4
  if [ ! -d "$SANDBOX/$store" ] && [ "$answers" = 1 ]; then
    set_env "$var" "$url"
    note "$store: the running server at $(masked "$url")"
    return 0
  fi
  if ! "local_$store"; then
    note "$store: skipped, no server here ($(install_hint "$store"))"
    return 1
  fi
}

masked() { sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#' <<<"$1"; }

docker_engine() {
  [ -z "${DBTOOLS_ONBOARD_NO_DOCKER:-}" ] && command -v docker >/dev/null 2>&1 &&
    timeout 5 docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1
}

start_servers() {
  READY=()
  STARTED=()
  local store name var answers url
  if docker_engine; then
    local before
    before=$("${COMPOSE[@]}" ps --status running --quiet 2>/dev/null | wc -l)
    "${COMPOSE[@]}" up -d --wait >>"$LOG" 2>&1 || die "docker compose up failed (see $LOG)" "see: ${COMPOSE[*]} logs"
    if [ "$("${COMPOSE[@]}" ps --status running --quiet | wc -l)" -gt "$before" ]; then
      changed "started the docker compose stack"
    else
      note "docker compose stack running"
    fi
    while read -r store var _ url; do
      set_env "$var" "$url"
      READY+=("$store")
    done < <(dbt stores /nonexistent)
    return
  fi
  local probed=() line ready=" " handled=" "
  mapfile -t probed < <(dbt stores "$SANDBOX")
  # the slowest servers to boot first (SecantusDB, then PostgreSQL's initdb), so their waits overlap
  for store in mongodb postgres ""; do
    for line in "${probed[@]}"; do
      read -r name var answers url <<<"$line"
      if [[ $handled == *" $name "* ]] || [[ -n $store && $name != "$store" ]]; then continue; fi
      handled+="$name "
      if local_store "$name" "$var" "$answers" "$url"; then ready+="$name "; fi
    done
  done
  for line in "${probed[@]}"; do # the stores' own order for what follows (audit sinks first)
    read -r store _ <<<"$line"
    if [[ $ready == *" $store "* ]]; then READY+=("$store"); fi
  done
  local started port
  for started in "${STARTED[@]}"; do
    read -r store port <<<"$started"
    wait_port "$port" 60 || die "$store did not become ready on port $port" "see its log in $SANDBOX/$store"
    log "$store: ready"
  done
}

# -- migrate, seed -------------------------------------------------------------------------------

migrations_stamp() { # the migration files and the addresses: when neither changed, migrate has nothing to do
  { find "$ROOT/migrations" -type f -print0 | sort -z | xargs -0 sha256sum; cat "$ENV_FILE"; } | sha256sum | cut -d' ' -f1
}

migrate() {
  [ ${#READY[@]} -gt 0 ] || die "no store is reachable" "start Docker, or install postgresql / redis-server"
  local stamp_file=$SANDBOX/migrated want args=() store out
  want="${READY[*]} $(migrations_stamp)"
  if [ "$(cat "$stamp_file" 2>/dev/null)" = "$want" ]; then
    note "up to date (no migration file or address changed since the last run)"
    return
  fi
  for store in "${READY[@]}"; do args+=(--db "$store"); done
  out=$("$VENV/bin/python" -m dbtools migrate --create-db "${args[@]}" 2>&1) || {
    printf '%s\n' "$out" | sed 's/^/  /'
    die "migrate failed (see above)" "fix the migration and run $0 again"
  }
  log "$out"
  for store in "${READY[@]}"; do
    local count
    count=$(grep -c "^$store: applied " <<<"$out" || true)
    if [ "$count" -gt 0 ]; then changed "$store: $count applied"; else note "$store: up to date"; fi
  done
  echo "$want" >"$stamp_file"
}

seed() {
  local store todo=() args=() out code=0
  for store in "${READY[@]}"; do
    if [ -f "$SANDBOX/seeded-$store" ]; then continue; fi
    todo+=("$store")
    args+=(--db "$store")
  done
  if [ ${#todo[@]} -eq 0 ]; then
    note "already seeded (remove ${SANDBOX#"$ROOT"/}/seeded-<store> to seed a store again)"
    return
  fi
  out=$("$VENV/bin/python" -m dbtools seed "${args[@]}" 2>&1) || code=$?
  log "$out"
  for store in "${todo[@]}"; do
    if grep -qE "^$store: (loaded|skipped) " <<<"$out"; then
      date -u +%FT%TZ >"$SANDBOX/seeded-$store"
      if grep -q "^$store: loaded " <<<"$out"; then changed "$store seeded"; else note "$store already had data"; fi
    else
      note "$store not seeded (see $LOG)"
    fi
  done
  if [ "$code" -ne 0 ]; then note "the stack works without it; see $LOG, run $0 again to retry"; fi
}

report() {
  local took
  took=$(seconds "$(ms_since "$STARTED_AT")")
  if [ ${#CHANGES[@]} -eq 0 ]; then
    say "nothing changed: everything was already set up ($took)"
  else
    say "done in $took"
  fi
  say "where each store lives (${ENV_FILE#"$ROOT"/}, read by every front; your shell's variables win):"
  local line
  while read -r line; do
    case $line in *_URL=*) printf '  %s\n' "$(masked "$line")" ;; esac
  done <"$ENV_FILE"
  say "in a new shell, first: source ${VENV#"$ROOT"/}/bin/activate"
}

# stop_pid PIDFILE NAME [SECONDS]: TERM the process and wait until it is gone (redis saves on the way out,
# SecantusDB checkpoints WiredTiger: seconds after heavy use)
stop_pid() {
  local pid tries=$((${3:-10} * 10))
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
  stop_pid "$SANDBOX/mongodb/server.pid" mongodb 30
  if docker_engine; then "${COMPOSE[@]}" stop; fi
  say "data kept in $SANDBOX (and the compose volumes); run $0 to start again"
}

main() {
  case "${1:-up}" in
    up)
      [ -f "$STACK_ENV" ] || die "$STACK_ENV is missing" "restore it from git: git checkout -- docker/env.local"
      mkdir -p "$SANDBOX"
      : >"$LOG"
      find_uv
      phase venv ensure_venv
      phase packages ensure_packages
      phase servers start_servers
      phase migrate migrate
      phase seed seed
      report
      ;;
    down) stop_own_servers ;;
    -h | --help) usage ;;
    *) die "unknown command '$1'" "usage: $0 [up|down|--help]" ;;
  esac
}

if [ "${ONBOARD_LIBRARY:-}" != 1 ]; then main "$@"; fi
