#!/bin/bash
# smoke.sh IMAGE.img.xz: boots the image's own kernel, initrd and root file
# system under qemu-system-aarch64 (virt machine, TCG: no KVM needed) and
# checks from the host, through user-mode networking:
#   - nora serves on the ports set by a nora.toml put on the boot
#     partition (so nora-bootconfig applied it): the site CA from its plain
#     port verifies https://localhost/v2/ on its TLS port;
#   - root can log in over SSH with a key put on the boot partition, nora
#     runs, and nora-growroot grew the root file system into the extra
#     space added to the disk.
# The Raspberry Pi firmware stage (bootcode, start*.elf, config.txt) is not
# exercised: qemu loads the kernel directly. That needs a real Pi.
# Bounded by $SMOKE_TIMEOUT seconds (default 900; TCG is slow).
set -euo pipefail
. "$(dirname "$0")/../../.ci/lib.sh"
img="$(realpath "$1")"
limit="${SMOKE_TIMEOUT:-900}"
for tool in qemu-system-aarch64 mcopy sfdisk ssh ssh-keygen curl xz; do
	command -v "$tool" >/dev/null || { echo "smoke.sh: $tool missing (apt-get install qemu-system-arm mtools fdisk openssh-client curl xz-utils)" >&2; exit 1; }
done

work="$(mktemp -d "${WORKDIR:-/var/tmp}/nora-smoke.XXXXXX")"
qemu_pid=""
cleanup() {
	[ -z "$qemu_pid" ] || kill "$qemu_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
start=$SECONDS
fail() {
	echo "FAIL $*" >&2
	tail -n 40 "$work/console.log" >&2 || true
	exit 1
}

xz -dc "$img" >"$work/disk.img"
truncate -s +1G "$work/disk.img" # room for nora-growroot
step "decompressed $(basename "$img")"

# The boot partition, by mtools at its byte offset: the kernel and initrd
# out, the user's files in.
boot_start="$(sfdisk -d "$work/disk.img" | awk -F'[=,]' '/^[^ ]*1 :/ { gsub(/ /, "", $2); print $2 }')"
fat="$work/disk.img@@$((boot_start * 512))"
kernel="$(mdir -b -i "$fat" :: | sed -n 's|^::/||p' | grep '^vmlinuz' | sort | tail -n 1)"
initrd="$(mdir -b -i "$fat" :: | sed -n 's|^::/||p' | grep '^initrd.img' | sort | tail -n 1)"
[ -n "$kernel" ] && [ -n "$initrd" ] || fail "no vmlinuz/initrd.img on the boot partition"
mcopy -i "$fat" "::$kernel" "$work/vmlinuz"
mcopy -i "$fat" "::$initrd" "$work/initrd.img"
ssh-keygen -q -t ed25519 -N '' -f "$work/id"
mcopy -i "$fat" "$work/id.pub" ::authorized_keys
printf '[server]\nlisten = "0.0.0.0:4443"\nlisten_plain = "0.0.0.0:4080"\n[server.tls]\nmode = "auto"\n[storage]\npath = "/var/lib/nora"\n' >"$work/nora.toml"
mcopy -i "$fat" "$work/nora.toml" ::nora.toml
step "boot partition: took $kernel and $initrd, put authorized_keys and nora.toml (HTTPS on :4443, plain on :4080)"

http_port="$(free_port)"
https_port="$(free_port)"
ssh_port="$(free_port)"
accel=tcg
qemu-system-aarch64 -machine virt -accel "$accel" -cpu cortex-a72 -smp 2 -m 1024 \
	-kernel "$work/vmlinuz" -initrd "$work/initrd.img" \
	-append "root=LABEL=RASPIROOT rw rootwait console=ttyAMA0 net.ifnames=0" \
	-drive "if=none,id=disk,format=raw,file=$work/disk.img" -device virtio-blk-pci,drive=disk \
	-netdev "user,id=net,hostfwd=tcp:127.0.0.1:$http_port-:4080,hostfwd=tcp:127.0.0.1:$https_port-:4443,hostfwd=tcp:127.0.0.1:$ssh_port-:22" \
	-device virtio-net-pci,netdev=net \
	-display none -monitor none -serial "file:$work/console.log" </dev/null &
qemu_pid=$!
boot=$SECONDS

deadline=$((SECONDS + limit))
code=""
until [ "$code" = 200 ]; do
	kill -0 "$qemu_pid" 2>/dev/null || fail "qemu exited"
	[ "$SECONDS" -lt "$deadline" ] || fail "nora did not answer within ${limit}s"
	sleep 2
	code="$(curl -s -o "$work/ca.crt" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$http_port/ca.crt")" || true
done
grep -q 'BEGIN CERTIFICATE' "$work/ca.crt" || fail "/ca.crt is not a PEM certificate"
step "booted under qemu-system-aarch64 ($accel) in $((SECONDS - boot))s: GET /ca.crt on the boot partition's plain port 4080: the site CA"
# The certificate is for localhost among others; the forwarded port does
# not matter to the name check.
code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$work/ca.crt" "https://localhost:$https_port/v2/")" ||
	fail "GET https://localhost/v2/ on port 4443 with the site CA: curl exit $?"
[ "$code" = 200 ] || fail "GET https://localhost/v2/ on port 4443: status $code"
rc=0
curl -s -o /dev/null --max-time 10 "https://localhost:$https_port/v2/" || rc=$?
[ "$rc" = 60 ] || fail "GET https://localhost/v2/ without the site CA: curl exit $rc, want 60 (certificate not trusted)"
step "https://localhost/v2/ on port 4443: 200 with the site CA, untrusted without"

ssh_opts=(-i "$work/id" -p "$ssh_port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=10 -o LogLevel=ERROR)
out=""
probe='systemctl is-active nora; stat -c %U /proc/$(systemctl show -p MainPID --value nora)
test -e /var/lib/nora-image/grown && echo grown || echo not-grown; df -m --output=size / | tail -n 1
timeout 300 systemctl is-system-running --wait; systemctl --failed --plain --no-legend | cut -d" " -f1 | xargs echo'
until out="$(ssh "${ssh_opts[@]}" root@127.0.0.1 "$probe" 2>"$work/ssh.err")"; do
	[ "$SECONDS" -lt "$deadline" ] || { cat "$work/ssh.err" >&2; fail "no SSH login with the boot partition's key"; }
	sleep 2
done
mapfile -t lines <<<"$out"
[ "${lines[0]}" = active ] || fail "nora.service: ${lines[0]}"
[ "${lines[1]}" = nora ] || fail "nora runs as ${lines[1]}"
[ "${lines[2]}" = grown ] || fail "nora-growroot did not run"
size_mb="${lines[3]// /}"
image_mb=$(( $(xz --robot -l "$img" | awk '$1 == "totals" { print $5 }') / 1048576 ))
[ "$size_mb" -gt "$image_mb" ] || fail "root file system is ${size_mb}MB, not grown beyond the ${image_mb}MB image"
step "ssh root@ with the boot partition's key: nora active as user nora, root grown to ${size_mb}MB (image ${image_mb}MB)"
[ "${lines[4]}" = running ] || fail "system ${lines[4]}, failed units: ${lines[5]}"
step "systemctl is-system-running: running (no failed units)"

ssh "${ssh_opts[@]}" root@127.0.0.1 poweroff || true
for _ in $(seq 60); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 1; done
echo "ok   smoke-image $(basename "$img") in $((SECONDS - start))s"
