/* exec.h: run a helper program with a deadline and capture what it says. */
#ifndef CG_EXEC_H
#define CG_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "cg/error.h"
#include "cg/util.h"

#define CG_EXEC_TIMEOUT_MS 30000u   /* default deadline */
#define CG_EXEC_OUT_MAX (64u << 20) /* default bound on stdout */
#define CG_EXEC_ERR_MAX (64u << 10) /* default bound on stderr kept */

/*
 * What to run. Never through a shell: argv goes to execve(2) as it is.
 * Fill it with cg_exec_init(), then set what differs from the defaults.
 */
struct cg_exec {
	/*
	 * borrowed, NULL-terminated. argv[0] is a path, or a name looked up
	 * in $PATH and then /usr/sbin:/usr/bin:/sbin:/bin (an agent started
	 * by cron may have a PATH without sbin).
	 */
	const char *const *argv;
	const char *const *envp; /* borrowed; NULL: our environment */
	const void *in;          /* borrowed: bytes for stdin; NULL: /dev/null */
	size_t in_len;
	/*
	 * Or an open file for stdin (-1: none; it wins over in): for a
	 * program that insists on a regular file (APT_CONFIG=/dev/stdin
	 * with a memfd). Borrowed; the child gets a duplicate.
	 */
	int in_fd;
	size_t out_max;      /* more stdout is an error, and the child killed */
	size_t err_max;      /* stderr beyond this is read and dropped */
	unsigned timeout_ms; /* then the child's process group is killed */
	/*
	 * Run inside a network namespace: netns names one made by `ip netns
	 * add` (/run/netns/NAME); netns_fd is an open namespace file (from
	 * cg_netns_new). At most one; NULL and -1 for neither. The child
	 * enters it with setns(2) before execve, so nothing else (no `ip
	 * netns exec`, no shell) runs in between.
	 */
	const char *netns;
	int netns_fd;
	/*
	 * For commands a policy gives (exec:). root: chroot(2) into this
	 * directory before execve; argv[0] is then looked up inside it
	 * (in /usr/sbin:/usr/bin:/sbin:/bin there, never our $PATH). cwd:
	 * the working directory (inside root); NULL: "/" with a root, else
	 * ours. uid/gid: (uid_t)-1 and (gid_t)-1 (cg_exec_init) keep ours;
	 * otherwise the child drops its supplementary groups and takes
	 * these. own_timeout: cg_ctx_exec keeps timeout_ms instead of the
	 * agent's helper deadline.
	 */
	const char *root;
	const char *cwd;
	/*
	 * NULL, or NULL-terminated pairs (from, onto): the child enters a
	 * mount namespace of its own and bind-mounts each from over onto
	 * before execve, seen by it alone (apt under --root, whose
	 * Signed-By paths must name the root's keyrings). Needs
	 * CAP_SYS_ADMIN.
	 */
	const char *const *binds;
	uid_t uid;
	gid_t gid;
	bool own_timeout;
};

struct cg_exec_result {
	int status;         /* exit status, or 128 + signal number */
	struct cg_buf out;  /* stdout */
	struct cg_buf err;  /* stderr, at most err_max bytes of it */
};

/* Defaults: argv, no input (in_fd -1), 30 s, 64 MiB of stdout, no namespace. */
void cg_exec_init(struct cg_exec *x, const char *const *argv);

/*
 * Run x and wait for it. Returns 0 when the program ran to its end,
 * whatever its exit status (res->status says); CG_ETIMEOUT when it was
 * killed at the deadline; CG_ENOTFOUND when the program or the namespace
 * does not exist; CG_ERR otherwise (output too large, cannot fork, ...).
 * res is filled as far as the program got, also on errors, and the caller
 * releases it. SIGPIPE is blocked while the child's stdin is written.
 */
int cg_exec_run(const struct cg_exec *x, struct cg_exec_result *res,
		struct cg_error *err);

void cg_exec_result_release(struct cg_exec_result *res);

/* The path cg_exec_run would run for name; *out is the caller's. */
int cg_exec_find(const char *name, char **out, struct cg_error *err);

/*
 * The first line of the child's stderr that says something, trimmed, into
 * buf (empty if there is none): for error messages.
 */
void cg_exec_first_line(const struct cg_exec_result *res, char *buf,
			size_t size);

/*
 * A new, empty network namespace (as `unshare --net`), kept alive by the
 * open file *fd_out: for trying things out without touching the host's.
 * Needs CAP_SYS_ADMIN.
 */
int cg_netns_new(int *fd_out, struct cg_error *err);

/* Open /run/netns/NAME, checking it is a network namespace. */
int cg_netns_open(const char *name, int *fd_out, struct cg_error *err);

#endif
