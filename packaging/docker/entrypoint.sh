#!/bin/sh
# The image's entrypoint: its first argument picks the binary, the rest go to it unchanged.
#   docker run IMAGE server run --config /etc/hallmark/server.yaml
#   docker run IMAGE agent run --config /etc/hallmark/agent.yaml
# exec, so that the binary is the container's main process and gets docker stop's SIGTERM itself.
set -eu

usage() {
  echo "usage: IMAGE server|agent [ARGS...]  (e.g. 'server run --config /etc/hallmark/server.yaml')" >&2
  exit 2
}

[ "$#" -gt 0 ] || usage
command="$1"
shift
case "$command" in
  server | hallmark-server) exec /usr/local/bin/hallmark-server "$@" ;;
  agent | hallmark-agent) exec /usr/local/bin/hallmark-agent "$@" ;;
  *)
    echo "hallmark: unknown command '$command'" >&2
    usage
    ;;
esac
