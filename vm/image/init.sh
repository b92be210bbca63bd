#!/bin/sh
# uringlet guest init, PID 1: mount the API filesystems, configure the
# network for QEMU user-mode networking, start sshd, print a readiness line
# on the console, then reap orphans forever. No systemd: it would cost
# seconds under TCG emulation.
#
# Console markers (the host's console monitor tracks the boot with them):
#   URINGLET-INIT   init started (root filesystem mounted)
#   URINGLET-READY  sshd accepts connections
# Kernel command line knobs:
#   uringlet.nosshd     do not start sshd (tests the boot-timeout path)
#   uringlet.shell      start a root shell on the console after sshd
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
umask 022

echo "URINGLET-INIT"

mount -n -t proc proc /proc
mount -n -t sysfs sys /sys
# devtmpfs is mounted on /dev by the kernel (CONFIG_DEVTMPFS_MOUNT)
mountpoint -q /dev || mount -n -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -n -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -n -t tmpfs -o mode=1777 shm /dev/shm
mount -n -t tmpfs -o mode=755 run /run
mount -n -t tmpfs -o mode=1777 tmp /tmp
[ -d /sys/kernel/debug ] && mount -n -t debugfs debugfs /sys/kernel/debug 2>/dev/null

nosshd=0
shell=0
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	uringlet.nosshd) nosshd=1 ;;
	uringlet.shell) shell=1 ;;
	esac
done

hostname "$(cat /etc/hostname)"
# QEMU user-mode networking: guest 10.0.2.15, gateway (and host) 10.0.2.2
ip link set lo up
ip addr add 10.0.2.15/24 dev eth0
ip link set eth0 up
ip route add default via 10.0.2.2

if [ "$nosshd" = 1 ]; then
	echo "URINGLET-NOSSHD (uringlet.nosshd on the kernel command line)"
else
	mkdir -p /run/sshd /var/log
	chmod 0755 /run/sshd
	/usr/sbin/sshd -E /var/log/sshd.log
	# sshd daemonizes before it listens: wait for the listening socket
	# (port 22 = 0016, state 0A = LISTEN) before announcing readiness.
	i=0
	while ! grep -q '^ *[0-9]*: 00000000:0016 00000000:0000 0A' /proc/net/tcp; do
		i=$((i + 1))
		if [ "$i" -gt 500 ]; then
			echo "URINGLET-SSHD-FAILED"
			cat /var/log/sshd.log
			break
		fi
		sleep 0.01
	done
	[ "$i" -le 500 ] && echo "URINGLET-READY"
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
