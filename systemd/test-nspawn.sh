#!/bin/bash
# test-nspawn.sh DEB: boots a Debian rootfs of the package's architecture
# with systemd-nspawn in its own network namespace, installs the package in
# it like an admin would (dpkg -i on the running system) and checks, with
# the host's curl run in the container's network namespace:
#   - the service is active with the packaged config: the site CA from
#     http://127.0.0.1/ca.crt (port 80) verifies https://localhost/v2/ and
#     the container's host name (.local too) on 443; without it curl
#     refuses the certificate; plain /v2/ is redirected to HTTPS, plain /
#     is the start page;
#   - it runs as user nora with CAP_NET_BIND_SERVICE only (the package's
#     low-port drop-in), no_new_privs and seccomp; the CA key is nora's only;
#   - reload keeps the process; an upgrade with a config the new binary
#     rejects does not restart it, a good one does, and keeps the CA; stop
#     exits cleanly;
#   - with the drop-in masked and ports above 1024, no capability at all.
# The rootfs comes from images/rootfs.sh (tarball cached in
# /var/cache/nora-ci). Everything is bounded by $NSPAWN_TIMEOUT seconds.
#
# Under qemu-user (an arm64 rootfs on an amd64 host) PrivateUsers= fails
# with EINVAL, so for a foreign architecture, and only in this test, a
# drop-in turns it off. CI boots the native (amd64) package.
set -euo pipefail
deb="$(realpath "$1")"
here="$(cd "$(dirname "$0")" && pwd)"
root_dir="$(dirname "$here")"
limit="${NSPAWN_TIMEOUT:-150}"
arch="$(dpkg-deb -f "$deb" Architecture)"
suite="${SUITE:-$(. /etc/os-release && echo "$VERSION_CODENAME")}"

for tool in systemd-nspawn debootstrap nsenter curl; do
	command -v "$tool" >/dev/null || { echo "test-nspawn.sh: $tool missing (apt-get install systemd-container debootstrap curl)" >&2; exit 1; }
done

work="$(mktemp -d /var/tmp/nora-nspawn.XXXXXX)"
nspawn_pid=""
leader=""
cleanup() {
	if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
		# nspawn halts the container on SIGTERM, stops at once on a second.
		kill -TERM "$nspawn_pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
		kill -TERM "$nspawn_pid" 2>/dev/null || true
		for _ in $(seq 25); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
		# Killing the container's init ends its whole PID namespace.
		[ -z "$leader" ] || kill -KILL "$leader" 2>/dev/null || true
		kill -KILL "$nspawn_pid" 2>/dev/null || true
		wait "$nspawn_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
start=$SECONDS
deadline=$((SECONDS + limit))
step() { printf 'ok   %s (%ds)\n' "$*" $((SECONDS - start)); }

in_ct() { nsenter -t "$leader" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
# The host's curl (the rootfs has none) in the container's network.
in_net() { nsenter -t "$leader" -n curl -s --max-time 10 "$@"; }
# fail reports on fd 3, the script's stderr, even when called from a check
# whose output wait_for discards.
exec 3>&2
fail() {
	echo "FAIL $*" >&3
	if [ -n "${leader:-}" ]; then
		in_ct journalctl -u nora --no-pager -n 40 >&3 2>&1 || true
	else
		echo "-- systemd-nspawn's output:" >&3
		tail -n 30 "$work/console" >&3 || true
	fi
	exit 1
}
# wait_for DESCRIPTION COMMAND...: retries until it succeeds or time runs
# out; gives up at once if systemd-nspawn exited (it cannot run here).
wait_for() {
	local what="$1"
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || fail "timed out waiting for $what"
		if [ -n "$nspawn_pid" ] && ! kill -0 "$nspawn_pid" 2>/dev/null; then
			leader=""
			fail "systemd-nspawn exited while waiting for $what"
		fi
		sleep 0.5
	done
}

"$root_dir/images/rootfs.sh" "$arch" "$suite" "$work/root" systemd,systemd-sysv,dbus
step "rootfs $suite $arch"
cp "$deb" "$work/root/root/nora.deb"
dropins="$work/root/etc/systemd/system/nora.service.d"
mkdir -p "$dropins"
if [ "$arch" != "$(dpkg --print-architecture)" ]; then
	printf '# qemu-user cannot set up user (EINVAL) or IPC (EIO) namespaces\n[Service]\nPrivateUsers=no\nPrivateIPC=no\n' >"$dropins/qemu-user.conf"
	echo "note: foreign architecture $arch under qemu-user: PrivateUsers=no and PrivateIPC=no for this test only"
fi

# Without a host systemd (a CI container) there is no bus to register a
# scope on: stay in our own cgroup.
keep_unit=()
[ -d /run/systemd/system ] || keep_unit=(--keep-unit)
# --private-network: ports 443 and 80 are the container's own.
systemd-nspawn --boot --register=no "${keep_unit[@]}" --quiet --private-network \
	--directory="$work/root" --machine="nora-test-$$" --console=pipe \
	>"$work/console" 2>&1 </dev/null &
nspawn_pid=$!
# The container's init: the child of nspawn in another PID namespace (an
# intermediate child that sets the namespaces up comes and goes first).
leader_of() {
	local p
	for p in $(ps -o pid= --ppid "$nspawn_pid"); do
		if [ "$(readlink "/proc/$p/ns/pid")" != "$(readlink /proc/self/ns/pid)" ]; then
			leader="$p"
			return 0
		fi
	done
	return 1
}
wait_for "the container's init" leader_of
booted() { # running, or degraded (some unit failed: the checks below tell)
	local state
	# The leader found may have been the intermediate child, gone since:
	# look again for the init that stays.
	[ -d "/proc/$leader" ] || leader_of || return 1
	state="$(in_ct systemctl is-system-running)" || true
	[ "$state" = running ] || [ "$state" = degraded ]
}
wait_for "the container to boot" booted
step "booted with systemd-nspawn --boot --register=no (init pid $leader)"

in_ct dpkg -i /root/nora.deb >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i"; }
[ "$(in_ct systemctl is-enabled nora)" = enabled ] || fail "nora.service not enabled after install"
active() { # active, failing fast on a restart loop
	[ "$(in_ct systemctl show -p NRestarts --value nora)" -lt 2 ] || fail "nora.service keeps failing"
	in_ct systemctl is-active --quiet nora
}
wait_for "nora.service to be active" active
step "dpkg -i: nora.service enabled and active"

in_net -f -o "$work/ca.crt" http://127.0.0.1/ca.crt || fail "GET http://127.0.0.1/ca.crt: curl exit $?"
grep -q 'BEGIN CERTIFICATE' "$work/ca.crt" || fail "/ca.crt is not a PEM certificate: $(head -c 200 "$work/ca.crt")"
step "GET http://127.0.0.1/ca.crt (port 80): the site CA"
host="$(in_ct cat /proc/sys/kernel/hostname)"
for name in localhost "$host" "$host.local"; do
	code="$(in_net --cacert "$work/ca.crt" --resolve "$name:443:127.0.0.1" -o /dev/null -w '%{http_code}' "https://$name/v2/")" ||
		fail "GET https://$name/v2/ with the site CA: curl exit $?"
	[ "$code" = 200 ] || fail "GET https://$name/v2/: status $code"
done
rc=0
in_net -o /dev/null https://localhost/v2/ || rc=$?
[ "$rc" = 60 ] || fail "GET https://localhost/v2/ without the site CA: curl exit $rc, want 60 (certificate not trusted)"
redirect="$(in_net -o /dev/null -w '%{http_code} %{redirect_url}' http://127.0.0.1/v2/)" || true
case "$redirect" in
3??\ https://127.0.0.1/v2/) ;;
*) fail "GET http://127.0.0.1/v2/: $redirect, want a redirect to https://127.0.0.1/v2/" ;;
esac
page="$(in_net -o /dev/null -w '%{http_code} %{content_type}' http://127.0.0.1/)" || true
case "$page" in
"200 text/html"*) ;;
*) fail "GET http://127.0.0.1/ (the start page): $page, want 200 text/html" ;;
esac
step "https://{localhost,$host,$host.local}/v2/ on 443: 200 with the CA, untrusted without; plain /v2/: $redirect; plain /: the start page"

main_pid() { in_ct systemctl show -p MainPID --value nora; }
# journal_has TEXT [MATCH]: nora's journal (or MATCH's, such as _PID=N)
# holds TEXT. journald may store a line a moment after nora wrote it, so
# callers wait_for it.
journal_has() { in_ct journalctl "${2:--unora}" -o cat | grep -qF "$1"; }
pid="$(main_pid)"
status="$(in_ct cat "/proc/$pid/status")"
field() { awk -v k="$1:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' <<<"$status"; }
uid="$(in_ct id -u nora)"
[ "$(field Uid)" = "$uid $uid $uid $uid" ] || fail "Uid: $(field Uid), want nora ($uid)"
gid="$(in_ct id -g nora)"
[ "$(field Gid)" = "$gid $gid $gid $gid" ] || fail "Gid: $(field Gid)"
# Bit 10: CAP_NET_BIND_SERVICE.
for c in CapInh CapPrm CapEff CapBnd CapAmb; do
	[ "$(field $c)" = 0000000000000400 ] || fail "$c: $(field $c), want cap_net_bind_service only"
done
[ "$(field NoNewPrivs)" = 1 ] || fail "NoNewPrivs: $(field NoNewPrivs)"
[ "$(field Seccomp)" = 2 ] || fail "Seccomp: $(field Seccomp), want 2 (filter)"
keys="$(in_ct find /var/lib/nora/tls -name '*key*' -printf '%u:%g %m %f\n')"
[ -n "$keys" ] || fail "no key in /var/lib/nora/tls: $(in_ct ls -l /var/lib/nora/tls)"
while read -r owner mode file; do
	[ "$owner $mode" = "nora:nora 600" ] || fail "/var/lib/nora/tls/$file is $owner $mode, want nora:nora 600"
done <<<"$keys"
step "pid $pid runs as nora ($uid) with cap_net_bind_service only, NoNewPrivs 1, Seccomp 2; keys in /var/lib/nora/tls 0600"

in_ct systemctl reload nora || fail "systemctl reload"
wait_for "nora to log the reload" journal_has '"msg":"config reloaded"'
[ "$(main_pid)" = "$pid" ] || fail "reload replaced the process"
step "systemctl reload: same process, reloaded"

conf=/etc/nora/nora.toml
[ "$(in_ct stat -c '%U:%G %a' "$conf")" = "root:nora 640" ] || fail "$conf is $(in_ct stat -c '%U:%G %a' "$conf"), want root:nora 640"
in_ct cp "$conf" /root/nora.toml.good
echo 'bogus = 1' | in_ct tee -a "$conf" >/dev/null
in_ct dpkg -i /root/nora.deb >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i (upgrade)"; }
grep -q 'not restarted' "$work/dpkg.log" || { cat "$work/dpkg.log" >&2; fail "postinst did not report the rejected config"; }
[ "$(main_pid)" = "$pid" ] || fail "upgrade restarted nora despite a config it rejects"
in_ct cp /root/nora.toml.good "$conf"
in_ct dpkg -i /root/nora.deb >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i (upgrade)"; }
wait_for "nora.service to be active after the upgrade" in_ct systemctl is-active --quiet nora
[ "$(main_pid)" != "$pid" ] || fail "upgrade with a valid config did not restart nora"
in_net -f -o "$work/ca2.crt" http://127.0.0.1/ca.crt || fail "GET /ca.crt after the restart: curl exit $?"
cmp -s "$work/ca.crt" "$work/ca2.crt" || fail "the restart made a new site CA"
step "upgrade: bad config leaves pid $pid serving, good config restarts ($(main_pid)) with the same CA"

pid="$(main_pid)"
in_ct systemctl stop nora
result="$(in_ct systemctl show -p Result --value nora) $(in_ct systemctl show -p ExecMainStatus --value nora)"
[ "$result" = "success 0" ] || fail "stop: Result ExecMainStatus = $result, want success 0"
wait_for "a clean stop of pid $pid in the journal" journal_has '"msg":"stopped"' "_PID=$pid"
step "systemctl stop: SIGTERM drained, exit 0"

# The way nora(8) gives to run without the capability: the drop-in masked,
# ports above 1024.
in_ct ln -s /dev/null /etc/systemd/system/nora.service.d/low-port.conf
printf '[Service]\nEnvironment=NORA_SERVER_LISTEN=127.0.0.1:4443 NORA_SERVER_LISTEN_PLAIN=127.0.0.1:4080\n' |
	in_ct tee /etc/systemd/system/nora.service.d/high-port.conf >/dev/null
in_ct systemctl daemon-reload
in_ct systemctl start nora || fail "start with low-port.conf masked on ports 4443 and 4080"
code="$(in_net --cacert "$work/ca.crt" -o /dev/null -w '%{http_code}' https://localhost:4443/v2/)" || true
[ "$code" = 200 ] || fail "GET https://localhost:4443/v2/: status $code"
status="$(in_ct cat "/proc/$(main_pid)/status")"
for c in CapInh CapPrm CapEff CapBnd CapAmb; do
	[ "$(field $c)" = 0000000000000000 ] || fail "$c with low-port.conf masked: $(field $c), want none"
done
step "low-port.conf masked: HTTPS on 4443 with no capabilities"

echo "ok   test-nspawn $(basename "$deb") in $((SECONDS - start))s"
