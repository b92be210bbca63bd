#!/bin/sh
# uringlet guest init, PID 1: mount the API filesystems, configure the
# network for QEMU user-mode networking, start sshd, print a readiness line
# on the console, then reap orphans forever. No systemd: it would cost
# seconds under TCG emulation, where every fork+exec costs tens of ms, so
# this script forks as little as it can (one mount -a, one ip -batch).
#
# Console markers (the host's console monitor tracks the boot with them):
#   URINGLET-INIT   init started (root filesystem mounted)
#   URINGLET-READY  sshd accepts connections
# Kernel command line knobs:
#   uringlet.nosshd     do not start sshd (tests the boot-timeout path)
#   uringlet.shell      also start a root shell on the console
#   uringlet.losessh    stop sshd, announce readiness, panic 3 s later (tests a
#                       kernel lost before the first SSH session; sshd goes
#                       first, so that no session can start in between)
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
umask 022

echo "URINGLET-INIT"

# /etc/fstab (written at image build): proc, sys, devpts, /dev/shm, /tmp.
# The kernel mounted devtmpfs on /dev (CONFIG_DEVTMPFS_MOUNT), which has no
# pts/shm directories; the root filesystem is a fresh per-run overlay, so
# /run needs no tmpfs.
mkdir -p /dev/pts /dev/shm
mount -a -n
[ -d /sys/kernel/debug ] && mount -n -t debugfs debugfs /sys/kernel/debug 2>/dev/null

read -r cmdline </proc/cmdline
nosshd=0
shell=0
losessh=0
for arg in $cmdline; do
	case "$arg" in
	uringlet.nosshd) nosshd=1 ;;
	uringlet.shell) shell=1 ;;
	uringlet.losessh) losessh=1 ;;
	esac
done

read -r name </etc/hostname
echo "$name" >/proc/sys/kernel/hostname

# QEMU user-mode networking: guest 10.0.2.15, gateway (and host) 10.0.2.2
ip -batch - <<EOF
link set lo up
addr add 10.0.2.15/24 dev eth0
link set eth0 up
route add default via 10.0.2.2
EOF

listening() {
	# /proc/net/tcp: local 00000000:0016 (0.0.0.0:22), state 0A (LISTEN); builtins only
	while read -r _ local _ st _; do
		[ "$local" = "00000000:0016" ] && [ "$st" = "0A" ] && return 0
	done </proc/net/tcp
	return 1
}

if [ "$nosshd" = 1 ]; then
	echo "URINGLET-NOSSHD (uringlet.nosshd on the kernel command line)"
else
	# -r: no re-exec per connection (saves a whole sshd exec on the first login under TCG)
	/usr/sbin/sshd -r -E /var/log/sshd.log
	# sshd daemonizes before it listens: wait for the socket before announcing readiness
	i=0
	until listening; do
		i=$((i + 1))
		if [ "$i" -gt 1000 ]; then
			echo "URINGLET-SSHD-FAILED"
			cat /var/log/sshd.log
			break
		fi
		sleep 0.01
	done
	if [ "$losessh" = 1 ]; then
		# sshd may write its pid file after it listens, and exits after
		# the kill returns: wait for both (10 s at most each)
		j=0
		until read -r pid </run/sshd.pid 2>/dev/null || [ "$j" -gt 1000 ]; do
			j=$((j + 1)); sleep 0.01
		done
		kill "$pid"
		j=0
		while listening && [ "$j" -le 1000 ]; do
			j=$((j + 1)); sleep 0.01
		done
	fi
	[ "$i" -le 1000 ] && echo "URINGLET-READY"
	if [ "$losessh" = 1 ]; then
		sleep 3
		echo c >/proc/sysrq-trigger
	fi
fi

if [ "$shell" = 1 ]; then
	setsid sh -c 'exec /bin/bash -l </dev/ttyS0 >/dev/ttyS0 2>&1' &
fi

# PID 1 must never exit (that panics the kernel) and must reap orphans:
# dash's wait collects any child, adopted ones included.
trap '' INT TERM HUP
while :; do
	sleep 3600 &
	wait
done
