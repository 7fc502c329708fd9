#!/usr/bin/env bash
# The README's first command: build, then run single-node mirrorlake on
# loopback, feed it generated AWS mirror traffic for a few seconds, stop it
# (SIGTERM flushes everything), and query the lake it wrote.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mirrorlake/target}"
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

say "what building needs (deploy/tools.tsv: a C toolchain, OpenSSL and zlib headers; apt-get when missing)"
bash deploy/install-tools.sh build
say "building the three programs it runs (release; the first build takes a while)"
cargo build --release --locked --bins -p mirrorlake-collector -p mirrorlake-aggregator -p mirrorlake-loadtest
bin="$CARGO_TARGET_DIR/release"

work="${MIRRORLAKE_DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/mirrorlake-demo.XXXXXX")}"
lake="$work/lake"
udp_port="${MIRRORLAKE_DEMO_PORT:-14789}"
http_port="${MIRRORLAKE_DEMO_HTTP_PORT:-19090}"
count="${MIRRORLAKE_DEMO_PACKETS:-100000}"
rate="${MIRRORLAKE_DEMO_RATE:-25000}"

say "starting the collector on udp 127.0.0.1:$udp_port (metrics on http://127.0.0.1:$http_port/metrics), lake $lake"
"$bin/mirrorlake-collector" run --listen "127.0.0.1:$udp_port" --http "127.0.0.1:$http_port" \
  --lake "$lake" --collector-id demo --file-max-age-ms 5000 2>"$work/collector.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
http_get() { # path -> body (no curl needed)
  exec 3<>"/dev/tcp/127.0.0.1/$http_port" || return 1
  printf 'GET %s HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n' "$1" >&3
  cat <&3; exec 3<&-
}
for _ in $(seq 100); do
  http_get /healthz 2>/dev/null | grep -q '^ok' && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/collector.log" >&2; exit 1; }
  sleep 0.1
done

say "sending $count mirrored packets at $rate packets/s from 4 mirror sources, 3 VNIs"
"$bin/mirrorlake-loadtest" send --target "127.0.0.1:$udp_port" --rate "$rate" --count "$count" >"$work/sent.json"
sleep 1
say "collector counters"
http_get /metrics | grep -E '^mirrorlake_(packets_received|packets_dropped|kernel_drops|rows_written|files_written)_total' \
  | grep -v ' 0$' || true

say "stopping the collector (SIGTERM: stop receiving, flush, close files)"
kill -TERM "$pid"; wait "$pid"; trap - EXIT

say "querying the lake with SQL"
"$bin/mirrorlake-aggregator" query --lake "$lake" \
  "SELECT mirror_source, vni, direction, count(*) AS packets, sum(wire_len) AS bytes,
          count(DISTINCT community_id) AS flows
   FROM packets GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
"$bin/mirrorlake-aggregator" query --lake "$lake" \
  "SELECT dt, hour, count(*) AS packets, min(ts) AS first, max(ts) AS last FROM packets GROUP BY 1, 2"
say "the flows table (computed from the packets): the five biggest conversations"
"$bin/mirrorlake-aggregator" query --lake "$lake" \
  "SELECT srcaddr, srcport, dstaddr, dstport, protocol, sum(packets) AS packets, sum(bytes) AS bytes,
          count(*) AS flow_rows
   FROM flows GROUP BY 1, 2, 3, 4, 5 ORDER BY bytes DESC, 1, 2, 3, 4 LIMIT 5"
say "sent: $(cat "$work/sent.json")"
say "accounting: every packet sent, found in the lake by the id in its payload"
"$bin/mirrorlake-loadtest" verify --lake "$lake" --sent "$count"
say "the lake is in $lake:"
find "$lake" -name '*.parquet' | sort | head -20 >&2
