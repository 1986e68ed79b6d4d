#!/usr/bin/env bash
# Installs Debian packages with apt, for the scripts that find a tool missing
# on a fresh machine: `scripts/apt-install.sh PACKAGE...` (nothing to do
# without arguments). Uses sudo when not root.
set -euo pipefail
[ $# -gt 0 ] || exit 0
echo "== installing $* (apt)" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@"
