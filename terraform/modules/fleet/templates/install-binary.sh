#!/bin/bash
# Usage: mirrorlake-install-binary SOURCE DEST NAME SHA256|- REGION
# SOURCE is https://... or s3://bucket/key; a .tar.gz is unpacked and NAME taken from it.
set -euo pipefail
source_uri="$1" dest="$2" name="$3" sha256="$4" region="$5"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
artifact="$work/artifact"
for attempt in 1 2 3 4 5; do
  if [[ "$source_uri" == s3://* ]]; then
    aws s3 cp --only-show-errors --region "$region" "$source_uri" "$artifact" && break
  else
    curl -fsSL --proto '=https' --retry 3 -o "$artifact" "$source_uri" && break
  fi
  echo "download of $source_uri failed (attempt $attempt)" >&2
  sleep $((attempt * 5))
done
test -s "$artifact"
if [[ "$sha256" != "-" ]]; then
  echo "$sha256  $artifact" | sha256sum -c -
fi
if [[ "$source_uri" == *.tar.gz || "$source_uri" == *.tgz ]]; then
  tar -xzf "$artifact" -C "$work"
  artifact="$(find "$work" -type f -name "$name" | head -n 1)"
  test -n "$artifact"
fi
install -m 0755 -o root -g root "$artifact" "$dest"
"$dest" --version || true
