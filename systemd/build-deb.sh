#!/bin/sh
# build-deb.sh OUTDIR GOARCH...: nora_<version>_<debarch>.deb for each of
# amd64, arm64 and arm (GOARM=7, Debian's armhf) from the binaries that
# `make cross` put in dist/ (dist/nora-linux-<goarch>).
# Environment: DEB_VERSION (default: deb-version.sh), DEB_MAINTAINER,
# NFPM (the nfpm command), SOURCE_DATE_EPOCH (default: the commit time).
set -eu
out="$1"
shift
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
: "${DEB_VERSION:=$("$here/deb-version.sh")}"
: "${DEB_MAINTAINER:=nora maintainers <maintainers@nora.invalid>}"
: "${NFPM:=go run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2}"
: "${SOURCE_DATE_EPOCH:=$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}"
export SOURCE_DATE_EPOCH
mkdir -p "$out"
out="$(cd "$out" && pwd)"

stage_common() {
	s="$1"
	cp "$here/nora.service" "$here/nora.sysusers" "$here/low-port.conf" \
		"$here/postinst" "$here/prerm" "$here/postrm" "$s/"
	cp "$here/lintian-overrides" "$s/lintian-overrides"
	# The embedded default with the packaged values; `nora config check`
	# below proves it still parses.
	"$here/packaged-config.sh" "$root/cmd/nora/default.toml" >"$s/nora.toml"
	gzip -9n <"$here/nora.8" >"$s/nora.8.gz"
	date="$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
	commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	cat >"$s/changelog" <<-END
	nora ($DEB_VERSION) stable; urgency=medium

	  * Built from commit $commit. The changes are in the project's history.

	 -- $DEB_MAINTAINER  $date
	END
	gzip -9n <"$s/changelog" >"$s/changelog.gz"
}

for goarch in "$@"; do
	case "$goarch" in
	amd64 | arm64) nfpm_arch="$goarch" ;;
	arm) nfpm_arch=arm7 ;;
	*) echo "build-deb.sh: unsupported GOARCH $goarch" >&2; exit 1 ;;
	esac
	bin="$root/dist/nora-linux-$goarch"
	[ -x "$bin" ] || { echo "build-deb.sh: $bin missing; run make cross" >&2; exit 1; }
	rm -f "$out"/nora_*_"$(echo "$nfpm_arch" | sed 's/arm7/armhf/')".deb # other versions
	s="$(mktemp -d)"
	stage_common "$s"
	cp "$bin" "$s/nora"
	host="$root/dist/nora-linux-$(go env GOARCH)"
	"$host" config check --config "$s/nora.toml" >/dev/null
	# Shell completions, made by the build machine's binary (the same
	# commands on every architecture).
	"$host" completion bash >"$s/nora.bash"
	"$host" completion zsh >"$s/_nora"
	"$host" completion fish >"$s/nora.fish"
	"$here/copyright.sh" "$bin" >"$s/copyright"
	# nfpm expands ${VAR} only in a few fields: fill them all in here.
	NFPM_ARCH="$nfpm_arch" DEB_VERSION="$DEB_VERSION" DEB_MAINTAINER="$DEB_MAINTAINER" \
		awk '{ while (match($0, /\$\{[A-Z_]+\}/)) { v = substr($0, RSTART + 2, RLENGTH - 3); $0 = substr($0, 1, RSTART - 1) ENVIRON[v] substr($0, RSTART + RLENGTH) } print }' \
		"$here/nfpm.yaml" >"$s/nfpm.yaml"
	(cd "$s" && $NFPM package --config nfpm.yaml --packager deb --target "$out/") >/dev/null
	rm -rf "$s"
done
ls "$out"/nora_"$DEB_VERSION"_*.deb
