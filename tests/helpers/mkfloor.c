/* mkfloor.c: the bare cost a first run is measured against: create and write each file, no sync. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char path[4096], dir[4096] = "", buf[256];
	unsigned long n = 0;

	(void)argc;
	(void)argv;
	/*
	 * Paths on stdin, one per line; their directories are made (one
	 * level). Each gets as many bytes as the bench policy's content.
	 */
	while (fgets(path, sizeof(path), stdin)) {
		char *slash;
		int fd, len;

		path[strcspn(path, "\n")] = '\0';
		slash = strrchr(path, '/');
		if (slash && (size_t)(slash - path) < sizeof(dir) &&
		    (strncmp(dir, path, (size_t)(slash - path)) != 0 ||
		     dir[slash - path] != '\0')) {
			memcpy(dir, path, (size_t)(slash - path));
			dir[slash - path] = '\0';
			if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
				perror(dir);
				return 1;
			}
		}
		n++;
		len = snprintf(buf, sizeof(buf),
			       "# generated config %05lu\nkey = value-%05lu\n"
			       "other = %s\n",
			       n, n,
			       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			       "aaaaaaaaaaaaaaaa");
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, buf, (size_t)len) != len) {
			perror(path);
			return 1;
		}
		close(fd);
	}
	printf("%lu files written\n", n);
	return 0;
}
