#!/bin/sh
# Depth-1 anatomy of one boot (README, "Wake-ups per I/O"): the RFC's XFS
# randwrite at iodepth 1, three runs; over 2 s of each, the context
# switches, vCPU and migrations of fio and its io-wq threads, IPIs, and the
# ring's fdinfo (uringlet counters; with poll-exit-counters.diff applied, why each poll
# ended). Needs a data disk (/dev/vdb) and runs in the guest:
#   npm run vm -- --kernel uringlet --disk 1024 -- sh -c "$(cat tests/diag/depth1-anatomy.sh)"
# On the uringlet kernel it forces uringlet mode with the debug knob.
set -u
knob=/proc/sys/kernel/io_uring_uringlet_force
[ -e $knob ] && echo 1 > $knob
mkdir -p /mnt/anatomy
mountpoint -q /mnt/anatomy || { mkfs.xfs -f -q /dev/vdb && mount /dev/vdb /mnt/anatomy; } || exit 2
cat > /tmp/anatomy.fio <<'JOB'
[randwrite]
ioengine=io_uring
direct=0
rw=randwrite
bs=1k
size=10M
iodepth=1
time_based=1
runtime=5
directory=/mnt/anatomy
randrepeat=1
JOB
# per thread: (voluntary nonvoluntary) switches, the vCPU it last ran on and
# its migrations so far (/proc/.../sched needs CONFIG_SCHED_DEBUG, which the
# guest kernels have): fio's thread and the loop's worker on one vCPU, with
# few migrations, is the co-located case (README, "Where fio's wake-ups land")
tasks() {
  for t in /proc/$1/task/*; do
    read c < $t/comm 2>/dev/null || continue
    echo "   $c $(awk '/voluntary_ctxt_switches/{printf "%s ", $2}' $t/status)cpu $(awk '{print $39}' $t/stat) migrations $(awk '/nr_migrations/{print $3}' $t/sched 2>/dev/null)"
  done
}
ipis() { grep -E '^ *(RES|CAL):' /proc/interrupts | tr -s ' \n' ' '; }
for r in 1 2 3; do
  fio --output-format=json --output=/tmp/anatomy.json /tmp/anatomy.fio >/dev/null 2>&1 &
  sleep 1.5
  pid=
  for p in $(pgrep -x fio); do ls -l /proc/$p/fd 2>/dev/null | grep -q io_uring && pid=$p; done
  [ -n "$pid" ] || { echo "no fio with a ring"; exit 1; }
  echo "run $r, fio $pid: (voluntary nonvoluntary) switches per thread, IPIs, fdinfo, before and 2 s later"
  tasks $pid; ipis; echo; grep -h -E '^(Uringlet|Diag)' /proc/$pid/fdinfo/* 2>/dev/null
  sleep 2
  tasks $pid; ipis; echo; grep -h -E '^(Uringlet|Diag)' /proc/$pid/fdinfo/* 2>/dev/null
  wait
  echo "  IOPS $(grep -o '"iops" : [0-9.]*' /tmp/anatomy.json | awk '{s+=$3} END{print s}')"
done
