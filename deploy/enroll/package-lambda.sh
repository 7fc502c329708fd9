#!/usr/bin/env bash
# Builds the enrollment Lambda's zip (terraform/modules/enrollment's
# lambda_zip_path): the mirrorlake-enroll binary, stripped, as `bootstrap` at
# the zip's root, with a fixed timestamp so the same binary always gives the
# same zip (and Terraform's source_code_hash does not change for nothing).
#
#   deploy/enroll/package-lambda.sh [--target TRIPLE] [--binary PATH] [--out FILE]
#
#   --target  Rust target to build for (default: this machine's). Lambda's
#             arm64 is aarch64-unknown-linux-gnu, x86_64 x86_64-unknown-linux-gnu;
#             the architecture variable of the module must match.
#   --binary  package this already-built binary instead of building one.
#   --out     the zip to write (default: enroll-lambda-<arch>.zip here).
#
# It refuses a binary that would not start on provided.al2023: not an ELF
# executable of a Lambda architecture, or one that needs a glibc newer than
# the runtime's 2.34 (build on an older system, or with
# `cargo zigbuild --target aarch64-unknown-linux-gnu.2.34`).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
die() { echo "package-lambda: $*" >&2; exit 1; }

target="" binary="" out=""
while (($#)); do
  case "$1" in
    --target) target="${2:?--target needs a value}"; shift 2 ;;
    --binary) binary="${2:?--binary needs a value}"; shift 2 ;;
    --out) out="${2:?--out needs a value}"; shift 2 ;;
    -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
for tool in zip readelf objcopy openssl base64; do
  command -v "$tool" >/dev/null || die "$tool is needed (Debian: zip, binutils, openssl, coreutils)"
done

if [[ -z $binary ]]; then
  target_dir="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mirrorlake/target}/enroll"
  args=(build --release --locked --manifest-path "$here/Cargo.toml" --target-dir "$target_dir")
  if [[ -n $target ]]; then
    args+=(--target "$target")
    binary="$target_dir/$target/release/mirrorlake-enroll"
  else
    binary="$target_dir/release/mirrorlake-enroll"
  fi
  cargo "${args[@]}"
fi
[[ -f $binary ]] || die "no binary at $binary"

# The ELF header names the machine; Lambda runs AArch64 (arm64) and X86-64.
machine=$(readelf -h "$binary" 2>/dev/null | sed -n 's/^ *Machine: *//p') || true
case "$machine" in
  AArch64) arch=arm64 ;;
  "Advanced Micro Devices X86-64") arch=x86_64 ;;
  "") die "$binary is not an ELF file" ;;
  *) die "$binary is built for $machine; Lambda runs arm64 (AArch64) or x86_64" ;;
esac
# The newest glibc symbol version the binary asks for.
glibc=$(readelf --dyn-syms --wide "$binary" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
if [[ -n $glibc ]] && [[ $(printf '%s\n2.34\n' "$glibc" | sort -V | tail -1) != 2.34 ]]; then
  die "$binary needs glibc $glibc; provided.al2023 has 2.34 (build on an older system or with cargo zigbuild --target <triple>.2.34)"
fi

out="${out:-enroll-lambda-$arch.zip}"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# Debug info only: the symbol table stays for backtraces.
objcopy --strip-debug "$binary" "$stage/bootstrap"
chmod 0755 "$stage/bootstrap"
touch -d '2000-01-01T00:00:00Z' "$stage/bootstrap"
rm -f "$out"
(cd "$stage" && TZ=UTC zip -q -X -9 "bootstrap.zip" bootstrap)
mv "$stage/bootstrap.zip" "$out"
size=$(stat -c %s "$out")
# Lambda takes a zip of at most 50 MB uploaded directly (250 MB unzipped).
((size <= 50 * 1000 * 1000)) || die "$out is $size bytes, over Lambda's 50 MB for a direct upload"
echo "$out: bootstrap for $arch (glibc ${glibc:-none} needed), $size bytes, source_code_hash $(openssl dgst -sha256 -binary "$out" | base64)"
