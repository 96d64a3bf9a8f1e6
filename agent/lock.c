/* lock.c: one run at a time, with flock(2) on STATE/lock. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

/* The lock this process holds, for children to let go of (-1: none). */
static int held_fd = -1;

/*
 * Say who holds the lock: "pid N since TIME", padded with spaces to a
 * fixed HOLDER_LEN bytes, written over the last holder's line in the
 * blocks it already has: no truncation (a journaled metadata change) on
 * every run, only when the file is not that size yet.
 */
#define HOLDER_LEN 64

static void write_holder(int fd, const char *when)
{
	char line[HOLDER_LEN + 1];
	struct stat st;
	int len;

	len = snprintf(line, sizeof(line), "pid %d since %s", (int)getpid(),
		       when);
	if (len < 0 || len >= HOLDER_LEN)
		len = HOLDER_LEN - 1;
	memset(line + len, ' ', (size_t)(HOLDER_LEN - 1 - len));
	line[HOLDER_LEN - 1] = '\n';
	if (fstat(fd, &st) == 0 && st.st_size != HOLDER_LEN &&
	    ftruncate(fd, 0) < 0)
		return;
	(void)!pwrite(fd, line, HOLDER_LEN, 0);
}

int cg_lock_take(const char *state_dir, int *fd_out, struct cg_error *err)
{
	char *path = cg_xasprintf("%s/lock", state_dir);
	char buf[128], when[32];
	int fd, rc = CG_ERR;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		cg_error_sys(err, CG_ERR, "cannot open %s", path);
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ssize_t n;

		if (errno != EWOULDBLOCK) {
			cg_error_sys(err, CG_ERR, "cannot lock %s", path);
			close(fd);
			goto out;
		}
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		n = (ssize_t)strlen(buf);
		while (n > 0 && buf[n - 1] == ' ')
			buf[--n] = '\0';
		cg_error_set(err, CG_ELOCKED,
			     "another congruent run holds %s (%s)", path,
			     buf[0] ? buf : "pid unknown");
		cg_error_hint(err, "wait for it to finish; the lock is freed "
				   "when that process ends");
		close(fd);
		rc = CG_ELOCKED;
		goto out;
	}
	/*
	 * flock locks go with the process: a run that died released it, so
	 * there is never a stale lock to break, only an old pid to replace.
	 */
	cg_time_iso(when, (int64_t)time(NULL));
	write_holder(fd, when);
	*fd_out = fd;
	held_fd = fd;
	rc = 0;
out:
	free(path);
	return rc;
}

void cg_lock_release(int fd)
{
	if (fd >= 0)
		close(fd);
	if (fd == held_fd)
		held_fd = -1;
}

void cg_child_of_run(pid_t parent, unsigned timeout_s)
{
	sigset_t all;

	/*
	 * A flock belongs to the open file, which fork shares: a child that
	 * kept its copy would hold the lock after the run died.
	 */
	if (held_fd >= 0)
		close(held_fd);
	held_fd = -1;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
	/* The parent's deadline dies with the parent: keep one here too. */
	if (timeout_s) {
		signal(SIGALRM, SIG_DFL);
		sigemptyset(&all);
		sigaddset(&all, SIGALRM);
		sigprocmask(SIG_UNBLOCK, &all, NULL);
		alarm(timeout_s);
	}
}
