#!/usr/bin/env bash
# Same generated traffic into the collector twice: single-node (Parquet lake)
# and cluster mode (Kafka, broker from deploy/local/kafka.sh). Prints, per
# mode: packets received and accounted, packets/s and MB/s over the send,
# and the collector's CPU seconds per million packets (user+sys, /proc).
# Usage: loadtest/scripts/compare-sinks.sh [COUNT] [RATE]   (RATE 0: as fast as possible)
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=${1:-1000000}
RATE=${2:-0}
B=${CARGO_TARGET_DIR:-$HOME/.cache/mirrorlake/target}/release
[[ -x $B/mirrorlake-collector ]] || { echo "build first: cargo build --release --workspace" >&2; exit 1; }
deploy/local/kafka.sh start >&2
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
metric() { curl -s "127.0.0.1:$1/metrics" | awk -v n="$2" '$1==n {print $2}'; }
run_mode() {
  local mode=$1; shift
  local http=29190
  "$B/mirrorlake-collector" run --listen 127.0.0.1:24790 --http 127.0.0.1:$http \
    --collector-id bench --sockets 1 --lake "$work/lake-$mode" "$@" 2>"$work/$mode.log" &
  local pid=$!
  for _ in $(seq 100); do curl -sf 127.0.0.1:$http/healthz >/dev/null && break; sleep 0.1; done
  local t0; t0=$(ticks $pid)
  local report; report=$("$B/mirrorlake-loadtest" send --target 127.0.0.1:24790 --rate "$RATE" --count "$COUNT" --run-id 3)
  sleep 3
  local t1; t1=$(ticks $pid)
  local recv; recv=$(metric $http mirrorlake_packets_received_total)
  local kd; kd=$(metric $http mirrorlake_kernel_drops_total)
  kill -TERM $pid; wait $pid || true
  python3 - "$mode" "$report" "$recv" "$kd" "$t0" "$t1" "$(getconf CLK_TCK)" <<'PY'
import json, sys
mode, rep, recv, kd, t0, t1, hz = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3] or 0), float(sys.argv[4] or 0), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
cpu = (t1 - t0) / hz
print(json.dumps({"mode": mode, "sent": rep["sent"], "received": int(recv), "kernel_drops": int(kd),
  "send_seconds": round(rep["seconds"], 2), "pps": round(recv / rep["seconds"]), "MBps": round(rep["bytes"] / rep["seconds"] / 1e6 * recv / rep["sent"], 1),
  "cpu_seconds": round(cpu, 2), "cpu_s_per_Mpacket": round(cpu / (recv / 1e6), 2) if recv else None}))
PY
}
run_mode single-node
run_mode kafka --kafka 127.0.0.1:19092 --topic "bench.$$"
