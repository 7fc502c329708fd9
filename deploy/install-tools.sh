#!/usr/bin/env bash
# Installs, with apt-get, the Debian packages of what deploy/tools.tsv lists and this machine
# lacks: everything (the test command), or with `build` only what building needs (the demo:
# a C toolchain for the linker and librdkafka, OpenSSL and zlib headers).
#
#   deploy/install-tools.sh [build]
#
# Not root: prints what is missing and goes on (the tests that need it say SKIP).
set -euo pipefail
cd "$(dirname "$0")/.."
only_build=0
[[ ${1:-} == build ]] && only_build=1
need=()
while IFS=$'\t' read -r what pkg role; do
  [[ -z $what || $what == \#* || $pkg == base || $pkg == project || $pkg == optional ]] && continue
  ((only_build)) && [[ ${role:-} != build ]] && continue
  case $what in
    /*) compgen -G "$what" >/dev/null || need+=("$pkg") ;;
    python:*) python3 -c "import ${what#python:}" 2>/dev/null || need+=("$pkg") ;;
    *) type -P "$what" >/dev/null || need+=("$pkg") ;;  # a program, not a shell builtin (kill)
  esac
done <deploy/tools.tsv
((${#need[@]})) || exit 0
if [[ $(id -u) -eq 0 ]]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
else
  echo "missing packages (${need[*]}) and not root: install them, or expect what needs them to fail or SKIP" >&2
fi
