#!/usr/bin/env bash
# Makes sure a PostgreSQL 15 server for the tests runs on 127.0.0.1 and prints its admin URL
# (for GANYMEDE_TEST_DATABASE) on stdout; everything else goes to stderr. Safe to run again: a
# server already running for this checkout is reused.
#
#   scripts/test-postgres.sh         start when needed, print the URL
#   scripts/test-postgres.sh stop    stop this checkout's server
#
# Debian's `postgresql` package is installed when its binaries are missing. The cluster lives in
# /var/tmp/ganymede-test-pg/<checkout id>/ (owned by the postgres user, which initdb needs), with
# its unix socket there too, trust authentication and no listener but 127.0.0.1. The port is
# the first free one from 55432 up, kept in the cluster's postmaster.pid.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
say() { echo "setup: $*" >&2; }

PG_VERSION=15
bin="/usr/lib/postgresql/$PG_VERSION/bin"
id="$(printf '%s' "$root" | sha256sum | cut -c1-12)"
base="/var/tmp/ganymede-test-pg/$id"
data="$base/data"
run="$base/run"
log="$base/server.log"

as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

if [ "${1:-}" = stop ]; then
  if [ -f "$data/postmaster.pid" ]; then as_postgres "$bin/pg_ctl" -D "$data" -m fast -w stop >&2; fi
  exit 0
fi

if [ ! -x "$bin/initdb" ]; then
  say "installing Debian's postgresql (PostgreSQL $PG_VERSION) for the tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >/dev/null
fi

mkdir -p "$base"
chown postgres: "$base"
if [ ! -f "$data/PG_VERSION" ]; then
  say "creating the test PostgreSQL cluster in $data"
  as_postgres mkdir -p "$data" "$run"
  as_postgres "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$base/initdb.log" 2>&1 \
    || { cat "$base/initdb.log" >&2; exit 1; }
fi
as_postgres mkdir -p "$run"

port_of_running() {
  # postmaster.pid: line 1 the pid, line 4 the port.
  if as_postgres "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then sed -n 4p "$data/postmaster.pid"; fi
}

port="$(port_of_running)"
if [ -z "$port" ]; then
  port=55432
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
  say "starting the test PostgreSQL on 127.0.0.1:$port"
  as_postgres "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 \
    -o "-p $port -k $run -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >&2 || { tail -n 20 "$log" >&2; exit 1; }
fi
echo "postgres://postgres@127.0.0.1:$port/postgres"
