// SPDX-License-Identifier: MIT
/*
 * What a syscall, an empty io_uring_enter() and clock_gettime() cost in the
 * guest (docs/measurements.md, "The depth-1 cycle, step by step"):
 *   gcc -O2 -o /tmp/syscall-cost tests/diag/syscall-cost.c -luring
 *   npm run vm -- --kernel stock --put /tmp/syscall-cost -- /root/syscall-cost
 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <liburing.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(void) {
	struct io_uring ring; io_uring_queue_init(8, &ring, 0);
	int n = 200000; double t0 = now();
	for (int i = 0; i < n; i++) syscall(SYS_getppid);
	double t1 = now();
	for (int i = 0; i < n; i++) syscall(__NR_io_uring_enter, ring.ring_fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
	double t2 = now();
	for (int i = 0; i < n; i++) clock_gettime(CLOCK_MONOTONIC, &(struct timespec){0});
	double t3 = now();
	printf("getppid %.0f ns, io_uring_enter(0,0,GETEVENTS) %.0f ns, clock_gettime %.0f ns\n", (t1-t0)*1e9/n, (t2-t1)*1e9/n, (t3-t2)*1e9/n);
	return 0;
}
