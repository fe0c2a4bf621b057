#!/usr/bin/env bash
# The appliance checks (Debian 12, as root, no Docker engine): installs the
# tools, makes sure qemu-user is registered with binfmt_misc, then runs each
# check and prints its time:
#   cross builds (linux/amd64, arm64, arm/v7); the arm64 and armv7 binaries
#   under qemu-user pulling an image through themselves; the three .debs
#   (dpkg-deb -c, lintian); systemd-analyze verify and security; nora's OCI
#   image; the release gate (govulncheck) and SBOMs; the package booted in
#   systemd-nspawn.
# The debootstrap rootfs is cached in /var/cache/nora-ci (CACHE_DIR=), so
# only the first run downloads it (about a minute). .ci/run installs crane
# and skopeo before it calls this script.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
	export PATH="/usr/local/go/bin:$PATH"
fi
PATH="$(go env GOPATH)/bin:$PATH"
export PATH

need=()
for pair in lintian:lintian qemu-aarch64-static:qemu-user-static update-binfmts:binfmt-support \
	debootstrap:debootstrap systemd-nspawn:systemd-container docker-registry:docker-registry \
	curl:curl skopeo:skopeo make:make; do
	command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
[ ${#need[@]} -eq 0 ] || apt_need "${need[@]}"
if ! command -v crane >/dev/null; then
	go install github.com/google/go-containerregistry/cmd/crane@v0.22.1
fi

# Foreign binaries run through binfmt_misc (with the F flag, also inside a
# chroot); the package registers them only if binfmt_misc was mounted.
if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
	mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
for q in qemu-aarch64 qemu-arm; do
	[ -e "/proc/sys/fs/binfmt_misc/$q" ] || update-binfmts --enable "$q"
done

# One version for every make below: others may commit meanwhile.
DEB_VERSION="$(systemd/deb-version.sh)"
export DEB_VERSION
timings=()
check() {
	local t=$SECONDS
	echo "== make $1"
	make --no-print-directory "$1"
	timings+=("$(printf '%-16s %4ds' "$1" $((SECONDS - t)))")
}
total=$SECONDS
check cross
check check-qemu-user
check check-deb
check check-unit
check check-oci
check check-release
check test-nspawn
echo "== appliance checks passed in $((SECONDS - total))s"
printf '   %s\n' "${timings[@]}"
