#!/usr/bin/env bash
# The whole local stack: Kafka + an S3-compatible store (moto by default).
#   eval "$(deploy/local/stack.sh up)"   # installs (cached), starts, exports env
#   deploy/local/stack.sh down
set -euo pipefail

ML_SERVICE=stack
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"

MIRRORLAKE_S3="${MIRRORLAKE_S3:-moto}"          # moto | garage | none
MIRRORLAKE_TOPIC="${MIRRORLAKE_TOPIC:-mirrorlake.packets}"
MIRRORLAKE_TOPIC_PARTITIONS="${MIRRORLAKE_TOPIC_PARTITIONS:-4}"

usage() {
    cat >&2 <<EOF
usage: $0 COMMAND
  up [--no-env]  install (cached) and start Kafka (+ topic $MIRRORLAKE_TOPIC) and the S3 store
                 (MIRRORLAKE_S3=$MIRRORLAKE_S3: moto | garage | none); prints the env exports on stdout
  down [--kill]  stop every service of the stack (moto, garage, kafka) that is running
  status         one line per service; exit 0 when the selected services all run
  env            print the export lines (Kafka + selected S3 store)
EOF
}

s3_script() {
    case "$MIRRORLAKE_S3" in
        moto) echo "$HERE/moto.sh" ;;
        garage) echo "$HERE/garage.sh" ;;
        none) echo "" ;;
        *) die "MIRRORLAKE_S3 must be moto, garage or none (got '$MIRRORLAKE_S3')" ;;
    esac
}

cmd_env() {
    local s3
    s3=$(s3_script)
    "$HERE/kafka.sh" env
    echo "export MIRRORLAKE_TOPIC=$MIRRORLAKE_TOPIC"
    if [[ -n $s3 ]]; then
        "$s3" env
    fi
}

cmd_up() {
    local print_env=1
    [[ ${1:-} == --no-env ]] && print_env=0
    local s3 t0 fail=0 kpid s3pid=""
    s3=$(s3_script)
    t0=$(now_ms)
    # Installs are independent (Maven vs PyPI/cargo): run them side by side.
    "$HERE/kafka.sh" install &
    kpid=$!
    if [[ -n $s3 ]]; then
        "$s3" install &
        s3pid=$!
    fi
    wait "$kpid" || fail=1
    if [[ -n $s3pid ]]; then
        wait "$s3pid" || fail=1
    fi
    (( fail == 0 )) || die "install failed (see messages above)"
    # Starts are independent too: the S3 store comes up while Kafka boots.
    s3pid=""
    if [[ -n $s3 ]]; then
        "$s3" start &
        s3pid=$!
    fi
    "$HERE/kafka.sh" start || fail=1
    if [[ -n $s3pid ]]; then
        wait "$s3pid" || fail=1
    fi
    (( fail == 0 )) || die "start failed (see messages above)"
    "$HERE/kafka.sh" create-topic "$MIRRORLAKE_TOPIC" "$MIRRORLAKE_TOPIC_PARTITIONS"
    log "stack up in $(elapsed_s "$t0")s (S3: $MIRRORLAKE_S3)"
    if (( print_env )); then
        cmd_env
    fi
}

cmd_down() {
    local opt=${1:-} rc=0 s
    [[ -z $opt || $opt == --kill ]] || die "unknown down option '$opt' (expected --kill)"
    for s in moto garage kafka; do
        # Skip services whose script never ran here (nothing to stop).
        [[ -d $ML_RUN_ROOT/$s ]] || continue
        "$HERE/$s.sh" stop ${opt:+"$opt"} || rc=1
    done
    return "$rc"
}

cmd_status() {
    local rc=0 s3
    s3=$(s3_script)
    "$HERE/kafka.sh" status || rc=3
    if [[ -n $s3 ]]; then
        "$s3" status || rc=3
    fi
    # Report a running store that is not the selected one, too.
    local other out
    for other in moto garage; do
        [[ $other == "$MIRRORLAKE_S3" ]] && continue
        [[ -d $ML_RUN_ROOT/$other ]] || continue
        if out=$("$HERE/$other.sh" status 2>/dev/null); then
            echo "$out (not selected by MIRRORLAKE_S3)"
        fi
    done
    return "$rc"
}

run_command "up down status env" "$@"
