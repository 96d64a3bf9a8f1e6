/* iptables-guard.c: is the host still reachable after a change? Canaries, and what INPUT still lets in. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cg/exec.h"
#include "cg/module.h"
#include "iptables.h"

#define CONNECT_MS 3000
/* Exit codes of the connecting child beyond errno values. */
#define EX_RESOLVE 250
#define EX_NETNS 251
#define EX_TIMEOUT 252

/* In the child: connect to host:port, within CONNECT_MS. */
static int try_connect(const char *host, const char *port)
{
	struct addrinfo hints, *ai, *a;
	int last = ECONNREFUSED;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return EX_RESOLVE;
	for (a = ai; a; a = a->ai_next) {
		int fd = socket(a->ai_family,
				a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				a->ai_protocol);
		struct pollfd pf;
		socklen_t len = sizeof(last);

		if (fd < 0) {
			last = errno;
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
			close(fd);
			freeaddrinfo(ai);
			return 0;
		}
		if (errno != EINPROGRESS) {
			last = errno;
			close(fd);
			continue;
		}
		pf.fd = fd;
		pf.events = POLLOUT;
		pf.revents = 0;
		if (poll(&pf, 1, CONNECT_MS) <= 0) {
			last = EX_TIMEOUT;
			close(fd);
			continue;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &last, &len) < 0)
			last = errno;
		close(fd);
		if (last == 0) {
			freeaddrinfo(ai);
			return 0;
		}
	}
	freeaddrinfo(ai);
	return last > 0 && last < 250 ? last : last == EX_TIMEOUT ? EX_TIMEOUT
								  : EIO;
}

/*
 * A TCP connect from inside netns (the namespace the firewall work runs
 * in): a child enters it, so that the agent's own stays as it is.
 */
static int tcp_canary(const struct cg_ctx *ctx, const struct cg_canary *k,
		      char *why, size_t size)
{
	int status = 0, code, nsfd = -1;
	struct cg_error e;
	pid_t pid;

	if (ctx->netns && cg_netns_open(ctx->netns, &nsfd, &e) < 0) {
		snprintf(why, size, "%.300s", e.msg);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		if (nsfd >= 0)
			close(nsfd);
		snprintf(why, size, "cannot fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		alarm(CONNECT_MS / 1000 * 4 + 5);
		if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET) < 0)
			_exit(EX_NETNS);
		_exit(try_connect(k->host, k->port));
	}
	if (nsfd >= 0)
		close(nsfd);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	code = WIFEXITED(status) ? WEXITSTATUS(status) : EX_TIMEOUT;
	if (code == 0)
		return 0;
	if (code == EX_RESOLVE)
		snprintf(why, size, "cannot resolve %s", k->host);
	else if (code == EX_NETNS)
		snprintf(why, size, "cannot enter network namespace %s",
			 ctx->netns);
	else if (code == EX_TIMEOUT)
		snprintf(why, size, "no answer within %d s", CONNECT_MS / 1000);
	else
		snprintf(why, size, "%s", strerror(code));
	return -1;
}

static int command_canary(const struct cg_ctx *ctx, const struct cg_canary *k,
			  char *why, size_t size)
{
	struct cg_exec_result res;
	struct cg_exec x;
	struct cg_error e;
	char line[256];
	int rc;

	cg_exec_init(&x, k->argv);
	x.netns = ctx->netns;
	cg_error_clear(&e);
	rc = cg_ctx_exec(ctx, &x, &res, &e);
	if (rc == 0 && res.status == 0) {
		cg_exec_result_release(&res);
		return 0;
	}
	if (rc < 0) {
		snprintf(why, size, "%.300s", e.msg);
	} else {
		cg_exec_first_line(&res, line, sizeof(line));
		snprintf(why, size, "exit %d%s%s", res.status,
			 line[0] ? ": " : "", line);
	}
	cg_exec_result_release(&res);
	return -1;
}

int ipt_canary_run(const struct cg_ctx *ctx, const struct cg_canary *k,
		   char *why, size_t size)
{
	char what[200], reason[600];
	int rc;

	if (k->argv) {
		snprintf(what, sizeof(what), "canary `%s%s` (%s)", k->argv[0],
			 k->argv[1] ? " ..." : "", k->why);
		rc = command_canary(ctx, k, reason, sizeof(reason));
	} else {
		snprintf(what, sizeof(what), "canary %s:%s (%s)", k->host,
			 k->port, k->why);
		rc = tcp_canary(ctx, k, reason, sizeof(reason));
	}
	if (rc < 0)
		snprintf(why, size, "%s failed: %s", what, reason);
	return rc;
}

/* --- what a chain lets in ------------------------------------------- */

static bool list_has(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;

	while (*p) {
		size_t len = strcspn(p, ",");

		if (len == n && strncmp(p, word, n) == 0)
			return true;
		p += len;
		if (*p)
			p++;
	}
	return false;
}

/* "22", "20:25", "22,80,1000:2000": does it hold port? */
static bool ports_have(const char *list, unsigned port)
{
	const char *p = list;

	while (*p) {
		char *end;
		unsigned long lo = strtoul(p, &end, 10), hi = lo;

		if (end == p)
			return false;
		if (*end == ':') {
			p = end + 1;
			hi = strtoul(p, &end, 10);
			if (end == p)
				hi = 65535;
		}
		if (port >= lo && port <= hi)
			return true;
		p = end;
		if (*p != ',')
			break;
		p++;
	}
	return false;
}

/* What a rule means for one kind of packet. */
enum verdict {
	V_NO,    /* cannot match it */
	V_MAYBE, /* may: it depends on what we do not model */
	V_YES,   /* matches every such packet */
};

struct rule_view {
	char *target;    /* owned, or NULL */
	enum verdict est; /* for a packet of an established session */
	enum verdict mgmt; /* for a new TCP connection to the port */
};

/*
 * Look at a rule the way iptables-save prints it. Negations and matches
 * we do not know make it "maybe"; only what is certain counts.
 */
static void view_rule(const char *spec, unsigned port, struct rule_view *v)
{
	char **w;
	size_t n, i;
	bool any_other = false, est_state = false, est_no = false;
	bool tcp = false, not_tcp = false, port_yes = false, port_no = false;
	bool new_no = false, lo = false;

	memset(v, 0, sizeof(*v));
	v->est = V_MAYBE;
	v->mgmt = V_MAYBE;
	if (ipt_split(spec, &w, &n) < 0)
		return;
	for (i = 0; i < n; i++) {
		const char *a = w[i], *b = i + 1 < n ? w[i + 1] : "";

		if (strcmp(a, "!") == 0) {
			any_other = true;
			i++; /* what the negation is of, and its value */
			if (i + 1 < n && w[i + 1][0] != '-')
				i++;
			continue;
		}
		if ((strcmp(a, "-j") == 0 || strcmp(a, "-g") == 0) && i + 1 < n) {
			free(v->target);
			v->target = cg_xstrdup(b);
			/* The target's own options follow: not matches. */
			break;
		}
		if (strcmp(a, "-m") == 0 && i + 1 < n) {
			i++;
			continue;
		}
		if (strcmp(a, "-p") == 0 && i + 1 < n) {
			if (strcmp(b, "tcp") == 0 || strcmp(b, "6") == 0)
				tcp = true;
			else
				not_tcp = true;
			i++;
			continue;
		}
		if ((strcmp(a, "--ctstate") == 0 || strcmp(a, "--state") == 0) &&
		    i + 1 < n) {
			if (list_has(b, "ESTABLISHED"))
				est_state = true;
			else
				est_no = true;
			if (!list_has(b, "NEW"))
				new_no = true;
			i++;
			continue;
		}
		if ((strcmp(a, "--dport") == 0 ||
		     strcmp(a, "--destination-port") == 0 ||
		     strcmp(a, "--dports") == 0 ||
		     strcmp(a, "--destination-ports") == 0) &&
		    i + 1 < n) {
			if (ports_have(b, port))
				port_yes = true;
			else
				port_no = true;
			i++;
			continue;
		}
		if (strcmp(a, "-i") == 0 && i + 1 < n &&
		    strcmp(b, "lo") == 0) {
			lo = true;
			i++;
			continue;
		}
		if (strcmp(a, "--comment") == 0 && i + 1 < n) {
			i++;
			continue;
		}
		any_other = true;
		if (i + 1 < n && b[0] != '-')
			i++;
	}
	/* An established packet: of any protocol and port. */
	if (est_no)
		v->est = V_NO;
	else if (!any_other && !tcp && !not_tcp && !port_yes && !port_no &&
		 !lo)
		v->est = V_YES;
	else if (est_state && !any_other && !lo)
		v->est = V_YES;
	/* A new connection to the management port, not on loopback. */
	if (not_tcp || port_no || new_no || lo)
		v->mgmt = V_NO;
	else if (!any_other && (!port_yes || tcp))
		v->mgmt = V_YES;
	ipt_words_free(w);
}

/*
 * Targets that let a packet go on to the next rule. Any other that is
 * not ACCEPT, DROP or REJECT (a user chain, NFQUEUE) may accept it.
 */
static const char *const non_terminal[] = {
	"LOG", "NFLOG", "MARK", "CONNMARK", "CT", "NOTRACK", "TRACE", "AUDIT",
	"CHECKSUM", "CLASSIFY", "SET", "TCPMSS", "TEE", "ULOG", NULL,
};

static bool may_accept(const char *t)
{
	size_t i;

	if (!t || strcmp(t, "DROP") == 0 || strcmp(t, "REJECT") == 0 ||
	    strcmp(t, "RETURN") == 0)
		return false;
	for (i = 0; non_terminal[i]; i++)
		if (strcmp(t, non_terminal[i]) == 0)
			return false;
	return true;
}

static bool is_drop(const char *t)
{
	return t && (strcmp(t, "DROP") == 0 || strcmp(t, "REJECT") == 0);
}

bool ipt_chain_lets_in(const char *const *specs, size_t n, const char *policy,
		       unsigned port, char *why, size_t size)
{
	size_t i;
	bool est_done = false, mgmt_done = port == 0;
	bool est_ok = false, mgmt_ok = port == 0;

	for (i = 0; i < n && !(est_done && mgmt_done); i++) {
		struct rule_view v;
		bool accept;

		view_rule(specs[i], port, &v);
		accept = may_accept(v.target);
		if (!est_done && accept && v.est != V_NO &&
		    (v.est == V_YES || strcmp(v.target, "ACCEPT") != 0)) {
			est_done = est_ok = true;
		} else if (!est_done && is_drop(v.target) && v.est == V_YES) {
			est_done = true;
			snprintf(why, size,
				 "established sessions: [%zu] -A INPUT %s comes "
				 "before any accept of ESTABLISHED",
				 i + 1, specs[i]);
		}
		if (!mgmt_done && accept && v.mgmt != V_NO) {
			mgmt_done = mgmt_ok = true;
		} else if (!mgmt_done && is_drop(v.target) &&
			   v.mgmt == V_YES) {
			mgmt_done = true;
			if (est_ok || !est_done)
				snprintf(why, size,
					 "management port %u: [%zu] -A INPUT "
					 "%s refuses new connections to it",
					 port, i + 1, specs[i]);
		}
		free(v.target);
	}
	if (!est_done) {
		est_ok = !policy || strcmp(policy, "ACCEPT") == 0;
		if (!est_ok)
			snprintf(why, size,
				 "established sessions: policy %s and no "
				 "accept of ESTABLISHED before it",
				 policy);
	}
	if (!mgmt_done) {
		mgmt_ok = !policy || strcmp(policy, "ACCEPT") == 0;
		if (!mgmt_ok && est_ok)
			snprintf(why, size,
				 "management port %u: policy %s and no rule "
				 "accepts new connections to it",
				 port, policy);
	}
	return est_ok && mgmt_ok;
}
