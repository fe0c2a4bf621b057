#!/bin/sh
# check-unit.sh BINARY: systemd-analyze verify of nora.service, alone and
# with the low-port drop-in the package installs (CAP_NET_BIND_SERVICE for
# 443 and 80), on a copy whose ExecStart is BINARY, failing on any message
# (verify exits 0 on unknown keys, it only warns); then the offline
# security review of both, failing above an exposure of $MAX_EXPOSURE (2.0).
# The drop-in must grant that one capability and nothing more.
set -eu
bin="$(realpath "$1")"
here="$(cd "$(dirname "$0")" && pwd)"
max="${MAX_EXPOSURE:-2.0}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/unit" "$tmp/dropin" "$tmp/man/man8"
sed "s|^ExecStart=/usr/bin/nora |ExecStart=$bin |" "$here/nora.service" >"$tmp/unit/nora.service"
grep -q "^ExecStart=$bin " "$tmp/unit/nora.service" || { echo "check-unit.sh: no ExecStart=/usr/bin/nora line" >&2; exit 1; }
cp "$tmp/unit/nora.service" "$tmp/dropin/"
mkdir "$tmp/dropin/nora.service.d"
cp "$here/low-port.conf" "$tmp/dropin/nora.service.d/"
caps="$(grep -E '^(AmbientCapabilities|CapabilityBoundingSet)=' "$here/low-port.conf" | sort | tr '\n' ' ')"
want="AmbientCapabilities=CAP_NET_BIND_SERVICE CapabilityBoundingSet=CAP_NET_BIND_SERVICE "
[ "$caps" = "$want" ] || { echo "FAIL low-port.conf grants: $caps; want: $want" >&2; exit 1; }
echo "ok   low-port.conf grants CAP_NET_BIND_SERVICE only"
# Documentation=man:nora(8) is checked with man(1): let it find the page.
cp "$here/nora.8" "$tmp/man/man8/"

for dir in unit dropin; do
	what="nora.service"
	[ "$dir" = unit ] || what="nora.service + low-port.conf"
	if ! MANPATH="$tmp/man" systemd-analyze verify "$tmp/$dir/nora.service" >"$tmp/out" 2>&1 || [ -s "$tmp/out" ]; then
		echo "FAIL systemd-analyze verify $what:" >&2
		cat "$tmp/out" >&2
		exit 1
	fi
	echo "ok   systemd-analyze verify $what"
done

threshold="$(echo "$max" | awk '{ printf "%d", $1 * 10 + 0.5 }')" # in tenths
for dir in unit dropin; do
	what="nora.service"
	[ "$dir" = unit ] || what="nora.service + low-port.conf (as packaged)"
	systemd-analyze security --offline=yes --no-pager "$tmp/$dir/nora.service" >"$tmp/out" 2>&1 || true
	score="$(sed -n 's/.*Overall exposure level for nora.service: \([0-9.]*\).*/\1/p' "$tmp/out")"
	if ! systemd-analyze security --offline=yes --threshold="$threshold" "$tmp/$dir/nora.service" >/dev/null 2>&1; then
		grep '✗' "$tmp/out" >&2 || true
		echo "FAIL systemd-analyze security $what: exposure $score > $max" >&2
		exit 1
	fi
	echo "ok   systemd-analyze security $what: exposure $score (limit $max)"
done
