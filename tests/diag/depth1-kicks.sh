#!/bin/sh
# Kicks of the uringlet loop and context switches over 5 s of fio (docs/measurements.md,
# "A poll that goes on while the owner runs"): the RFC's XFS randwrite, two runs of 10 s,
# at depth 1 or $IODEPTH. In the guest, with a data disk:
#   npm run vm -- --kernel uringlet --disk 1024 -- env IODEPTH=8 sh -c "$(cat tests/diag/depth1-kicks.sh)"
set -u
knob=/proc/sys/kernel/io_uring_uringlet_force
[ -e $knob ] && echo 1 > $knob
mkdir -p /mnt/a; mkfs.xfs -f -q /dev/vdb && mount /dev/vdb /mnt/a
kicks() { grep -h UringletKicks /proc/[0-9]*/fdinfo/* 2>/dev/null | awk '{s+=$2} END {print s+0}'; }
ctxt() { awk '/^ctxt/ {print $2}' /proc/stat; }
for r in 1 2; do
	fio --name=randwrite --ioengine=io_uring --direct=0 --rw=randwrite --bs=1k --size=10M \
		--iodepth="${IODEPTH:-1}" --time_based=1 --runtime=10 --directory=/mnt/a \
		--randrepeat=1 > /tmp/out.txt 2>&1 &
	sleep 3
	k1=$(kicks); c1=$(ctxt)
	sleep 5
	k2=$(kicks); c2=$(ctxt)
	wait
	echo "run $r $(grep -o 'IOPS=[0-9.k]*' /tmp/out.txt) kicks/5s=$((k2 - k1)) ctxt/5s=$((c2 - c1))"
done
