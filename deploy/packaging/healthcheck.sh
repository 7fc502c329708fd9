#!/bin/bash
# Container HEALTHCHECK for mirrorlake-collector: GET /livez (liveness) without
# curl (debian:bookworm-slim has none), over bash's /dev/tcp.
# Exit 0 on HTTP 200 (the receive threads run); 1 on 503 (they stalled) or no
# answer. Not /healthz: that is readiness, for the NLB's health check; it says
# 503 while the collector drains after SIGTERM or drops batches (Kafka or S3
# away, spool full), and a runtime that restarts unhealthy containers must
# restart none of those: a restart fixes no outage downstream and cuts a drain.
# The port comes from MIRRORLAKE_HTTP (default 0.0.0.0:9090): if you move the
# HTTP port with a --http flag, set MIRRORLAKE_HTTP to the same address instead.
set -uo pipefail
addr="${MIRRORLAKE_HTTP:-0.0.0.0:9090}"
port="${addr##*:}"
host="${addr%:*}"
host="${host#[}"
host="${host%]}"
case "$host" in
  "" | 0.0.0.0 | ::) host=127.0.0.1 ;;
esac
exec 3<>"/dev/tcp/$host/$port" || exit 1
printf 'GET /livez HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t 2 status <&3 || exit 1
case "$status" in
  "HTTP/1."?" 200"*) exit 0 ;;
  *) echo "livez: ${status%$'\r'}"; exit 1 ;;
esac
