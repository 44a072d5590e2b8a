#!/bin/bash
# Like docker-stacks' start.sh: as root it would adjust the user (usermod, chown, sudo); run
# unprivileged (as Ganymede runs it) it only says so, then runs the command.
set -e
if [ "$(id -u)" = 0 ]; then
  echo "start.sh: running as root; this image expects to be run as ${NB_UID:-1000}:${NB_GID:-100}" >&2
else
  echo "start.sh: running as $(id -u):$(id -g), leaving the user as it is" >&2
fi
exec "$@"
