#!/usr/bin/env bash
# Removes the notebook containers and home volumes the end-to-end hub made (prefix ganymede-e2e).
containers="$(docker ps -aq --filter name=ganymede-e2e- 2>/dev/null || true)"
[ -z "$containers" ] || docker rm -f $containers >/dev/null 2>&1 || true
volumes="$(docker volume ls -q --filter name=ganymede-e2e-home- 2>/dev/null || true)"
[ -z "$volumes" ] || docker volume rm -f $volumes >/dev/null 2>&1 || true
exit 0
