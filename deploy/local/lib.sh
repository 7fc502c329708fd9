# shellcheck shell=bash
# Shared helpers for the local-stack scripts in deploy/local/.
# Sourced, never executed. Callers set ML_SERVICE before sourcing.

# All state lives under one directory (downloads, caches, run data).
: "${ML_SERVICE:=stack}"
MIRRORLAKE_STACK_DIR="${MIRRORLAKE_STACK_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mirrorlake/stack}"
export MIRRORLAKE_STACK_DIR
# shellcheck disable=SC2034  # used by the scripts that source this file
ML_RUN_ROOT="$MIRRORLAKE_STACK_DIR/run"
ML_LOCK_DIR="$MIRRORLAKE_STACK_DIR/locks"

log() { printf '[%s] %s\n' "$ML_SERVICE" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$ML_SERVICE" "$*" >&2; exit 1; }

need_cmd() {
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH${2:+ ($2)}"
}

# Serialise mutating commands of one service (two concurrent `start`s must not
# both launch a server). The lock is released when the script exits, or when
# take_lock is called again (fd 9 is reused: hold one lock at a time).
take_lock() {
    local name=$1
    mkdir -p "$ML_LOCK_DIR"
    exec 9>"$ML_LOCK_DIR/$name.lock"
    if ! flock -w "${ML_LOCK_TIMEOUT:-600}" 9; then
        die "could not take lock $ML_LOCK_DIR/$name.lock (another $name command is running?)"
    fi
}

# pid_alive PIDFILE PATTERN: true when the pid in PIDFILE is alive and its
# command line contains PATTERN (guards against pid reuse after a reboot/kill).
pid_alive() {
    local pidfile=$1 pattern=$2 pid cmdline
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    [[ -r /proc/$pid/cmdline ]] || return 0
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmdline == *"$pattern"* ]]
}

read_pid() { cat "$1" 2>/dev/null || true; }

# True while something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wait_pid_gone PID TIMEOUT_SECONDS -> 0 when gone in time.
wait_pid_gone() {
    local pid=$1 timeout=$2 waited=0
    while kill -0 "$pid" 2>/dev/null; do
        # A zombie (our own child) counts as gone.
        if [[ -r /proc/$pid/stat ]] && [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == Z ]]; then
            return 0
        fi
        if (( waited >= timeout * 10 )); then
            return 1
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    return 0
}

# stop_pidfile PIDFILE PATTERN GRACE_SECONDS [kill]
# SIGTERM, wait up to GRACE_SECONDS, then SIGKILL. With "kill": SIGKILL at once.
stop_pidfile() {
    local pidfile=$1 pattern=$2 grace=$3 mode=${4:-term} pid
    if ! pid_alive "$pidfile" "$pattern"; then
        rm -f "$pidfile"
        log "not running"
        return 0
    fi
    pid=$(<"$pidfile")
    if [[ $mode == kill ]]; then
        log "sending SIGKILL to pid $pid"
        kill -CONT "$pid" 2>/dev/null || true
        kill -KILL "$pid" 2>/dev/null || true
        wait_pid_gone "$pid" 10 || die "pid $pid survived SIGKILL"
    else
        log "stopping pid $pid (SIGTERM, up to ${grace}s)"
        kill -CONT "$pid" 2>/dev/null || true   # a paused process cannot exit
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_pid_gone "$pid" "$grace"; then
            log "pid $pid still alive after ${grace}s: sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            wait_pid_gone "$pid" 10 || die "pid $pid survived SIGKILL"
        fi
    fi
    rm -f "$pidfile"
    log "stopped"
}

# spawn PIDFILE OUTFILE CMD... : start CMD detached (own session, stdin from
# /dev/null, stdout+stderr appended to OUTFILE) and write its pid to PIDFILE.
# The pid written is the one of CMD itself (bash execs into it).
spawn() {
    local pidfile=$1 outfile=$2
    shift 2
    rm -f "$pidfile"
    # shellcheck disable=SC2016
    setsid bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pidfile" "$@" \
        >>"$outfile" 2>&1 </dev/null 9>&- &
    local _
    for _ in $(seq 1 50); do
        [[ -s $pidfile ]] && return 0
        sleep 0.1
    done
    die "process did not start (no pid file $pidfile); see $outfile"
}

# Rotate a log file so that each start begins with a fresh one (keeps one old).
rotate_log() {
    local f=$1
    if [[ -s $f ]]; then
        mv -f "$f" "$f.prev"
    fi
    : >"$f"
}

show_tail() {
    local f=$1 n=${2:-40}
    if [[ -s $f ]]; then
        printf '[%s] ---- last %s lines of %s ----\n' "$ML_SERVICE" "$n" "$f" >&2
        tail -n "$n" "$f" >&2
        printf '[%s] ----\n' "$ML_SERVICE" >&2
    fi
}

now_ms() { date +%s%3N; }
elapsed_s() { # elapsed_s START_MS -> "12.3"
    local d=$(( $(now_ms) - $1 ))
    printf '%d.%d' $((d / 1000)) $(((d % 1000) / 100))
}
