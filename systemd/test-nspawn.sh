#!/bin/bash
# test-nspawn.sh DEB: boots a Debian rootfs of the package's architecture
# with systemd-nspawn, installs the package in it like an admin would
# (dpkg -i on the running system) and checks from the host:
#   - the service is active and answers /v2/ (host and container share
#     the network; a drop-in moves nora to a free port);
#   - it runs as user nora with no capabilities, no_new_privs and seccomp;
#   - reload keeps the process; an upgrade with a config the new binary
#     rejects does not restart it, a good one does; stop exits cleanly;
#   - the low-port drop-in lets it listen on a port below 1024.
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
free_port() { # FROM TO: a port nothing on the host listens on
	local p
	for p in $(shuf -i "$1-$2" -n 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
	return 1
}

"$root_dir/images/rootfs.sh" "$arch" "$suite" "$work/root" systemd,systemd-sysv,dbus
step "rootfs $suite $arch"
cp "$deb" "$work/root/root/nora.deb"
port="$(free_port 20000 30000)"
low_port="$(free_port 900 1000)"
dropins="$work/root/etc/systemd/system/nora.service.d"
mkdir -p "$dropins"
printf '[Service]\nEnvironment=NORA_SERVER_LISTEN=127.0.0.1:%s\n' "$port" >"$dropins/test-port.conf"
if [ "$arch" != "$(dpkg --print-architecture)" ]; then
	printf '# qemu-user cannot set up user (EINVAL) or IPC (EIO) namespaces\n[Service]\nPrivateUsers=no\nPrivateIPC=no\n' >"$dropins/qemu-user.conf"
	echo "note: foreign architecture $arch under qemu-user: PrivateUsers=no and PrivateIPC=no for this test only"
fi

# Without a host systemd (a CI container) there is no bus to register a
# scope on: stay in our own cgroup.
keep_unit=()
[ -d /run/systemd/system ] || keep_unit=(--keep-unit)
systemd-nspawn --boot --register=no "${keep_unit[@]}" --quiet \
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

code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$port/v2/")" || true
[ "$code" = 200 ] || fail "GET /v2/ from the host: status $code"
step "GET http://127.0.0.1:$port/v2/ from the host: 200"

main_pid() { in_ct systemctl show -p MainPID --value nora; }
pid="$(main_pid)"
status="$(in_ct cat "/proc/$pid/status")"
field() { awk -v k="$1:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' <<<"$status"; }
uid="$(in_ct id -u nora)"
[ "$(field Uid)" = "$uid $uid $uid $uid" ] || fail "Uid: $(field Uid), want nora ($uid)"
gid="$(in_ct id -g nora)"
[ "$(field Gid)" = "$gid $gid $gid $gid" ] || fail "Gid: $(field Gid)"
for c in CapInh CapPrm CapEff CapBnd CapAmb; do
	[ "$(field $c)" = 0000000000000000 ] || fail "$c: $(field $c), want none"
done
[ "$(field NoNewPrivs)" = 1 ] || fail "NoNewPrivs: $(field NoNewPrivs)"
[ "$(field Seccomp)" = 2 ] || fail "Seccomp: $(field Seccomp), want 2 (filter)"
step "pid $pid runs as nora ($uid), no capabilities, NoNewPrivs 1, Seccomp 2"

in_ct systemctl reload nora || fail "systemctl reload"
wait_for "nora to log the reload" bash -c "$(declare -f in_ct); leader=$leader; in_ct journalctl -u nora -o cat | grep -q '\"msg\":\"config reloaded\"'"
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
step "upgrade: bad config leaves pid $pid serving, good config restarts ($(main_pid))"

in_ct systemctl stop nora
result="$(in_ct systemctl show -p Result --value nora) $(in_ct systemctl show -p ExecMainStatus --value nora)"
[ "$result" = "success 0" ] || fail "stop: Result ExecMainStatus = $result, want success 0"
in_ct journalctl -u nora -o cat | grep -q '"msg":"stopped"' || fail "no clean stop in the journal"
step "systemctl stop: SIGTERM drained, exit 0"

in_ct cp /usr/share/doc/nora/examples/low-port.conf /etc/systemd/system/nora.service.d/
printf '[Service]\nEnvironment=NORA_SERVER_LISTEN=127.0.0.1:%s\n' "$low_port" | in_ct tee /etc/systemd/system/nora.service.d/test-port.conf >/dev/null
in_ct systemctl daemon-reload
in_ct systemctl start nora || fail "start with low-port.conf on port $low_port"
code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$low_port/v2/")" || true
[ "$code" = 200 ] || fail "GET /v2/ on port $low_port: status $code"
status="$(in_ct cat "/proc/$(main_pid)/status")"
[ "$(field CapEff)" = 0000000000000400 ] || fail "CapEff with low-port.conf: $(field CapEff), want cap_net_bind_service only"
step "low-port.conf: listens on $low_port with cap_net_bind_service only"

echo "ok   test-nspawn $(basename "$deb") in $((SECONDS - start))s"
