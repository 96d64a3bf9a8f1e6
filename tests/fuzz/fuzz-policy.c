/* fuzz-policy.c: a libFuzzer target for the policy loader and the modules. */
/*
 * The input is a role file, optionally followed by a line "#%site.yaml"
 * and a site.yaml (else a site.yaml giving every host the role "fuzz"
 * and a few vars is used). Both are written into a scratch policy tree,
 * which also has files/ and templates/ for source: and template:, and
 * loaded with the real loader: cg_policy_check as `congruent check`
 * does, then cg_policy_load for host web-1 (every module's parse and
 * validate, requires: and the order). What check accepts must load for a
 * host a class matches: source.c refuses a commit by check alone. Input
 * naming iptables is not checked: its check loads the rules into a
 * scratch network namespace, far too slow for a fuzzer (the iptables
 * reader has a target of its own).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../agent/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static const char default_site[] =
	"classes:\n"
	"  - match: \"web-*\"\n"
	"    roles: [fuzz]\n"
	"    vars: {port: \"8080\"}\n"
	"  - match: \"*\"\n"
	"    roles: [fuzz]\n"
	"vars:\n"
	"  ntp_server: ntp.example.com\n"
	"  site_name: example.com\n"
	"  port: \"80\"\n";

static const char *const tree_files[][2] = {
	{ "files/a", "a\n" },
	{ "files/health.sh", "#!/bin/sh\necho ok\n" },
	{ "files/sshd-hardening.conf", "PermitRootLogin no\n" },
	{ "templates/index.html", "<h1>{{ site_name }}</h1>\n" },
	{ "templates/motd", "Welcome to {{ hostname }} ({{ os_id }})\n" },
	{ "templates/nginx-site.conf", "server_name {{ site_name }};\n" },
	{ "templates/ntp.conf", "server {{ ntp_servr }}\n" },
	{ "templates/timesyncd.conf", "[Time]\nNTP={{ ntp_server }}\n" },
};
#define NFILES (sizeof(tree_files) / sizeof(tree_files[0]))

static char dir[256];
static struct cg_root root;
static struct cg_facts facts;

static void path_of(char *buf, size_t size, const char *rel)
{
	snprintf(buf, size, "%s/%s", dir, rel);
}

static void put(const char *rel, const void *data, size_t len)
{
	char path[512];
	int fd;

	path_of(path, sizeof(path), rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd) < 0)
		abort();
}

static void cleanup(void)
{
	static const char *const rels[] = { "site.yaml", "roles/fuzz.yaml",
					    "roles", "files", "templates" };
	char path[512];
	size_t i;

	for (i = 0; i < NFILES; i++) {
		path_of(path, sizeof(path), tree_files[i][0]);
		unlink(path);
	}
	for (i = 0; i < sizeof(rels) / sizeof(rels[0]); i++) {
		path_of(path, sizeof(path), rels[i]);
		if (unlink(path) < 0)
			rmdir(path);
	}
	rmdir(dir);
	cg_facts_release(&facts);
	cg_root_release(&root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const dirs[] = { "roles", "files", "templates" };
	const char *tmp = getenv("TMPDIR");
	struct cg_error err;
	char path[512];
	size_t i;

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/cg-fuzz-policy-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		abort();
	for (i = 0; i < 3; i++) {
		path_of(path, sizeof(path), dirs[i]);
		if (mkdir(path, 0755) < 0)
			abort();
	}
	for (i = 0; i < NFILES; i++)
		put(tree_files[i][0], tree_files[i][1],
		    strlen(tree_files[i][1]));
	if (cg_root_open(&root, "/", &err) < 0 ||
	    cg_facts_gather(&facts, &root, "web-1.example.com", &err) < 0)
		abort();
	atexit(cleanup);
	return 0;
}

/* A loaded policy: ids indexed, the order a permutation of resources. */
static void well_formed(const struct cg_policy *p)
{
	bool *seen = calloc(p->n + 1, sizeof(*seen));
	size_t i, idx;

	if (!seen)
		abort();
	for (i = 0; i < p->n; i++) {
		if (!p->res[i].id || !cg_index_get(&p->ids, p->res[i].id, &idx) ||
		    idx != i)
			__builtin_trap();
		if (p->order[i] >= p->n || seen[p->order[i]])
			__builtin_trap();
		seen[p->order[i]] = true;
	}
	free(seen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char mark[] = "#%site.yaml\n";
	const char *text = (const char *)data;
	const char *site = memmem(text, size, mark, sizeof(mark) - 1);
	struct cg_policy p;
	struct cg_diag diag;
	bool checked = false;
	int rc;
	size_t role_len = site ? (size_t)(site - text) : size;

	if (site) {
		site += sizeof(mark) - 1;
		put("site.yaml", site, size - (size_t)(site - text));
	} else {
		put("site.yaml", default_site, sizeof(default_site) - 1);
	}
	put("roles/fuzz.yaml", text, role_len);

	/* check first: what passes it must load (source.c relies on it). */
	if (!memmem(text, size, "iptables", 8)) {
		memset(&diag, 0, sizeof(diag));
		checked = cg_policy_check(dir, &diag) == 0;
		cg_diag_release(&diag);
	}
	memset(&diag, 0, sizeof(diag));
	rc = cg_policy_load(&p, dir, &facts, &diag);
	if (rc == 0)
		well_formed(&p);
	else if (checked && p.class_where)
		__builtin_trap(); /* check said ok, the host cannot load it */
	cg_policy_release(&p);
	cg_diag_release(&diag);
	return 0;
}
