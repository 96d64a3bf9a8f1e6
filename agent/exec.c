/* exec.c: helper programs with a deadline, captured output, a namespace. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/nsfs.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/mount.h>
#include <grp.h>
#include <time.h>
#include <unistd.h>

#include "cg/exec.h"

extern char **environ;

/* Where programs are looked for after $PATH. */
static const char *const fallback_dirs[] = {
	"/usr/sbin", "/usr/bin", "/sbin", "/bin", NULL,
};

void cg_exec_init(struct cg_exec *x, const char *const *argv)
{
	memset(x, 0, sizeof(*x));
	x->argv = argv;
	x->out_max = CG_EXEC_OUT_MAX;
	x->err_max = CG_EXEC_ERR_MAX;
	x->timeout_ms = CG_EXEC_TIMEOUT_MS;
	x->netns_fd = -1;
	x->in_fd = -1;
	x->uid = (uid_t)-1;
	x->gid = (gid_t)-1;
}

void cg_exec_result_release(struct cg_exec_result *res)
{
	if (!res)
		return;
	cg_buf_release(&res->out);
	cg_buf_release(&res->err);
	res->status = 0;
}

static bool is_executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(path, X_OK) == 0;
}

static char *find_in(const char *dirs, const char *name)
{
	const char *p = dirs;

	while (p && *p) {
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);

		/* An empty or relative entry would depend on our cwd. */
		if (len && p[0] == '/') {
			char *path = cg_xasprintf("%.*s/%s", (int)len, p, name);

			if (is_executable(path))
				return path;
			free(path);
		}
		p = colon ? colon + 1 : NULL;
	}
	return NULL;
}

int cg_exec_find(const char *name, char **out, struct cg_error *err)
{
	char *path;
	size_t i;

	if (strchr(name, '/')) {
		if (!is_executable(name))
			return cg_error_set(err, CG_ENOTFOUND,
					    "%s: no such program", name);
		*out = cg_xstrdup(name);
		return 0;
	}
	path = find_in(getenv("PATH"), name);
	for (i = 0; !path && fallback_dirs[i]; i++)
		path = find_in(fallback_dirs[i], name);
	if (!path) {
		cg_error_set(err, CG_ENOTFOUND, "%s: program not found", name);
		cg_error_hint(err, "install it, or put its directory in PATH");
		return CG_ENOTFOUND;
	}
	*out = path;
	return 0;
}

/*
 * name as the child will see it chrooted into root: a path as it is,
 * else the first of the fallback directories that has it inside root.
 */
static int find_in_root(const char *root, const char *name, char **out,
			struct cg_error *err)
{
	size_t i;

	if (strchr(name, '/')) {
		*out = cg_xstrdup(name);
		return 0;
	}
	for (i = 0; fallback_dirs[i]; i++) {
		char *full = cg_xasprintf("%s%s/%s", root, fallback_dirs[i],
					  name);
		struct stat st;
		bool found = lstat(full, &st) == 0 &&
			     (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode));

		free(full);
		if (found) {
			*out = cg_xasprintf("%s/%s", fallback_dirs[i], name);
			return 0;
		}
	}
	cg_error_set(err, CG_ENOTFOUND, "%s: program not found in %s", name,
		     root);
	cg_error_hint(err, "install it in the root, or give its full path");
	return CG_ENOTFOUND;
}

/* Move fd above stderr, so that the child's dup2s cannot collide. */
static int high_fd(int fd)
{
	int h;

	if (fd > 2)
		return fd;
	h = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return h;
}

static int pipe_high(int p[2])
{
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	p[0] = high_fd(p[0]);
	p[1] = high_fd(p[1]);
	if (p[0] < 0 || p[1] < 0) {
		if (p[0] >= 0)
			close(p[0]);
		if (p[1] >= 0)
			close(p[1]);
		return -1;
	}
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* What went wrong in the child before execve, sent through a pipe. */
struct child_failure {
	int stage; /* 1 setns, 2 dup2, 3 execve, 4 chroot, 5 chdir, 6 ids,
		      7 binds */
	int err;
};

static void __attribute__((noreturn))
child_fail(int rep, int stage)
{
	struct child_failure f = { stage, errno };
	ssize_t n = write(rep, &f, sizeof(f));

	(void)n;
	_exit(127);
}

/* In the child: only async-signal-safe calls until execve. */
static void __attribute__((noreturn))
child_exec(const char *path, const struct cg_exec *x, int netfd, int in,
	   int out, int errfd, int rep)
{
	const char *const *env = x->envp ? x->envp : (const char *const *)environ;
	char *const *av, *const *ev;
	struct sigaction sa;
	sigset_t none;

	/* execve's prototype predates const; it does not write them. */
	memcpy(&av, &x->argv, sizeof(av));
	memcpy(&ev, &env, sizeof(ev));

	/* Our own process group, so a deadline kills helpers it started. */
	setpgid(0, 0);
	if (netfd >= 0 && setns(netfd, CLONE_NEWNET) < 0)
		child_fail(rep, 1);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0)
		child_fail(rep, 2);
	if (x->binds) {
		size_t i;

		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			child_fail(rep, 7);
		for (i = 0; x->binds[i] && x->binds[i + 1]; i += 2)
			if (mount(x->binds[i], x->binds[i + 1], NULL,
				  MS_BIND | MS_REC, NULL) < 0)
				child_fail(rep, 7);
	}
	if (x->root && (chroot(x->root) < 0 || chdir("/") < 0))
		child_fail(rep, 4);
	if (x->cwd && chdir(x->cwd) < 0)
		child_fail(rep, 5);
	if (x->gid != (gid_t)-1 &&
	    (setgroups(1, &x->gid) < 0 || setgid(x->gid) < 0))
		child_fail(rep, 6);
	if (x->uid != (uid_t)-1 && setuid(x->uid) < 0)
		child_fail(rep, 6);
	/* Whatever else is open (a lock, a socket) is not the child's. */
	syscall(SYS_close_range, 3u, ~0u, 4u /* CLOSE_RANGE_CLOEXEC */);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(path, av, ev);
	child_fail(rep, 3);
}

static int remaining_ms(uint64_t deadline)
{
	uint64_t now = cg_now_ns();

	if (now >= deadline)
		return 0;
	return (int)((deadline - now + 999999) / 1000000);
}

static void kill_child(pid_t pid)
{
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
}

/* Wait for pid until the deadline; false if it is still running. */
static bool wait_until(pid_t pid, int *status, uint64_t deadline)
{
	long sleep_ns = 100000;

	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);
		struct timespec ts;

		if (w == pid)
			return true;
		if (w < 0 && errno != EINTR)
			return true; /* not our child any more: nothing to wait */
		if (cg_now_ns() >= deadline)
			return false;
		ts.tv_sec = 0;
		ts.tv_nsec = sleep_ns;
		nanosleep(&ts, NULL);
		if (sleep_ns < 10000000)
			sleep_ns *= 2;
	}
}

/* Read what is there on fd into b (keeping at most max); 0 at EOF. */
static ssize_t drain(int fd, struct cg_buf *b, size_t max)
{
	char chunk[65536];
	ssize_t n = read(fd, chunk, sizeof(chunk));

	if (n > 0 && b->len < max)
		cg_buf_add(b, chunk,
			   (size_t)n < max - b->len ? (size_t)n : max - b->len);
	return n;
}

int cg_exec_run(const struct cg_exec *x, struct cg_exec_result *res,
		struct cg_error *err)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, errp[2] = { -1, -1 };
	int rep[2] = { -1, -1 }, netfd = -1, status = 0, rc = CG_ERR;
	const char *name = x->argv[0];
	sigset_t pipe_set, old_set;
	struct child_failure cf;
	size_t in_off = 0;
	uint64_t deadline;
	bool overflow = false;
	char *path = NULL;
	ssize_t n;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	rc = x->root ? find_in_root(x->root, name, &path, err)
		     : cg_exec_find(name, &path, err);
	if (rc < 0)
		return rc;
	if (x->netns) {
		rc = cg_netns_open(x->netns, &netfd, err);
		if (rc < 0)
			goto out_free_path;
	}
	rc = CG_ERR;
	if (x->in_fd >= 0) {
		in[0] = fcntl(x->in_fd, F_DUPFD_CLOEXEC, 3);
		if (in[0] < 0) {
			cg_error_sys(err, CG_ERR, "cannot duplicate stdin for %s",
				     name);
			goto out_close;
		}
	} else if (x->in) {
		if (pipe_high(in) < 0) {
			cg_error_sys(err, CG_ERR, "pipe failed");
			goto out_close;
		}
	} else {
		in[0] = high_fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
		if (in[0] < 0) {
			cg_error_sys(err, CG_ERR, "cannot open /dev/null");
			goto out_close;
		}
	}
	if (pipe_high(out) < 0 || pipe_high(errp) < 0 || pipe_high(rep) < 0) {
		cg_error_sys(err, CG_ERR, "pipe failed");
		goto out_close;
	}
	/* A child that exits before reading its input must not kill us. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigprocmask(SIG_BLOCK, &pipe_set, &old_set);

	deadline = cg_now_ns() + (uint64_t)x->timeout_ms * 1000000u;
	pid = fork();
	if (pid < 0) {
		cg_error_sys(err, CG_ERR, "cannot start %s: fork failed", name);
		goto out_sigmask;
	}
	if (pid == 0)
		child_exec(path, x, x->netns ? netfd : x->netns_fd, in[0],
			   out[1], errp[1], rep[1]);
	/* Also here, so that a kill at the deadline cannot miss the group. */
	setpgid(pid, pid);
	close_fd(&in[0]);
	close_fd(&out[1]);
	close_fd(&errp[1]);
	close_fd(&rep[1]);

	/* execve closes rep (O_CLOEXEC): EOF means it started. */
	do
		n = read(rep[0], &cf, sizeof(cf));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(cf)) {
		waitpid(pid, &status, 0);
		errno = cf.err;
		if (cf.stage == 1)
			cg_error_sys(err, CG_ERR,
				     "cannot run %s in the network namespace",
				     name);
		else if (cf.stage == 4)
			cg_error_sys(err, CG_ERR, "cannot run %s chrooted "
				     "into %s", name, x->root);
		else if (cf.stage == 7)
			cg_error_sys(err, CG_ERR, "cannot run %s with the "
				     "root's directories mounted", name);
		else if (cf.stage == 5)
			cg_error_sys(err, CG_ERR, "cannot run %s in %s", name,
				     x->cwd);
		else if (cf.stage == 6)
			cg_error_sys(err, CG_ERR, "cannot run %s as uid %ld "
				     "gid %ld", name, (long)x->uid,
				     (long)x->gid);
		else
			rc = cg_error_sys(err, cf.err == ENOENT ? CG_ENOTFOUND
							       : CG_ERR,
					  "cannot run %s", path);
		goto out_sigmask;
	}
	if (in[1] >= 0)
		fcntl(in[1], F_SETFL, O_NONBLOCK);
	if (in[1] >= 0 && x->in_len == 0)
		close_fd(&in[1]);

	while (in[1] >= 0 || out[0] >= 0 || errp[0] >= 0) {
		struct pollfd p[3];
		int np = 0, i, ms = remaining_ms(deadline);

		if (ms == 0)
			goto out_timeout;
		if (in[1] >= 0)
			p[np++] = (struct pollfd){ in[1], POLLOUT, 0 };
		if (out[0] >= 0)
			p[np++] = (struct pollfd){ out[0], POLLIN, 0 };
		if (errp[0] >= 0)
			p[np++] = (struct pollfd){ errp[0], POLLIN, 0 };
		if (poll(p, (nfds_t)np, ms) < 0) {
			if (errno == EINTR)
				continue;
			cg_error_sys(err, CG_ERR, "poll failed");
			kill_child(pid);
			waitpid(pid, &status, 0);
			goto out_sigmask;
		}
		for (i = 0; i < np; i++) {
			if (!p[i].revents)
				continue;
			if (p[i].fd == in[1]) {
				n = write(in[1], (const char *)x->in + in_off,
					  x->in_len - in_off);
				if (n > 0)
					in_off += (size_t)n;
				/* EPIPE: it stopped reading; what it says
				 * and its status tell the rest. */
				if ((n < 0 && errno != EAGAIN &&
				     errno != EINTR) ||
				    in_off == x->in_len)
					close_fd(&in[1]);
			} else if (p[i].fd == out[0]) {
				n = drain(out[0], &res->out, x->out_max + 1);
				if (n == 0 || (n < 0 && errno != EINTR &&
					       errno != EAGAIN))
					close_fd(&out[0]);
				if (res->out.len > x->out_max) {
					overflow = true;
					close_fd(&out[0]);
				}
			} else {
				n = drain(errp[0], &res->err, x->err_max);
				if (n == 0 || (n < 0 && errno != EINTR &&
					       errno != EAGAIN))
					close_fd(&errp[0]);
			}
		}
		if (overflow) {
			kill_child(pid);
			waitpid(pid, &status, 0);
			cg_error_set(err, CG_ERR,
				     "%s printed more than %zu bytes; stopped it",
				     name, x->out_max);
			goto out_sigmask;
		}
	}
	if (!wait_until(pid, &status, deadline))
		goto out_timeout;
	res->status = WIFEXITED(status)	  ? WEXITSTATUS(status)
		      : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
					    : 255;
	rc = 0;
	goto out_sigmask;

out_timeout:
	kill_child(pid);
	waitpid(pid, &status, 0);
	res->status = 128 + SIGKILL;
	rc = cg_error_set(err, CG_ETIMEOUT,
			  "%s did not finish within %u s; killed it", name,
			  (x->timeout_ms + 999) / 1000);
out_sigmask:
	{
		/* Take a SIGPIPE we caused before unblocking it. */
		struct timespec zero = { 0, 0 };
		sigset_t pending;

		close_fd(&in[1]);
		sigpending(&pending);
		if (sigismember(&pending, SIGPIPE) &&
		    !sigismember(&old_set, SIGPIPE))
			sigtimedwait(&pipe_set, NULL, &zero);
		sigprocmask(SIG_SETMASK, &old_set, NULL);
	}
out_close:
	close_fd(&in[0]);
	close_fd(&in[1]);
	close_fd(&out[0]);
	close_fd(&out[1]);
	close_fd(&errp[0]);
	close_fd(&errp[1]);
	close_fd(&rep[0]);
	close_fd(&rep[1]);
	close_fd(&netfd);
out_free_path:
	free(path);
	if (res->out.data)
		res->out.data[res->out.len] = '\0';
	if (res->err.data)
		res->err.data[res->err.len] = '\0';
	return rc;
}

void cg_exec_first_line(const struct cg_exec_result *res, char *buf,
			size_t size)
{
	const char *p = res->err.data ? res->err.data : "";

	buf[0] = '\0';
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' ||
			       p[len - 1] == '\r'))
			len--;
		while (len && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		if (len) {
			snprintf(buf, size, "%.*s", (int)len, p);
			return;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
}

int cg_netns_new(int *fd_out, struct cg_error *err)
{
	int up[2] = { -1, -1 }, down[2] = { -1, -1 }, e = 0, fd, rc = CG_ERR;
	char path[64];
	pid_t pid;
	ssize_t n;

	if (pipe_high(up) < 0 || pipe_high(down) < 0) {
		cg_error_sys(err, CG_ERR, "pipe failed");
		goto out;
	}
	/*
	 * A child makes the namespace and holds it until we have opened it:
	 * unshare(2) in this process would move the agent itself, and a
	 * failure to move back would leave it changing the wrong firewall.
	 */
	pid = fork();
	if (pid < 0) {
		cg_error_sys(err, CG_ERR, "fork failed");
		goto out;
	}
	if (pid == 0) {
		char c;

		close(up[0]);
		close(down[1]);
		if (unshare(CLONE_NEWNET) < 0)
			e = errno;
		n = write(up[1], &e, sizeof(e));
		n = read(down[0], &c, 1); /* EOF: the parent is done */
		(void)n;
		_exit(0);
	}
	close_fd(&up[1]);
	close_fd(&down[0]);
	do
		n = read(up[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(e)) {
		cg_error_set(err, CG_ERR, "cannot make a network namespace");
	} else if (e) {
		errno = e;
		cg_error_sys(err, CG_ERR, "cannot make a network namespace");
		if (e == EPERM)
			cg_error_hint(err, "this needs root (CAP_SYS_ADMIN)");
	} else {
		snprintf(path, sizeof(path), "/proc/%ld/ns/net", (long)pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			cg_error_sys(err, CG_ERR, "cannot open %s", path);
		} else {
			*fd_out = fd;
			rc = 0;
		}
	}
	close_fd(&down[1]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
out:
	close_fd(&up[0]);
	close_fd(&up[1]);
	close_fd(&down[0]);
	close_fd(&down[1]);
	return rc;
}

int cg_netns_open(const char *name, int *fd_out, struct cg_error *err)
{
	char path[PATH_MAX];
	int fd;

	if (!name[0] || strchr(name, '/') || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0 || strlen(name) > 200) {
		cg_error_set(err, CG_ERR, "invalid network namespace name '%s'",
			     name);
		cg_error_hint(err, "give a name as `ip netns list` shows it");
		return CG_ERR;
	}
	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		cg_error_sys(err, e == ENOENT ? CG_ENOTFOUND : CG_ERR,
			     "cannot open network namespace '%s' (%s)", name,
			     path);
		if (e == ENOENT)
			cg_error_hint(err, "create it with `ip netns add %s`, "
					   "or fix --netns",
				      name);
		return e == ENOENT ? CG_ENOTFOUND : CG_ERR;
	}
	/* A leftover file whose mount is gone is not a namespace. */
	if (ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET) {
		close(fd);
		cg_error_set(err, CG_ERR, "%s is not a network namespace",
			     path);
		cg_error_hint(err, "recreate it: ip netns delete %s; ip netns "
				   "add %s",
			      name, name);
		return CG_ERR;
	}
	*fd_out = fd;
	return 0;
}
