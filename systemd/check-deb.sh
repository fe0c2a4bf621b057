#!/bin/sh
# check-deb.sh DEB...: each package holds the expected files (dpkg-deb -c,
# shell completions included),
# a binary for its architecture, /etc/nora/nora.toml as a conffile, and
# passes lintian --fail-on error,warning (overrides carry their reasons in
# lintian-overrides).
set -eu
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL $deb: $*" >&2; exit 1; }

for deb in "$@"; do
	arch="$(dpkg-deb -f "$deb" Architecture)"
	dpkg-deb -c "$deb" | awk '{ print $1, $2, $NF }' >"$tmp/contents"
	for want in \
		"-rwxr-xr-x root/root ./usr/bin/nora" \
		"-rw-r--r-- root/root ./lib/systemd/system/nora.service" \
		"-rw-r--r-- root/root ./usr/lib/sysusers.d/nora.conf" \
		"-rw-r--r-- root/root ./etc/nora/nora.toml" \
		"-rw-r--r-- root/root ./usr/share/man/man8/nora.8.gz" \
		"-rw-r--r-- root/root ./usr/share/doc/nora/copyright" \
		"-rw-r--r-- root/root ./usr/share/doc/nora/changelog.gz" \
		"-rw-r--r-- root/root ./lib/systemd/system/nora.service.d/low-port.conf" \
		"-rw-r--r-- root/root ./usr/share/bash-completion/completions/nora" \
		"-rw-r--r-- root/root ./usr/share/zsh/vendor-completions/_nora" \
		"-rw-r--r-- root/root ./usr/share/fish/vendor_completions.d/nora.fish" \
		"-rw-r--r-- root/root ./usr/share/lintian/overrides/nora"; do
		grep -qxF -- "$want" "$tmp/contents" || fail "missing: $want"
	done
	files="$(grep -vc '^d' "$tmp/contents")"
	[ "$files" -eq 12 ] || fail "$files files, want 12: $(grep -v '^d' "$tmp/contents" | awk '{print $3}' | tr '\n' ' ')"
	rm -rf "$tmp/x" "$tmp/c"
	dpkg-deb -x "$deb" "$tmp/x"
	dpkg-deb -e "$deb" "$tmp/c"
	grep -qx /etc/nora/nora.toml "$tmp/c/conffiles" || fail "/etc/nora/nora.toml is not a conffile"
	# ELF e_machine, bytes 18-19: 62 x86-64, 183 AArch64, 40 ARM.
	machine="$(od -An -tu2 -j18 -N2 "$tmp/x/usr/bin/nora" | tr -d ' ')"
	case "$arch:$machine" in
	amd64:62 | arm64:183 | armhf:40) ;;
	*) fail "Architecture $arch holds an ELF binary for machine $machine" ;;
	esac
	echo "ok   dpkg-deb -c $(basename "$deb"): 12 files, conffile, $arch binary"
	if ! lintian --fail-on error,warning --display-info "$deb" >"$tmp/lintian" 2>&1; then
		cat "$tmp/lintian" >&2
		fail "lintian"
	fi
	grep -v 'running with root privileges' "$tmp/lintian" || true
	echo "ok   lintian $(basename "$deb")"
done
