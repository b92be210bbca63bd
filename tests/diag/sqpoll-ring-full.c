// SPDX-License-Identifier: MIT
/*
 * Does liburing 2.3's d4ae271dfaae.t race with its own SQPOLL thread?
 *
 * That test sets up a 4-entry SQPOLL ring, queues 10 READVs one per ms
 * (io_uring_get_sqe(), submit, usleep(1000)), stops queueing at the first
 * NULL SQE, then waits for 10 CQEs. If the SQ thread is kept off a CPU for
 * about 4 ms, the ring fills, fewer than 10 are queued and the wait never
 * ends: a timeout that says nothing about the kernel under test. SQPOLL
 * rings are never uringlet rings (IORING_SETUP_URINGLET rejects SQPOLL, and
 * the debug knob leaves them alone), so the series can only change how
 * often that happens through scheduling.
 *
 * This probe does the same, but counts instead of hanging: it prints how
 * many SQEs it could queue before the ring was full (10: the test would
 * pass) and reaps only those. Run it many times on each kernel, alone and
 * beside CPU hogs, and compare how often it prints less than 10:
 *   gcc -O2 -Wall -o /tmp/sqpoll-ring-full tests/diag/sqpoll-ring-full.c -luring
 *   npm run vm -- --kernel stock --variant debug --put /tmp/sqpoll-ring-full -- \
 *     'for i in $(seq 200); do /root/sqpoll-ring-full; done | sort | uniq -c'
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NR_READS	10
#define FILE_SIZE	(128 * 1024)

int main(void)
{
	static char data[FILE_SIZE];
	struct io_uring_params p;
	struct iovec iov[NR_READS];
	struct io_uring ring;
	/* in the working directory, as the test: /tmp may lack O_DIRECT */
	char name[] = "sqpoll-ring-full.XXXXXX";
	int fd, queued, i, ret;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SQPOLL;
	ret = io_uring_queue_init_params(4, &ring, &p);
	if (ret) {
		fprintf(stderr, "setup: %s\n", strerror(-ret));
		return 2;
	}
	fd = mkstemp(name);
	if (fd < 0 || write(fd, data, sizeof(data)) != sizeof(data)) {
		perror("temp file");
		return 2;
	}
	close(fd);
	fd = open(name, O_RDONLY | O_DIRECT);
	unlink(name);
	if (fd < 0) {
		perror("open O_DIRECT");
		return 2;
	}
	if (io_uring_register_files(&ring, &fd, 1)) {
		fprintf(stderr, "register files failed\n");
		return 2;
	}
	for (i = 0; i < NR_READS; i++) {
		if (posix_memalign(&iov[i].iov_base, 4096, 4096))
			return 2;
		iov[i].iov_len = 4096;
	}

	/* the test's loop, verbatim in what it does */
	for (queued = 0; queued < NR_READS; queued++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		if (!sqe)
			break;
		io_uring_prep_readv(sqe, 0, &iov[queued], 1, 0);
		sqe->flags |= IOSQE_FIXED_FILE;
		io_uring_submit(&ring);
		usleep(1000);
	}

	for (i = 0; i < queued; i++) {
		struct io_uring_cqe *cqe;

		ret = io_uring_wait_cqe(&ring, &cqe);
		if (ret) {
			fprintf(stderr, "wait_cqe: %s\n", strerror(-ret));
			return 2;
		}
		if (cqe->res != 4096) {
			fprintf(stderr, "read: %d, wanted 4096\n", cqe->res);
			return 2;
		}
		io_uring_cqe_seen(&ring, cqe);
	}
	printf("queued %d of %d\n", queued, NR_READS);
	io_uring_queue_exit(&ring);
	return queued == NR_READS ? 0 : 1;
}
