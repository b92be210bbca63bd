// SPDX-License-Identifier: MIT
/*
 * What a PAUSE (the kernel's cpu_relax() on x86) costs in a TCG guest, where
 * every spin loop of the series calls it once per iteration
 * (docs/measurements.md, "A loop that leaves its owner's CPU"). Build on the
 * host and run it in the guest, one copy and two at once:
 *   gcc -O2 -o /tmp/pause-cost tests/diag/pause-cost.c
 *   npm run vm -- --kernel stock --put /tmp/pause-cost -- 'sh -c "/root/pause-cost; /root/pause-cost & /root/pause-cost; wait"'
 */
#include <stdio.h>
#include <time.h>
#include <stdint.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(void) {
	volatile uint64_t x = 0;
	for (int mode = 0; mode < 2; mode++) {
		uint64_t n = 0; double t0 = now(), t;
		do {
			for (int i = 0; i < 1000; i++) { x++; if (mode) __builtin_ia32_pause(); }
			n += 1000;
		} while ((t = now()) - t0 < 1.0);
		printf("%s: %.1f ns per iteration\n", mode ? "with pause" : "no pause", (t - t0) * 1e9 / n);
	}
	return 0;
}
