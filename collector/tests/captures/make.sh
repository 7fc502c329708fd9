#!/usr/bin/env bash
# Makes real captures of real programs talking across a VXLAN overlay, for the
# tshark comparison tests (collector/tests/tshark.rs).
#
#   sudo collector/tests/captures/make.sh OUTDIR
#
# Two network namespaces (names carry this shell's pid) joined by a veth
# underlay, with two VXLAN tunnels between them: VNI 4242 over an IPv4
# underlay (the AWS shape) and VNI 4243 over an IPv6 underlay. The overlay of
# 4242 carries IPv4 and IPv6. Traffic: ping (v4, v6, fragmented), DNS (dig to
# dnsmasq, UDP and TCP, v4 and v6), HTTP (curl to python3 -m http.server),
# iperf3 TCP and UDP, a TCP reset (curl to a closed port) and an ICMP port
# unreachable (dig to a closed port). Writes to OUTDIR:
#
#   plain.pcap          the overlay device of VNI 4242 (plain Ethernet frames)
#   tunnelled.pcap      the underlay, `udp port 4789` (whole outer frames, as
#                       tcpdump on a mirror target records them)
#   truncated.pcap      the underlay, every frame, snap length 110 (cut copies)
#   tunnelled.pcapng    tunnelled.pcap converted with editcap
#
# Needs root, ip (iproute2), tcpdump, editcap, ping, dig, curl, iperf3, python3;
# dnsmasq is installed with apt when missing (else a tiny python responder).
# Every namespace and process it made is removed on exit, failure included.
set -euo pipefail

OUT=${1:?usage: make.sh OUTDIR}
[[ $(id -u) == 0 ]] || { echo "make.sh: needs root" >&2; exit 2; }
for p in ip tcpdump editcap ping dig curl iperf3 python3 timeout; do
    command -v "$p" >/dev/null || { echo "make.sh: missing $p" >&2; exit 2; }
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

ID=$$
NSA=mlcapA$ID
NSB=mlcapB$ID
VETHA=mlva$ID
VETHB=mlvb$ID
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mlcap.XXXXXX")
PIDS=()

cleanup() {
    local rc=$?
    set +e
    if [[ $rc != 0 ]]; then
        echo "make.sh: failed (exit $rc); logs:" >&2
        tail -n 5 "$WORK"/*.log >&2 2>/dev/null
    fi
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    # Anything else still inside our own namespaces was started by us.
    for ns in "$NSA" "$NSB"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill -9 "$pid" 2>/dev/null
        done
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    ip netns del "$NSA" 2>/dev/null
    ip netns del "$NSB" 2>/dev/null
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

inA() { ip netns exec "$NSA" "$@"; }
inB() { ip netns exec "$NSB" "$@"; }
# Runs a client command, bounded in time; a failure is reported, not fatal
# (a refused connection is part of the traffic we want).
client() { timeout 10 ip netns exec "$NSA" "$@" >>"$WORK/clients.log" 2>&1 || echo "make.sh: '$*' exited $?" >>"$WORK/clients.log"; }
# Waits (bounded) until `cmd` succeeds.
wait_for() {
    for _ in $(seq 1 100); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "make.sh: timed out waiting for: $*" >&2
    return 1
}

# --- DNS server: dnsmasq when available (installed if possible) ------------
DNSMASQ=$(command -v dnsmasq || true)
if [[ -z $DNSMASQ ]] && command -v apt-get >/dev/null; then
    # dnsmasq-base is the binary alone (no system service is started).
    export DEBIAN_FRONTEND=noninteractive
    timeout 120 apt-get install -y -q --no-install-recommends dnsmasq-base >/dev/null 2>&1 ||
        { timeout 120 apt-get update -q >/dev/null 2>&1 &&
          timeout 120 apt-get install -y -q --no-install-recommends dnsmasq-base >/dev/null 2>&1; } || true
    DNSMASQ=$(command -v dnsmasq || true)
fi

# --- Topology -------------------------------------------------------------
ip netns add "$NSA"
ip netns add "$NSB"
ip link add "$VETHA" netns "$NSA" type veth peer name "$VETHB" netns "$NSB"
for side in A B; do
    if [[ $side == A ]]; then ns=$NSA; dev=$VETHA; me=1; peer=2; else ns=$NSB; dev=$VETHB; me=2; peer=1; fi
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "10.200.0.$me/24" dev "$dev"
    ip -n "$ns" addr add "fd10::$me/64" dev "$dev" nodad
    ip -n "$ns" link set "$dev" up
    # VNI 4242: IPv4 underlay, IPv4 + IPv6 overlay.
    ip -n "$ns" link add vx4242 type vxlan id 4242 dstport 4789 \
        local "10.200.0.$me" remote "10.200.0.$peer" dev "$dev"
    ip -n "$ns" addr add "10.201.0.$me/24" dev vx4242
    ip -n "$ns" addr add "fd42::$me/64" dev vx4242 nodad
    ip -n "$ns" link set vx4242 up
    # VNI 4243: IPv6 underlay.
    ip -n "$ns" link add vx4243 type vxlan id 4243 dstport 4789 \
        local "fd10::$me" remote "fd10::$peer" dev "$dev"
    ip -n "$ns" addr add "10.202.0.$me/24" dev vx4243
    ip -n "$ns" link set vx4243 up
done

# --- Servers in B ---------------------------------------------------------
mkdir -p "$WORK/www"
head -c 20000 /dev/urandom | base64 >"$WORK/www/file.txt"
echo hello >"$WORK/www/index.html"
ip netns exec "$NSB" python3 -m http.server 8080 --bind :: --directory "$WORK/www" >"$WORK/http.log" 2>&1 &
PIDS+=($!)
ip netns exec "$NSB" iperf3 -s -p 5201 >"$WORK/iperf3-server.log" 2>&1 &
PIDS+=($!)
if [[ -n $DNSMASQ ]]; then
    ip netns exec "$NSB" "$DNSMASQ" --keep-in-foreground --no-resolv --no-hosts \
        --user=root --pid-file="$WORK/dnsmasq.pid" \
        --listen-address=10.201.0.2,fd42::2 --bind-interfaces \
        --address=/mirrorlake.test/10.201.0.99 --address=/mirrorlake.test/fd42::99 \
        --txt-record=txt.mirrorlake.test,"mirrorlake test record" \
        --log-facility="$WORK/dnsmasq.log" 2>"$WORK/dnsmasq.err" &
    PIDS+=($!)
else
    # A tiny responder: answers every A query with 10.201.0.99 (UDP only).
    cat >"$WORK/dns.py" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 53))
while True:
    q, a = s.recvfrom(512)
    if len(q) < 12:
        continue
    end = q.index(0, 12) + 5
    r = q[:2] + b"\x81\x80" + q[4:6] + b"\x00\x01\x00\x00\x00\x00" + q[12:end]
    r += b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes([10, 201, 0, 99])
    s.sendto(r, a)
EOF
    ip netns exec "$NSB" python3 "$WORK/dns.py" >"$WORK/dns.log" 2>&1 &
    PIDS+=($!)
fi
wait_for inB bash -c 'exec 3<>/dev/tcp/10.201.0.2/8080'
wait_for inB bash -c 'exec 3<>/dev/tcp/10.201.0.2/5201'

# Resolve neighbours before capturing? No: ARP and neighbour discovery are
# part of the traffic we want in the captures.

# --- Captures in A --------------------------------------------------------
start_tcpdump() { # name dev snaplen [filter...]
    local name=$1 dev=$2 snap=$3
    shift 3
    # A simple command (not a function) so that $! is tcpdump itself.
    ip netns exec "$NSA" tcpdump -n -U --immediate-mode -Z root -i "$dev" -s "$snap" -w "$WORK/$name.pcap" "$@" \
        >"$WORK/$name.tcpdump.log" 2>&1 &
    PIDS+=($!)
    TCPDUMPS+=($!)
    wait_for grep -q "listening on" "$WORK/$name.tcpdump.log"
}
TCPDUMPS=()
start_tcpdump plain vx4242 0
start_tcpdump tunnelled "$VETHA" 0 udp port 4789
start_tcpdump truncated "$VETHA" 110

# --- Traffic from A to B across the overlay --------------------------------
client ping -c 3 -i 0.2 -W 1 10.201.0.2
client ping -6 -c 3 -i 0.2 -W 1 fd42::2
client ping -c 1 -W 1 -s 3000 10.201.0.2          # IPv4 fragments
client ping -6 -c 1 -W 1 -s 3000 fd42::2          # IPv6 fragment headers
client ping -c 2 -i 0.2 -W 1 10.202.0.2           # over the IPv6 underlay
client dig +tries=1 +time=2 @10.201.0.2 www.mirrorlake.test A
client dig +tries=1 +time=2 @fd42::2 www.mirrorlake.test AAAA
if [[ -n $DNSMASQ ]]; then
    client dig +tcp +tries=1 +time=2 @10.201.0.2 txt.mirrorlake.test TXT
fi
client dig +tries=1 +time=1 -p 5353 @10.201.0.2 closed.mirrorlake.test A  # ICMP port unreachable
client curl -sS -m 5 -o /dev/null http://10.201.0.2:8080/file.txt
client curl -sS -m 5 -o /dev/null 'http://[fd42::2]:8080/index.html'
client curl -sS -m 5 -o /dev/null http://10.201.0.2:9/   # closed port: TCP RST
client iperf3 -c 10.201.0.2 -p 5201 -t 1 -b 4M -l 8K
client iperf3 -c 10.201.0.2 -p 5201 -u -t 1 -b 1M -l 1000
client iperf3 -6 -c fd42::2 -p 5201 -u -t 1 -b 500K -l 600
sleep 0.5

# --- Stop the captures (SIGINT, then wait so that tcpdump has flushed) -----
for pid in "${TCPDUMPS[@]}"; do
    kill -INT "$pid" 2>/dev/null || true
done
for pid in "${TCPDUMPS[@]}"; do
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    # SIGTERM flushes too, should SIGINT have been ignored.
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || true
done

for name in plain tunnelled truncated; do
    mv -f "$WORK/$name.pcap" "$OUT/$name.pcap"
done
editcap -F pcapng "$OUT/tunnelled.pcap" "$OUT/tunnelled.pcapng"
for name in plain tunnelled truncated; do
    grep -h "packets captured" "$WORK/$name.tcpdump.log" | sed "s/^/$name: /" >&2 || true
done
[[ -n $DNSMASQ ]] || echo "make.sh: dnsmasq unavailable; used the python DNS responder" >&2
