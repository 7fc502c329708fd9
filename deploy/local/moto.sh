#!/usr/bin/env bash
# moto server (in-memory AWS emulator: S3, EC2 traffic mirroring, ...) on loopback.
# Installed from PyPI into a virtualenv under the stack dir. See README.md.
set -euo pipefail

ML_SERVICE=moto
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
# "server" = every service's dependencies (as documented upstream). A slimmer
# "s3,ec2" installs in about half the time (flask + flask-cors are then added).
MOTO_EXTRAS="${MOTO_EXTRAS:-server}"
MOTO_PORT="${MOTO_PORT:-15000}"
MOTO_START_TIMEOUT="${MOTO_START_TIMEOUT:-30}"
MOTO_STOP_TIMEOUT="${MOTO_STOP_TIMEOUT:-10}"
MIRRORLAKE_BUCKET="${MIRRORLAKE_BUCKET:-mirrorlake}"
PYTHON="${MIRRORLAKE_PYTHON:-python3}"
# moto accepts any credentials (SigV4 is not checked); these are placeholders.
MOTO_ACCESS_KEY_ID="${MOTO_ACCESS_KEY_ID:-mirrorlake}"
MOTO_SECRET_ACCESS_KEY="${MOTO_SECRET_ACCESS_KEY:-mirrorlake-secret}"
MOTO_REGION="${MOTO_REGION:-us-east-1}"

MOTO_HOME="$MIRRORLAKE_STACK_DIR/moto"
VENV="$MOTO_HOME/venv"
MARKER="$MOTO_HOME/.installed"
RUN="$ML_RUN_ROOT/moto"
PIDFILE="$RUN/moto.pid"
OUT="$RUN/moto.log"
ENDPOINT="http://127.0.0.1:$MOTO_PORT"
PID_PATTERN="$VENV/bin/moto_server"

usage() {
    cat >&2 <<EOF
usage: $0 COMMAND
  install    pip install "moto[$MOTO_EXTRAS]==$MOTO_VERSION" into $VENV (skipped when present)
  start      start moto_server on $ENDPOINT and create bucket '$MIRRORLAKE_BUCKET' (idempotent)
  stop [--kill]  stop it (SIGTERM, then SIGKILL); all data is lost (moto keeps state in memory)
  kill       same as stop --kill
  status     exit 0 when running and answering, 3 when stopped
  reset      wipe all emulated state (POST /moto-api/reset) and re-create the bucket
  env        print export lines for AWS SDKs / object_store (eval "\$($0 env)")
  logs [N]   last N lines of the server log
EOF
}

# pip requirement list, one per line.
spec() {
    echo "moto[$MOTO_EXTRAS]==$MOTO_VERSION"
    if [[ ,$MOTO_EXTRAS, != *,server,* && ,$MOTO_EXTRAS, != *,all,* ]]; then
        echo flask
        echo flask-cors
    fi
}

is_installed() {
    [[ -f $MARKER && $(<"$MARKER") == "$(spec)" && -x $VENV/bin/moto_server && -x $VENV/bin/python ]]
}

cmd_install() {
    take_lock moto-install
    if is_installed; then
        log "moto $MOTO_VERSION already installed in $VENV"
        return 0
    fi
    need_cmd "$PYTHON" "set MIRRORLAKE_PYTHON to a Python 3.9+ interpreter"
    "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' \
        || die "$PYTHON is older than 3.9 (set MIRRORLAKE_PYTHON)"
    local t0
    t0=$(now_ms)
    mkdir -p "$MOTO_HOME"
    rm -rf "$VENV" "$MARKER"
    log "creating virtualenv $VENV"
    "$PYTHON" -m venv "$VENV" >"$MOTO_HOME/venv.log" 2>&1 || {
        show_tail "$MOTO_HOME/venv.log" 20
        die "python -m venv failed (Debian: apt-get install python3-venv)"
    }
    local reqs=()
    mapfile -t reqs < <(spec)
    log "pip install ${reqs[*]}"
    if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -q "${reqs[@]}" \
        >"$MOTO_HOME/pip.log" 2>&1; then
        show_tail "$MOTO_HOME/pip.log" 30
        die "pip install ${reqs[*]} failed (log: $MOTO_HOME/pip.log)"
    fi
    [[ -x $VENV/bin/moto_server ]] || die "moto_server missing after pip install"
    spec >"$MARKER"
    log "installed moto $MOTO_VERSION in $(elapsed_s "$t0")s"
}

# Wait until the S3 endpoint answers, then create the bucket if missing.
# Prints nothing on success; exits non-zero with a reason otherwise.
py_ready_and_bucket() {
    local wait_s=$1
    AWS_ACCESS_KEY_ID="$MOTO_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$MOTO_SECRET_ACCESS_KEY" \
        "$VENV/bin/python" - "$ENDPOINT" "$MIRRORLAKE_BUCKET" "$MOTO_REGION" "$wait_s" "$PIDFILE" <<'EOF'
import os, sys, time, urllib.request, urllib.error
endpoint, bucket, region, wait_s, pidfile = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
deadline = time.monotonic() + wait_s
last = None
while True:
    try:
        with urllib.request.urlopen(endpoint + "/", timeout=2) as r:
            if r.status == 200:
                break
            last = f"HTTP {r.status}"
    except urllib.error.HTTPError as e:
        last = f"HTTP {e.code}"
    except Exception as e:  # connection refused while starting
        last = repr(e)
    try:
        pid = int(open(pidfile).read().strip())
        os.kill(pid, 0)
    except Exception:
        sys.exit("moto_server exited during startup")
    if time.monotonic() > deadline:
        sys.exit(f"moto not answering on {endpoint} after {wait_s:.0f}s (last: {last})")
    time.sleep(0.2)

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region,
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}))
try:
    s3.head_bucket(Bucket=bucket)
    print(f"bucket '{bucket}' exists", file=sys.stderr)
except ClientError as e:
    if e.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
        raise
    kw = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **kw)
    print(f"created bucket '{bucket}'", file=sys.stderr)
EOF
}

cmd_start() {
    is_installed || cmd_install
    take_lock moto
    mkdir -p "$RUN"
    if already_running "$ENDPOINT"; then
        py_ready_and_bucket 5 2>&1 | sed "s/^/[$ML_SERVICE] /" >&2 || die "moto is running but not serving S3"
        return 0
    fi
    if port_open "$MOTO_PORT"; then
        die "port $MOTO_PORT is already in use by another process (see: ss -ltnp 'sport = :$MOTO_PORT'); set MOTO_PORT"
    fi
    rotate_log "$OUT"
    local t0
    t0=$(now_ms)
    log "starting moto_server $MOTO_VERSION on $ENDPOINT"
    spawn "$PIDFILE" "$OUT" "$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT"
    if ! py_ready_and_bucket "$MOTO_START_TIMEOUT" 2>"$RUN/ready.err"; then
        sed "s/^/[$ML_SERVICE] /" "$RUN/ready.err" >&2
        show_tail "$OUT" 30
        stop_pidfile "$PIDFILE" "$PID_PATTERN" 2 kill || true
        die "moto did not become ready (log: $OUT)"
    fi
    sed "s/^/[$ML_SERVICE] /" "$RUN/ready.err" >&2
    log "ready on $ENDPOINT (pid $(read_pid "$PIDFILE")) after $(elapsed_s "$t0")s"
}

cmd_stop() { stop_service "$MOTO_STOP_TIMEOUT" "$@"; }
cmd_kill() { cmd_stop --kill; }

cmd_status() {
    service_status "$ENDPOINT" "bucket $MIRRORLAKE_BUCKET, moto $MOTO_VERSION" "not accepting connections" port_open "$MOTO_PORT"
}

cmd_reset() {
    pid_alive "$PIDFILE" "$PID_PATTERN" || die "moto is not running (start it with '$0 start')"
    "$VENV/bin/python" - "$ENDPOINT" <<'EOF' || die "reset failed"
import sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/moto-api/reset", method="POST", data=b"")
urllib.request.urlopen(req, timeout=10).read()
EOF
    log "state wiped"
    py_ready_and_bucket 5 2>&1 | sed "s/^/[$ML_SERVICE] /" >&2
}

cmd_env() { s3_env "$MOTO_ACCESS_KEY_ID" "$MOTO_SECRET_ACCESS_KEY" "$MOTO_REGION" moto; }
cmd_logs() { show_logs "${1:-}" "$OUT"; }

run_command "install start stop kill status reset env logs" "$@"
