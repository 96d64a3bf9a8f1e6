/* syslog-sink.c: a stand-in /dev/log for tests: print each datagram sent to a socket as a line. */
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/*
 *   syslog-sink SOCKET SECONDS
 *
 * Binds a datagram socket at SOCKET (what syslog(3) sends to) and prints
 * each message received as one line on stdout, flushed, for SECONDS at
 * most; a SIGTERM ends it sooner. "ready" goes to stderr once bound.
 */
int main(int argc, char **argv)
{
	struct sockaddr_un sa;
	char buf[8192];
	int fd;

	if (argc != 3 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: syslog-sink SOCKET SECONDS\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	unlink(argv[1]);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("syslog-sink: bind");
		return 1;
	}
	signal(SIGTERM, SIG_DFL);
	alarm((unsigned)atoi(argv[2]));
	fprintf(stderr, "ready\n");
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

		if (n < 0)
			continue;
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\0'))
			n--;
		buf[n] = '\0';
		printf("%s\n", buf);
		fflush(stdout);
	}
}
