#!/usr/bin/env bash
# Runs the cargo-fuzz (libFuzzer) targets of the domain crate's upload
# parsers for SECONDS each (default 20): `make test` runs them briefly,
# `make fuzz` for longer (FUZZ_SECONDS). Prints executions per target and
# fails on the first crash (the input is left in fuzz/artifacts/<target>/;
# turn it into a regression test in crates/ferry-domain).
#
# Only a stable toolchain is needed: cargo-fuzz passes nightly-only flags
# (-Zsanitizer=address, SanitizerCoverage) to rustc, which stable accepts
# with RUSTC_BOOTSTRAP=1. cargo-fuzz itself is installed from crates.io into
# ./.tools on first use. The corpus grows in fuzz/corpus/<target>/ (not
# committed) from the committed seeds in fuzz/seeds/<target>/.
#
# Usage: bash fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION="0.13.2"
SECONDS_PER_TARGET="${1:-20}"
shift || true
TARGETS=("$@")
[ "${#TARGETS[@]}" -gt 0 ] || TARGETS=(assignment_csv manifest roster_csv)
TOOLS="$PWD/.tools"
export RUSTC_BOOTSTRAP=1

if ! "$TOOLS/bin/cargo-fuzz" --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  echo "fuzz/run.sh: installing cargo-fuzz $CARGO_FUZZ_VERSION into $TOOLS"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$TOOLS"
fi
FUZZ=("$TOOLS/bin/cargo-fuzz")

"${FUZZ[@]}" build --fuzz-dir fuzz

summary=()
for t in "${TARGETS[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  log="fuzz/artifacts/$t/last-run.log"
  echo "fuzz/run.sh: $t for ${SECONDS_PER_TARGET}s"
  status=0
  "${FUZZ[@]}" run --fuzz-dir fuzz "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=1024 \
    -max_len=8192 -print_final_stats=1 >"$log" 2>&1 || status=$?
  runs="$(grep -Eo '^Done [0-9]+ runs' "$log" | awk '{print $2}' | tail -n 1)"
  cov="$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 | awk '{print $2}')"
  corpus="$(find "fuzz/corpus/$t" -type f | wc -l)"
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$log" >&2
    echo "fuzz/run.sh: $t FAILED; the input is in fuzz/artifacts/$t/ (reproduce: RUSTC_BOOTSTRAP=1 .tools/bin/cargo-fuzz run --fuzz-dir fuzz $t <file>)" >&2
    exit 1
  fi
  summary+=("$(printf '%-15s %12s runs  %6s edges  %6s corpus files' "$t" "${runs:-?}" "${cov:-?}" "$corpus")")
done
echo "fuzz/run.sh: no crashes in ${SECONDS_PER_TARGET}s per target:"
printf '  %s\n' "${summary[@]}"
