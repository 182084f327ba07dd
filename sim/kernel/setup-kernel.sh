#!/usr/bin/env bash
# Prepares the kernel oracle: installs the Debian packages it needs (idempotent), fetches
# the pinned Debian kernel package with `apt-get download`, extracts it with
# `dpkg-deb -x` (it is never installed: its postinst would build a host initramfs) and
# builds the guest initramfs. Everything goes under one cache directory:
#
#   sim/kernel/setup-kernel.sh [CACHE_DIR]      (default: $THINSIM_KERNEL_CACHE or build/kernel)
#
# Afterwards CACHE_DIR holds vmlinuz, initramfs.cpio.gz and kernel-version; a second run
# with everything in place only checks and returns.
set -euo pipefail

# The kernel the oracle runs: one exact ABI package, so that results do not move when
# Debian publishes a new ABI. THINSIM_KERNEL_PACKAGE overrides it (e.g. a 6.12 one).
KERNEL_PACKAGE=${THINSIM_KERNEL_PACKAGE:-linux-image-6.1.0-56-cloud-amd64}

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${1:-${THINSIM_KERNEL_CACHE:-$repo/build/kernel}}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
kver=${KERNEL_PACKAGE#linux-image-}

packages=(qemu-system-x86 busybox-static kmod cpio g++ xz-utils thin-provisioning-tools libxxhash-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=()
[[ $(id -u) -ne 0 ]] && SUDO=(sudo)
APT=(apt-get -o DPkg::Lock::Timeout=600)
updated=0
if ((${#missing[@]})); then
  echo "setup-kernel: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" "${APT[@]}" update -qq
  updated=1
  "${SUDO[@]}" "${APT[@]}" install -y -qq --no-install-recommends "${missing[@]}"
fi

# The kernel package: downloaded once, extracted (never installed), modules.dep made.
kroot=$cache/root
if [[ ! -f $kroot/boot/vmlinuz-$kver ]]; then
  mkdir -p "$cache/debs"
  if ! ls "$cache"/debs/"${KERNEL_PACKAGE}"_*.deb >/dev/null 2>&1; then
    if ! (cd "$cache/debs" && "${APT[@]}" download "$KERNEL_PACKAGE"); then
      ((updated)) || "${SUDO[@]}" "${APT[@]}" update -qq
      (cd "$cache/debs" && "${APT[@]}" download "$KERNEL_PACKAGE")
    fi
  fi
  rm -rf "$kroot"
  mkdir -p "$kroot"
  dpkg-deb -x "$cache"/debs/"${KERNEL_PACKAGE}"_*.deb "$kroot"
  # Debian's postinst would make modules.dep; without it modprobe cannot resolve the chain.
  depmod -b "$kroot" "$kver"
fi

# The initramfs is rebuilt when anything it is made from is newer.
stale=0
if [[ ! -f $cache/initramfs.cpio.gz || $(cat "$cache/kernel-version" 2>/dev/null) != "$kver" ]]; then stale=1; fi
for f in build-initramfs.sh guest-init.sh dmctl.cc dmctl_io.cc dmctl_io.h dmctl_steps.cc dmctl_steps.h decimal.h dmctl_faults.cc dmctl_faults.h \
         dmctl_serve.cc dmctl_serve.h served_disk.cc served_disk.h nbd_server.cc nbd_server.h \
         write_log.cc write_log.h log_replay.cc log_replay.h ../../fault/crash_chooser.cc ../../fault/crash_chooser.h \
         ../../fault/faulty_disk.cc ../../fault/faulty_disk.h ../../fault/io_fault.cc ../../fault/io_fault.h \
         ../../sim/sim_disk.cc ../../sim/sim_disk.h ../../sim/sector_hash.cc ../../sim/disk_contract.cc \
         ../../model/pdata/checksum.cc ../../model/pdata/checksum.h ../../model/pdata/block_device.cc \
         ../../model/pdata/file_block_device.cc; do
  if [[ $here/$f -nt $cache/initramfs.cpio.gz ]]; then stale=1; fi
done
if ((stale)); then
  "$here/build-initramfs.sh" "$kroot" "$kver" "$cache/initramfs.cpio.gz"
fi
cp -f "$kroot/boot/vmlinuz-$kver" "$cache/vmlinuz"
echo "$kver" > "$cache/kernel-version"
echo "setup-kernel: kernel $kver ready in $cache"
