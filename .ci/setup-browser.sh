#!/usr/bin/env bash
# Installs the browser the web UI test drives headless from Go (chromedp):
# Debian's chromium, with fonts so screenshots show text. Idempotent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

apt_need chromium fonts-dejavu-core
command -v chromium >/dev/null
