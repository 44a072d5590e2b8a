#!/usr/bin/env bash
# Removes what the end-to-end hubs left behind:
#   docker  the notebook containers, their networks and home volumes of the Docker hub (prefix ganymede-e2e);
#   local   the JupyterLab process groups of the local-process hub (end2end/.data-local), found by
#           their pid files (`PID START_TIME`; a pid whose start time differs is someone else's);
#   all     both (the default).
here="$(cd "$(dirname "$0")" && pwd)"
what="${1:-all}"

if [ "$what" = docker ] || [ "$what" = all ]; then
  containers="$(docker ps -aq --filter name=ganymede-e2e- 2>/dev/null || true)"
  [ -z "$containers" ] || docker rm -f $containers >/dev/null 2>&1 || true
  volumes="$(docker volume ls -q --filter name=ganymede-e2e-home- 2>/dev/null || true)"
  [ -z "$volumes" ] || docker volume rm -f $volumes >/dev/null 2>&1 || true
  networks="$(docker network ls -q --filter name=ganymede-e2e- 2>/dev/null || true)"
  [ -z "$networks" ] || docker network rm $networks >/dev/null 2>&1 || true
fi

if [ "$what" = local ] || [ "$what" = all ]; then
  for pidfile in "$here"/.data-local/local-servers/*/*/server.pid; do
    [ -f "$pidfile" ] || continue
    read -r pid started <"$pidfile" || continue
    [ -r "/proc/$pid/stat" ] || continue
    # Field 22 of /proc/PID/stat, counted after the command name (which may hold spaces).
    now="$(sed -e 's/^.*) //' "/proc/$pid/stat" | awk '{print $20}')"
    [ "$now" = "$started" ] || continue
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      kill -0 -- "-$pid" 2>/dev/null || break
      sleep 1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
fi
exit 0
