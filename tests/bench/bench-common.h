/* Shared helpers for the uringlet benchmark probes: timing, sorting,
 * detecting whether a ring runs in uringlet mode (fdinfo "Uringlet: 1"),
 * and JSON metric output the comparison runner parses.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Percentile p (0..100) of n values; sorts in place. Nearest-rank. */
static inline double pct_u64(uint64_t *v, size_t n, double p)
{
	size_t idx;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	idx = (size_t)((p / 100.0) * (double)n + 0.999999);
	if (idx == 0)
		idx = 1;
	if (idx > n)
		idx = n;
	return (double)v[idx - 1];
}

/* 1 if the kernel reports this ring as a uringlet ring, 0 if not (stock kernels print no such line). */
static inline int ring_is_uringlet(int ring_fd)
{
	char path[64], line[256];
	FILE *f;
	int on = 0;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", ring_fd);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Uringlet:", 9) == 0) {
			on = atoi(line + 9) != 0;
			break;
		}
	}
	fclose(f);
	return on;
}

/* Metric output: one JSON object per run; the runner reads "metrics" and "errors". */
static int metric_count;

static inline void json_begin(const char *probe, int uringlet)
{
	printf("{\n  \"probe\": \"%s\",\n  \"uringlet\": %s,\n  \"metrics\": {", probe, uringlet ? "true" : "false");
	metric_count = 0;
}

static inline void json_metric(const char *name, double value, const char *unit, const char *better)
{
	printf("%s\n    \"%s\": { \"value\": %.3f, \"unit\": \"%s\", \"better\": \"%s\" }",
	       metric_count++ ? "," : "", name, value, unit, better);
}

static inline void json_end(long errors, const char *first_error)
{
	printf("\n  },\n  \"errors\": %ld,\n  \"first_error\": \"%s\"\n}\n", errors, first_error ? first_error : "");
	fflush(stdout);
}

#endif
