#!/bin/sh
# Where the CPU goes at depth 1 (docs/measurements.md, "A loop that leaves its owner's CPU"):
# fio randwrite bs=1k iodepth 1 on XFS for 12 s; over 3 s of it, CPU ticks per thread and
# per vCPU, and the ring's uringlet counters. In the guest, with a data disk:
#   npm run vm -- --kernel uringlet --disk 1024 -- sh -c "$(cat tests/diag/depth1-cpu.sh)"
set -u
knob=/proc/sys/kernel/io_uring_uringlet_force
[ -e $knob ] && echo 1 > $knob
mkdir -p /mnt/a; mkfs.xfs -f -q /dev/vdb && mount /dev/vdb /mnt/a
cat > /tmp/j.fio <<'JOB'
[randwrite]
ioengine=io_uring
direct=0
rw=randwrite
bs=1k
size=10M
iodepth=1
time_based=1
runtime=12
directory=/mnt/a
randrepeat=1
JOB
fio /tmp/j.fio > /tmp/out.txt 2>&1 &
sleep 3
snap() { awk '{sub(/\/stat$/, "", FILENAME); c=$2; for (i=3; i<=NF && c !~ /\)$/; i++) c = c " " $i; off=i-3; print FILENAME, c, $(14+off)+$(15+off), $(39+off)}' /proc/[0-9]*/task/*/stat 2>/dev/null; grep -E '^cpu[01] ' /proc/stat; }
snap > /tmp/s1; sleep 3; snap > /tmp/s2
grep '^cpu' /tmp/s1 /tmp/s2
awk 'NR==FNR {a[$1]=$3; next} /^\/proc/ {d=$3-a[$1]; if (d>0) print d, $1, $2, "cpu", $4}' /tmp/s1 /tmp/s2 | sort -rn | head -8
grep -h -E 'Uringlet(Kicks|Moves|Shared|NoIdle|DiagNs)' /proc/[0-9]*/fdinfo/* 2>/dev/null
wait
grep -E 'IOPS' /tmp/out.txt
