#!/bin/bash
# Builds the Debian 12 box the Vagrantfile boots (libvirt provider) from Debian's packages alone
# (no box registry is needed), and adds it to Vagrant as bizpbx/bookworm64: debootstrap a root
# file system with a kernel, GRUB on a partitioned disk, qcow2, the box's metadata.json and
# Vagrantfile. Root only (loop device, chroot). `make vagrant-box` runs it.
#
# The box's users `vagrant` (sudo, for Vagrant) and `root` (as the nspawn lab's hosts are
# reached) accept one key, generated on this machine in $STATE/id_ed25519: no password and no
# key known outside this machine. Host keys are made at each VM's first boot.
set -euo pipefail

STATE=${BIZPBX_VAGRANT_STATE:-/var/lib/bizpbx-vagrant}
CACHE=${BIZPBX_VAGRANT_CACHE:-/var/cache/bizpbx-vagrant}
MIRROR=${BIZPBX_VAGRANT_MIRROR:-http://deb.debian.org/debian}
BOX_NAME=bizpbx/bookworm64
DISK_GIB=8
# What Ansible and Vagrant need on a host (ifupdown: Vagrant's Debian guest writes the static
# address of the lab network there; rsync: the FREESWITCH_PREFIX synced folder); the rest is the roles' job.
PACKAGES=linux-image-amd64,grub-pc,systemd-sysv,dbus,openssh-server,sudo,python3,python3-apt,ifupdown,isc-dhcp-client,iproute2,ca-certificates,rsync

say() { echo "vagrant-box: $*" >&2; }

[ "$(id -u)" = 0 ] || { say "run as root (debootstrap, loop device, chroot)"; exit 1; }
for tool in debootstrap sfdisk losetup mkfs.ext4 qemu-img vagrant ssh-keygen; do
  command -v "$tool" >/dev/null || { say "$tool is missing (Debian: debootstrap fdisk mount e2fsprogs qemu-utils vagrant openssh-client)"; exit 1; }
done

# 0711: libvirt's qemu user reaches the VMs' disks in images/ (the key itself is 0600).
mkdir -p "$STATE" "$CACHE" && chmod 711 "$STATE"
KEY=$STATE/id_ed25519
[ -f "$KEY" ] || ssh-keygen -q -t ed25519 -N '' -C bizpbx-vagrant -f "$KEY"

# The root file system, once per package list; a finished tree is renamed into place, never half-made.
ROOTFS=$CACHE/rootfs-bookworm-$(echo "$MIRROR $PACKAGES" | sha256sum | cut -c1-10)
if [ ! -d "$ROOTFS" ]; then
  say "debootstrap bookworm into $ROOTFS (once)"
  rm -rf "$ROOTFS.tmp"
  debootstrap --variant=minbase --include="$PACKAGES" bookworm "$ROOTFS.tmp" "$MIRROR"
  rm -f "$ROOTFS.tmp"/var/cache/apt/archives/*.deb "$ROOTFS.tmp"/etc/ssh/ssh_host_*
  mv "$ROOTFS.tmp" "$ROOTFS"
fi

BUILD=$CACHE/build
MNT=$BUILD/mnt
PART=
cleanup() {
  for m in dev/pts dev proc sys ""; do if mountpoint -q "$MNT/$m" 2>/dev/null; then umount "$MNT/$m"; fi; done
  if [ -n "$PART" ]; then losetup -d "$PART"; fi
  PART=
}
trap cleanup EXIT
rm -rf "$BUILD" && mkdir -p "$MNT"

say "disk image: one ext4 partition of ${DISK_GIB} GiB with GRUB"
truncate -s "${DISK_GIB}G" "$BUILD/disk.raw"
echo 'start=2048, type=83, bootable' | sfdisk --quiet "$BUILD/disk.raw"
# The partition through a loop device at its offset: kernels without partition scanning on loop
# devices (like this project's machines) have no loopNp1, and grub-install cannot probe it either.
PART=$(losetup --find --show --offset $((2048 * 512)) "$BUILD/disk.raw")
mkfs.ext4 -q -L bizpbx-root "$PART"
mount "$PART" "$MNT"
cp -a "$ROOTFS/." "$MNT/"

echo bookworm > "$MNT/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tbookworm\n::1\tlocalhost ip6-localhost\n' > "$MNT/etc/hosts"
echo 'LABEL=bizpbx-root / ext4 errors=remount-ro 0 1' > "$MNT/etc/fstab"
: > "$MNT/etc/machine-id"  # each VM gets its own at first boot
# The first network card is Vagrant's (management, DHCP); Vagrant adds the lab's static address on eth1.
cat > "$MNT/etc/network/interfaces" <<'IFACES'
source /etc/network/interfaces.d/*
auto lo
iface lo inet loopback
allow-hotplug eth0
iface eth0 inet dhcp
IFACES
# No DNS in the VMs' networks: Debian's packages come through the host's HTTP proxy.
echo '# no DNS: packages come through the HTTP proxy on the management network' > "$MNT/etc/resolv.conf"
mkdir -p "$MNT/etc/systemd/system/ssh.service.d"
printf '[Service]\n# Each VM its own host keys, made at its first boot, before sshd -t checks for them.\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' \
  > "$MNT/etc/systemd/system/ssh.service.d/host-keys.conf"
cat > "$MNT/etc/default/grub" <<'GRUB'
GRUB_DEFAULT=0
GRUB_TIMEOUT=0
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
# eth0/eth1 whatever the bus: the interfaces file above and Vagrant's networks count on them.
GRUB_CMDLINE_LINUX="net.ifnames=0 console=tty0 console=ttyS0,115200"
GRUB_DISABLE_OS_PROBER=true
GRUB

chroot "$MNT" useradd --create-home --shell /bin/bash vagrant
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' > "$MNT/etc/sudoers.d/vagrant" && chmod 440 "$MNT/etc/sudoers.d/vagrant"
for home in root home/vagrant; do
  install -d -m 700 "$MNT/$home/.ssh"
  install -m 600 "$KEY.pub" "$MNT/$home/.ssh/authorized_keys"
done
chroot "$MNT" chown -R vagrant:vagrant /home/vagrant/.ssh

for m in dev dev/pts proc sys; do mount --bind "/$m" "$MNT/$m"; done
# A small initramfs with the drivers of a KVM guest only: GRUB reads it through the BIOS, which
# is slow under nested virtualisation (Debian's default, MODULES=most, is 36 MB).
echo MODULES=list > "$MNT/etc/initramfs-tools/conf.d/bizpbx-box"
printf '%s\n' virtio_pci virtio_blk virtio_net virtio_console ext4 >> "$MNT/etc/initramfs-tools/modules"
chroot "$MNT" update-initramfs -u -k all
# GRUB as grub-install would lay it out, by hand: its modules in /boot/grub, a core image that
# knows its partition, written after the disk's first sector, and the boot sector pointing to it.
install -d "$MNT/boot/grub/i386-pc"
cp "$MNT"/usr/lib/grub/i386-pc/*.mod "$MNT"/usr/lib/grub/i386-pc/*.lst "$MNT/boot/grub/i386-pc/"
chroot "$MNT" grub-mkimage --format=i386-pc --output=/boot/grub/i386-pc/core.img \
  --prefix='(hd0,msdos1)/boot/grub' biosdisk part_msdos ext2
# grub.cfg written here: update-grub cannot see through a loop device into its backing file. The
# VM's own update-grub (after a kernel upgrade) writes it again from /etc/default/grub above.
cat > "$MNT/boot/grub/grub.cfg" <<'GRUBCFG'
set default=0
set timeout=0
search --no-floppy --label --set=root bizpbx-root
menuentry "Debian 12 (bizpbx box)" {
  linux /vmlinuz root=LABEL=bizpbx-root ro net.ifnames=0 console=tty0 console=ttyS0,115200
  initrd /initrd.img
}
GRUBCFG
chroot "$MNT" apt-get clean
cp "$MNT/usr/lib/grub/i386-pc/boot.img" "$MNT/boot/grub/i386-pc/core.img" "$BUILD/"
cleanup
trap - EXIT
# 446 bytes: the boot code, not the partition table behind it.
dd if="$BUILD/boot.img" of="$BUILD/disk.raw" bs=446 count=1 conv=notrunc status=none
dd if="$BUILD/core.img" of="$BUILD/disk.raw" bs=512 seek=1 conv=notrunc status=none

say "qcow2 and the box"
qemu-img convert -O qcow2 "$BUILD/disk.raw" "$BUILD/box.img"
rm "$BUILD/disk.raw"
printf '{"provider": "libvirt", "format": "qcow2", "virtual_size": %d}\n' "$DISK_GIB" > "$BUILD/metadata.json"
cat > "$BUILD/Vagrantfile" <<'BOXFILE'
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |libvirt|
    libvirt.driver = "kvm"
  end
end
BOXFILE
tar -C "$BUILD" -cf "$CACHE/bizpbx-bookworm64.box" metadata.json Vagrantfile box.img
rm -rf "$BUILD"
vagrant box add --force --name "$BOX_NAME" "$CACHE/bizpbx-bookworm64.box"
say "added $BOX_NAME ($(du -h "$CACHE/bizpbx-bookworm64.box" | cut -f1)); its key: $KEY"
