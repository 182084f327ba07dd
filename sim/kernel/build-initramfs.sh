#!/usr/bin/env bash
# build-initramfs.sh KERNEL_ROOT KERNEL_VERSION OUT.cpio.gz
# The guest's root: busybox-static, dmctl (sim/kernel/dmctl.cc, built here), the module chain
# that dm-thin-pool needs (in load order, as kmod resolves it, softdeps included) and
# /init (guest-init.sh). The oracle appends each batch's script as a second cpio.
set -euo pipefail
kroot=$1 kver=$2 out=$3
here=$(cd "$(dirname "$0")" && pwd)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/sbin,proc,sys,dev,tmp,lib/modules}
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
  [[ -e $root/bin/$applet ]] || ln -s busybox "$root/bin/$applet"
done
# dmctl stands in for dmsetup: linked statically, it starts in a tenth of the time.
"${CXX:-c++}" -std=c++20 -O2 -static -s -Wall -Wextra -Werror -I "$here/../.." -o "$root/usr/sbin/dmctl" \
  "$here/dmctl.cc" "$here/dmctl_io.cc" "$here/dmctl_steps.cc" "$here/dmctl_faults.cc" "$here/dmctl_serve.cc" "$here/write_log.cc" \
  "$here/log_replay.cc" "$here/served_disk.cc" "$here/nbd_server.cc" \
  "$here/../../fault/crash_chooser.cc" "$here/../../fault/faulty_disk.cc" "$here/../../fault/io_fault.cc" \
  "$here/../../sim/sim_disk.cc" "$here/../../sim/sector_hash.cc" "$here/../../sim/disk_contract.cc" \
  "$here/../../model/pdata/checksum.cc" "$here/../../model/pdata/block_device.cc" \
  "$here/../../model/pdata/file_block_device.cc" -lxxhash
: > "$root/modules.order"
# dm-log-writes journals the disks of the cases that crash (log_replay.h); dm-flakey
# fails their IO under `fault DISK error` (guest_disks.h).
for top in virtio_pci virtio_blk dm-thin-pool dm-log-writes dm-flakey; do
  modprobe -d "$kroot" -S "$kver" --show-depends "$top" | awk '$1 == "insmod" {print $2}' |
    while read -r ko; do
      name=$(basename "$ko")
      case "$name" in
        *.ko.xz) plain=${name%.xz}; xz -dc "$ko" > "$root/lib/modules/$plain" ;;
        *.ko.zst) plain=${name%.zst}; zstd -qdc "$ko" > "$root/lib/modules/$plain" ;;
        *) plain=$name; cp "$ko" "$root/lib/modules/$plain" ;;
      esac
      grep -qx "$plain" "$root/modules.order" || echo "$plain" >> "$root/modules.order"
    done
done
# nbd serves the disks whose faults no dm target has (dmctl_serve.h); dmctl loads it the
# first time a case needs it, so it is not in modules.order.
nbd=$(modprobe -d "$kroot" -S "$kver" --show-depends nbd | awk '$1 == "insmod" {print $2}' | tail -n 1)
case "$nbd" in
  *.ko.xz) xz -dc "$nbd" > "$root/lib/modules/nbd.ko" ;;
  *.ko.zst) zstd -qdc "$nbd" > "$root/lib/modules/nbd.ko" ;;
  *) cp "$nbd" "$root/lib/modules/nbd.ko" ;;
esac
cp "$here/guest-init.sh" "$root/init"
chmod +x "$root/init"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) > "$out.tmp"
# A following uncompressed cpio is only found at a 4-byte aligned offset; zeros are skipped.
truncate -s %4 "$out.tmp"
mv "$out.tmp" "$out"
echo "build-initramfs: $(wc -l < "$root/modules.order") modules ($(tr '\n' ' ' < "$root/modules.order")), $(stat -c %s "$out") bytes"
