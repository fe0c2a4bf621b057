#!/usr/bin/env bash
# Installs the clients whose README.md snippets the client tests run, on
# Debian 12 as root: podman (proxy/docker: pulls through a registries.conf
# mirror into a vfs store, no runtime needed), poetry (proxy/pypi; Debian's
# 1.3), and from the npm registry pnpm and yarn 2+ (proxy/npm; node and npm
# come from setup-npm.sh). Not installed, their snippets checked for shape
# only: helm (no Debian 12 package; `go install` of it takes over 15
# minutes), Gradle (Debian's 4.4 predates the Kotlin DSL and
# isAllowInsecureProtocol the README shows), uv and k3s (not reachable from
# CI). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib.sh

pnpm_version=12.24.0
yarn_version=4.18.1

pkgs=(podman python3-poetry)
apt_need "${pkgs[@]}"

if ! command -v npm >/dev/null; then
	bash .ci/setup-npm.sh
fi
npm_pkgs=()
[ "$(pnpm --version 2>/dev/null)" = "$pnpm_version" ] || npm_pkgs+=("pnpm@$pnpm_version")
[ "$(YARN_IGNORE_PATH=1 yarn --version 2>/dev/null)" = "$yarn_version" ] || npm_pkgs+=("@yarnpkg/cli-dist@$yarn_version")
if [ ${#npm_pkgs[@]} -gt 0 ]; then
	npm install -g --no-audit --no-fund --loglevel=error "${npm_pkgs[@]}"
fi

command -v podman >/dev/null
command -v poetry >/dev/null
[ "$(pnpm --version)" = "$pnpm_version" ]
[ "$(YARN_IGNORE_PATH=1 yarn --version)" = "$yarn_version" ]
