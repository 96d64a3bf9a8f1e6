/* iptables-nft.c: does iptables-nft-save show the rules nft holds? */
#include <fcntl.h>
#include <inttypes.h>
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
#include "cg/jsonparse.h"
#include "iptables.h"

/* Changes whenever what the key covers or means changes. */
#define CACHE_MAGIC "congruent-nft-check-1"

#define NONE ((size_t)-1)
/* Rules a scratch namespace may refuse (sets, helpers) before giving up. */
#define MAX_REFUSED 16

/*
 * Rules written with nft into a table iptables also uses may hold what
 * iptables-nft-save cannot print: it leaves out what it does not know
 * (`ip saddr { a, b } accept` reads as `-j ACCEPT`) or the whole rule
 * (`meta mark set 1`). So the chains the policy manages are written back,
 * as iptables-save shows them, into a scratch namespace, and what nft
 * holds there is compared with what it holds here, rule by rule:
 * whatever iptables-save left out shows as a difference.
 */

/* One chain as nft lists it: per rule its expressions, as text. */
struct nft_chain {
	char *name;        /* owned */
	char **rules;      /* owned: expressions (counters left out), comment */
	int64_t *handles;  /* owned */
	size_t n, cap, hcap;
};

struct nft_view {
	struct nft_chain *chains; /* owned */
	size_t n, cap;
};

static void view_release(struct nft_view *v)
{
	size_t i, k;

	for (i = 0; i < v->n; i++) {
		for (k = 0; k < v->chains[i].n; k++)
			free(v->chains[i].rules[k]);
		free(v->chains[i].rules);
		free(v->chains[i].handles);
		free(v->chains[i].name);
	}
	free(v->chains);
	memset(v, 0, sizeof(*v));
}

static struct nft_chain *view_chain(const struct nft_view *v,
				    const char *name)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (strcmp(v->chains[i].name, name) == 0)
			return &v->chains[i];
	return NULL;
}

static void put_str(struct cg_buf *b, const char *s)
{
	cg_buf_addch(b, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			cg_buf_addch(b, '\\');
		cg_buf_addch(b, *s);
	}
	cg_buf_addch(b, '"');
}

/* v as compact JSON, members in the order nft gave them. */
static void put_json(struct cg_buf *b, const struct cg_jdoc *d,
		     const struct cg_jnode *v)
{
	const struct cg_jnode *c;
	bool obj = cg_jnode_is(v, CG_JOBJ);

	switch (v->type) {
	case CG_JNULL:
		cg_buf_addstr(b, "null");
		return;
	case CG_JBOOL:
		cg_buf_addstr(b, v->b ? "true" : "false");
		return;
	case CG_JNUM:
		if (v->is_int)
			cg_buf_addf(b, "%" PRId64, v->i);
		else
			cg_buf_addf(b, "%.17g", v->d);
		return;
	case CG_JSTR:
		put_str(b, cg_jnode_str(d, v));
		return;
	default:
		break;
	}
	cg_buf_addch(b, obj ? '{' : '[');
	for (c = cg_jnode_first(d, v); c; c = cg_jnode_next(d, c)) {
		if (c != cg_jnode_first(d, v))
			cg_buf_addch(b, ',');
		if (obj) {
			put_str(b, cg_jnode_key(d, c));
			cg_buf_addch(b, ':');
		}
		put_json(b, d, c);
	}
	cg_buf_addch(b, obj ? '}' : ']');
}

/* The rules of `nft -j list table` output, per chain, in order. */
static int view_parse(struct nft_view *v, const char *text, size_t len,
		      struct cg_error *err)
{
	static const struct cg_jlimits lim = {
		.max_bytes = CG_EXEC_OUT_MAX,
		.max_depth = 64,
		.max_nodes = 20000000,
		.max_string = 1u << 20,
	};
	const struct cg_jnode *item, *list;
	struct cg_jdoc doc = { 0 };
	int rc;

	rc = cg_jdoc_parse(&doc, text, len, &lim, err);
	if (rc < 0)
		return rc;
	list = cg_jnode_get(&doc, cg_jdoc_root(&doc), "nftables");
	for (item = cg_jnode_first(&doc, list); item;
	     item = cg_jnode_next(&doc, item)) {
		const struct cg_jnode *r = cg_jnode_get(&doc, item, "rule");
		const struct cg_jnode *e;
		const char *chain = cg_jnode_get_str(&doc, r, "chain");
		const char *comment = cg_jnode_get_str(&doc, r, "comment");
		struct nft_chain *c;
		struct cg_buf b = { 0 };
		int64_t handle = -1;

		if (!r || !chain)
			continue;
		cg_jnode_get_int(&doc, r, "handle", &handle);
		c = view_chain(v, chain);
		if (!c) {
			cg_grow(&v->chains, &v->cap, v->n + 1,
				sizeof(*v->chains));
			c = &v->chains[v->n++];
			memset(c, 0, sizeof(*c));
			c->name = cg_xstrdup(chain);
		}
		for (e = cg_jnode_first(&doc, cg_jnode_get(&doc, r, "expr"));
		     e; e = cg_jnode_next(&doc, e)) {
			const struct cg_jnode *k = cg_jnode_first(&doc, e);

			/* iptables-nft counts every rule; nft need not. */
			if (k && strcmp(cg_jnode_key(&doc, k), "counter") == 0)
				continue;
			put_json(&b, &doc, e);
			cg_buf_addch(&b, ';');
		}
		if (comment) {
			cg_buf_addstr(&b, "comment ");
			put_str(&b, comment);
		}
		cg_grow(&c->rules, &c->cap, c->n + 1, sizeof(*c->rules));
		cg_grow(&c->handles, &c->hcap, c->n + 1, sizeof(*c->handles));
		c->handles[c->n] = handle;
		c->rules[c->n++] = b.data ? cg_buf_detach(&b, NULL)
					  : cg_xstrdup("");
	}
	cg_jdoc_release(&doc);
	return 0;
}

static int view_read(enum ipt_family f, const struct ipt_where *w,
		     const char *table, struct nft_view *v,
		     struct cg_error *err)
{
	struct cg_buf out = { 0 };
	int rc;

	rc = ipt_nft_list(f, w, table, true, NULL, &out, err);
	if (rc == 0)
		rc = view_parse(v, out.data ? out.data : "", out.len, err);
	cg_buf_release(&out);
	return rc;
}

/* What a scratch namespace refused: not compared (ipsets, helpers). */
static bool is_skipped(const bool *skip, size_t i)
{
	return skip && skip[i];
}

/* Which chains get checked, and their rules skipped (per chain). */
struct check {
	struct ipt_chain *c; /* borrowed */
	bool *skip;          /* owned: by rule index */
};

/*
 * The table as iptables-save showed it, for a scratch namespace: every
 * chain (rules may jump to any), the rules of the checked chains. line_of:
 * per script line, the check (high bits) and rule it is.
 */
static void build(const struct ipt_table *t, const struct check *ck,
		  size_t nck, struct cg_buf *s, size_t **line_ck,
		  size_t **line_rule, size_t *nlines)
{
	size_t i, k, n = 0, cap = 0;

	*line_ck = NULL;
	*line_rule = NULL;
#define LINE(ci, ri)                                                      \
	do {                                                              \
		cg_grow(line_ck, &cap, n + 2, sizeof(**line_ck));         \
		*line_rule = cg_xrealloc(*line_rule,                      \
					 cap * sizeof(**line_rule));      \
		n++;                                                      \
		(*line_ck)[n] = (ci);                                     \
		(*line_rule)[n] = (ri);                                   \
	} while (0)
	cg_buf_addf(s, "*%s\n", t->name);
	LINE(NONE, NONE);
	for (i = 0; i < t->n; i++) {
		cg_buf_addf(s, ":%s %s [0:0]\n", t->chains[i].name,
			    t->chains[i].policy ? t->chains[i].policy : "-");
		LINE(NONE, NONE);
	}
	for (i = 0; i < nck; i++)
		for (k = 0; k < ck[i].c->n; k++) {
			if (is_skipped(ck[i].skip, k))
				continue;
			cg_buf_addf(s, "-A %s %s\n", ck[i].c->name,
				    ck[i].c->rules[k].spec);
			LINE(i, k);
		}
	cg_buf_addstr(s, "COMMIT\n");
	LINE(NONE, NONE);
#undef LINE
	*nlines = n;
}

/* nft's own text of rule handle of chain, "" when it cannot say. */
static void nft_rule_text(enum ipt_family f, const struct ipt_where *w,
			  const char *table, const char *chain,
			  int64_t handle, char *buf, size_t size)
{
	struct cg_buf out = { 0 };
	char mark[64];
	const char *p, *q;

	buf[0] = '\0';
	if (ipt_nft_list(f, w, table, false, chain, &out, NULL) < 0 ||
	    !out.data)
		goto out_release;
	snprintf(mark, sizeof(mark), " # handle %" PRId64 "\n", handle);
	p = strstr(out.data, mark);
	if (!p)
		goto out_release;
	for (q = p; q > out.data && q[-1] != '\n'; q--)
		;
	while (*q == '\t' || *q == ' ')
		q++;
	snprintf(buf, size, "%.*s", (int)(p - q), q);
out_release:
	cg_buf_release(&out);
}

static void distrust(struct ipt_chain *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void distrust(struct ipt_chain *c, const char *fmt, ...)
{
	va_list ap;

	if (c->distrust)
		return;
	va_start(ap, fmt);
	if (vasprintf(&c->distrust, fmt, ap) < 0)
		abort();
	va_end(ap);
}

/* Compare chain ck->c as nft holds it here (live) and in scratch. */
static void compare(enum ipt_family f, const struct ipt_where *w,
		    const char *table, const struct check *ck,
		    const struct nft_chain *live,
		    const struct nft_chain *scratch)
{
	struct ipt_chain *c = ck->c;
	size_t nlive = live ? live->n : 0, i, k = 0;
	char text[512];

	for (i = 0; i < nlive || i < c->n; i++) {
		if (i >= nlive) {
			distrust(c, "iptables-save shows rule [%zu] of chain "
				    "%s (-A %s %s), which nft does not hold",
				 i + 1, c->name, c->name, c->rules[i].spec);
			return;
		}
		if (i < c->n && is_skipped(ck->skip, i))
			continue;
		if (i < c->n && scratch && k < scratch->n &&
		    strcmp(live->rules[i], scratch->rules[k]) == 0) {
			k++;
			continue;
		}
		nft_rule_text(f, w, table, c->name, live->handles[i], text,
			      sizeof(text));
		if (i < c->n)
			distrust(c, "rule [%zu] of chain %s was written with "
				    "nft and is not what iptables-save shows "
				    "(-A %s %s): nft holds '%s' (handle "
				    "%" PRId64 ")",
				 i + 1, c->name, c->name, c->rules[i].spec,
				 text[0] ? text : "?", live->handles[i]);
		else
			distrust(c, "chain %s holds a rule written with nft "
				    "that iptables-save does not show: '%s' "
				    "(handle %" PRId64 ")",
				 c->name, text[0] ? text : "?",
				 live->handles[i]);
		return;
	}
}

static void add_tool(struct cg_sha256 *h, char *path)
{
	char real[PATH_MAX], buf[PATH_MAX + 96];
	struct stat st;

	if (path && realpath(path, real) && stat(real, &st) == 0) {
		snprintf(buf, sizeof(buf), "%s %lld %lld %lld", real,
			 (long long)st.st_size, (long long)st.st_mtime,
			 (long long)st.st_ino);
		cg_sha256_update(h, buf, strlen(buf) + 1);
	}
	free(path);
}

/*
 * What the comparison depends on: the tools, the kernel, the chains as
 * iptables-save showed them (the script) and as nft holds them here. The
 * same key, the same (consistent) outcome: no scratch namespace needed.
 */
static void check_key(const struct ipt_backend *be, enum ipt_family f,
		      const struct ipt_table *t, const struct check *ck,
		      size_t nck, const struct nft_view *live,
		      char hex[CG_SHA256_HEX])
{
	unsigned char d[CG_SHA256_LEN];
	struct cg_buf s = { 0 };
	struct cg_sha256 h;
	struct utsname u;
	size_t *lc, *lr, nl, i, k;
	char *path = NULL;

	cg_sha256_init(&h);
#define ADD(x) cg_sha256_update(&h, (x), strlen(x) + 1)
	ADD(CACHE_MAGIC);
	ADD(be->name);
	ADD(ipt_family_name(f));
	if (uname(&u) == 0) {
		ADD(u.release);
		ADD(u.version);
	}
	if (ipt_tool(be, f, "restore", false, &path, NULL) < 0)
		path = NULL;
	add_tool(&h, path);
	if (cg_exec_find("nft", &path, NULL) < 0)
		path = NULL;
	add_tool(&h, path);
	build(t, ck, nck, &s, &lc, &lr, &nl);
	free(lc);
	free(lr);
	cg_sha256_update(&h, s.data, s.len);
	cg_buf_release(&s);
	for (i = 0; i < nck; i++) {
		const struct nft_chain *c = view_chain(live, ck[i].c->name);

		ADD(ck[i].c->name);
		for (k = 0; c && k < c->n; k++)
			ADD(c->rules[k]);
	}
#undef ADD
	cg_sha256_final(&h, d);
	cg_hex(d, sizeof(d), hex);
}

static char *cache_path(const char *dir, enum ipt_family f, const char *table)
{
	return cg_xasprintf("%s/nft-check-%s-%s", dir, ipt_family_name(f),
			    table);
}

static bool cache_says_ok(const char *dir, enum ipt_family f,
			  const char *table, const char *key)
{
	char *path = cache_path(dir, f, table);
	struct cg_buf b = { 0 };
	bool ok = false;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(path);
	if (fd < 0)
		return false;
	if (cg_read_fd(fd, &b, 4096, NULL) == 0 && b.data)
		ok = b.len == strlen(key) + 1 && memcmp(b.data, key, b.len - 1) ==
							0 && b.data[b.len - 1] == '\n';
	close(fd);
	cg_buf_release(&b);
	return ok;
}

/* Best effort: a cache that cannot be written is only slower. */
static void cache_ok(const char *dir, enum ipt_family f, const char *table,
		     const char *key)
{
	char *path, line[CG_SHA256_HEX + 1];

	if (cg_mkdir_p(dir, 0700, NULL) < 0)
		return;
	snprintf(line, sizeof(line), "%s\n", key);
	path = cache_path(dir, f, table);
	cg_write_file_atomic(path, line, strlen(line), 0600, NULL);
	free(path);
}

/*
 * The ipset sets and nfacct objects the checked rules name, made in the
 * scratch namespace as they are defined where w says, so that those
 * rules are compared too. Best effort: a rule whose object cannot be
 * made is refused there, and left out as before.
 */
static void make_objects(const struct check *ck, size_t nck,
			 const struct ipt_where *w, const struct ipt_where *sw)
{
	struct ipt_canon_job job;
	struct cg_error e;
	size_t i, j, n = 0;

	memset(&job, 0, sizeof(job));
	for (i = 0; i < nck; i++)
		n += ck[i].c->n;
	job.rules = cg_xcalloc(n + 1, sizeof(*job.rules));
	for (i = 0; i < nck; i++)
		for (j = 0; j < ck[i].c->n; j++) {
			const char *spec = ck[i].c->rules[j].spec;

			if (!strstr(spec, "set") && !strstr(spec, "nfacct"))
				continue;
			job.rules[job.nrules].chain = ck[i].c->name;
			job.rules[job.nrules++].text = spec;
		}
	if (job.nrules) {
		ipt_objects_gather(&job, w);
		cg_error_clear(&e);
		(void)ipt_objects_make(&job, sw, &e);
	}
	ipt_canon_job_release(&job);
	free(job.rules);
}

int ipt_nft_check(const struct ipt_backend *be, enum ipt_family f,
		  const struct ipt_where *w, struct ipt_table *t,
		  const char *const *chains, size_t nchains,
		  const char *cache_dir, bool cache_write,
		  struct cg_error *err)
{
	char key[CG_SHA256_HEX];
	struct nft_view live = { 0 }, scratch = { 0 };
	struct ipt_where sw = { NULL, -1, w->timeout_ms };
	struct check *ck = cg_xcalloc(nchains + 1, sizeof(*ck));
	size_t i, nck = 0, refused = 0;
	int rc;

	for (i = 0; i < nchains; i++) {
		struct ipt_chain *c = ipt_table_chain(t, chains[i]);

		if (c && !c->distrust && c->n) {
			ck[nck].c = c;
			ck[nck++].skip = cg_xcalloc(c->n + 1, sizeof(bool));
		}
	}
	rc = 0;
	if (!nck)
		goto out_free;
	rc = view_read(f, w, t->name, &live, err);
	if (rc < 0)
		goto out_free;
	if (cache_dir) {
		check_key(be, f, t, ck, nck, &live, key);
		if (cache_says_ok(cache_dir, f, t->name, key))
			goto out_free;
	}
	rc = cg_netns_new(&sw.netns_fd, err);
	if (rc < 0)
		goto out_free;
	make_objects(ck, nck, w, &sw);
	for (;;) {
		struct cg_buf s = { 0 };
		size_t *line_ck, *line_rule, nlines;
		unsigned line;

		build(t, ck, nck, &s, &line_ck, &line_rule, &nlines);
		rc = ipt_restore(be, f, &sw, s.data, s.len, &line, err);
		cg_buf_release(&s);
		if (rc < 0 && line && line <= nlines &&
		    line_ck[line] != NONE && refused < MAX_REFUSED) {
			/*
			 * Rules that need what a new namespace lacks (an
			 * ipset, a helper) are left out, and not compared.
			 */
			ck[line_ck[line]].skip[line_rule[line]] = true;
			refused++;
			free(line_ck);
			free(line_rule);
			continue;
		}
		free(line_ck);
		free(line_rule);
		break;
	}
	if (rc < 0) {
		cg_error_prefix(err, "cannot compare what iptables-save shows "
				     "with what nft holds (in a scratch "
				     "namespace)");
		goto out_close;
	}
	rc = view_read(f, &sw, t->name, &scratch, err);
	if (rc < 0)
		goto out_close;
	for (i = 0; i < nck; i++)
		compare(f, w, t->name, &ck[i], view_chain(&live, ck[i].c->name),
			view_chain(&scratch, ck[i].c->name));
	/* Only a table all read as nft holds it, every rule compared. */
	for (i = 0; i < nck && !ck[i].c->distrust; i++)
		;
	if (cache_dir && cache_write && i == nck && !refused)
		cache_ok(cache_dir, f, t->name, key);
out_close:
	close(sw.netns_fd);
out_free:
	for (i = 0; i < nck; i++)
		free(ck[i].skip);
	free(ck);
	view_release(&live);
	view_release(&scratch);
	return rc;
}
