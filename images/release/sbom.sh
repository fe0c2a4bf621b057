#!/usr/bin/env bash
# sbom.sh VERSION ARTIFACT...: writes a CycloneDX SBOM (JSON, made by syft)
# beside each release artifact and checks that it names what the artifact
# holds. By kind:
#   a binary          ARTIFACT.cdx.json: the Go modules and the Go version
#                     it was built with (from its build information);
#   a .deb            ARTIFACT.cdx.json: what the package installs (its
#                     binary's modules);
#   an OCI layout     ARTIFACT.<os>-<arch>[-<variant>].cdx.json, one per
#                     platform of PLATFORMS;
#   a root directory  (the Pi image's, before it is packed; SBOM_OUT names
#                     the file) the Debian packages of its dpkg database and
#                     nora's modules.
set -euo pipefail
version="$1"
shift
syft="${SYFT:-go run github.com/anchore/syft/cmd/syft@v1.57.2}"
platforms="${PLATFORMS:-linux/amd64 linux/arm64 linux/arm/v7}"
# No update check (no network but the module proxy); no per-file entries.
export SYFT_CHECK_FOR_APP_UPDATE=false SYFT_FILE_METADATA_SELECTION=none
here="$(cd "$(dirname "$0")" && pwd)"
fasthttp="$(cd "$here/../.." && go list -m -f '{{.Version}}' github.com/valyala/fasthttp)"

# check FILE [DEB_PACKAGE]: CycloneDX, names fasthttp at go.mod's version
# and the Go standard library, and DEB_PACKAGE when given.
check() {
	python3 - "$1" "$fasthttp" "${2:-}" <<'PY'
import json, sys
path, fasthttp, deb = sys.argv[1:]
d = json.load(open(path))
assert d.get("bomFormat") == "CycloneDX", f"{path}: not CycloneDX"
names = {(c.get("name"), c.get("version")) for c in d.get("components", [])}
assert ("github.com/valyala/fasthttp", fasthttp) in names, f"{path}: no fasthttp {fasthttp}"
assert any(n == "stdlib" for n, _ in names), f"{path}: no Go standard library"
assert not deb or any(n == deb for n, _ in names), f"{path}: no Debian package {deb}"
print(f"ok   {path}: {len(names)} components")
PY
}

scan() { # SOURCE OUT [SYFT ARGS...]
	local src="$1" out="$2"
	shift 2
	$syft scan "$src" --source-name nora --source-version "$version" -q -o "cyclonedx-json=$out" "$@"
}

for a in "$@"; do
	a="${a%/}"
	if [ -d "$a" ] && [ -f "$a/oci-layout" ]; then
		for p in $platforms; do
			out="$a.$(echo "$p" | tr / -).cdx.json"
			scan "oci-dir:$a" "$out" --platform "$p"
			check "$out"
		done
	elif [ -d "$a" ]; then
		out="${SBOM_OUT:?a root directory needs SBOM_OUT}"
		scan "dir:$a" "$out"
		check "$out" systemd
	elif [[ "$a" == *.deb ]]; then
		x="$(mktemp -d)"
		dpkg-deb -x "$a" "$x"
		scan "dir:$x" "$a.cdx.json"
		rm -rf "$x"
		check "$a.cdx.json"
	else
		scan "file:$a" "$a.cdx.json"
		check "$a.cdx.json"
	fi
done
