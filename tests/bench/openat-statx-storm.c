// SPDX-License-Identifier: MIT
/*
 * openat/statx storm: path lookups through io_uring, with a cold dentry and
 * inode cache when the runner drops caches first. On stock 6.1 a lookup that
 * misses the dcache fails the nonblocking attempt (LOOKUP_CACHED) and is
 * punted to io-wq; statx is always punted. Uringlet issues them from a worker
 * that may block.
 *
 *   openat-statx-storm setup DIR NFILES      create DIR/dNNN/fNNNNN
 *   openat-statx-storm run DIR NFILES DEPTH  one pass: openat even files, statx odd ones
 *
 * run prints JSON metrics (ops/s, submit-call latency) and exits 1 if any
 * request failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench-common.h"

#define FILES_PER_DIR 100

static char *path_of(const char *dir, int i)
{
	char *p;

	if (asprintf(&p, "%s/d%03d/f%05d", dir, i / FILES_PER_DIR, i) < 0)
		exit(2);
	return p;
}

static int setup(const char *dir, int n)
{
	char sub[4096];
	int i;

	if (mkdir(dir, 0755) && errno != EEXIST) {
		perror(dir);
		return 2;
	}
	for (i = 0; i < n; i++) {
		char *p = path_of(dir, i);
		int fd;

		if (i % FILES_PER_DIR == 0) {
			snprintf(sub, sizeof(sub), "%s/d%03d", dir, i / FILES_PER_DIR);
			if (mkdir(sub, 0755) && errno != EEXIST) {
				perror(sub);
				return 2;
			}
		}
		fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
		if (fd < 0 || write(fd, p, strlen(p)) < 0) {
			perror(p);
			return 2;
		}
		close(fd);
		free(p);
	}
	sync();
	return 0;
}

static int run(const char *dir, int n, int depth)
{
	struct io_uring ring;
	struct statx *stx = calloc(n, sizeof(*stx));
	char **paths = calloc(n, sizeof(*paths));
	uint64_t *submit_ns = calloc(n + 1, sizeof(*submit_ns));
	size_t nsubmit = 0;
	int next = 0, inflight = 0, done = 0, ret, i;
	long errors = 0;
	const char *first_error = NULL;
	uint64_t t0, t1;

	if (!stx || !paths || !submit_ns)
		return 2;
	/* Paths and statx buffers live until completion: a uringlet worker preps later. */
	for (i = 0; i < n; i++)
		paths[i] = path_of(dir, i);
	ret = io_uring_queue_init(depth * 2, &ring, 0);
	if (ret < 0) {
		fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-ret));
		return 2;
	}

	t0 = now_ns();
	while (done < n) {
		while (inflight < depth && next < n) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

			if (!sqe)
				break;
			if (next % 2 == 0)
				io_uring_prep_openat(sqe, AT_FDCWD, paths[next], O_RDONLY, 0);
			else
				io_uring_prep_statx(sqe, AT_FDCWD, paths[next], 0, STATX_BASIC_STATS, &stx[next]);
			io_uring_sqe_set_data64(sqe, (uint64_t)next);
			next++;
			inflight++;
		}
		if (io_uring_sq_ready(&ring)) {
			uint64_t s = now_ns();

			ret = io_uring_submit(&ring);
			submit_ns[nsubmit++] = now_ns() - s;
			if (ret < 0) {
				fprintf(stderr, "io_uring_submit: %s\n", strerror(-ret));
				return 2;
			}
		}
		{
			struct io_uring_cqe *cqe;
			unsigned head, seen = 0;

			ret = io_uring_wait_cqe(&ring, &cqe);
			if (ret < 0) {
				fprintf(stderr, "io_uring_wait_cqe: %s\n", strerror(-ret));
				return 2;
			}
			io_uring_for_each_cqe(&ring, head, cqe) {
				uint64_t idx = io_uring_cqe_get_data64(cqe);

				if (cqe->res < 0) {
					if (!errors++)
						first_error = strerror(-cqe->res);
				} else if (idx % 2 == 0) {
					close(cqe->res);
				} else if (stx[idx].stx_size == 0) {
					/* setup wrote the path into each file: size 0 means a bogus statx */
					if (!errors++)
						first_error = "statx returned size 0";
				}
				seen++;
			}
			io_uring_cq_advance(&ring, seen);
			done += seen;
			inflight -= seen;
		}
	}
	t1 = now_ns();

	json_begin("openat-statx-storm", ring_is_uringlet(ring.ring_fd));
	json_metric("ops_per_sec", (double)n / ((double)(t1 - t0) / 1e9), "ops/s", "higher");
	json_metric("submit_us_p50", pct_u64(submit_ns, nsubmit, 50) / 1000.0, "us", "lower");
	json_metric("submit_us_p99", pct_u64(submit_ns, nsubmit, 99) / 1000.0, "us", "lower");
	json_end(errors, first_error);
	io_uring_queue_exit(&ring);
	return errors ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "setup"))
		return setup(argv[2], atoi(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "run") && atoi(argv[3]) > 0 && atoi(argv[4]) > 0)
		return run(argv[2], atoi(argv[3]), atoi(argv[4]));
	fprintf(stderr, "usage: %s setup DIR NFILES | run DIR NFILES DEPTH\n", argv[0]);
	return 2;
}
