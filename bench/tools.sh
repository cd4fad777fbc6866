#!/usr/bin/env bash
# Installs what `make bench` compares with or drives, if missing:
#  - rclone (transfer baseline) from Debian;
#  - oha (HTTP load generator, fixed rate + JSON output) from crates.io into
#    bench/.tools (cargo install --root; git-ignored);
#  - s3s-fs (S3-protocol server of the transfer scenario (d)) from crates.io,
#    the same way.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if ! command -v rclone >/dev/null 2>&1; then
  echo "bench/tools.sh: installing rclone (apt-get)" >&2
  if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq rclone >/dev/null
fi

OHA_VERSION="${OHA_VERSION:-1.16.0}"
if [[ ! -x "$here/.tools/bin/oha" ]] && ! command -v oha >/dev/null 2>&1; then
  echo "bench/tools.sh: installing oha $OHA_VERSION (cargo install --locked) into bench/.tools" >&2
  # Its own target dir: the workspace's is shared and would be locked.
  CARGO_TARGET_DIR="${TMPDIR:-/tmp}/ferry-bench-oha-build" \
    cargo install oha --version "$OHA_VERSION" --locked --root "$here/.tools"
  rm -rf "${TMPDIR:-/tmp}/ferry-bench-oha-build"
fi

# The S3-protocol server of the transfer benchmark's scenario (d). 0.14.1:
# newer releases need a newer rustc than this toolchain's.
S3S_FS_VERSION="${S3S_FS_VERSION:-0.14.1}"
if [[ ! -x "$here/.tools/bin/s3s-fs" ]] && ! command -v s3s-fs >/dev/null 2>&1; then
  echo "bench/tools.sh: installing s3s-fs $S3S_FS_VERSION (cargo install --locked) into bench/.tools" >&2
  CARGO_TARGET_DIR="${TMPDIR:-/tmp}/ferry-bench-s3s-build" \
    cargo install s3s-fs --version "$S3S_FS_VERSION" --locked --features binary --root "$here/.tools"
  rm -rf "${TMPDIR:-/tmp}/ferry-bench-s3s-build"
fi
