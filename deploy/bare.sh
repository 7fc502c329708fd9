#!/usr/bin/env bash
# The bare-machine rehearsal: runs the README's commands from a fresh clone
# inside a Debian 12 root made from Debian's own packages (debootstrap
# minbase, plus git and ca-certificates), where nothing was installed by
# hand. Rust (the README's one prerequisite) is the host's rustup toolchain,
# mounted read-only. A tool that a script or test uses but the test command
# does not install fails here, not on a user's machine.
#
#   sudo deploy/bare.sh [--warm] [COMMAND...]     (default COMMAND: deploy/demo.sh && deploy/test.sh)
#
#   --warm   share the host's Cargo target directory and download caches (crate sources,
#            Maven jars, Garage): minutes instead of a cold build's hour, but then the
#            build's own tools (cc, make) are not exercised. Without it only the crate
#            sources are shared (they are downloads, not installs).
#
# The pristine root is made once (~2 min) under ~/.cache/mirrorlake/bare/pristine and copied
# for every rehearsal (the copy is removed afterwards). Needs root (chroot, mounts).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/mirrorlake"
pristine="$cache/bare/pristine"
mirror="${MIRRORLAKE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
say() { printf '\n\033[1m==> [bare] %s\033[0m\n' "$*" >&2; }

warm=0
if [[ ${1:-} == --warm ]]; then warm=1; shift; fi
[[ $(id -u) == 0 ]] || { echo "bare.sh: needs root (chroot and mounts)" >&2; exit 2; }
if (($#)); then cmd="$*"; else cmd="deploy/demo.sh && deploy/test.sh"; fi

if [[ ! -e $pristine/.complete ]]; then
  say "making the pristine Debian 12 root (debootstrap minbase + git, ca-certificates)"
  command -v debootstrap >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  }
  rm -rf "$pristine"
  mkdir -p "$pristine"
  debootstrap --variant=minbase --include=git,ca-certificates bookworm "$pristine" "$mirror" >/dev/null
  cp /etc/apt/sources.list.d/debian.sources "$pristine/etc/apt/sources.list.d/" 2>/dev/null || true
  touch "$pristine/.complete"
fi

root="$(mktemp -d "$cache/bare/run.XXXXXX")"
mounts=()
cleanup() {
  local rc=$?
  set +e
  # Processes the rehearsal left behind (services it started) go first.
  for p in /proc/[0-9]*; do
    [[ $(readlink "$p/root" 2>/dev/null) == "$root" ]] && kill -9 "${p#/proc/}" 2>/dev/null
  done
  sleep 1
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[i]}"; done
  rm -rf --one-file-system "$root"
  exit "$rc"
}
trap cleanup EXIT
say "copying the pristine root to $root"
cp -a "$pristine/." "$root/"

bind() { # SRC DEST [ro]
  mkdir -p "$root$2"
  mount --bind "$1" "$root$2"
  mounts+=("$root$2")
  if [[ ${3:-} == ro ]]; then mount -o remount,bind,ro "$root$2"; fi
}
mount -t proc proc "$root/proc" && mounts+=("$root/proc")
bind /sys /sys
bind /dev /dev
mount -t devpts devpts "$root/dev/pts" -o newinstance,ptmxmode=0666 && mounts+=("$root/dev/pts")
mount -t tmpfs tmpfs "$root/run" && mounts+=("$root/run")
mount -t tmpfs tmpfs "$root/tmp" && mounts+=("$root/tmp")
cp /etc/resolv.conf "$root/etc/resolv.conf"

# Rust: the host's rustup toolchain, read-only (the README's prerequisite).
rustup_home="${RUSTUP_HOME:-$HOME/.rustup}"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
bind "$rustup_home" /root/.rustup ro
bind "$cargo_home/bin" /root/.cargo/bin ro
mkdir -p "$cargo_home/registry"
bind "$cargo_home/registry" /root/.cargo/registry
if ((warm)); then
  for d in target stack/m2 stack/cargo stack/kafka stack/trino; do
    mkdir -p "$cache/$d"
    bind "$cache/$d" "/root/.cache/mirrorlake/$d"
  done
fi

say "cloning $(git -C "$here" rev-parse --short HEAD) into the bare root"
git clone -q "$here" "$root/root/mirrorlake"

say "running: $cmd"
t0=$SECONDS
chroot "$root" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" \
  PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  RUSTUP_HOME=/root/.rustup CARGO_HOME=/root/.cargo \
  bash -c "cd /root/mirrorlake && $cmd"
say "passed in $((SECONDS - t0)) s on a bare Debian 12 root"
