#!/bin/sh
# rootfs.sh ARCH SUITE DEST [PACKAGES]: a debootstrapped Debian tree in DEST
# (which must not exist), from a tarball cached in $CACHE_DIR
# (/var/cache/nora-ci), outside the clone, so repeated runs cost seconds.
# PACKAGES is debootstrap's --include list (comma separated). A cached
# tarball older than $MAX_AGE_DAYS (30) is rebuilt, to pick up updates.
# DEB_COMPONENTS: the archive components (main). Foreign architectures
# need qemu-user-static registered with binfmt_misc.
set -eu
arch="$1" suite="$2" dest="$3" pkgs="${4:-}"
cache="${CACHE_DIR:-/var/cache/nora-ci}"
here="$(cd "$(dirname "$0")" && pwd)"
mirror="$("$here/debian-mirror.sh")"
key="$(printf '%s\n' "$arch" "$suite" "$pkgs" "${DEB_COMPONENTS:-main}" | sha256sum | cut -c1-12)"
tarball="$cache/rootfs-$suite-$arch-$key.tar.gz"

mkdir -p "$cache"
find "$cache" -maxdepth 1 -name "rootfs-$suite-$arch-$key.tar.gz" -mtime +"${MAX_AGE_DAYS:-30}" -delete
if [ ! -s "$tarball" ]; then
	echo "rootfs.sh: debootstrap $suite $arch from $mirror (cached as $tarball)" >&2
	work="$(mktemp -d "$cache/.build.XXXXXX")"
	trap 'rm -rf "$work"' EXIT
	debootstrap --arch="$arch" --variant=minbase --components="${DEB_COMPONENTS:-main}" \
		${pkgs:+--include="$pkgs"} "$suite" "$work/root" "$mirror" >"$work/log" 2>&1 ||
		{ tail -n 30 "$work/log" >&2; cat "$work/root/debootstrap/debootstrap.log" 2>/dev/null | tail -n 30 >&2; exit 1; }
	rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*_Packages
	tar -C "$work/root" --numeric-owner --xattrs -czf "$work/rootfs.tar.gz" .
	mv "$work/rootfs.tar.gz" "$tarball"
fi
mkdir "$dest"
tar -C "$dest" --numeric-owner --xattrs -xzf "$tarball"
