/* SPDX-License-Identifier: MIT */
/* The pingpong workload's connection: a TCP pair on 127.0.0.1. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer.h"

static int fail(int l, int c, char *err, const char *what)
{
	snprintf(err, LOOP_ERRLEN, "%s: %s", what, strerror(errno));
	if (l >= 0)
		close(l);
	if (c >= 0)
		close(c);
	return -1;
}

int loop_tcp_pair(int fd[2], char *err)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	int one = 1;
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int c = -1;
	if (l < 0)
		return fail(l, c, err, "socket");
	if (bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &len) != 0)
		return fail(l, c, err, "listen on 127.0.0.1");
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) != 0)
		return fail(l, c, err, "connect to 127.0.0.1");
	int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0)
		return fail(l, c, err, "accept");
	close(l);
	fd[0] = c;
	fd[1] = s;
	for (int i = 0; i < 2; i++) {
		setsockopt(fd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		fcntl(fd[i], F_SETFL, fcntl(fd[i], F_GETFL) | O_NONBLOCK);
	}
	return 0;
}
