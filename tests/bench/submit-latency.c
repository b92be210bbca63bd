// SPDX-License-Identifier: MIT
/*
 * Submit-latency probe: how long io_uring_enter() takes to submit one request
 * that blocks for DELAY_MS, and how long until its completion arrives.
 * The blocking is controlled with userfaultfd: the memory the request needs
 * sits on a page whose fault handler sleeps DELAY_MS before resolving it.
 *
 *   iovec : WRITEV whose iovec array is on the faulting page (stock imports
 *           it in the submitter: enter blocks for DELAY_MS)
 *   path  : OPENAT whose path is on the faulting page (getname() at prep)
 *   buffer: WRITE whose data buffer faults (stock punts to io-wq: enter fast)
 *   nop   : a NOP with nothing blocking, the fast-path cost of enter
 *   blocked: every enter while one request is blocked: the WRITEV above,
 *           then a NOP every BLOCKED_GAP_US until the WRITEV completes
 *           (stock: the WRITEV's enter blocks DELAY_MS, then NOPs only
 *           while io-wq finishes a write it punted after the import)
 *   wake  : control, no io_uring: write() to an eventfd that wakes a thread
 *           sleeping in read(), with the blocked round's gap. Each blocked
 *           NOP's enter wakes a sleeping worker the same way; what this
 *           costs on the kernel and accelerator at hand bounds that enter.
 *
 *   submit-latency DIR REPS DELAY_MS
 *
 * Prints JSON metrics; exits 1 if a request returned a wrong result.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bench-common.h"

#define NOP_REPS 2000
#define WRITE_LEN 512
/* NOPs submitted while a request is blocked: one per BLOCKED_GAP_US, at most BLOCKED_MAX per rep */
#define BLOCKED_GAP_US 1000
#define BLOCKED_MAX 1000

static long page;
static int uffd;
static int delay_ms;
static char *src_page; /* what the faulting page will contain once resolved */

static long errors;
static const char *first_error;

static void fail(const char *what)
{
	if (!errors++)
		first_error = what;
}

static void *fault_handler(void *arg)
{
	(void)arg;
	for (;;) {
		struct pollfd pfd = { .fd = uffd, .events = POLLIN };
		struct uffd_msg msg;
		struct uffdio_copy copy;

		if (poll(&pfd, 1, -1) < 0)
			continue;
		if (read(uffd, &msg, sizeof(msg)) != sizeof(msg))
			continue;
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		usleep(delay_ms * 1000);
		copy.dst = msg.arg.pagefault.address & ~(page - 1);
		copy.src = (unsigned long)src_page;
		copy.len = page;
		copy.mode = 0;
		copy.copy = 0;
		ioctl(uffd, UFFDIO_COPY, &copy);
	}
	return NULL;
}

/* A fresh page registered with userfaultfd: its first touch blocks for delay_ms. */
static char *faulting_page(void)
{
	struct uffdio_register reg;
	char *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	reg.range.start = (unsigned long)p;
	reg.range.len = page;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg)) {
		perror("UFFDIO_REGISTER");
		exit(2);
	}
	return p;
}

/*
 * Submit what is queued, returning how long io_uring_enter() took. It returns
 * every SQE the kernel has not consumed yet: at least the one just queued, at
 * most @max_unconsumed.
 */
static uint64_t timed_submit(struct io_uring *ring, int max_unconsumed)
{
	uint64_t t0 = now_ns();
	int ret = io_uring_submit(ring);
	uint64_t elapsed = now_ns() - t0;

	if (ret < 1 || ret > max_unconsumed) {
		fprintf(stderr, "io_uring_submit returned %d\n", ret);
		exit(2);
	}
	return elapsed;
}

/* Queue a WRITEV of WRITE_LEN bytes of @data whose iovec array is on a faulting page (returned). */
static char *queue_writev_faulting_iovec(struct io_uring *ring, int fd, const char *data, uint64_t user_data)
{
	struct iovec iov = { .iov_base = (void *)data, .iov_len = WRITE_LEN };
	struct io_uring_sqe *sqe;
	char *p;

	memset(src_page, 0, page);
	memcpy(src_page, &iov, sizeof(iov));
	p = faulting_page();
	sqe = io_uring_get_sqe(ring);
	io_uring_prep_writev(sqe, fd, (struct iovec *)p, 1, 0);
	sqe->user_data = user_data;
	return p;
}

static struct io_uring_cqe *wait_cqe(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	int ret = io_uring_wait_cqe(ring, &cqe);

	if (ret < 0) {
		fprintf(stderr, "io_uring_wait_cqe: %s\n", strerror(-ret));
		exit(2);
	}
	return cqe;
}

/* Submit the prepared SQE, timing the enter call; then time until its CQE. */
static void submit_and_wait(struct io_uring *ring, uint64_t *enter_ns, uint64_t *complete_ns, int *res)
{
	struct io_uring_cqe *cqe;
	uint64_t t0 = now_ns();

	*enter_ns = timed_submit(ring, 1);
	cqe = wait_cqe(ring);
	if (complete_ns)
		*complete_ns = now_ns() - t0;
	*res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
}

/* A CQE of blocked_round(): checks it, returns its user_data (1 the WRITEV, 2 a NOP) */
static int reap_blocked(struct io_uring *ring, struct io_uring_cqe *cqe)
{
	int what = (int)cqe->user_data;

	if (what == 1 && cqe->res != WRITE_LEN)
		fail("blocked writev: wrong result");
	if (what == 2 && cqe->res != 0)
		fail("nop while blocked: wrong result");
	io_uring_cqe_seen(ring, cqe);
	return what;
}

/*
 * Time every io_uring_enter() while one request is blocked: submit a WRITEV
 * whose iovec array faults for delay_ms, then a NOP every BLOCKED_GAP_US
 * until the WRITEV's CQE arrives. Appends the enter times to @enter_ns
 * (*n of them so far; at most BLOCKED_MAX + 1 per round). On stock the
 * WRITEV's own enter imports the iovec and blocks; any NOPs come after it.
 */
static void blocked_round(struct io_uring *ring, int fd, const char *data, uint64_t *enter_ns, int *n)
{
	struct io_uring_cqe *cqe;
	int nops = 0, writev_done = 0;
	char *p = queue_writev_faulting_iovec(ring, fd, data, 1);

	enter_ns[(*n)++] = timed_submit(ring, 1);
	while (!writev_done) {
		struct io_uring_sqe *sqe;
		int nop_done = 0;

		if (io_uring_peek_cqe(ring, &cqe) == 0) {
			writev_done = reap_blocked(ring, cqe) == 1;
			continue;
		}
		if (nops++ == BLOCKED_MAX) {
			fail("blocked writev: no completion while NOPs went through");
			break;
		}
		usleep(BLOCKED_GAP_US);
		sqe = io_uring_get_sqe(ring);
		io_uring_prep_nop(sqe);
		sqe->user_data = 2;
		/*
		 * With uringlet the WRITEV counts as unconsumed too when its
		 * worker did not get a CPU within the gap (under TCG the wake-up
		 * of a worker on a halted vCPU can take milliseconds).
		 */
		enter_ns[(*n)++] = timed_submit(ring, 2);
		/* reap the NOP (the WRITEV may complete first) */
		while (!nop_done) {
			if (reap_blocked(ring, wait_cqe(ring)) == 1)
				writev_done = 1;
			else
				nop_done = 1;
		}
	}
	munmap(p, page);
}

/* eventfd values the wake control's reader tells apart (unread pings add up) */
#define WAKE_PING 1ull
#define WAKE_STOP (1ull << 32)

static int wake_efd;

static void *wake_reader(void *arg)
{
	uint64_t v;

	(void)arg;
	while (read(wake_efd, &v, sizeof(v)) == sizeof(v) && v < WAKE_STOP)
		;
	return NULL;
}

/*
 * Control for blocked_round(): time @count write()s to an eventfd, each after
 * BLOCKED_GAP_US, that wake a thread sleeping in read(). Nothing is pinned,
 * as the uringlet worker is not: the scheduler places both as it places the
 * worker and the submitter.
 */
static void wake_round(uint64_t *wake_ns, int count)
{
	uint64_t ping = WAKE_PING, stop = WAKE_STOP;
	pthread_t reader;
	int i;

	wake_efd = eventfd(0, EFD_CLOEXEC);
	if (wake_efd < 0 || pthread_create(&reader, NULL, wake_reader, NULL)) {
		perror("wake control");
		exit(2);
	}
	for (i = 0; i < count; i++) {
		uint64_t t0;

		usleep(BLOCKED_GAP_US);
		t0 = now_ns();
		if (write(wake_efd, &ping, sizeof(ping)) != sizeof(ping))
			fail("wake control: eventfd write failed");
		wake_ns[i] = now_ns() - t0;
	}
	if (write(wake_efd, &stop, sizeof(stop)) != sizeof(stop)) {
		perror("wake control");
		exit(2);
	}
	pthread_join(reader, NULL);
	close(wake_efd);
}

int main(int argc, char **argv)
{
	static char data[WRITE_LEN];
	struct io_uring ring;
	struct uffdio_api api = { .api = UFFD_API };
	pthread_t th;
	const char *dir;
	char file[4096];
	uint64_t *iov_enter, *iov_done, *path_enter, *path_done, *buf_enter, *buf_done, *nop_enter, *nop_done;
	uint64_t *blocked_enter, *wake_write;
	int reps, fd, i, res, ret, nblocked = 0, nwake;

	if (argc != 4 || atoi(argv[2]) <= 0 || atoi(argv[3]) < 0) {
		fprintf(stderr, "usage: %s DIR REPS DELAY_MS\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	reps = atoi(argv[2]);
	delay_ms = atoi(argv[3]);
	page = sysconf(_SC_PAGESIZE);

	uffd = syscall(SYS_userfaultfd, O_CLOEXEC);
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api)) {
		fprintf(stderr, "userfaultfd: %s (kernel needs CONFIG_USERFAULTFD)\n", strerror(errno));
		return 2;
	}
	src_page = aligned_alloc(page, page);
	pthread_create(&th, NULL, fault_handler, NULL);

	snprintf(file, sizeof(file), "%s/submit-latency.dat", dir);
	fd = open(file, O_CREAT | O_RDWR | O_TRUNC, 0644);
	if (fd < 0) {
		perror(file);
		return 2;
	}
	memset(data, 'u', sizeof(data));
	ret = io_uring_queue_init(8, &ring, 0);
	if (ret < 0) {
		fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-ret));
		return 2;
	}

	iov_enter = calloc(reps, 8);
	iov_done = calloc(reps, 8);
	path_enter = calloc(reps, 8);
	path_done = calloc(reps, 8);
	buf_enter = calloc(reps, 8);
	buf_done = calloc(reps, 8);
	nop_enter = calloc(NOP_REPS, 8);
	nop_done = calloc(NOP_REPS, 8);
	blocked_enter = calloc(reps * (BLOCKED_MAX + 1), 8);
	wake_write = calloc(reps * (BLOCKED_MAX + 1), 8);

	for (i = 0; i < reps; i++) {
		struct io_uring_sqe *sqe;
		char *p;

		/* iovec array on the faulting page, pointing at a resident buffer */
		p = queue_writev_faulting_iovec(&ring, fd, data, 0);
		submit_and_wait(&ring, &iov_enter[i], &iov_done[i], &res);
		if (res != WRITE_LEN)
			fail("writev with faulting iovec: wrong result");
		munmap(p, page);

		/* path on the faulting page */
		memset(src_page, 0, page);
		snprintf(src_page, page, "%s", file);
		p = faulting_page();
		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_openat(sqe, AT_FDCWD, p, O_RDONLY, 0);
		submit_and_wait(&ring, &path_enter[i], &path_done[i], &res);
		if (res < 0)
			fail("openat with faulting path failed");
		else
			close(res);
		munmap(p, page);

		/* data buffer on the faulting page */
		memset(src_page, 'b', page);
		p = faulting_page();
		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_write(sqe, fd, p, WRITE_LEN, WRITE_LEN);
		submit_and_wait(&ring, &buf_enter[i], &buf_done[i], &res);
		if (res != WRITE_LEN)
			fail("write with faulting buffer: wrong result");
		munmap(p, page);
	}

	for (i = 0; i < reps; i++)
		blocked_round(&ring, fd, data, blocked_enter, &nblocked);
	/*
	 * As many wake-ups as uringlet's blocked rounds time enters (one per
	 * gap while the WRITEV is blocked), on either kernel.
	 */
	nwake = reps * (delay_ms * 1000 / BLOCKED_GAP_US);
	if (nwake < 1)
		nwake = 1;
	if (nwake > reps * BLOCKED_MAX)
		nwake = reps * BLOCKED_MAX;
	wake_round(wake_write, nwake);

	for (i = 0; i < NOP_REPS; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		io_uring_prep_nop(sqe);
		submit_and_wait(&ring, &nop_enter[i], &nop_done[i], &res);
		if (res != 0)
			fail("nop: wrong result");
	}

	json_begin("submit-latency", ring_is_uringlet(ring.ring_fd));
	json_metric("iovec_fault_enter_us_p50", pct_u64(iov_enter, reps, 50) / 1e3, "us", "lower");
	json_metric("iovec_fault_complete_ms_p50", pct_u64(iov_done, reps, 50) / 1e6, "ms", "lower");
	json_metric("path_fault_enter_us_p50", pct_u64(path_enter, reps, 50) / 1e3, "us", "lower");
	json_metric("path_fault_complete_ms_p50", pct_u64(path_done, reps, 50) / 1e6, "ms", "lower");
	json_metric("buffer_fault_enter_us_p50", pct_u64(buf_enter, reps, 50) / 1e3, "us", "lower");
	json_metric("buffer_fault_complete_ms_p50", pct_u64(buf_done, reps, 50) / 1e6, "ms", "lower");
	json_metric("blocked_enter_us_p50", pct_u64(blocked_enter, nblocked, 50) / 1e3, "us", "lower");
	json_metric("blocked_enter_us_p99", pct_u64(blocked_enter, nblocked, 99) / 1e3, "us", "lower");
	json_metric("wake_write_us_p50", pct_u64(wake_write, nwake, 50) / 1e3, "us", "lower");
	json_metric("wake_write_us_p99", pct_u64(wake_write, nwake, 99) / 1e3, "us", "lower");
	json_metric("nop_enter_us_p50", pct_u64(nop_enter, NOP_REPS, 50) / 1e3, "us", "lower");
	json_metric("nop_enter_us_p99", pct_u64(nop_enter, NOP_REPS, 99) / 1e3, "us", "lower");
	json_metric("nop_roundtrip_us_p50", pct_u64(nop_done, NOP_REPS, 50) / 1e3, "us", "lower");
	json_end(errors, first_error);
	io_uring_queue_exit(&ring);
	return errors ? 1 : 0;
}
