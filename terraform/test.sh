#!/usr/bin/env bash
# Offline validation of everything under terraform/.
#
#   1. terraform fmt -check -recursive
#   2. for every module and example: terraform init -backend=false, validate, test
#      (providers come only from the unpacked mirror /opt/tf-plugins via .terraformrc-offline;
#      `terraform test` uses mock_provider "aws", so no credentials and no AWS calls)
#   3. checkov --framework terraform over terraform/ (must pass; skips are justified inline)
#   4. python-hcl2 parse of every .tf / .tftest.hcl file (the only syntax check where terraform
#      is missing), and a check that the README Inputs/Outputs tables match variables/outputs
#   5. the metrics the collectors publish to CloudWatch (modules/collectors/cloudwatch-metrics.json)
#      are counters collector/src/metrics.rs exports, with those labels, listed in the README; both
#      collector.toml templates (cluster, single node) load as collector/src/config.rs's Config
#   6. every versions.tf bounds the AWS provider above (">= 5.60, < 7"), the example README names
#      every named query and table, and every repository file a comment or README under
#      terraform/ and deploy/packaging/ cites exists
#
# Steps 1-2 are skipped, with a plain message, where terraform or the provider mirror is absent.
# checkov and python-hcl2 live in their own virtualenvs (both ship a package named hcl2) under
# ${XDG_CACHE_HOME:-$HOME/.cache}/mirrorlake/ and are installed from PyPI on first use only.
#
# Exit status: 0 when every step that could run passed, 1 otherwise.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

started=$(date +%s)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/mirrorlake"
plugin_mirror="/opt/tf-plugins"
passed=0
failed=0
failures=()

step() { printf '\n==> %s\n' "$*"; }
ok() {
  passed=$((passed + 1))
  printf 'ok: %s\n' "$*"
}
fail() {
  failed=$((failed + 1))
  failures+=("$*")
  printf 'FAILED: %s\n' "$*"
}

# Root modules to check: every directory under modules/ and examples/ holding .tf files.
mapfile -t tf_dirs < <(find modules examples -mindepth 1 -maxdepth 1 -type d | sort | while read -r d; do
  compgen -G "$d/*.tf" >/dev/null && echo "$d"
done)

ensure_venv() { # ensure_venv DIR PACKAGE CHECK-COMMAND...: (re)create DIR with PACKAGE unless CHECK passes
  local venv="$1" package="$2"
  shift 2
  if "$@" >/dev/null 2>&1; then
    return 0
  fi
  echo "installing $package into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" || return 1
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$package" || return 1
  "$@" >/dev/null 2>&1
}

################################################################################
# 1 + 2. Terraform
################################################################################

# Offline CLI configuration for every terraform call (also silences the missing ~/.terraformrc warning).
export TF_CLI_CONFIG_FILE="$here/.terraformrc-offline"
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0

if command -v terraform >/dev/null 2>&1; then
  step "terraform fmt -check -recursive"
  if terraform fmt -check -recursive -diff -no-color .; then ok "terraform fmt"; else fail "terraform fmt (run: terraform fmt -recursive terraform/)"; fi
else
  echo "SKIPPED: terraform fmt -check (terraform binary not present)"
fi

if command -v terraform >/dev/null 2>&1 && [ -d "$plugin_mirror/registry.terraform.io/hashicorp/aws" ]; then
  terraform version -no-color | sed -n 1p
  ls "$plugin_mirror/registry.terraform.io/hashicorp/aws" | sed 's/^/provider mirror: hashicorp\/aws /'
  for d in "${tf_dirs[@]}"; do
    step "$d: terraform init -backend=false, validate, test"
    log="$(mktemp)"
    if (cd "$d" && terraform init -backend=false -input=false -no-color >"$log" 2>&1); then
      ok "$d: init"
    else
      cat "$log"
      fail "$d: init"
      rm -f "$log"
      continue
    fi
    rm -f "$log"
    if (cd "$d" && terraform validate -no-color); then ok "$d: validate"; else fail "$d: validate"; fi
    if compgen -G "$d/tests/*.tftest.hcl" >/dev/null; then
      if (cd "$d" && terraform test -no-color); then ok "$d: test"; else fail "$d: test"; fi
    else
      fail "$d: no tests/*.tftest.hcl"
    fi
  done
else
  echo
  echo "SKIPPED: terraform validate/test (terraform binary or /opt/tf-plugins provider mirror not present)"
fi

################################################################################
# 3. checkov
################################################################################

step "checkov --framework terraform"
checkov_venv="$cache/venv-checkov"
if ensure_venv "$checkov_venv" checkov "$checkov_venv/bin/checkov" --version; then
  "$checkov_venv/bin/checkov" --version
  # --skip-download: no policy metadata or guidelines from the network; everything runs locally.
  # checkov skips a file it cannot parse (HCL it does not know, such as 1e6) and still passes:
  # a parsing error is a failure here, or that file's resources go unchecked.
  checkov_out="$(mktemp)"
  if "$checkov_venv/bin/checkov" --directory . --framework terraform --quiet --compact \
    --skip-download --skip-path '\.terraform' --skip-path 'tests/fixtures' | tee "$checkov_out"; then
    if grep -q "Parsing errors" "$checkov_out"; then
      fail "checkov: a file could not be parsed (run checkov without --quiet to see which)"
    else
      ok "checkov"
    fi
  else
    fail "checkov"
  fi
  rm -f "$checkov_out"
else
  fail "checkov: installation into $checkov_venv failed"
fi

################################################################################
# 4. python-hcl2 parse
################################################################################

step "python-hcl2 parse"
hcl2_venv="$cache/venv-hcl2"
if ensure_venv "$hcl2_venv" python-hcl2 "$hcl2_venv/bin/python" -c 'import hcl2'; then
  if find . -path '*/.terraform' -prune -o \( -name '*.tf' -o -name '*.tftest.hcl' \) -type f -print0 |
    sort -z | xargs -0 "$hcl2_venv/bin/python" -c '
import sys, hcl2
bad = 0
for path in sys.argv[1:]:
    try:
        with open(path) as f:
            hcl2.load(f)
    except Exception as e:  # report every file, then fail
        bad += 1
        print(f"{path}: {type(e).__name__}: {e}")
print(f"parsed {len(sys.argv) - 1} files, {bad} failed")
sys.exit(1 if bad else 0)
'; then
    ok "python-hcl2 parse"
  else
    fail "python-hcl2 parse"
  fi
  step "README Inputs/Outputs tables up to date (scripts/readme_tables.py --check)"
  if "$hcl2_venv/bin/python" scripts/readme_tables.py --check "${tf_dirs[@]}"; then
    ok "README tables"
  else
    fail "README tables (run: $hcl2_venv/bin/python terraform/scripts/readme_tables.py ${tf_dirs[*]})"
  fi
else
  fail "python-hcl2: installation into $hcl2_venv failed"
fi

################################################################################
# 5. CloudWatch metric names (stdlib only)
################################################################################

step "CloudWatch metrics of the collectors are exported by the collector (scripts/check_cloudwatch_metrics.py)"
if python3 scripts/check_cloudwatch_metrics.py; then
  ok "CloudWatch metric names"
else
  fail "CloudWatch metric names (modules/collectors/cloudwatch-metrics.json vs collector/src/metrics.rs and README.md)"
fi

step "collector.toml templates are valid collector configs (scripts/check_collector_templates.py)"
if python3 scripts/check_collector_templates.py; then
  ok "collector templates"
else
  fail "collector templates (modules/collectors/templates/*.toml.tftpl vs collector/src/config.rs)"
fi

################################################################################
# 6. Provider bounds and cited paths (stdlib only)
################################################################################

step "AWS provider bounded above in every versions.tf (scripts/check_provider_versions.py)"
if python3 scripts/check_provider_versions.py; then
  ok "provider version bounds"
else
  fail "provider version bounds (set version = \">= 5.60, < 7\")"
fi

step "examples/complete/README.md names every named query and table (scripts/check_example_readme.py)"
if python3 scripts/check_example_readme.py; then
  ok "example README lists"
else
  fail "example README lists (the Saved queries or the tables it names differ from modules/lake)"
fi

step "files cited by comments exist (scripts/check_comment_paths.py)"
if python3 scripts/check_comment_paths.py; then
  ok "cited paths"
else
  fail "cited paths (a comment names a file that does not exist)"
fi

################################################################################
# Summary
################################################################################

elapsed=$(($(date +%s) - started))
echo
if [ "$failed" -gt 0 ]; then
  printf 'failed step: %s\n' "${failures[@]}"
fi
echo "runtime: ${elapsed}s"
echo "terraform/test.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
