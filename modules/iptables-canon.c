/* iptables-canon.c: rules in the kernel's own form, via a scratch namespace. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cg/fs.h"
#include "cg/hash.h"
#include "iptables.h"

#define NONE ((size_t)-1)
#define MAX_ROUNDS 64       /* each round settles a rule or a chain */
#define MARK "congruent-canon-"
#define CACHE_MAGIC "congruent iptables canonical 2"

/* How a script is laid out: which rule each line is about. */
enum layout {
	ONE_BLOCK, /* all rules in one transaction: fast */
	MARKED,    /* a marker rule before each: when one rule became two */
	BLOCKS,    /* a transaction per rule: to find which one failed */
};

struct script {
	struct cg_buf text;
	size_t *line_rule; /* line number (1-based) -> rule index, or NONE */
	size_t nlines, cap;
};

/* Still to be loaded: not refused, not known from the cache. */
static bool pending(const struct ipt_canon_rule *r)
{
	return !r->failed && !r->cached;
}

static void script_line(struct script *s, size_t rule, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void script_line(struct script *s, size_t rule, const char *fmt, ...)
{
	va_list ap;
	char *line;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		line = NULL;
	va_end(ap);
	if (!line)
		abort();
	cg_buf_addstr(&s->text, line);
	cg_buf_addch(&s->text, '\n');
	free(line);
	cg_grow(&s->line_rule, &s->cap, s->nlines + 2, sizeof(*s->line_rule));
	s->line_rule[++s->nlines] = rule;
}

static void build_script(const struct ipt_canon_job *job, enum layout how,
			 struct script *s)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	script_line(s, NONE, "*%s", job->table);
	for (i = 0; i < job->nchains; i++)
		script_line(s, NONE, "-N %s", job->chains[i]);
	for (i = 0; i < job->nunknown; i++)
		script_line(s, NONE, "-N %s", job->unknown_chains[i]);
	for (i = 0; i < job->nrules; i++) {
		const struct ipt_canon_rule *r = &job->rules[i];

		if (!pending(r))
			continue;
		if (how == BLOCKS) {
			script_line(s, NONE, "COMMIT");
			script_line(s, i, "*%s", job->table);
		}
		if (how == MARKED)
			script_line(s, NONE, "-A %s -m comment --comment %s%zu",
				    r->chain, MARK, i);
		script_line(s, i, "-A %s %s", r->chain, r->text);
	}
	script_line(s, NONE, "COMMIT");
	if (how == BLOCKS) {
		size_t l;

		/* A failure reported at a block's COMMIT is its rule's. */
		for (l = 2; l <= s->nlines; l++)
			if (s->line_rule[l] == NONE &&
			    s->line_rule[l - 1] != NONE)
				s->line_rule[l] = s->line_rule[l - 1];
	}
}

static void script_release(struct script *s)
{
	cg_buf_release(&s->text);
	free(s->line_rule);
	memset(s, 0, sizeof(*s));
}

static void clear_specs(struct ipt_canon_rule *r)
{
	size_t i;

	for (i = 0; i < r->nspecs; i++)
		free(r->specs[i]);
	free(r->specs);
	r->specs = NULL;
	r->nspecs = 0;
}

static void add_spec(struct ipt_canon_rule *r, const char *spec)
{
	r->specs = cg_xrealloc(r->specs, (r->nspecs + 1) * sizeof(*r->specs));
	r->specs[r->nspecs++] = cg_xstrdup(spec);
}

/*
 * Give each rule the specs read back. Without markers each chain must have
 * as many rules as were loaded into it; false when one became several.
 */
static bool map_back(struct ipt_canon_job *job, const struct ipt_table *t,
		     bool marked)
{
	size_t i, j, k;

	for (i = 0; i < job->nrules; i++)
		if (pending(&job->rules[i]))
			clear_specs(&job->rules[i]);
	for (i = 0; t && i < t->n; i++) {
		const struct ipt_chain *c = &t->chains[i];
		size_t cur = NONE;

		if (marked) {
			for (j = 0; j < c->n; j++) {
				const char *m = strstr(c->rules[j].spec, MARK);

				if (m && cg_str_starts(c->rules[j].spec,
						       "-m comment --comment ")) {
					cur = strtoul(m + strlen(MARK), NULL,
						      10);
					if (cur >= job->nrules ||
					    !pending(&job->rules[cur]))
						cur = NONE;
				} else if (cur != NONE) {
					add_spec(&job->rules[cur],
						 c->rules[j].spec);
				}
			}
			continue;
		}
		j = 0;
		for (k = 0; k < job->nrules; k++) {
			struct ipt_canon_rule *r = &job->rules[k];

			if (!pending(r) || strcmp(r->chain, c->name) != 0)
				continue;
			if (j >= c->n)
				return false;
			add_spec(r, c->rules[j++].spec);
		}
		if (j != c->n)
			return false;
	}
	for (k = 0; k < job->nrules; k++)
		if (pending(&job->rules[k]) && !job->rules[k].nspecs)
			return false;
	return true;
}

/* The chain a "no such chain or target" message names, if it is one. */
static char *missing_chain(const char *msg)
{
	static const char *const forms[][2] = {
		{ "Chain '", "'" },          /* nf_tables */
		{ "Couldn't load target `", "'" }, /* legacy */
	};
	size_t i;

	for (i = 0; i < CG_ARRAY_SIZE(forms); i++) {
		const char *p = strstr(msg, forms[i][0]), *e;

		if (!p)
			continue;
		p += strlen(forms[i][0]);
		e = strstr(p, forms[i][1]);
		if (e && e > p &&
		    (strstr(msg, "does not exist") || strstr(msg, "load target")))
			return cg_xstrndup(p, (size_t)(e - p));
	}
	return NULL;
}

static void fail_rule(struct ipt_canon_rule *r, const char *msg)
{
	r->failed = true;
	cg_error_clear(&r->err);
	snprintf(r->err.msg, sizeof(r->err.msg), "iptables refuses the rule: %s",
		 msg);
	if (strchr(r->text, '\''))
		cg_error_hint(&r->err, "iptables quotes with double quotes "
				       "only: --comment \"two words\"");
	else if (strstr(msg, "does not exist") || strstr(msg, "load target"))
		cg_error_hint(&r->err, "a jump goes to a target or to a chain "
				       "that exists: declare the chain with an "
				       "iptables resource, or fix the name");
	else if (strstr(msg, "RULE_") || strstr(msg, "line"))
		cg_error_hint(&r->err, "the kernel refused it: a target that "
				       "is not allowed in this chain or table?");
	else
		cg_error_hint(&r->err, "write it as for iptables -A CHAIN, "
				       "without -A CHAIN; see iptables(8)");
}

/* One load and read-back in a fresh namespace. */
static int round_trip(struct ipt_canon_job *job, enum layout how,
		      struct ipt_ruleset *out, size_t *bad_rule, char *msg,
		      size_t msgsize, struct cg_error *err)
{
	struct ipt_where w = { NULL, -1, 0 };
	struct script s;
	unsigned line;
	int rc;

	*bad_rule = NONE;
	msg[0] = '\0';
	rc = cg_netns_new(&w.netns_fd, err);
	if (rc < 0) {
		cg_error_prefix(err, "cannot check iptables rules in a scratch "
				     "network namespace");
		return rc;
	}
	rc = ipt_objects_make(job, &w, err);
	if (rc < 0) {
		close(w.netns_fd);
		return rc;
	}
	build_script(job, how, &s);
	rc = ipt_restore(job->be, job->family, &w, s.text.data, s.text.len,
			 &line, err);
	if (rc < 0) {
		snprintf(msg, msgsize, "%s", err->msg);
		if (line > 0 && line <= s.nlines)
			*bad_rule = s.line_rule[line];
		/* Not a rule's fault (no such tool, ...): give up. */
		if (!line && *bad_rule == NONE && !strstr(msg, "does not exist") &&
		    !strstr(msg, "load target"))
			rc = CG_ERR;
		else
			rc = 1;
	} else {
		rc = ipt_save(job->be, job->family, &w, job->table, false, out,
			      err);
	}
	script_release(&s);
	close(w.netns_fd);
	return rc;
}

/*
 * Everything the canonical forms depend on but the rules themselves: the
 * tools, the kernel, the table and the chains that exist for jumps.
 */
static void cache_key(const struct ipt_canon_job *job, char hex[CG_SHA256_HEX])
{
	unsigned char d[CG_SHA256_LEN];
	struct cg_sha256 h;
	struct utsname u;
	char buf[PATH_MAX + 128], real[PATH_MAX];
	const char *tools[] = { "restore", "save" };
	size_t i;

	cg_sha256_init(&h);
#define ADD(s) cg_sha256_update(&h, (s), strlen(s) + 1)
	ADD(CACHE_MAGIC);
	ADD(job->be->name);
	ADD(ipt_family_name(job->family));
	ADD(job->table);
	if (uname(&u) == 0) {
		ADD(u.release);
		ADD(u.version);
	}
	for (i = 0; i < CG_ARRAY_SIZE(tools); i++) {
		char *path;
		struct stat st;

		if (ipt_tool(job->be, job->family, tools[i], false, &path,
			     NULL) < 0)
			continue;
		if (realpath(path, real) && stat(real, &st) == 0) {
			snprintf(buf, sizeof(buf), "%s %lld %lld %lld", real,
				 (long long)st.st_size,
				 (long long)st.st_mtime, (long long)st.st_ino);
			ADD(buf);
		}
		free(path);
	}
	for (i = 0; i < job->nchains; i++)
		ADD(job->chains[i]);
	/* The sets' and accounting objects' definitions. */
	if (job->ipset_script.len)
		ADD(job->ipset_script.data);
	for (i = 0; i < job->nnfacct; i++)
		ADD(job->nfacct[i]);
#undef ADD
	cg_sha256_final(&h, d);
	cg_hex(d, sizeof(d), hex);
}

/* A rule's entry in the cache: its chain and text, hashed. */
static void rule_key(const struct ipt_canon_rule *r, char hex[CG_SHA256_HEX])
{
	unsigned char d[CG_SHA256_LEN];
	struct cg_sha256 h;

	cg_sha256_init(&h);
	cg_sha256_update(&h, r->chain, strlen(r->chain) + 1);
	cg_sha256_update(&h, r->text, strlen(r->text) + 1);
	cg_sha256_final(&h, d);
	cg_hex(d, sizeof(d), hex);
}

static char *cache_path(const struct ipt_canon_job *job, const char *dir)
{
	return cg_xasprintf("%s/iptables-%s-%s", dir,
			    ipt_family_name(job->family), job->table);
}

/*
 * Take the forms of the rules the cache knows ("KEY SPEC" lines, in
 * order, after a header with the job's key), marking them cached.
 */
static void cache_read(struct ipt_canon_job *job, const char *dir,
		       const char *key)
{
	char *path = cache_path(job, dir), *line, *nl, (*keys)[CG_SHA256_HEX];
	struct cg_buf b = { 0 };
	size_t i, klen = CG_SHA256_HEX - 1, from = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(path);
	if (fd < 0)
		return;
	if (cg_read_fd(fd, &b, 64u << 20, NULL) < 0 || !b.data)
		goto out;
	nl = strchr(b.data, '\n');
	if (!nl || (size_t)(nl - b.data) != strlen(CACHE_MAGIC) + 1 + klen ||
	    !cg_str_starts(b.data, CACHE_MAGIC " ") ||
	    memcmp(b.data + strlen(CACHE_MAGIC) + 1, key, klen) != 0)
		goto out;
	keys = cg_xcalloc(job->nrules + 1, sizeof(*keys));
	for (i = 0; i < job->nrules; i++)
		rule_key(&job->rules[i], keys[i]);
	for (line = nl + 1; *line; line = nl + 1) {
		size_t k;

		nl = strchr(line, '\n');
		if (!nl || (size_t)(nl - line) < klen + 1 || line[klen] != ' ')
			break;
		*nl = '\0';
		/* Rules mostly come in the same order: look from the last. */
		for (k = 0; k < job->nrules; k++) {
			size_t q = (from + k) % job->nrules;

			if (memcmp(keys[q], line, klen) == 0 &&
			    !job->rules[q].failed) {
				add_spec(&job->rules[q], line + klen + 1);
				job->rules[q].cached = true;
				from = q;
				break;
			}
		}
	}
	free(keys);
out:
	close(fd);
	cg_buf_release(&b);
}

/* Best effort: a cache that cannot be written is only slower. */
static void cache_write(const struct ipt_canon_job *job, const char *key)
{
	struct cg_buf b = { 0 };
	char *path, rk[CG_SHA256_HEX];
	size_t i, j;

	if (cg_mkdir_p(job->cache_dir, 0700, NULL) < 0)
		return;
	cg_buf_addf(&b, "%s %s\n", CACHE_MAGIC, key);
	for (i = 0; i < job->nrules; i++) {
		if (job->rules[i].failed)
			continue;
		rule_key(&job->rules[i], rk);
		for (j = 0; j < job->rules[i].nspecs; j++)
			cg_buf_addf(&b, "%s %s\n", rk, job->rules[i].specs[j]);
	}
	path = cache_path(job, job->cache_dir);
	cg_write_file_atomic(path, b.data, b.len, 0600, NULL);
	free(path);
	cg_buf_release(&b);
}

static bool have_chain(const struct ipt_canon_job *job, const char *name)
{
	size_t i;

	for (i = 0; i < job->nchains; i++)
		if (strcmp(job->chains[i], name) == 0)
			return true;
	for (i = 0; i < job->nunknown; i++)
		if (strcmp(job->unknown_chains[i], name) == 0)
			return true;
	return false;
}

int ipt_canon_run(struct ipt_canon_job *job, struct cg_error *err)
{
	char key[CG_SHA256_HEX], msg[1024];
	enum layout how = ONE_BLOCK;
	bool any_failed = false, loaded = false;
	size_t round, i;
	int rc = 0;

	if (!job->nrules)
		return 0;
	if (job->objects_from)
		ipt_objects_gather(job, job->objects_from);
	if (job->cache_dir || job->cache_read_dir) {
		cache_key(job, key);
		cache_read(job,
			   job->cache_dir ? job->cache_dir : job->cache_read_dir,
			   key);
	}
	for (round = 0;; round++) {
		struct ipt_ruleset rs = { 0 };
		size_t bad;
		bool active = false;

		for (i = 0; i < job->nrules; i++)
			active |= pending(&job->rules[i]);
		if (!active)
			break;
		if (round == MAX_ROUNDS) {
			for (i = 0; i < job->nrules; i++)
				if (pending(&job->rules[i]))
					fail_rule(&job->rules[i],
						  "not checked: too many "
						  "errors before it");
			break;
		}
		rc = round_trip(job, how, &rs, &bad, msg, sizeof(msg), err);
		if (rc < 0) {
			ipt_ruleset_release(&rs);
			return rc;
		}
		if (rc == 1) {
			char *chain = missing_chain(msg);

			const char *why;

			/* check: make the chain, and see what else fails. */
			if (job->lenient_jumps && chain &&
			    !have_chain(job, chain) &&
			    ipt_chain_name_ok(chain, &why)) {
				job->unknown_chains = cg_xrealloc(
					job->unknown_chains,
					(job->nunknown + 1) * sizeof(char *));
				job->unknown_chains[job->nunknown++] = chain;
				continue;
			}
			free(chain);
			if (bad != NONE) {
				fail_rule(&job->rules[bad], msg);
				any_failed = true;
				how = how == BLOCKS ? ONE_BLOCK : how;
			} else if (how != BLOCKS) {
				how = BLOCKS; /* find the rule */
			} else {
				/* Even alone no rule is to blame. */
				for (i = 0; i < job->nrules; i++)
					if (pending(&job->rules[i]))
						fail_rule(&job->rules[i], msg);
				any_failed = true;
			}
			continue;
		}
		if (!map_back(job, ipt_ruleset_table(&rs, job->table),
			      how == MARKED)) {
			ipt_ruleset_release(&rs);
			if (how == MARKED) {
				return cg_error_set(err, CG_ERR,
						    "cannot match the rules "
						    "iptables-save printed to "
						    "the rules loaded");
			}
			how = MARKED;
			continue;
		}
		ipt_ruleset_release(&rs);
		loaded = true;
		break;
	}
	/* Rules loaded fresh came out right: remember them too. */
	if (job->cache_dir && !any_failed && loaded)
		cache_write(job, key);
	for (i = 0; i < job->nrules; i++)
		job->rules[i].cached = false;
	return 0;
}

void ipt_canon_job_release(struct ipt_canon_job *job)
{
	size_t i;

	if (!job)
		return;
	for (i = 0; i < job->nrules; i++)
		clear_specs(&job->rules[i]);
	for (i = 0; i < job->nunknown; i++)
		free(job->unknown_chains[i]);
	free(job->unknown_chains);
	job->unknown_chains = NULL;
	job->nunknown = 0;
	cg_buf_release(&job->ipset_script);
	ipt_names_free(job->nfacct, job->nnfacct);
	job->nfacct = NULL;
	job->nnfacct = 0;
}
