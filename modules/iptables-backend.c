/* iptables-backend.c: which iptables the host uses, and running its tools. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iptables.h"

/*
 * Both backends take the same commands and print the same format; what
 * differs is which programs to run. Each is named with its suffix
 * (iptables-nft-save); iptables older than 1.8 has only the plain names,
 * and only the legacy backend.
 */
const struct ipt_backend ipt_backend_nft = {
	.name = "nf_tables",
	.suffix = "nft",
	.other = &ipt_backend_legacy,
};

const struct ipt_backend ipt_backend_legacy = {
	.name = "legacy",
	.suffix = "legacy",
	.other = &ipt_backend_nft,
};

static const char *family_prog(enum ipt_family f)
{
	return f == IPT_IPV6 ? "ip6tables" : "iptables";
}

int ipt_tool(const struct ipt_backend *be, enum ipt_family f,
	     const char *tool, bool exact, char **path_out,
	     struct cg_error *err)
{
	char name[64];
	int rc;

	snprintf(name, sizeof(name), "%s-%s-%s", family_prog(f), be->suffix,
		 tool);
	rc = cg_exec_find(name, path_out, err);
	if (rc != CG_ENOTFOUND || exact)
		return rc;
	snprintf(name, sizeof(name), "%s-%s", family_prog(f), tool);
	return cg_exec_find(name, path_out, err);
}

int ipt_backend_detect(const struct ipt_backend **out, struct cg_error *err)
{
	static const char *const argv[] = { "iptables", "-V", NULL };
	struct cg_exec_result res;
	struct cg_exec x;
	char *path, real[PATH_MAX];
	const char *base;
	int rc;

	rc = cg_exec_find("iptables", &path, err);
	if (rc < 0) {
		cg_error_prefix(err, "iptables is not installed");
		cg_error_hint(err, "install the iptables package");
		return rc;
	}
	/* iptables -> /etc/alternatives/iptables -> xtables-nft-multi */
	base = realpath(path, real) ? strrchr(real, '/') + 1 : "";
	free(path);
	if (strstr(base, "nft")) {
		*out = &ipt_backend_nft;
		return 0;
	}
	if (strstr(base, "legacy")) {
		*out = &ipt_backend_legacy;
		return 0;
	}
	/* A wrapper or a plain binary: ask it. */
	cg_exec_init(&x, argv);
	x.timeout_ms = 10000;
	rc = cg_exec_run(&x, &res, err);
	if (rc == 0 && res.status != 0)
		rc = cg_error_set(err, CG_ERR, "iptables -V failed");
	if (rc == 0) {
		const char *v = res.out.data ? res.out.data : "";

		/* 1.8 says "(nf_tables)" or "(legacy)"; older ones nothing. */
		*out = strstr(v, "(nf_tables)") ? &ipt_backend_nft
						  : &ipt_backend_legacy;
	}
	cg_exec_result_release(&res);
	return rc;
}

static void exec_where(struct cg_exec *x, const struct ipt_where *w)
{
	if (!w)
		return;
	x->netns = w->netns;
	x->netns_fd = w->netns_fd;
	if (w->timeout_ms)
		x->timeout_ms = w->timeout_ms;
}

int ipt_save(const struct ipt_backend *be, enum ipt_family f,
	     const struct ipt_where *w, const char *table, bool exact,
	     struct ipt_ruleset *out, struct cg_error *err)
{
	const char *argv[6];
	struct cg_exec_result res;
	struct cg_exec x;
	char *prog;
	size_t n = 0;
	int rc;

	rc = ipt_tool(be, f, "save", exact, &prog, err);
	if (rc < 0)
		return rc;
	argv[n++] = prog;
	argv[n++] = "-c";
	if (table) {
		argv[n++] = "-t";
		argv[n++] = table;
	}
	argv[n] = NULL;
	cg_exec_init(&x, argv);
	exec_where(&x, w);
	rc = cg_exec_run(&x, &res, err);
	if (rc == 0 && res.status != 0) {
		char msg[512];

		cg_exec_first_line(&res, msg, sizeof(msg));
		rc = cg_error_set(err, CG_ERR, "%s failed (exit %d): %s", prog,
				  res.status, msg[0] ? msg : "no message");
		/* "Parsing nftables rule failed", "... not supported" */
		if (be == &ipt_backend_nft && res.err.data &&
		    (strstr(res.err.data, "nftables rule") ||
		     strstr(res.err.data, "not supported")))
			cg_error_hint(err, "a rule written with nft that "
					   "iptables cannot read? Find it with "
					   "`nft -a list ruleset` and replace "
					   "or delete it; congruent touches "
					   "nothing it cannot read");
		else
			cg_error_hint(err, "can this user change the firewall "
					   "(root, CAP_NET_ADMIN)?");
	}
	if (rc == 0) {
		rc = ipt_ruleset_parse(out, res.out.data ? res.out.data : "",
				       err);
		if (rc < 0)
			cg_error_prefix(err, "%s", prog);
		/* iptables-nft-save warns of legacy tables on stderr. */
		if (res.err.data && strstr(res.err.data, "legacy tables present"))
			out->legacy_tables = true;
	}
	cg_exec_result_release(&res);
	free(prog);
	return rc;
}

unsigned ipt_restore_line(const char *text)
{
	const char *p = text;

	/*
	 * "Error occurred at line: 3", "iptables-restore: line 3 failed",
	 * "line 2: RULE_APPEND failed (...)": the number after "line".
	 */
	while ((p = strstr(p, "line"))) {
		const char *q = p + 4;

		while (*q == ':' || *q == ' ')
			q++;
		if (isdigit((unsigned char)*q))
			return (unsigned)strtoul(q, NULL, 10);
		p += 4;
	}
	return 0;
}

/* Does line start with "iptables-restore v1.8.9", any tool name? */
static bool is_version_prefix(const char *line, size_t len)
{
	const char *sp = memchr(line, ' ', len);

	return sp && sp + 2 < line + len && sp[1] == 'v' &&
	       isdigit((unsigned char)sp[2]) &&
	       memmem(line, (size_t)(sp - line), "tables", 6);
}

void ipt_restore_message(const char *text, char *buf, size_t size)
{
	const char *line = text;
	size_t len = 0;

	buf[0] = '\0';
	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t ll = nl ? (size_t)(nl - line) : strlen(line);
		const char *p = line, *colon;
		size_t pl = ll;

		line = nl ? nl + 1 : NULL;
		while (pl && isspace((unsigned char)p[pl - 1]))
			pl--;
		if (!pl || memmem(p, pl, "Try `", 5) ||
		    memmem(p, pl, "Error occurred at line", 22) ||
		    cg_str_starts(p, "#"))
			continue;
		/* "iptables-nft-restore v1.8.9 (nf_tables): why" -> "why" */
		if (is_version_prefix(p, pl)) {
			colon = memchr(p, ':', pl);
			if (colon) {
				pl -= (size_t)(colon + 1 - p);
				p = colon + 1;
			}
		}
		/* "line 2: RULE_APPEND failed" -> "RULE_APPEND failed" */
		if (cg_str_starts(p, "line ")) {
			colon = memchr(p, ':', pl);
			if (colon) {
				pl -= (size_t)(colon + 1 - p);
				p = colon + 1;
			}
		}
		while (pl && isspace((unsigned char)*p)) {
			p++;
			pl--;
		}
		if (!pl)
			continue;
		if (len && len + 2 < size) {
			memcpy(buf + len, "; ", 2);
			len += 2;
		}
		if (len + 1 < size) {
			size_t k = pl < size - len - 1 ? pl : size - len - 1;

			memcpy(buf + len, p, k);
			len += k;
			buf[len] = '\0';
		}
	}
}

int ipt_restore(const struct ipt_backend *be, enum ipt_family f,
		const struct ipt_where *w, const char *script, size_t len,
		unsigned *line_out, struct cg_error *err)
{
	/*
	 * --noflush: only the lines given change anything. -w: the legacy
	 * tools serialise on /run/xtables.lock; wait for it rather than fail
	 * (the nft ones accept and ignore it). -c: counters as given, for
	 * the policy lines of built-in chains (a rule line without any
	 * starts at zero, as without -c).
	 */
	const char *argv[] = { NULL, "--noflush", "-c", "-w", "10", NULL };
	struct cg_exec_result res;
	struct cg_exec x;
	char *prog;
	int rc;

	*line_out = 0;
	rc = ipt_tool(be, f, "restore", false, &prog, err);
	if (rc < 0)
		return rc;
	argv[0] = prog;
	cg_exec_init(&x, argv);
	exec_where(&x, w);
	x.in = script;
	x.in_len = len;
	x.out_max = 1u << 20;
	rc = cg_exec_run(&x, &res, err);
	if (rc == 0 && res.status != 0) {
		char msg[768];

		ipt_restore_message(res.err.data ? res.err.data : "", msg,
				    sizeof(msg));
		*line_out = ipt_restore_line(res.err.data ? res.err.data : "");
		rc = cg_error_set(err, CG_ERR, "%s",
				  msg[0] ? msg
					 : "iptables-restore failed without "
					   "saying why");
	}
	cg_exec_result_release(&res);
	free(prog);
	return rc;
}

int ipt_nft_list(enum ipt_family f, const struct ipt_where *w,
		 const char *table, bool json, const char *chain,
		 struct cg_buf *out, struct cg_error *err)
{
	const char *fam = f == IPT_IPV6 ? "ip6" : "ip";
	const char *argv[8];
	struct cg_exec_result res;
	struct cg_exec x;
	char *prog;
	size_t n = 0;
	int rc;

	rc = cg_exec_find("nft", &prog, err);
	if (rc < 0)
		return rc;
	argv[n++] = prog;
	argv[n++] = json ? "-j" : "-a";
	argv[n++] = "list";
	argv[n++] = chain ? "chain" : "table";
	argv[n++] = fam;
	argv[n++] = table;
	if (chain)
		argv[n++] = chain;
	argv[n] = NULL;
	cg_exec_init(&x, argv);
	exec_where(&x, w);
	rc = cg_exec_run(&x, &res, err);
	if (rc == 0 && res.status != 0) {
		char msg[512];

		cg_exec_first_line(&res, msg, sizeof(msg));
		rc = cg_error_set(err, CG_ERR, "nft list %s %s %s failed "
					       "(exit %d): %s",
				  chain ? "chain" : "table", fam, table,
				  res.status, msg[0] ? msg : "no message");
	}
	if (rc == 0 && res.out.data)
		cg_buf_add(out, res.out.data, res.out.len);
	cg_exec_result_release(&res);
	free(prog);
	return rc;
}
