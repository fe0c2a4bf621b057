#!/usr/bin/env bash
# vulncheck.sh BINARY...: fails when govulncheck finds a known vulnerability
# in a release binary, standard library included (-mode binary reads the Go
# version and the modules the binary was built with).
#
# The Go vulnerability database is built here, offline, from the
# golang.org/x/vulndb module (its data/osv holds every report): the Go
# module proxy serves it, so no other network is needed. VULNDB_VERSION
# picks the snapshot: bump it to a newer pseudo-version of
# golang.org/x/vulndb before a release (`go list -m golang.org/x/vulndb@master`
# names the newest where the proxy resolves branch names).
set -euo pipefail
: "${VULNDB_VERSION:?set VULNDB_VERSION (the Makefile does)}"
db="${VULNDB:-dist/vulndb}"
govulncheck="${GOVULNCHECK:-go run golang.org/x/vuln/cmd/govulncheck@v1.9.0}"
indexdb="${INDEXDB:-go run golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION}"

if [ "$(cat "$db/VERSION" 2>/dev/null)" != "$VULNDB_VERSION" ]; then
	# Outside any module, so nora's go.mod and go.sum stay as they are.
	src="$(cd / && go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	[ -d "$src/data/osv" ] || { echo "vulncheck.sh: no data/osv in golang.org/x/vulndb@$VULNDB_VERSION" >&2; exit 1; }
	rm -rf "$db"
	$indexdb -vulns "$src/data/osv" -out "$db"
	echo "$VULNDB_VERSION" >"$db/VERSION"
fi
url="file://$(realpath "$db")"
for bin in "$@"; do
	echo "== govulncheck $bin (database $VULNDB_VERSION)"
	$govulncheck -db "$url" -mode binary "$bin"
done
