// SPDX-License-Identifier: MIT
/*
 * How much a vCPU spinning with or without PAUSE slows 1k pwrite()s on the
 * other vCPU of a TCG guest (docs/measurements.md, "A loop that leaves its
 * owner's CPU"). `spin-interference FILE` writes for 2 s and prints the
 * rate; `spin-interference p|n SECONDS` spins with (p) or without (n) PAUSE.
 *   gcc -O2 -o /tmp/spin-interference tests/diag/spin-interference.c
 *   npm run vm -- --kernel stock --put /tmp/spin-interference -- 'sh -c "cd /root; \
 *     taskset -c 0 ./spin-interference /dev/shm/f; \
 *     taskset -c 1 ./spin-interference p 3 & sleep 0.3; taskset -c 0 ./spin-interference /dev/shm/f; wait"'
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <stdint.h>
#include <fcntl.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
	if (argc > 2) {
		int p = argv[1][0] == 'p'; double end = now() + atof(argv[2]); volatile uint64_t x = 0;
		while (now() < end) for (int i = 0; i < 1000; i++) { x++; if (p) __builtin_ia32_pause(); }
		return 0;
	}
	int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600); char buf[1024] = {1};
	ftruncate(fd, 10 << 20);
	uint64_t n = 0; double t0 = now();
	while (now() - t0 < 2.0) { for (int i = 0; i < 100; i++) pwrite(fd, buf, sizeof(buf), (random() % 10240) * 1024); n += 100; }
	printf("%.0f writes/s\n", n / (now() - t0));
	return 0;
}
