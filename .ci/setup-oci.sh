#!/usr/bin/env bash
# Installs what the OCI push tests need on Debian 12 (as root): skopeo and
# crane, and helm when the distribution has it. Debian 12 ships no helm
# package, so the chart test pushes a Helm-chart-shaped OCI artifact (helm's
# config and chart-layer media types) with skopeo and reads it with crane.
# The conformance suite is built by the test itself from the Go module proxy
# (cached under $XDG_CACHE_HOME/nora-conformance). Idempotent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
	export PATH="/usr/local/go/bin:$PATH"
fi
PATH="$(go env GOPATH)/bin:$PATH"
export PATH

pkgs=(skopeo)
# helm, where the distribution packages it (not Debian 12).
if apt-cache policy helm 2>/dev/null | grep -q 'Candidate: [0-9]'; then
	pkgs+=(helm)
fi
apt_need "${pkgs[@]}"
if ! command -v crane >/dev/null; then
	go install github.com/google/go-containerregistry/cmd/crane@v0.22.1
fi
command -v skopeo >/dev/null
command -v crane >/dev/null
