#!/bin/sh
# /init of the oracle's guest: load the dm-thin module chain, run /batch.sh (the translated
# scenarios), report its exit status on the console and power off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.order); do
  insmod /lib/modules/$m || echo "ORACLE-INIT insmod $m failed"
done
i=0
while [ ! -b /dev/vdb ] && [ $i -lt 200 ]; do usleep 50000; i=$((i + 1)); done
# No udevd in here: dmctl makes the /dev/mapper nodes itself.
dmesg -n 1
echo "ORACLE-READY $(cut -d' ' -f1 /proc/uptime)"
if [ -f /batch.sh ]; then sh /batch.sh; rc=$?; else rc=99; fi
echo "ORACLE-EXIT $rc $(cut -d' ' -f1 /proc/uptime)"
sync
poweroff -f
