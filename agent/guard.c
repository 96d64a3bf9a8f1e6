/* guard.c: a dead-man for a change that could cut the host off: it undoes the change unless confirmed. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "agent.h"
#include "cg/exec.h"
#include "cg/module.h"

/* How the watcher ends: the agent learns what happened from it. */
enum {
	GUARD_CANCELLED = 0,   /* confirmed: nothing done */
	GUARD_UNDONE = 3,      /* undone: the held programs all succeeded */
	GUARD_UNDO_FAILED = 4, /* undone as far as it went: one failed */
};

/* --- the watcher (the child) ----------------------------------------- */

struct held {
	char *msg; /* owned: the last hold message, parsed in place */
	size_t len;
};

static bool read_full(int fd, void *buf, size_t len, uint64_t deadline,
		      bool *timed_out)
{
	char *p = buf;

	while (len) {
		struct pollfd pf = { fd, POLLIN, 0 };
		uint64_t now = cg_now_ns();
		int ms = now >= deadline ? 0
					 : (int)((deadline - now) / 1000000 + 1);
		ssize_t n;
		int r = poll(&pf, 1, ms);

		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			*timed_out = true;
			return false;
		}
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false; /* EOF: the agent is gone */
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static uint32_t get_u32(const char **p, const char *end)
{
	uint32_t v;

	if ((size_t)(end - *p) < sizeof(v))
		return 0;
	memcpy(&v, *p, sizeof(v));
	*p += sizeof(v);
	return v;
}

/*
 * Run what is held, in order. A hold is entries of: argc, argc strings
 * with their NUL, ninputs, then each input as length and bytes. Of an
 * entry's inputs the first the program takes (exit 0) is the one.
 */
static int guard_fire(const struct cg_ctx *ctx, const struct held *h)
{
	const char *p = h->msg, *end = h->msg ? h->msg + h->len : NULL;
	int result = GUARD_UNDONE;

	while (p && p < end) {
		uint32_t argc = get_u32(&p, end), nin, i;
		const char **argv = cg_xcalloc(argc + 1, sizeof(*argv));
		bool ok = false;

		for (i = 0; i < argc && p < end; i++) {
			argv[i] = p;
			p += strnlen(p, (size_t)(end - p)) + 1;
		}
		nin = get_u32(&p, end);
		for (i = 0; i < nin && p <= end; i++) {
			uint32_t len = get_u32(&p, end);
			struct cg_exec_result res;
			struct cg_exec x;
			struct cg_error e;

			if (len > (size_t)(end - p))
				break;
			if (!ok && argc) {
				cg_exec_init(&x, argv);
				x.in = p;
				x.in_len = len;
				x.netns = ctx->netns;
				x.timeout_ms = ctx->helper_timeout_ms
						       ? ctx->helper_timeout_ms
						       : CG_EXEC_TIMEOUT_MS;
				ok = cg_exec_run(&x, &res, &e) == 0 &&
				     res.status == 0;
				cg_exec_result_release(&res);
			}
			p += len;
		}
		if (!ok && nin)
			result = GUARD_UNDO_FAILED;
		free(argv);
	}
	return result;
}

static void guard_main(const struct cg_ctx *ctx, int fd, unsigned seconds)
{
	uint64_t deadline = cg_now_ns() + (uint64_t)seconds * 1000000000u;
	struct held h = { 0 };
	sigset_t none;
	int devnull;

	/*
	 * Its own session, deaf to the signals that stop the agent (a unit
	 * stop, ^C at a terminal): it outlives the agent to undo. Nothing
	 * of the agent's is kept open, the run's lock least of all, and its
	 * output goes nowhere: a caller waiting for the agent's output must
	 * not wait for this one too.
	 */
	setsid();
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	devnull = open("/dev/null", O_RDWR);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
	}
	if (dup2(fd, 3) < 0)
		_exit(GUARD_UNDO_FAILED);
	close_range(4, ~0u, 0);
	fd = 3;
	for (;;) {
		bool timed_out = false;
		char kind;
		uint32_t len;

		if (!read_full(fd, &kind, 1, deadline, &timed_out))
			break;
		if (kind == 'C')
			_exit(GUARD_CANCELLED);
		if (kind != 'H' ||
		    !read_full(fd, &len, sizeof(len), deadline, &timed_out))
			break;
		free(h.msg);
		h.msg = cg_xmalloc(len + 1u);
		h.len = len;
		if (!read_full(fd, h.msg, len, deadline, &timed_out)) {
			/* A hold cut short is no hold: keep none of it. */
			free(h.msg);
			h.msg = NULL;
			h.len = 0;
			break;
		}
	}
	_exit(guard_fire(ctx, &h));
}

/* --- the agent's side ------------------------------------------------ */

/*
 * A watcher that ended (it ran its undo at the deadline) closed its end:
 * writing then must be an error, EPIPE, not a SIGPIPE that kills the
 * run before it can say what happened.
 */
static int write_all(int fd, const void *buf, size_t len)
{
	struct sigaction ign, old;
	const char *p = buf;
	int rc = 0;

	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, &old);
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = -1;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	sigaction(SIGPIPE, &old, NULL);
	return rc;
}

/*
 * The systemd service the agent runs in, from /proc/self/cgroup
 * ("0::/system.slice/congruent.service"), into name; false when it runs
 * in none (a terminal, cron, no systemd). Only the path's first line is
 * looked at.
 */
static bool in_service(char *name, size_t size)
{
	struct cg_buf b = { 0 };
	const char *p, *e, *s;
	bool found = false;
	int fd;

	if (access("/run/systemd/system", F_OK) < 0)
		return false;
	fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (cg_read_fd(fd, &b, 1u << 16, NULL) == 0 && b.data) {
		/* The unified hierarchy, else systemd's own (cgroup v1). */
		p = strstr(b.data, "0::/");
		if (!p)
			p = strstr(b.data, ":name=systemd:/");
		e = p ? strchr(p, '\n') : NULL;
		s = p ? strstr(p, ".service") : NULL;
		found = s && (!e || s < e);
		if (found) {
			while (s > p && s[-1] != '/')
				s--;
			snprintf(name, size, "%.*s", (int)strcspn(s, "/\n"), s);
		}
	}
	close(fd);
	cg_buf_release(&b);
	return found;
}

/* Is pid in a cgroup whose path holds unit? */
static bool pid_in_unit(pid_t pid, const char *unit)
{
	struct cg_buf b = { 0 };
	char path[64];
	bool in = false;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (cg_read_fd(fd, &b, 1u << 16, NULL) == 0 && b.data)
		in = strstr(b.data, unit) != NULL;
	close(fd);
	cg_buf_release(&b);
	return in;
}

/*
 * Under a systemd service, the watcher is moved out of the service's
 * cgroup into a transient scope of its own (StartTransientUnit with its
 * PID, through busctl: what `systemd-run --scope` does for itself), so
 * that stopping or killing the service, whatever its KillMode, leaves it
 * running to undo. 0 when it is out (or there is no service); else the
 * watcher stays where it is, and why is in err.
 */
static int escape_service(pid_t pid, struct cg_error *err)
{
	char service[256], unit[64], pidbuf[16];
	const char *argv[] = {
		"busctl", "call", "--quiet", "--timeout=5",
		"org.freedesktop.systemd1", "/org/freedesktop/systemd1",
		"org.freedesktop.systemd1.Manager", "StartTransientUnit",
		"ssa(sv)a(sa(sv))", unit, "fail", "3",
		"PIDs", "au", "1", pidbuf,
		"Description", "s", "congruent firewall guard",
		"CollectMode", "s", "inactive-or-failed",
		"0", NULL,
	};
	struct cg_exec_result res;
	struct cg_exec x;
	int rc, i;

	if (!in_service(service, sizeof(service)))
		return 0;
	snprintf(unit, sizeof(unit), "congruent-guard-%d.scope", (int)pid);
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)pid);
	cg_exec_init(&x, argv);
	x.timeout_ms = 10000;
	rc = cg_exec_run(&x, &res, err);
	if (rc == 0 && res.status != 0) {
		char msg[256];

		cg_exec_first_line(&res, msg, sizeof(msg));
		rc = cg_error_set(err, CG_ERR, "busctl StartTransientUnit: %s",
				  msg);
	}
	cg_exec_result_release(&res);
	if (rc < 0)
		return rc;
	/* The scope's start job moves it; wait for that, briefly. */
	for (i = 0; i < 100 && !pid_in_unit(pid, unit); i++)
		usleep(10000);
	if (!pid_in_unit(pid, unit))
		return cg_error_set(err, CG_ERR, "%s did not take it", unit);
	return 0;
}

int cg_guard_arm(const struct cg_ctx *ctx, unsigned seconds,
		 struct cg_guard *g, struct cg_error *err)
{
	struct cg_error e;
	int p[2];
	pid_t pid;

	g->pid = -1;
	g->fd = -1;
	g->seconds = seconds;
	if (pipe2(p, O_CLOEXEC) < 0)
		return cg_error_sys(err, CG_ERR, "cannot arm the guard: pipe");
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return cg_error_sys(err, CG_ERR, "cannot arm the guard: fork");
	}
	if (pid == 0) {
		close(p[1]);
		guard_main(ctx, p[0], seconds);
	}
	close(p[0]);
	g->pid = pid;
	g->fd = p[1];
	cg_error_clear(&e);
	if (escape_service(pid, &e) < 0)
		cg_log(LOG_WARNING,
		       "the firewall guard (pid %d) stays in the agent's "
		       "service: stopping the service mid-change kills it "
		       "too: %s",
		       (int)pid, e.msg);
	return 0;
}

int cg_guard_hold(struct cg_guard *g, const struct cg_guard_undo *u, size_t n,
		  struct cg_error *err)
{
	struct cg_buf b = { 0 };
	uint32_t v;
	size_t i, k;
	int rc = 0;

	if (g->fd < 0)
		return cg_error_set(err, CG_ERR, "the guard is not armed");
	cg_buf_addch(&b, 'H');
	cg_buf_add(&b, "\0\0\0\0", 4); /* the length, filled in below */
	for (i = 0; i < n; i++) {
		for (k = 0; u[i].argv[k]; k++)
			;
		v = (uint32_t)k;
		cg_buf_add(&b, &v, sizeof(v));
		for (k = 0; u[i].argv[k]; k++)
			cg_buf_add(&b, u[i].argv[k], strlen(u[i].argv[k]) + 1);
		v = (uint32_t)u[i].nin;
		cg_buf_add(&b, &v, sizeof(v));
		for (k = 0; k < u[i].nin; k++) {
			v = (uint32_t)u[i].in_len[k];
			cg_buf_add(&b, &v, sizeof(v));
			cg_buf_add(&b, u[i].in[k], u[i].in_len[k]);
		}
	}
	v = (uint32_t)(b.len - 5);
	memcpy(b.data + 1, &v, sizeof(v));
	if (write_all(g->fd, b.data, b.len) < 0)
		rc = cg_error_sys(err, CG_ERR, "the guard (pid %d) is gone",
				  (int)g->pid);
	cg_buf_release(&b);
	return rc;
}

/* Wait for the watcher's end: what it did. */
static int guard_wait(struct cg_guard *g)
{
	int status = 0;
	pid_t w;

	if (g->fd >= 0)
		close(g->fd);
	g->fd = -1;
	if (g->pid <= 0)
		return GUARD_UNDO_FAILED;
	do
		w = waitpid(g->pid, &status, 0);
	while (w < 0 && errno == EINTR);
	g->pid = -1;
	if (w < 0 || !WIFEXITED(status))
		return GUARD_UNDO_FAILED;
	return WEXITSTATUS(status);
}

int cg_guard_confirm(struct cg_guard *g, struct cg_error *err)
{
	int rc;

	if (g->fd >= 0)
		(void)!write_all(g->fd, "C", 1);
	rc = guard_wait(g);
	if (rc == GUARD_CANCELLED)
		return 0;
	g->undone = rc == GUARD_UNDONE;
	cg_error_set(err, CG_ERR,
		     "not confirmed within guard_seconds (%u s): the guard "
		     "%s",
		     g->seconds,
		     rc == GUARD_UNDONE ? "rolled the change back"
					: "could not roll all of it back");
	return CG_ERR;
}

int cg_guard_fire(struct cg_guard *g, struct cg_error *err)
{
	int rc = guard_wait(g);

	g->undone = rc == GUARD_UNDONE;
	if (rc == GUARD_UNDONE)
		return 0;
	return cg_error_set(err, CG_ERR, "the guard could not undo the change");
}
