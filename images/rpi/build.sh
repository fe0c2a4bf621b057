#!/bin/bash
# build.sh NORA_ARM64_DEB OUTPUT.img.xz: a flashable Raspberry Pi 3/4 image
# (arm64) running nora, built without loop devices, device-mapper or
# mounts: the root file system is a directory made by debootstrap (arm64
# programs run through qemu-user's binfmt_misc entry), the boot partition
# is filled with mtools, the root partition made by `mkfs.ext4 -d`, and
# both are written into an MBR disk image laid out by sfdisk.
#
# The image: Debian ($SUITE, default trixie) with Debian's arm64 kernel and
# raspi-firmware, nora's .deb, systemd-networkd (DHCP on Ethernet) and
# systemd-resolved (answers as nora.local), timesyncd, sshd for key logins
# only, root locked. At boot, nora-bootconfig applies authorized_keys,
# nora.toml and htpasswd from the boot partition; on the first boot
# nora-growroot grows the root partition to the card's size.
# See images/rpi/README.md. Packages come from this machine's Debian mirror
# (images/debian-mirror.sh); the base tree is cached in /var/cache/nora-ci.
set -euo pipefail
. "$(dirname "$0")/../../.ci/lib.sh"
deb="$(realpath "$1")"
out="$2"
here="$(cd "$(dirname "$0")" && pwd)"
images="$(dirname "$here")"
suite="${SUITE:-trixie}"
boot_mib=256
packages=systemd,systemd-sysv,systemd-timesyncd,systemd-resolved,udev,dbus,kmod,linux-image-arm64,raspi-firmware,openssh-server,ca-certificates,fdisk,e2fsprogs,dosfstools,iproute2,netbase,procps,nano,curl

for tool in debootstrap mkfs.vfat mcopy mkfs.ext4 sfdisk xz; do
	command -v "$tool" >/dev/null || { echo "build.sh: $tool missing (apt-get install debootstrap dosfstools mtools e2fsprogs fdisk xz-utils)" >&2; exit 1; }
done
if ! grep -q '^flags:.*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
	echo "build.sh: arm64 programs cannot run here: install qemu-user-static and binfmt-support," >&2
	echo "  mount binfmt_misc (mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc)," >&2
	echo "  then: update-binfmts --enable qemu-aarch64" >&2
	exit 1
fi
[ "$(dpkg-deb -f "$deb" Architecture)" = arm64 ] || { echo "build.sh: $deb is not an arm64 package" >&2; exit 1; }

work="$(mktemp -d "${WORKDIR:-/var/tmp}/nora-rpi.XXXXXX")"
trap 'rm -rf "$work"' EXIT
R="$work/root"
start=$SECONDS
in_root() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

DEB_COMPONENTS=main,non-free-firmware "$images/rootfs.sh" arm64 "$suite" "$R" "$packages"
step "debootstrap $suite arm64 (cached base in ${CACHE_DIR:-/var/cache/nora-ci})"

# System settings and the image's own units and scripts.
echo nora >"$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tnora\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$R/etc/hosts"
cat >"$R/etc/fstab" <<'EOF'
LABEL=RASPIROOT  /              ext4  rw,errors=remount-ro          0 1
LABEL=RASPIFIRM  /boot/firmware vfat  rw,umask=0077,nofail          0 2
EOF
cp -r "$here/files/." "$R/"
chmod 0755 "$R/usr/local/sbin/nora-growroot" "$R/usr/local/sbin/nora-bootconfig"
mirror="$("$images/debian-mirror.sh")"
security="$("$images/debian-mirror.sh" security 2>/dev/null || true)"
{
	printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main non-free-firmware\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" "$suite" "$suite"
	[ -z "$security" ] || printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main non-free-firmware\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$security" "$suite"
} >"$R/etc/apt/sources.list.d/debian.sources"
rm -f "$R/etc/apt/sources.list"
ln -sf ../run/systemd/resolve/stub-resolv.conf "$R/etc/resolv.conf"

# nora: the same package users install; its postinst creates the user and
# enables the service (nothing starts in a chroot).
cp "$deb" "$R/tmp/nora.deb"
in_root dpkg -i /tmp/nora.deb >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; exit 1; }
rm "$R/tmp/nora.deb"
systemctl --root="$R" enable --quiet systemd-networkd systemd-resolved systemd-timesyncd ssh \
	nora-growroot nora-bootconfig nora
in_root passwd --quiet --lock root
step "configured: nora $(dpkg-deb -f "$deb" Version), networkd, resolved (nora.local), sshd keys only, root locked"

# The Pi firmware boots what raspi-firmware's kernel hook put in
# /boot/firmware during debootstrap. Point its kernel command line at the
# root's label with a serial console as well as HDMI, and tell the hook the
# same for the kernel upgrades to come.
kver="$(basename "$(ls -d "$R"/lib/modules/* | sort -V | tail -n 1)")"
cat >>"$R/etc/default/raspi-firmware" <<'EOF'

# nora image: root by label, serial console (GPIO 14/15) and HDMI.
ROOTPART="LABEL=RASPIROOT"
CONSOLES="ttyS1,115200 tty0"
EOF
sed -i -e 's|root=[^ ]*|root=LABEL=RASPIROOT|' -e 's|console=[^ ]* *||g' \
	-e 's|^|console=ttyS1,115200 console=tty0 |' "$R/boot/firmware/cmdline.txt"
for f in config.txt cmdline.txt start4.elf fixup4.dat bootcode.bin start.elf fixup.dat \
	bcm2711-rpi-4-b.dtb bcm2837-rpi-3-b.dtb bcm2837-rpi-3-b-plus.dtb "vmlinuz-$kver" "initrd.img-$kver"; do
	[ -e "$R/boot/firmware/$f" ] || { echo "build.sh: /boot/firmware/$f missing" >&2; ls "$R/boot/firmware" >&2; exit 1; }
done
grep -q "^kernel=vmlinuz-$kver" "$R/boot/firmware/config.txt" || { echo "build.sh: config.txt does not boot $kver" >&2; exit 1; }
cmp -s "$R/boot/initrd.img-$kver" "$R/boot/firmware/initrd.img-$kver" || cp "$R/boot/initrd.img-$kver" "$R/boot/firmware/"
rm -f "$R"/boot/*.dpkg-bak
step "boot files for kernel $kver: $(cat "$R/boot/firmware/cmdline.txt")"

# Nothing that must differ between boxes: SSH host keys are made on the
# first boot (nora-bootconfig), the machine id by systemd.
rm -f "$R"/etc/ssh/ssh_host_*
: >"$R/etc/machine-id"
rm -f "$R/var/lib/dbus/machine-id"
rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin "$R"/var/cache/apt/archives/*.deb "$R"/tmp/* "$R"/var/tmp/*
find "$R/var/log" -type f -delete

# Partitions as files, then the disk. The volume id and UUID are fixed by
# SOURCE_DATE_EPOCH, so a rebuild of one commit gives the same layout.
epoch="${SOURCE_DATE_EPOCH:-$(date +%s)}"
mkfs.vfat -F 32 -n RASPIFIRM -i "$(printf '%08x' $((epoch & 0xffffffff)))" -C "$work/boot.img" $((boot_mib * 1024)) >/dev/null
mcopy -i "$work/boot.img" -s -p -m -Q "$R"/boot/firmware/* ::
rm -rf "${R:?}"/boot/firmware/*
used_mib=$(du -sm "$R" | cut -f1)
root_mib=$(((used_mib * 5 / 4 + 300 + 3) / 4 * 4)) # a quarter and 300 MiB free, 4 MiB multiple
truncate -s "${root_mib}M" "$work/root.img"
# The image's SBOM: the Debian packages of its dpkg database and nora's
# modules, beside the image (images/release/sbom.sh).
SBOM_OUT="$out.cdx.json" "$images/release/sbom.sh" "$(dpkg-deb -f "$deb" Version)" "$R"
mkfs.ext4 -q -F -L RASPIROOT -d "$R" "$work/root.img"
step "partitions: boot ${boot_mib} MiB FAT32 (mtools), root ${root_mib} MiB ext4 (mkfs.ext4 -d, ${used_mib} MiB used)"

disk="$work/disk.img"
truncate -s $((4 + boot_mib + root_mib))M "$disk"
sfdisk --quiet "$disk" <<EOF
label: dos
label-id: 0x$(printf '%08x' $((epoch & 0xffffffff)))
unit: sectors
start=$((4 * 2048)), size=$((boot_mib * 2048)), type=c, bootable
start=$(((4 + boot_mib) * 2048)), size=$((root_mib * 2048)), type=83
EOF
dd if="$work/boot.img" of="$disk" bs=1M seek=4 conv=notrunc,sparse status=none
dd if="$work/root.img" of="$disk" bs=1M seek=$((4 + boot_mib)) conv=notrunc,sparse status=none
mkdir -p "$(dirname "$out")"
xz -T0 -6 -c "$disk" >"$out.tmp"
mv "$out.tmp" "$out"
(cd "$(dirname "$out")" && sha256sum "$(basename "$out")" >"$(basename "$out").sha256")
step "$out: $((4 + boot_mib + root_mib)) MiB disk, $(du -m "$out" | cut -f1) MiB compressed"
