#!/usr/bin/env bash
# The loadtest benchmark's long ladder (docs/benchmarks.md): the raw receive
# loop, tcpdump -w, the collector writing Parquet and producing to Kafka, at
# offered rates from 25k to 300k packets/s, 5 s each; the Parquet writer vs
# pyarrow. Writes OUT/report.json and OUT/report.png, prints the summary.
# The CI runs the same command at a short setting as a test
# (collector/tests/loadtest.rs, bench_runs_end_to_end_at_a_short_setting).
# Usage: loadtest/scripts/bench.sh [OUT] [extra `mirrorlake-loadtest bench` flags]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-bench-out}; shift || true
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mirrorlake/target}"
cargo build --release --locked --workspace --all-targets   # the same features as test.sh: no rebuild
venv=${XDG_CACHE_HOME:-$HOME/.cache}/mirrorlake/venv-bench
# The versions the CI test pins (collector/tests/loadtest.rs).
"$venv/bin/python" -c 'import pyarrow, matplotlib' 2>/dev/null || {
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check pyarrow==26.0.1 matplotlib==3.11.2
}
deploy/local/kafka.sh start >&2
exec "$CARGO_TARGET_DIR/release/mirrorlake-loadtest" bench --out "$OUT" \
  --rates 25k,50k,100k,150k,200k,300k --seconds 5 --writer-rows 500000 \
  --kafka 127.0.0.1:19092 --python "$venv/bin/python" "$@"
