// SPDX-License-Identifier: MIT
/*
 * Buffered writes from an application that has CPU work of its own: it
 * fills each buffer, spends WORK_US of CPU time on it (the rest of whatever
 * produces the data), submits a buffered write of it and goes on with the
 * next, up to DEPTH writes in flight. On stock 6.1 a buffered XFS write that
 * finds its pages in the cache completes inside io_uring_enter(): the copy
 * into the page cache runs in the application's time. With uringlet the
 * enter only wakes the loop and a worker copies on another CPU while the
 * application works (the design doc's "large buffered writes while the app
 * thread has CPU work of its own").
 *
 *   write-with-work DIR DEPTH BS_KIB WORK_US SECONDS
 *
 * Writes DIR/data (32 MiB, sequentially, wrapping), then reads every block
 * back and checks it holds the last write's sequence number. Prints JSON
 * metrics; exits 1 if a write or the check failed, 2 on a setup error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <unistd.h>

#include "bench-common.h"

#define FILE_BYTES (32u << 20)

/* the data of write @seq: its sequence number, then a pattern derived from it */
static void fill(unsigned char *buf, size_t len, uint64_t seq)
{
	uint64_t x = seq * 0x9E3779B97F4A7C15ull + 1;
	size_t i;

	memcpy(buf, &seq, sizeof(seq));
	for (i = sizeof(seq); i + sizeof(x) <= len; i += sizeof(x)) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(buf + i, &x, sizeof(x));
	}
}

static void spin_until(uint64_t end_ns)
{
	while (now_ns() < end_ns)
		;
}

int main(int argc, char **argv)
{
	struct io_uring ring;
	unsigned char **bufs, *check;
	uint64_t *submit_ns, *block_seq, t0, t_end, t1, work_ns = 0, seq = 0, reaped = 0;
	size_t bs, nsubmit = 0, max_submits, nblocks;
	int depth, work_us, seconds, fd, inflight = 0, i, ret, *free_list, nfree;
	long errors = 0;
	const char *first_error = NULL;
	char path[4096];

	if (argc != 6 || atoi(argv[2]) < 1 || atoi(argv[3]) < 1 || atoi(argv[4]) < 0 || atoi(argv[5]) < 1) {
		fprintf(stderr, "usage: %s DIR DEPTH BS_KIB WORK_US SECONDS\n", argv[0]);
		return 2;
	}
	depth = atoi(argv[2]);
	bs = (size_t)atoi(argv[3]) << 10;
	work_us = atoi(argv[4]);
	seconds = atoi(argv[5]);
	if (bs > FILE_BYTES || FILE_BYTES % bs) {
		fprintf(stderr, "BS_KIB must divide 32768\n");
		return 2;
	}
	nblocks = FILE_BYTES / bs;
	snprintf(path, sizeof(path), "%s/data", argv[1]);
	fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
	if (fd < 0) {
		perror(path);
		return 2;
	}
	/* the file's pages exist before the clock starts, as for fio's layout */
	if (posix_fallocate(fd, 0, FILE_BYTES)) {
		perror("posix_fallocate");
		return 2;
	}
	bufs = calloc(depth, sizeof(*bufs));
	free_list = calloc(depth, sizeof(*free_list));
	block_seq = calloc(nblocks, sizeof(*block_seq));
	check = malloc(bs);
	max_submits = (size_t)seconds * 2000000;
	submit_ns = calloc(max_submits, sizeof(*submit_ns));
	if (!bufs || !free_list || !block_seq || !check || !submit_ns)
		return 2;
	for (i = 0; i < depth; i++) {
		bufs[i] = aligned_alloc(4096, bs);
		if (!bufs[i])
			return 2;
		free_list[i] = i;
	}
	nfree = depth;
	ret = io_uring_queue_init(depth * 2, &ring, 0);
	if (ret < 0) {
		fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-ret));
		return 2;
	}

	t0 = now_ns();
	t_end = t0 + (uint64_t)seconds * 1000000000ull;
	while (now_ns() < t_end || inflight) {
		struct io_uring_cqe *cqe;
		unsigned int head, seen = 0;

		/* reap what completed; wait for one only when every buffer is in flight */
		if (inflight && (nfree == 0 || now_ns() >= t_end)) {
			ret = io_uring_wait_cqe(&ring, &cqe);
			if (ret < 0) {
				fprintf(stderr, "io_uring_wait_cqe: %s\n", strerror(-ret));
				return 2;
			}
		}
		io_uring_for_each_cqe(&ring, head, cqe) {
			if (cqe->res != (int)bs && !errors++)
				first_error = cqe->res < 0 ? strerror(-cqe->res) : "short write";
			free_list[nfree++] = (int)io_uring_cqe_get_data64(cqe);
			seen++;
		}
		io_uring_cq_advance(&ring, seen);
		inflight -= seen;
		reaped += seen;
		if (nfree == 0 || now_ns() >= t_end)
			continue;

		{
			int b = free_list[--nfree];
			uint64_t w0 = now_ns(), s;
			size_t block = seq % nblocks;
			struct io_uring_sqe *sqe;

			fill(bufs[b], bs, seq);
			spin_until(w0 + (uint64_t)work_us * 1000);
			work_ns += now_ns() - w0;
			sqe = io_uring_get_sqe(&ring);
			io_uring_prep_write(sqe, fd, bufs[b], bs, (uint64_t)block * bs);
			io_uring_sqe_set_data64(sqe, (uint64_t)b);
			block_seq[block] = seq++;
			s = now_ns();
			ret = io_uring_submit(&ring);
			if (nsubmit < max_submits)
				submit_ns[nsubmit++] = now_ns() - s;
			/*
			 * uringlet consumes the SQ ring after the enter, as SQPOLL
			 * does: liburing counts the entries not consumed yet too
			 */
			if (ret < 1) {
				fprintf(stderr, "io_uring_submit: %d\n", ret);
				return 2;
			}
			inflight++;
		}
	}
	t1 = now_ns();

	/* every block holds the sequence number of its last write */
	for (size_t blk = 0; blk < nblocks && blk < seq; blk++) {
		uint64_t got;

		if (pread(fd, check, bs, (off_t)(blk * bs)) != (ssize_t)bs) {
			if (!errors++)
				first_error = "read back failed";
			break;
		}
		memcpy(&got, check, sizeof(got));
		if (got != block_seq[blk]) {
			if (!errors++)
				first_error = "a block does not hold its last write";
		}
	}

	json_begin("write-with-work", ring_is_uringlet(ring.ring_fd));
	json_metric("mib_per_sec", (double)reaped * (double)bs / (1 << 20) / ((double)(t1 - t0) / 1e9), "MiB/s", "higher");
	json_metric("work_pct", 100.0 * (double)work_ns / (double)(t1 - t0), "%", "higher");
	json_metric("submit_us_p50", pct_u64(submit_ns, nsubmit, 50) / 1000.0, "us", "lower");
	json_metric("submit_us_p99", pct_u64(submit_ns, nsubmit, 99) / 1000.0, "us", "lower");
	json_end(errors, first_error);
	io_uring_queue_exit(&ring);
	close(fd);
	return errors ? 1 : 0;
}
