// SPDX-License-Identifier: MIT
/*
 * Prints whether a freshly set up io_uring ring runs in uringlet mode, as the
 * kernel reports it in fdinfo ("Uringlet: 1"). The comparison runner calls it
 * after every boot so a stock-vs-stock comparison can never pass for a
 * stock-vs-uringlet one (the debug knob not applied, the wrong kernel booted).
 */
#include <liburing.h>

#include "bench-common.h"

int main(void)
{
	struct io_uring ring;
	int ret = io_uring_queue_init(4, &ring, 0);

	if (ret < 0) {
		fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-ret));
		return 2;
	}
	printf("uringlet=%d\n", ring_is_uringlet(ring.ring_fd));
	io_uring_queue_exit(&ring);
	return 0;
}
