#!/usr/bin/env bash
# Installs what the cargo tests (proxy/cargo) need on a fresh Debian 12:
# a cargo that speaks the sparse index protocol and packages a workspace
# offline (`cargo package --workspace`, cargo >= 1.90). Debian 12's own
# "cargo" (0.66) is too old; "cargo-web" (bookworm and bookworm-security)
# is a current one. A newer cargo already on PATH (rustup) is kept.
set -euo pipefail

min_minor=90

cargo_ok() {
	local v
	v=$(cargo --version 2>/dev/null | awk '{print $2}') || return 1
	[[ $v =~ ^1\.([0-9]+)\. ]] && ((BASH_REMATCH[1] >= min_minor))
}

if cargo_ok; then
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends cargo-web rustc-web gcc libc6-dev >/dev/null
hash -r
if ! cargo_ok; then
	echo "setup-cargo: need cargo >= 1.$min_minor, have: $(cargo --version 2>&1 || true)" >&2
	exit 1
fi
