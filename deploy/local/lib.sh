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

# java_major JAVA -> the major version of that java binary ("17"), 0 if unknown.
java_major() {
    local v
    v=$("$1" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2; exit}') || true
    v=${v#1.}
    v=${v%%.*}
    [[ $v =~ ^[0-9]+$ ]] && echo "$v" || echo 0
}

# ---------------------------------------------------------------- service commands
# What the service scripts (kafka.sh, garage.sh, moto.sh, trino.sh) share. Each
# sets, before calling these: RUN (its run directory), PIDFILE (its server's pid
# file) and PID_PATTERN (what the server's command line contains); the lock of
# its mutating commands is named $ML_SERVICE.

# run_command "COMMAND..." ARG... : a script's main(). The first ARG names the
# command: one of the listed COMMANDs runs cmd_COMMAND (with '-' as '_') with
# the other ARGs; help, -h and --help print the usage; no command prints it and
# exits 2; any other prints it and dies.
run_command() {
    local commands=$1 cmd=${2:-} c
    shift
    [[ $# -gt 0 ]] && shift
    case "$cmd" in
        -h | --help | help) usage; return ;;
        "") usage; exit 2 ;;
    esac
    for c in $commands; do
        if [[ $c == "$cmd" ]]; then
            "cmd_${c//-/_}" "$@"
            return
        fi
    done
    usage
    die "unknown command '$cmd'"
}

# already_running ADDRESS: for `start`: true (saying so) when the server runs;
# else false, with a stale pid file removed.
# shellcheck disable=SC2153  # PIDFILE: set by the service script (not a misspelt pidfile)
already_running() {
    if pid_alive "$PIDFILE" "$PID_PATTERN"; then
        log "already running (pid $(read_pid "$PIDFILE")) on $1"
        return 0
    fi
    rm -f "$PIDFILE"
    return 1
}

# die_if_exited MESSAGE LOG... : while `start` waits for the server: when it is
# gone, the last 40 lines of each LOG, then die with MESSAGE.
die_if_exited() {
    local message=$1 f
    shift
    pid_alive "$PIDFILE" "$PID_PATTERN" && return 0
    for f in "$@"; do
        show_tail "$f" 40
    done
    rm -f "$PIDFILE"
    die "$message"
}

# stop_service GRACE_SECONDS [--kill | -9]: the `stop` command (SIGTERM, then
# SIGKILL after GRACE_SECONDS; --kill: SIGKILL at once).
stop_service() {
    local grace=$1 mode=term
    shift
    case "${1:-}" in
        --kill | -9) mode="kill" ;;
        "") ;;
        *) die "unknown stop option '$1' (expected --kill)" ;;
    esac
    take_lock "$ML_SERVICE"
    stop_pidfile "$PIDFILE" "$PID_PATTERN" "$grace" "$mode"
}

# service_status ADDRESS DETAILS FAILURE PROBE... : the `status` command.
# "<service>: running (pid P) on ADDRESS, DETAILS" and 0 when the server runs
# and PROBE succeeds; "<service>: process running (pid P) but ADDRESS FAILURE"
# and 1 when PROBE fails; "<service>: stopped" and 3 when it does not run.
service_status() {
    local address=$1 details=$2 failure=$3 pid
    shift 3
    if pid_alive "$PIDFILE" "$PID_PATTERN"; then
        pid=$(read_pid "$PIDFILE")
        if "$@"; then
            echo "$ML_SERVICE: running (pid $pid) on $address, $details"
            return 0
        fi
        echo "$ML_SERVICE: process running (pid $pid) but $address $failure"
        return 1
    fi
    echo "$ML_SERVICE: stopped"
    return 3
}

# show_logs N LOG... : the `logs` command: the last N lines (50 when N is
# empty) of each LOG.
show_logs() {
    local n=${1:-50} f
    shift
    for f in "$@"; do
        show_tail "$f" "$n"
    done
}

# reset_service NAME: the `reset` command: deletes $RUN, refused while the
# server runs (NAME: the service as that message calls it).
reset_service() {
    take_lock "$ML_SERVICE"
    pid_alive "$PIDFILE" "$PID_PATTERN" && die "$1 is running: stop it first"
    rm -rf "$RUN"
    log "deleted $RUN"
}

# s3_env ACCESS_KEY_ID SECRET_ACCESS_KEY REGION STORE: the `env` command of an
# S3 store serving bucket $MIRRORLAKE_BUCKET on $ENDPOINT: export lines for AWS
# SDKs / object_store.
s3_env() {
    cat <<EOF
export AWS_ACCESS_KEY_ID=$1
export AWS_SECRET_ACCESS_KEY=$2
export AWS_REGION=$3
export AWS_DEFAULT_REGION=$3
export AWS_ENDPOINT_URL=$ENDPOINT
export AWS_ENDPOINT=$ENDPOINT
export AWS_ALLOW_HTTP=true
export AWS_EC2_METADATA_DISABLED=true
export MIRRORLAKE_BUCKET=$MIRRORLAKE_BUCKET
export MIRRORLAKE_S3=$4
EOF
}
