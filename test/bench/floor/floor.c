/*
 * floor.c: the least a Heartbeat node can do on the wire, as a yardstick for
 * test/bench/cpu_per_packet.sh (SYSTEM=floor). One thread, one epoll, a
 * periodic timerfd: every keepalive it sends one datagram of SIZE bytes to
 * the peer's UDP port 694, and it reads (and sums) whatever the peer sends.
 * No parsing, no signature, no state: what is left is the cost of the
 * traffic pattern itself (both nodes send, ucast, one wake-up per packet)
 * on this kernel and machine.
 *
 *   floor LOCAL_IP PEER_IP KEEPALIVE_MS SIZE
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: floor LOCAL_IP PEER_IP KEEPALIVE_MS SIZE\n");
		return 2;
	}
	struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = htons(694)}, peer = local;
	if (inet_pton(AF_INET, argv[1], &local.sin_addr) != 1 || inet_pton(AF_INET, argv[2], &peer.sin_addr) != 1) {
		fprintf(stderr, "floor: bad address\n");
		return 2;
	}
	long ms = atol(argv[3]);
	size_t size = (size_t)atol(argv[4]);
	static char out[65536], in[65536];
	if (ms <= 0 || size == 0 || size > sizeof out) {
		fprintf(stderr, "floor: bad keepalive or size\n");
		return 2;
	}
	memset(out, 'x', size);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&local, sizeof local) < 0) {
		perror("floor: socket");
		return 1;
	}
	int t = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	struct itimerspec every = {{ms / 1000, (ms % 1000) * 1000000}, {ms / 1000, (ms % 1000) * 1000000}};
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = t};
	if (t < 0 || ep < 0 || timerfd_settime(t, 0, &every, NULL) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, t, &ev) < 0) {
		perror("floor: timer");
		return 1;
	}
	ev.data.fd = s;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) < 0) {
		perror("floor: epoll");
		return 1;
	}
	volatile unsigned sum = 0;
	for (;;) {
		struct epoll_event evs[4];
		int n = epoll_wait(ep, evs, 4, -1);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.fd == t) {
				uint64_t expired;
				if (read(t, &expired, sizeof expired) < 0)
					continue;
				sendto(s, out, size, 0, (struct sockaddr *)&peer, sizeof peer);
				continue;
			}
			ssize_t got;
			while ((got = recv(s, in, sizeof in, MSG_DONTWAIT)) > 0)
				for (ssize_t j = 0; j < got; j++)
					sum += (unsigned char)in[j];
		}
	}
}
