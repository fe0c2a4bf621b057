#!/usr/bin/env bash
# Installs what proxy/npm's tests need on a Debian 12 machine (as root):
# node and npm (the real client), and verdaccio (the real upstream registry)
# into proxy/npm/testdata/verdaccio from its committed package-lock.json.
# Idempotent: a second run with nothing changed does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

dir=proxy/npm/testdata/verdaccio
stamp="$dir/node_modules/.nora-lock.sha256"
want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
if [ -x "$dir/node_modules/verdaccio/bin/verdaccio" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
	exit 0
fi
npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"
