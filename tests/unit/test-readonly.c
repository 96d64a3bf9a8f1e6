/* test-readonly.c: the plan sandbox's mounts: both ways to make them read-only, and the check. */
#include <linux/capability.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../agent/agent.h"
#include "tap.h"

/*
 * In a child with a private mount namespace: remount (walk or not), then
 * the check must pass and a file must not be creatable. Exit status:
 * 0 fine, 1 remount failed, 2 check failed, 3 a write got through.
 */
static int in_child(bool walk, char *msg, size_t size)
{
	int p[2], status = 0;
	ssize_t n;
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		struct cg_error err;
		unsigned count;
		char path[64];
		int fd, rc = 0;

		close(p[0]);
		cg_error_clear(&err);
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
			cg_error_sys(&err, CG_ERR, "unshare");
			rc = 1;
		} else if (cg_sandbox_remount(walk, &err) < 0) {
			rc = 1;
		} else if (cg_sandbox_check_mounts(&count, &err) < 0) {
			rc = 2;
		} else {
			snprintf(path, sizeof(path), "/tmp/cg-ro-%d",
				 (int)getpid());
			fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
			if (fd >= 0 || errno != EROFS) {
				snprintf(err.msg, sizeof(err.msg),
					 "created %s (errno %d)", path, errno);
				if (fd >= 0)
					unlink(path);
				rc = 3;
			} else {
				snprintf(err.msg, sizeof(err.msg),
					 "%u mounts", count);
			}
		}
		(void)!write(p[1], err.msg, strlen(err.msg));
		_exit(rc);
	}
	close(p[1]);
	n = read(p[0], msg, size - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(p[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 99;
}

/*
 * The whole sandbox, in a child: a directory fd and a file fd opened
 * before. Through the first, nothing can be created (/tmp is writable by
 * anyone, so only the read-only mount stops it); the second is closed.
 * Exit status: 0 fine, 1 no sandbox, 2 created a file, 3 fd still open.
 */
static int sandbox_child(char *msg, size_t size)
{
	int p[2], status = 0;
	ssize_t n;
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		struct cg_error err;
		char summary[256] = "", name[64];
		int dir = open("/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);
		int file = open("/dev/null", O_WRONLY | O_CLOEXEC);
		int fd, rc = 0;

		close(p[0]);
		cg_error_clear(&err);
		snprintf(name, sizeof(name), "cg-ro-fd-%d", (int)getpid());
		if (cg_sandbox_enter(p[1], summary, sizeof(summary), &err) < 0) {
			rc = 1;
		} else if ((fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL,
					0600)) >= 0 ||
			   errno != EROFS) {
			snprintf(err.msg, sizeof(err.msg),
				 "openat through the old fd: %d, errno %d", fd,
				 errno);
			rc = 2;
		} else if (fcntl(file, F_GETFD) >= 0) {
			snprintf(err.msg, sizeof(err.msg), "fd %d still open",
				 file);
			rc = 3;
		} else {
			snprintf(err.msg, sizeof(err.msg), "%s", summary);
		}
		(void)!write(p[1], err.msg, strlen(err.msg));
		_exit(rc);
	}
	close(p[1]);
	n = read(p[0], msg, size - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(p[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 99;
}

int main(void)
{
	struct cg_error err;
	unsigned count;
	char msg[1024];

	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (mount namespaces)\n");
		return 0;
	}
	if (!tap_have_cap(CAP_SYS_ADMIN)) {
		printf("1..0 # SKIP needs CAP_SYS_ADMIN (mount namespaces)\n");
		return 0;
	}
	cg_error_clear(&err);
	tap_ok(cg_sandbox_check_mounts(&count, &err) < 0,
	       "the check finds this namespace's writable mounts");
	tap_has_str(err.msg, "read-write", "and says which is read-write");

	tap_is_int(in_child(false, msg, sizeof(msg)), 0,
		   "mount_setattr: every mount read-only and nodev, "
		   "writes refused");
	tap_diag(msg);
	tap_is_int(in_child(true, msg, sizeof(msg)), 0,
		   "one remount per mount (old kernels): the same");
	tap_diag(msg);

	tap_is_int(sandbox_child(msg, sizeof(msg)), 0,
		   "the sandbox: a directory fd from before leads to read-only "
		   "mounts, a file fd from before is closed");
	tap_diag(msg);

	cg_error_clear(&err);
	tap_ok(cg_sandbox_check_mounts(&count, &err) < 0 &&
		       strstr(err.msg, "read-write"),
	       "the host's mounts are untouched");
	return tap_done();
}
