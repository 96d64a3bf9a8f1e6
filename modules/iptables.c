/* iptables.c: the iptables resource: one chain, its policy, its ordered rules. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cg/fs.h"
#include "cg/module.h"
#include "cg/util.h"
#include "iptables.h"

#define NONE ((size_t)-1)
/* Restores per table before giving up on converging (concurrent writers). */
#define MAX_ATTEMPTS 3

/*
 * Rules by a short tag of their canonical text (64 bits of cg_hash128,
 * hex): what STATE keeps of the rules congruent added to a chain.
 */
#define TAG_LEN 16
#define OWNED_KEYS 4
/* Records hold 4096 bytes a value; a tag and its blank take 17. */
#define TAGS_PER_KEY (4096u / (TAG_LEN + 1))

static const char *const owned_keys[OWNED_KEYS + 1] = {
	"owned", "owned.1", "owned.2", "owned.3", NULL,
};

struct tags {
	char (*v)[TAG_LEN + 1]; /* owned */
	size_t n, cap;
};

static void rule_tag(const char *spec, char out[TAG_LEN + 1])
{
	unsigned char h[16];
	size_t i;

	cg_hash128(spec, strlen(spec), h);
	for (i = 0; i < TAG_LEN / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static bool tags_has(const struct tags *t, const char *tag)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->v[i], tag) == 0)
			return true;
	return false;
}

static bool tags_has_rule(const struct tags *t, const char *spec)
{
	char tag[TAG_LEN + 1];

	if (!t->n)
		return false;
	rule_tag(spec, tag);
	return tags_has(t, tag);
}

static void tags_add(struct tags *t, const char *tag)
{
	if (tags_has(t, tag))
		return;
	cg_grow(&t->v, &t->cap, t->n + 1, sizeof(*t->v));
	memcpy(t->v[t->n++], tag, TAG_LEN + 1);
}

static void tags_release(struct tags *t)
{
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static bool tags_equal(const struct tags *a, const struct tags *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (!tags_has(b, a->v[i]))
			return false;
	return true;
}

/* Tags from the records' values: 16 hex digits, blank separated. */
static void tags_parse(struct tags *t, const char *val)
{
	char tag[TAG_LEN + 1];
	size_t k;

	while (val && *val) {
		while (*val == ' ')
			val++;
		for (k = 0; k < TAG_LEN && val[k] &&
			    strchr("0123456789abcdef", val[k]);
		     k++)
			;
		if (k == TAG_LEN && (val[k] == ' ' || !val[k])) {
			memcpy(tag, val, TAG_LEN);
			tag[TAG_LEN] = '\0';
			tags_add(t, tag);
		}
		while (*val && *val != ' ')
			val++;
	}
}

struct want_rule {
	char *text;  /* owned: as written in the policy */
	char *where; /* owned: "roles/fw.yaml:12" */
	enum ipt_place_kind place; /* its own position:/before:, or the chain's */
	char *anchor; /* owned: before:, or NULL */
};

struct want {
	enum ipt_family family;
	char *table;  /* owned */
	char *chain;  /* owned */
	char *policy; /* owned: ACCEPT, DROP; NULL: left as it is */
	bool builtin;
	bool purge;
	enum ipt_place_kind place; /* position:/before: of the resource */
	char *anchor;              /* owned */
	bool absent;  /* state: absent: the (user) chain is removed */
	char **ignore; /* owned */
	size_t nignore;
	struct want_rule *rules; /* owned */
	size_t nrules;
	/* The kernel's form of the rules, found on the first observe. */
	bool canon_done;
	char **canon;      /* owned: in order; a rule may give several */
	size_t *canon_src; /* owned: the rule each comes from */
	size_t ncanon;
	/*
	 * The rules of this chain congruent added (STATE records owned*:
	 * a tag per rule, read on observe): those the policy no longer
	 * has leave the chain even with purge off.
	 */
	struct tags owned;
};

/*
 * One family as observed: read once per run and shared (counted) by the
 * resources of that family; apply re-reads the tables it changed into it.
 */
struct host {
	unsigned refs;
	enum ipt_family family;
	const struct ipt_backend *be;
	struct ipt_where where;
	struct ipt_ruleset rs;
	struct cg_resource **res; /* owned array, borrowed resources */
	size_t nres, capres;
};

static const char *const iptables_keys[] = { NULL };
static const char *const want_keys[] = {
	"family", "table", "chain", "policy", "purge",
	"ignore", "rules", "state", "position", "before", NULL,
};
static const char *const rule_keys[] = { "rule", "position", "before", NULL };

/* Targets, for "did you mean" when a jump goes nowhere. */
static const char *const std_targets[] = {
	"ACCEPT", "DROP",     "RETURN",   "REJECT",    "LOG",     "NFLOG",
	"QUEUE",  "NFQUEUE",  "MASQUERADE", "SNAT",    "DNAT",    "REDIRECT",
	"MARK",   "CONNMARK", "CT",       "NOTRACK",   "TCPMSS",  "TRACE",
	"AUDIT",  "CHECKSUM", "CLASSIFY", "SET",       "TEE",     "TPROXY",
	NULL,
};

/* Options that would make a rule line something else than a rule. */
static const char *const command_opts[] = {
	"-A", "--append", "-C", "--check", "-D", "--delete", "-I", "--insert",
	"-R", "--replace", "-L", "--list", "-S", "--list-rules", "-F",
	"--flush", "-Z", "--zero", "-N", "--new-chain", "-X", "--delete-chain",
	"-P", "--policy", "-E", "--rename-chain", "-t", "--table", NULL,
};

/* --- parse ---------------------------------------------------------- */

static int cmp_at(const void *a, const void *b, void *strings)
{
	char *const *v = strings;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(v[x], v[y]);

	return c ? c : x < y ? -1 : x > y;
}

/*
 * Is a string of v[0..n) there twice? *first and *second: the earliest
 * pair, by the second's index. Sorting, not comparing all pairs: a chain
 * may have thousands of rules.
 */
static bool find_dup(char **v, size_t n, size_t *first, size_t *second)
{
	size_t *ix = cg_xcalloc(n + 1, sizeof(*ix)), i;
	bool found = false;

	for (i = 0; i < n; i++)
		ix[i] = i;
	qsort_r(ix, n, sizeof(*ix), cmp_at, v);
	for (i = 1; i < n; i++)
		if (strcmp(v[ix[i - 1]], v[ix[i]]) == 0 &&
		    (!found || ix[i] < *second)) {
			*first = ix[i - 1];
			*second = ix[i];
			found = true;
		}
	free(ix);
	return found;
}

static int node_err(struct cg_error *err, const struct cg_node *n,
		    const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int node_err(struct cg_error *err, const struct cg_node *n,
		    const char *hint, const char *fmt, ...)
{
	va_list ap;
	char where[256];

	cg_error_clear(err);
	va_start(ap, fmt);
	if (err)
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	cg_node_where(n, where, sizeof(where));
	cg_error_where(err, "%s", where);
	if (hint)
		cg_error_hint(err, "%s", hint);
	return CG_ERR;
}

/* position: first|last, or before: TEXT, of map (a resource, a rule). */
static int parse_place(const struct cg_node *map, enum ipt_place_kind *kind,
		       char **anchor, struct cg_error *err)
{
	const struct cg_node *pos = cg_map_get(map, "position");
	const struct cg_node *bef = cg_map_get(map, "before");
	const char *s;

	if (pos && bef)
		return node_err(err, bef, "keep one of them",
				"position: and before: say the same thing "
				"twice");
	if (pos) {
		if (cg_node_string(pos, "position", &s, err) < 0)
			return CG_ERR;
		if (strcmp(s, "first") == 0)
			*kind = IPT_PLACE_FIRST;
		else if (strcmp(s, "last") == 0)
			*kind = IPT_PLACE_LAST;
		else
			return node_err(err, pos,
					"first: before every rule not in the "
					"policy; last: after them; or before: "
					"\"-j RETURN\" for a place of its own",
					"position is first or last, not '%s'",
					s);
	}
	if (bef) {
		if (cg_node_string(bef, "before", &s, err) < 0)
			return CG_ERR;
		if (!s[0])
			return node_err(err, bef, "before: \"-j RETURN\"",
					"before: cannot be empty");
		*kind = IPT_PLACE_BEFORE;
		free(*anchor);
		*anchor = cg_xstrdup(s);
	}
	return 0;
}

static int parse_rule(struct want *w, const struct cg_node *n,
		      struct cg_error *err)
{
	struct want_rule *r;
	char **words, where[256];
	enum ipt_place_kind place = w->place;
	char *anchor = NULL;
	size_t i, k;
	const char *p;

	if (n->kind == CG_NODE_MAP) {
		const struct cg_node *m = n;

		if (cg_map_check_keys(m, rule_keys, "a rule", err) < 0)
			return CG_ERR;
		n = cg_map_get(m, "rule");
		if (!n)
			return node_err(err, m, "- { rule: \"-s 10.0.0.0/8 -j "
						"DROP\", position: first }",
					"a rule written as a map needs rule:");
		if (parse_place(m, &place, &anchor, err) < 0)
			return CG_ERR;
		if (place == IPT_PLACE_BEFORE && !anchor)
			anchor = cg_xstrdup(w->anchor);
	} else if (w->anchor) {
		anchor = cg_xstrdup(w->anchor);
	}
	if (n->kind != CG_NODE_SCALAR) {
		free(anchor);
		return node_err(err, n, "write each rule as a string, like "
					"'-p tcp --dport 22 -j ACCEPT'",
				"a rule must be a string, not %s",
				cg_node_kind_name(n));
	}
	for (p = n->str; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t') {
			free(anchor);
			return node_err(err, n, "one rule per list item",
					"a rule must be one line");
		}
	if ((size_t)(p - n->str) != n->len) {
		free(anchor);
		return node_err(err, n, NULL, "a rule cannot hold a NUL byte");
	}
	if (ipt_split(n->str, &words, &k) < 0) {
		free(anchor);
		return node_err(err, n, "close the double quote",
				"rule has an open quote: %s", n->str);
	}
	if (k == 0) {
		free(anchor);
		ipt_words_free(words);
		return node_err(err, n, NULL, "empty rule");
	}
	for (i = 0; i < k; i++) {
		size_t j;

		for (j = 0; command_opts[j]; j++)
			if (strcmp(words[i], command_opts[j]) == 0) {
				int rc = node_err(
					err, n,
					"write only the matches and the "
					"target: the chain is chain:, the "
					"table is table:",
					"rule has the command option '%s': %s",
					words[i], n->str);

				free(anchor);
				ipt_words_free(words);
				return rc;
			}
	}
	ipt_words_free(words);
	cg_node_where(n, where, sizeof(where));
	w->rules = cg_xrealloc(w->rules, (w->nrules + 1) * sizeof(*w->rules));
	r = &w->rules[w->nrules++];
	r->text = cg_xstrdup(n->str);
	r->where = cg_xstrdup(where);
	r->place = place;
	r->anchor = anchor;
	return 0;
}

static int iptables_parse(struct cg_resource *r, const struct cg_node *item,
			  const struct cg_node *value,
			  const struct cg_parse_ctx *pc, struct cg_error *err)
{
	const struct cg_node *n;
	const char *s, *why;
	struct want *w;
	char name[128];
	size_t i;

	(void)item;
	(void)pc;
	if (!value || value->kind != CG_NODE_MAP)
		return node_err(err, value ? value : item,
				"- iptables: {family: ipv4, table: filter, "
				"chain: INPUT, rules: [...]}",
				"iptables takes a map of family, table, chain, "
				"policy, purge, ignore and rules");
	if (cg_map_check_keys(value, want_keys, "an iptables resource", err) < 0)
		return CG_ERR;
	w = cg_xcalloc(1, sizeof(*w));
	r->desired = w;

	n = cg_map_get(value, "family");
	s = "ipv4";
	if (n && cg_node_string(n, "family", &s, err) < 0)
		return CG_ERR;
	if (strcmp(s, "ipv4") == 0)
		w->family = IPT_IPV4;
	else if (strcmp(s, "ipv6") == 0)
		w->family = IPT_IPV6;
	else
		return node_err(err, n, "ipv4 (iptables) or ipv6 (ip6tables)",
				"unknown family '%s'", s);

	n = cg_map_get(value, "table");
	s = "filter";
	if (n && cg_node_string(n, "table", &s, err) < 0)
		return CG_ERR;
	if (!ipt_table_is_known(s))
		return node_err(err, n, "filter, nat, mangle, raw or security",
				"unknown table '%s'", s);
	w->table = cg_xstrdup(s);

	n = cg_map_get(value, "chain");
	if (!n)
		return node_err(err, value, "add chain: INPUT (or a chain of "
					    "your own)",
				"an iptables resource needs a chain");
	if (cg_node_string(n, "chain", &s, err) < 0)
		return CG_ERR;
	if (!ipt_chain_name_ok(s, &why))
		return node_err(err, n, why, "invalid chain name '%s'", s);
	w->chain = cg_xstrdup(s);
	w->builtin = ipt_chain_is_builtin(w->table, w->chain);
	snprintf(name, sizeof(name), "%s/%s/%s", ipt_family_name(w->family),
		 w->table, w->chain);
	cg_resource_set_id(r, "iptables", name);

	n = cg_map_get(value, "state");
	if (n) {
		if (cg_node_string(n, "state", &s, err) < 0)
			return CG_ERR;
		if (strcmp(s, "absent") == 0)
			w->absent = true;
		else if (strcmp(s, "present") != 0)
			return node_err(err, n, NULL,
					"state is present or absent, not '%s'",
					s);
		if (w->absent && w->builtin)
			return node_err(err, n, "to empty it, give rules: [] "
						"and purge: true",
					"%s is a built-in chain of %s: it "
					"cannot be absent",
					w->chain, w->table);
	}

	n = cg_map_get(value, "policy");
	if (n) {
		if (cg_node_string(n, "policy", &s, err) < 0)
			return CG_ERR;
		if (!w->builtin)
			return node_err(err, n, "end the chain with a rule "
						"(-j DROP) instead",
					"only built-in chains have a policy; "
					"%s is a chain of your own",
					w->chain);
		if (strcmp(s, "ACCEPT") != 0 && strcmp(s, "DROP") != 0)
			return node_err(err, n, NULL,
					"policy is ACCEPT or DROP, not '%s'",
					s);
		w->policy = cg_xstrdup(s);
	}

	n = cg_map_get(value, "purge");
	if (n && cg_node_bool(n, "purge", &w->purge, err) < 0)
		return CG_ERR;

	n = cg_map_get(value, "ignore");
	if (n) {
		const char **v;

		if (cg_node_strlist(n, "ignore", &v, &w->nignore, err) < 0)
			return CG_ERR;
		w->ignore = cg_xcalloc(w->nignore + 1, sizeof(*w->ignore));
		for (i = 0; i < w->nignore; i++) {
			if (!v[i][0]) {
				free(v);
				return node_err(err, n, NULL,
						"an ignore pattern cannot be "
						"empty: it would match every "
						"rule");
			}
			w->ignore[i] = cg_xstrdup(v[i]);
		}
		free(v);
	}

	if (parse_place(value, &w->place, &w->anchor, err) < 0)
		return CG_ERR;
	n = cg_map_get(value, "rules");
	if (n && !(n->kind == CG_NODE_SCALAR && n->plain && n->len == 0)) {
		if (n->kind != CG_NODE_SEQ)
			return node_err(err, n, "rules: is a list of rules",
					"rules must be a list, not %s",
					cg_node_kind_name(n));
		for (i = 0; i < n->len; i++)
			if (parse_rule(w, n->items[i], err) < 0)
				return CG_ERR;
		if (w->nrules > 1) {
			char **texts = cg_xcalloc(w->nrules, sizeof(*texts));
			size_t a, b;
			bool dup;

			for (i = 0; i < w->nrules; i++)
				texts[i] = w->rules[i].text;
			dup = find_dup(texts, w->nrules, &a, &b);
			free(texts);
			if (dup)
				return node_err(err, n->items[b],
						"remove one of them",
						"rule listed twice (also at "
						"%s): %s",
						w->rules[a].where,
						w->rules[b].text);
		}
	}
	if (w->absent && (w->nrules || w->policy || w->purge ||
			  w->place != IPT_PLACE_ORDER))
		return node_err(err, value, "remove rules:, policy: and purge:",
				"a chain that is absent has no rules or "
				"policy");
	return 0;
}

static void want_free_canon(struct want *w)
{
	size_t i;

	for (i = 0; i < w->ncanon; i++)
		free(w->canon[i]);
	free(w->canon);
	free(w->canon_src);
	w->canon = NULL;
	w->canon_src = NULL;
	w->ncanon = 0;
	w->canon_done = false;
}

static void host_unref(struct host *h)
{
	if (!h || --h->refs)
		return;
	ipt_ruleset_release(&h->rs);
	free(h->res);
	free(h);
}

static void iptables_release(struct cg_resource *r)
{
	struct want *w = r->desired;
	size_t i;

	if (w) {
		for (i = 0; i < w->nrules; i++) {
			free(w->rules[i].text);
			free(w->rules[i].where);
			free(w->rules[i].anchor);
		}
		free(w->anchor);
		free(w->rules);
		for (i = 0; i < w->nignore; i++)
			free(w->ignore[i]);
		free(w->ignore);
		want_free_canon(w);
		tags_release(&w->owned);
		free(w->table);
		free(w->chain);
		free(w->policy);
		free(w);
	}
	host_unref(r->observed);
	r->desired = r->observed = NULL;
}

/* --- canonical form ------------------------------------------------- */

static void add_name(char ***v, size_t *n, const char *name)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp((*v)[i], name) == 0)
			return;
	*v = cg_xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = cg_xstrdup(name);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Does want hold two rules that iptables stores the same way? */
static int check_dups(struct cg_resource *r, struct cg_error *err)
{
	struct want *w = r->desired;
	size_t i, j;

	if (!find_dup(w->canon, w->ncanon, &i, &j))
		return 0;
	cg_error_clear(err);
	snprintf(err->msg, sizeof(err->msg),
		 "this rule is the same as the one at %s once iptables has "
		 "read them: %s",
		 w->rules[w->canon_src[i]].where, w->canon[j]);
	snprintf(err->where, sizeof(err->where), "%s",
		 w->rules[w->canon_src[j]].where);
	cg_error_hint(err, "remove one of them");
	return CG_ERR;
}

/*
 * Give resource i (of a job's group) the forms of its rules, skipping
 * refused ones: how many were refused. *first gets the first one's error,
 * its place in where and msg, and the places of the others in msg.
 */
static size_t fill_canon(struct want *w, const struct ipt_canon_job *job,
			 size_t i, const size_t *rule_res,
			 const size_t *rule_idx, struct cg_error *first)
{
	size_t k, j, nbad = 0, len;

	want_free_canon(w);
	for (k = 0; k < job->nrules; k++) {
		const struct ipt_canon_rule *cr = &job->rules[k];
		const char *where;

		if (rule_res[k] != i)
			continue;
		where = w->rules[rule_idx[k]].where;
		if (cr->failed) {
			len = strlen(first->msg);
			if (!nbad) {
				*first = cr->err;
				snprintf(first->where, sizeof(first->where),
					 "%s", where);
				snprintf(first->msg, sizeof(first->msg),
					 "%s: %.900s", where, cr->err.msg);
			} else if (len + strlen(where) + 20 <
				   sizeof(first->msg)) {
				snprintf(first->msg + len,
					 sizeof(first->msg) - len, "%s%s",
					 nbad == 1 ? "; also refused: " : ", ",
					 where);
			}
			nbad++;
			continue;
		}
		for (j = 0; j < cr->nspecs; j++) {
			w->canon = cg_xrealloc(w->canon, (w->ncanon + 1) *
							       sizeof(char *));
			w->canon_src = cg_xrealloc(w->canon_src,
						   (w->ncanon + 1) *
							   sizeof(size_t));
			w->canon[w->ncanon] = cg_xstrdup(cr->specs[j]);
			w->canon_src[w->ncanon++] = rule_idx[k];
		}
	}
	return nbad;
}

/* Take the job's results into each resource's want; fail bad ones. */
static void take_canon(struct ipt_canon_job *job, struct cg_resource **res,
		       size_t n, const size_t *rule_res, const size_t *rule_idx)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct want *w = res[i]->desired;
		struct cg_error e;

		cg_error_clear(&e);
		if (fill_canon(w, job, i, rule_res, rule_idx, &e)) {
			cg_resource_fail(res[i], &e);
			continue;
		}
		if (check_dups(res[i], &e) < 0) {
			/* The resource's place is shown, not the rule's. */
			cg_error_prefix(&e, "%s", e.where);
			cg_resource_fail(res[i], &e);
			continue;
		}
		w->canon_done = true;
	}
}

/*
 * Canonicalise the rules of res (all of one family and table), in one
 * scratch namespace. chains: user chains the rules may jump to.
 */
static int canon_group(const struct ipt_backend *be, struct cg_resource **res,
		       size_t n, char **chains, size_t nchains, bool lenient,
		       const struct cg_ctx *ctx, const struct ipt_where *where,
		       struct ipt_canon_job *job, size_t **rule_res_out,
		       size_t **rule_idx_out, struct cg_error *err)
{
	const struct want *w0 = res[0]->desired;
	size_t i, k, total = 0;
	size_t *rule_res, *rule_idx;

	for (i = 0; i < n; i++)
		total += ((const struct want *)res[i]->desired)->nrules;
	memset(job, 0, sizeof(*job));
	job->be = be;
	job->family = w0->family;
	job->table = w0->table;
	if (nchains)
		qsort(chains, nchains, sizeof(*chains), cmp_str);
	job->chains = (const char *const *)chains;
	job->nchains = nchains;
	job->rules = cg_xcalloc(total + 1, sizeof(*job->rules));
	job->lenient_jumps = lenient;
	job->cache_dir = ctx ? ctx->cache_dir : NULL;
	job->cache_read_dir = ctx ? ctx->cache_read_dir : NULL;
	job->objects_from = where;
	rule_res = cg_xcalloc(total + 1, sizeof(*rule_res));
	rule_idx = cg_xcalloc(total + 1, sizeof(*rule_idx));
	for (i = 0; i < n; i++) {
		const struct want *w = res[i]->desired;

		for (k = 0; k < w->nrules; k++) {
			job->rules[job->nrules].chain = w->chain;
			job->rules[job->nrules].text = w->rules[k].text;
			rule_res[job->nrules] = i;
			rule_idx[job->nrules++] = k;
		}
	}
	*rule_res_out = rule_res;
	*rule_idx_out = rule_idx;
	return ipt_canon_run(job, err);
}

static bool same_group(const struct want *a, const struct want *b)
{
	return a->family == b->family && strcmp(a->table, b->table) == 0;
}

/*
 * The group (family and table) of res[i], if not taken yet: marks all its
 * members seen, puts those keep() accepts into group; returns how many.
 */
static size_t take_group(struct cg_resource *const *res, size_t n, size_t i,
			 bool *seen, bool (*keep)(const struct cg_resource *),
			 struct cg_resource **group)
{
	const struct want *wi = res[i]->desired;
	size_t j, ng = 0;

	if (seen[i])
		return 0;
	for (j = i; j < n; j++) {
		if (seen[j] || !same_group(wi, res[j]->desired))
			continue;
		seen[j] = true;
		if (keep(res[j]))
			group[ng++] = res[j];
	}
	return ng;
}

/* Rules still to be made canonical (observe). */
static bool needs_canon(const struct cg_resource *r)
{
	const struct want *w = r->desired;

	return !w->canon_done && !cg_resource_is_failed(r);
}

/* Chains that are to exist (check). */
static bool is_present(const struct cg_resource *r)
{
	const struct want *w = r->desired;

	return !w->absent;
}

/*
 * The chains to create in the scratch namespace for the group (family and
 * table) of ref: the user chains the policy declares in res, and those its
 * rules jump to that exist on the host (t, may be NULL) or, with
 * foreign_too, belong to known software. Not those declared absent.
 */
static void group_chains(struct cg_resource **res, size_t n,
			 const struct want *ref, const struct ipt_table *t,
			 bool foreign_too, char ***out, size_t *nout)
{
	size_t i, k, a, b = 0;

	*out = NULL;
	*nout = 0;
	for (i = 0; i < n; i++) {
		const struct want *w = res[i]->desired;

		if (same_group(ref, w) && !w->builtin && !w->absent)
			add_name(out, nout, w->chain);
	}
	for (i = 0; i < n; i++) {
		const struct want *w = res[i]->desired;

		for (k = 0; same_group(ref, w) && k < w->nrules; k++) {
			char *target = ipt_rule_target(w->rules[k].text);
			const struct ipt_chain *c;

			if (!target)
				continue;
			c = ipt_table_chain(t, target);
			if ((c && !c->policy) ||
			    (foreign_too && ipt_chain_owner(target)))
				add_name(out, nout, target);
			free(target);
		}
	}
	for (a = 0; a < *nout; a++) {
		bool gone = false;

		for (i = 0; i < n; i++) {
			const struct want *w = res[i]->desired;

			gone |= same_group(ref, w) && w->absent &&
				strcmp(w->chain, (*out)[a]) == 0;
		}
		if (gone)
			free((*out)[a]);
		else
			(*out)[b++] = (*out)[a];
	}
	*nout = b;
}

static void canonicalize(struct cg_ctx *ctx, struct cg_resource **res,
			 size_t n)
{
	struct cg_resource **group = cg_xcalloc(n + 1, sizeof(*group));
	bool *seen = cg_xcalloc(n + 1, sizeof(*seen));
	size_t i, j, ng;

	for (i = 0; i < n; i++) {
		const struct want *wi = res[i]->desired;
		const struct host *h = res[i]->observed;
		struct ipt_canon_job job;
		struct cg_error e;
		size_t *rule_res = NULL, *rule_idx = NULL, nchains;
		char **chains;

		ng = take_group(res, n, i, seen, needs_canon, group);
		if (!ng)
			continue;
		/* Chains the policy declares anywhere in this batch count. */
		group_chains(res, n, wi, ipt_ruleset_table(&h->rs, wi->table),
			     false, &chains, &nchains);
		cg_error_clear(&e);
		if (canon_group(h->be, group, ng, chains, nchains, false, ctx,
				&h->where, &job, &rule_res, &rule_idx,
				&e) < 0) {
			for (j = 0; j < ng; j++)
				cg_resource_fail(group[j], &e);
		} else {
			take_canon(&job, group, ng, rule_res, rule_idx);
		}
		ipt_canon_job_release(&job);
		free(job.rules);
		free(rule_res);
		free(rule_idx);
		free_names(chains, nchains);
	}
	free(group);
	free(seen);
}

/* --- observe -------------------------------------------------------- */

static int read_host(struct host *h, struct cg_error *err)
{
	struct ipt_ruleset other = { 0 };
	size_t nours = 0, nother = 0;
	bool ours, theirs;
	int rc;

	rc = ipt_save(h->be, h->family, &h->where, NULL, false, &h->rs, err);
	if (rc < 0)
		return rc;
	/*
	 * Rules may live in the other backend too: both run, and a rule
	 * added to one does nothing about a DROP in the other. iptables-nft
	 * says when legacy tables exist, if it prints anything at all; the
	 * legacy tools say nothing, so on a legacy host the nft side is
	 * always read.
	 */
	if (h->be == &ipt_backend_nft && h->rs.n && !h->rs.legacy_tables)
		return 0;
	rc = ipt_save(h->be->other, h->family, &h->where, NULL, true, &other,
		      NULL);
	if (rc < 0)
		return 0; /* the other backend is not installed */
	ours = ipt_ruleset_in_use(&h->rs, &nours);
	theirs = ipt_ruleset_in_use(&other, &nother);
	ipt_ruleset_release(&other);
	if (!theirs)
		return 0;
	if (ours)
		cg_error_set(err, CG_ERR,
			     "%s rules live in both iptables backends here: "
			     "%zu under %s and %zu under %s; congruent will "
			     "not guess which of them matters",
			     ipt_family_name(h->family), nours, h->be->name,
			     nother, h->be->other->name);
	else
		cg_error_set(err, CG_ERR,
			     "the %s rules here are under iptables-%s (%zu "
			     "rules), but the iptables command uses %s; "
			     "congruent will not start a second ruleset",
			     ipt_family_name(h->family), h->be->other->suffix,
			     nother, h->be->name);
	cg_error_hint(err, "keep one backend: move the rules "
			   "(iptables-%s-save | iptables-%s-restore) and flush "
			   "the other (iptables-%s -F; iptables-%s -X, for each "
			   "table), or switch the iptables command with "
			   "update-alternatives",
		      h->be->other->suffix, h->be->suffix,
		      h->be->other->suffix, h->be->other->suffix);
	return CG_ERR;
}

/*
 * On nf_tables, make sure the managed chains of each table read as nft
 * holds them (iptables-nft.c); when nft is not installed there is
 * nothing to compare with.
 */
static void nft_check_host(struct host *h, const struct cg_ctx *ctx)
{
	const char *cache_dir = ctx->cache_dir ? ctx->cache_dir
					       : ctx->cache_read_dir;
	const char **chains = cg_xcalloc(h->nres + 1, sizeof(*chains));
	bool *seen = cg_xcalloc(h->nres + 1, sizeof(*seen));
	size_t i, j, n;

	for (i = 0; i < h->nres; i++) {
		const struct want *wi = h->res[i]->desired;
		struct ipt_table *t;
		struct cg_error e;
		int rc;

		if (seen[i])
			continue;
		for (j = i, n = 0; j < h->nres; j++) {
			const struct want *wj = h->res[j]->desired;

			if (strcmp(wj->table, wi->table) == 0) {
				seen[j] = true;
				chains[n++] = wj->chain;
			}
		}
		t = ipt_ruleset_table(&h->rs, wi->table);
		if (!t || t->incompatible)
			continue;
		cg_error_clear(&e);
		rc = ipt_nft_check(h->be, h->family, &h->where, t, chains, n,
				   cache_dir, ctx->cache_dir != NULL, &e);
		if (rc == CG_ENOTFOUND)
			break;
		for (j = i; rc < 0 && j < h->nres; j++) {
			const struct want *wj = h->res[j]->desired;

			if (strcmp(wj->table, wi->table) == 0)
				cg_resource_fail(h->res[j], &e);
		}
	}
	free(chains);
	free(seen);
}

/* What STATE says congruent added to r's chain. */
static void owned_read(const struct cg_ctx *ctx, const struct cg_resource *r)
{
	struct want *w = r->desired;
	size_t k;

	tags_release(&w->owned);
	for (k = 0; ctx->record && k < OWNED_KEYS; k++)
		tags_parse(&w->owned, ctx->record(ctx, r, owned_keys[k]));
}

/*
 * Keep t as r's owned records, durably (before the change they describe
 * is reported). Past OWNED_KEYS * TAGS_PER_KEY rules the rest are not
 * kept: they then stay in the chain like rules of unknown owners.
 */
static int owned_write(struct cg_ctx *ctx, const struct cg_resource *r,
		       const struct tags *t, struct cg_error *err)
{
	struct cg_buf b[OWNED_KEYS];
	const char *kv[2 * OWNED_KEYS];
	size_t i, k;
	int rc;

	if (!ctx->record_set)
		return 0;
	memset(b, 0, sizeof(b));
	for (i = 0; i < t->n && i < OWNED_KEYS * TAGS_PER_KEY; i++) {
		k = i / TAGS_PER_KEY;
		cg_buf_addf(&b[k], "%s%s", b[k].len ? " " : "", t->v[i]);
	}
	for (k = 0; k < OWNED_KEYS; k++) {
		kv[2 * k] = owned_keys[k];
		kv[2 * k + 1] = b[k].len ? b[k].data : NULL;
	}
	rc = ctx->record_set(ctx, r, kv, OWNED_KEYS, err);
	for (k = 0; k < OWNED_KEYS; k++)
		cg_buf_release(&b[k]);
	return rc;
}

static int iptables_observe(struct cg_ctx *ctx, struct cg_resource **res,
			    size_t n, struct cg_error *err)
{
	const struct ipt_backend *be;
	enum ipt_family f;
	size_t i;
	int rc;

	/*
	 * --root builds a tree for another machine; its firewall is not
	 * this one's. Only a namespace given on purpose is touched then.
	 */
	if (!ctx->root->host && !ctx->netns) {
		cg_error_set(err, CG_ERR,
			     "not touching this machine's firewall for --root "
			     "%s",
			     ctx->root->path);
		cg_error_hint(err, "pass --netns NAME to enforce the rules in "
				   "a network namespace");
		return CG_ERR;
	}
	rc = ipt_backend_detect(&be, err);
	if (rc < 0)
		return rc;
	for (f = IPT_IPV4; f <= IPT_IPV6; f++) {
		struct host *h = NULL;
		struct cg_error e;
		bool read = false;

		cg_error_clear(&e);
		for (i = 0; i < n; i++) {
			struct want *w = res[i]->desired;

			if (w->family != f)
				continue;
			if (!read) {
				read = true;
				/* Our reference, dropped below. */
				h = cg_xcalloc(1, sizeof(*h));
				h->refs = 1;
				h->family = f;
				h->be = be;
				h->where.netns = ctx->netns;
				h->where.netns_fd = -1;
				h->where.timeout_ms = ctx->helper_timeout_ms;
				if (read_host(h, &e) < 0) {
					host_unref(h);
					h = NULL;
				}
			}
			if (!h) {
				cg_resource_fail(res[i], &e);
				continue;
			}
			owned_read(ctx, res[i]);
			host_unref(res[i]->observed);
			res[i]->observed = h;
			h->refs++;
			cg_grow(&h->res, &h->capres, h->nres + 1,
				sizeof(*h->res));
			h->res[h->nres++] = res[i];
		}
		if (h && h->be == &ipt_backend_nft)
			nft_check_host(h, ctx);
		host_unref(h);
	}
	canonicalize(ctx, res, n);
	return 0;
}

/* --- diff ----------------------------------------------------------- */

/* What one resource needs, against the table as observed. */
struct need {
	const struct ipt_chain *chain; /* NULL when it does not exist */
	bool create;                   /* -N */
	bool drop;                     /* -F, -X */
	const char *policy_from;       /* -P, when these two differ */
	const char *policy_to;
	const char **have;             /* owned array: chain's specs */
	struct ipt_place *place;       /* owned: per canonical rule */
	bool *stale;                   /* owned: per have rule */
	size_t *replaces;              /* owned: per canonical rule */
	struct ipt_plan plan;
};

static void need_release(struct need *nd)
{
	free(nd->have);
	free(nd->place);
	free(nd->stale);
	free(nd->replaces);
	ipt_plan_release(&nd->plan);
	memset(nd, 0, sizeof(*nd));
}

static const struct ipt_table *table_of(const struct cg_resource *r)
{
	const struct want *w = r->desired;
	const struct host *h = r->observed;

	return ipt_ruleset_table(&h->rs, w->table);
}

/* The resource of this batch that manages chain in w's family and table. */
static const struct cg_resource *manager_of(const struct cg_resource *r,
					    const char *chain)
{
	const struct want *w = r->desired;
	const struct host *h = r->observed;
	size_t i;

	for (i = 0; i < h->nres; i++) {
		const struct want *o = h->res[i]->desired;

		if (same_group(w, o) && strcmp(o->chain, chain) == 0)
			return h->res[i];
	}
	return NULL;
}

static bool want_has(const struct want *w, const char *spec)
{
	size_t i;

	for (i = 0; i < w->ncanon; i++)
		if (strcmp(w->canon[i], spec) == 0)
			return true;
	return false;
}

/* Would purge leave spec alone (owned by other software, or ignored)? */
static bool kept_anyway(const struct want *w, const struct ipt_table *t,
			const char *spec)
{
	size_t i;

	for (i = 0; i < w->nignore; i++)
		if (strstr(spec, w->ignore[i]))
			return true;
	return ipt_rule_owner_in(t, spec) != NULL;
}

/* May chain w->chain go? Not while something we keep jumps to it. */
static int check_drop(const struct cg_resource *r, const struct ipt_table *t,
		      const struct ipt_chain *c, struct cg_error *err)
{
	const struct want *w = r->desired;
	size_t i, j;

	for (j = 0; j < c->n; j++) {
		const char *owner = ipt_rule_owner_in(t, c->rules[j].spec);

		if (owner) {
			cg_error_set(err, CG_ERR,
				     "chain %s holds a rule of %s (-A %s %s); "
				     "not removing it",
				     w->chain, owner, w->chain,
				     c->rules[j].spec);
			cg_error_hint(err, "remove that rule first, or keep the "
					   "chain");
			return CG_ERR;
		}
	}
	for (i = 0; i < t->n; i++) {
		const struct ipt_chain *x = &t->chains[i];
		const struct cg_resource *m;
		const struct want *mw;

		if (x == c)
			continue;
		m = manager_of(r, x->name);
		mw = m ? m->desired : NULL;
		if (mw && mw->absent)
			continue; /* goes too */
		for (j = 0; j < x->n; j++) {
			char *target = ipt_rule_target(x->rules[j].spec);
			bool refers = target && strcmp(target, w->chain) == 0;

			free(target);
			if (!refers)
				continue;
			if (mw && want_has(mw, x->rules[j].spec)) {
				cg_error_set(err, CG_ERR,
					     "chain %s cannot go: the policy "
					     "still jumps to it from %s (-A %s "
					     "%s)",
					     w->chain, x->name, x->name,
					     x->rules[j].spec);
				cg_error_hint(err, "remove that rule from %s "
						   "(at %s)",
					      m->id, m->where);
				return CG_ERR;
			}
			if (mw && (mw->purge ||
				   tags_has_rule(&mw->owned, x->rules[j].spec)) &&
			    !kept_anyway(mw, t, x->rules[j].spec))
				continue; /* purged in the same change */
			cg_error_set(err, CG_ERR,
				     "chain %s cannot go: '-A %s %s' still "
				     "jumps to it, and the policy does not "
				     "manage that rule",
				     w->chain, x->name, x->rules[j].spec);
			cg_error_hint(err, "delete that rule (iptables -D %s "
					   "...), or manage chain %s with "
					   "purge: true",
				      x->name, x->name);
			return CG_ERR;
		}
	}
	return 0;
}

/*
 * The rules of the chain congruent added that the policy no longer has
 * (nd->stale), and which of them a new rule of the policy replaces: one
 * that sits where it sat among the managed rules (after the same one),
 * first come first paired: a rule edited in the policy.
 */
static void find_stale(const struct want *w, const struct ipt_table *t,
		       struct need *nd)
{
	const struct ipt_chain *c = nd->chain;
	size_t *pred_have = cg_xcalloc(c->n + 1, sizeof(*pred_have));
	bool *present = cg_xcalloc(w->ncanon + 1, sizeof(*present));
	bool *paired = cg_xcalloc(c->n + 1, sizeof(*paired));
	size_t i, j, prev = NONE, any = 0;

	nd->stale = cg_xcalloc(c->n + 1, sizeof(*nd->stale));
	nd->replaces = cg_xcalloc(w->ncanon + 1, sizeof(*nd->replaces));
	for (i = 0; i < c->n; i++) {
		const char *spec = c->rules[i].spec;

		pred_have[i] = prev;
		for (j = 0; j < w->ncanon; j++)
			if (strcmp(w->canon[j], spec) == 0)
				break;
		if (j < w->ncanon) {
			present[j] = true;
			prev = j;
			continue;
		}
		if (tags_has_rule(&w->owned, spec) &&
		    !kept_anyway(w, t, spec)) {
			nd->stale[i] = true;
			any++;
		}
	}
	prev = NONE;
	for (j = 0; j < w->ncanon; j++) {
		nd->replaces[j] = NONE;
		if (present[j]) {
			prev = j;
			continue;
		}
		for (i = 0; any && i < c->n; i++)
			if (nd->stale[i] && !paired[i] && pred_have[i] == prev)
				break;
		if (any && i < c->n) {
			paired[i] = true;
			nd->replaces[j] = i;
		}
	}
	free(pred_have);
	free(present);
	free(paired);
}

/* Fill nd from r's want and the table as last read. */
static int compute_need(const struct cg_resource *r, struct need *nd,
			struct cg_error *err)
{
	const struct want *w = r->desired;
	const struct ipt_table *t = table_of(r);
	struct ipt_plan_in in;
	size_t i;

	memset(nd, 0, sizeof(*nd));
	if (t && t->incompatible) {
		cg_error_set(err, CG_ERR,
			     "table %s was changed with nft in a way iptables "
			     "cannot show; not touching it",
			     w->table);
		cg_error_hint(err, "see `nft list table %s %s`",
			      w->family == IPT_IPV6 ? "ip6" : "ip", w->table);
		return CG_ERR;
	}
	nd->chain = ipt_table_chain(t, w->chain);
	if (nd->chain && nd->chain->distrust) {
		/*
		 * What iptables-save shows is not what the kernel holds: a
		 * purge could delete what is not there, and a rule that
		 * looks managed may do something else. Fail closed.
		 */
		cg_error_set(err, CG_ERR, "%s; not touching chain %s",
			     nd->chain->distrust, w->chain);
		cg_error_hint(err, "look at it with `nft -a list chain %s %s "
				   "%s` (or iptables -S %s), then replace or "
				   "delete that rule by hand",
			      w->family == IPT_IPV6 ? "ip6" : "ip", w->table,
			      w->chain, w->chain);
		return CG_ERR;
	}
	if (w->absent) {
		if (nd->chain && check_drop(r, t, nd->chain, err) < 0)
			return CG_ERR;
		nd->drop = nd->chain != NULL;
		return 0;
	}
	if (!w->canon_done)
		return cg_error_set(err, CG_ERR,
				    "internal error: rules not canonical");
	nd->create = !w->builtin && !nd->chain;
	if (w->policy) {
		const char *now = nd->chain && nd->chain->policy
					  ? nd->chain->policy
					  : "ACCEPT";

		if (strcmp(now, w->policy) != 0) {
			nd->policy_from = now;
			nd->policy_to = w->policy;
		}
	}
	nd->have = cg_xcalloc(nd->chain ? nd->chain->n + 1 : 1,
			      sizeof(*nd->have));
	for (i = 0; nd->chain && i < nd->chain->n; i++)
		nd->have[i] = nd->chain->rules[i].spec;
	memset(&in, 0, sizeof(in));
	in.have = nd->have;
	in.nhave = nd->chain ? nd->chain->n : 0;
	in.want = (const char *const *)w->canon;
	in.nwant = w->ncanon;
	in.purge = w->purge;
	in.ignore = (const char *const *)w->ignore;
	in.nignore = w->nignore;
	nd->place = cg_xcalloc(w->ncanon + 1, sizeof(*nd->place));
	for (i = 0; i < w->ncanon; i++) {
		const struct want_rule *wr = &w->rules[w->canon_src[i]];

		nd->place[i].kind = wr->place;
		nd->place[i].anchor = wr->anchor;
	}
	in.place = nd->place;
	if (w->owned.n && nd->chain)
		find_stale(w, t, nd);
	in.table = t;
	in.stale = nd->stale;
	in.replaces = nd->replaces;
	ipt_plan_chain(&in, &nd->plan);
	return 0;
}

static bool need_is_empty(const struct need *nd)
{
	return !nd->create && !nd->drop && !nd->policy_to && !nd->plan.n;
}

/* "kept: 2 rules not in the policy, 1 of fail2ban": why they stay. */
static void kept_note(struct cg_change *c, const struct ipt_plan *p)
{
	struct cg_buf b = { 0 };
	const char *owners[16];
	size_t counts[16], nowners = 0, i, k;

	for (i = 0; i < p->nkept; i++) {
		const char *o = p->kept[i].owner ? p->kept[i].owner : "";

		for (k = 0; k < nowners && strcmp(owners[k], o) != 0; k++)
			;
		if (k == nowners && nowners < CG_ARRAY_SIZE(owners)) {
			owners[nowners] = o;
			counts[nowners++] = 0;
		}
		if (k < nowners)
			counts[k]++;
	}
	for (k = 0; k < nowners; k++) {
		cg_buf_addf(&b, "%s%zu rule%s ", k ? ", " : "kept: ", counts[k],
			    counts[k] == 1 ? "" : "s");
		if (!owners[k][0])
			cg_buf_addstr(&b, "not in the policy (purge is off)");
		else if (strcmp(owners[k], "ignore") == 0)
			cg_buf_addstr(&b, "matching ignore:");
		else
			cg_buf_addf(&b, "of %s", owners[k]);
	}
	if (b.len)
		cg_change_note(c, "%s", b.data);
	cg_buf_release(&b);
}

/*
 * Where an inserted rule goes, for plan: "  (first)", "  (before [3] -A
 * DOCKER-USER -j RETURN)": the anchor as the chain is read now.
 */
static void place_note(const struct need *nd, const struct ipt_op *op,
		       char *buf, size_t size)
{
	const struct ipt_place *pl;
	size_t k;

	buf[0] = '\0';
	if (op->kind == IPT_OP_DELETE || !nd->place)
		return;
	pl = &nd->place[op->want];
	switch (pl->kind) {
	case IPT_PLACE_FIRST:
		snprintf(buf, size, "  (first)");
		break;
	case IPT_PLACE_LAST:
		snprintf(buf, size, "  (last)");
		break;
	case IPT_PLACE_BEFORE:
		for (k = 0; k < nd->plan.nkept; k++)
			if (strstr(nd->plan.kept[k].spec, pl->anchor))
				break;
		if (k == nd->plan.nkept) {
			snprintf(buf, size, "  (before \"%.200s\": none, so last)",
				 pl->anchor);
			break;
		}
		for (size_t i = 0; nd->chain && i < nd->chain->n; i++)
			if (nd->chain->rules[i].spec == nd->plan.kept[k].spec) {
				snprintf(buf, size, "  (before [%zu] -A %s %.300s)",
					 i + 1, nd->chain->name,
					 nd->plan.kept[k].spec);
				break;
			}
		break;
	default:
		break;
	}
}

/*
 * Managed rules that can never match in the chain as it will be: after
 * an unconditional ACCEPT, DROP, REJECT or RETURN, or a rule that takes
 * all their packets. A warning each, with both rules' places.
 */
static void warn_shadowed(const struct cg_resource *r, const struct need *nd,
			  struct cg_change *c)
{
	const struct want *w = r->desired;
	const struct ipt_plan *p = &nd->plan;
	bool *check = cg_xcalloc(p->nfinal + 1, sizeof(*check));
	size_t *by = cg_xcalloc(p->nfinal + 1, sizeof(*by));
	size_t i;

	for (i = 0; i < p->nfinal; i++)
		check[i] = p->final_want[i] != NONE;
	ipt_shadows(p->final, p->nfinal, check, by);
	for (i = 0; i < p->nfinal; i++)
		if (check[i] && by[i] != NONE)
			cg_change_warn(c,
				       "[%zu] -A %s %s (%s) never matches: "
				       "shadowed by [%zu] -A %s %s",
				       i + 1, w->chain, p->final[i],
				       w->rules[w->canon_src[p->final_want[i]]]
					       .where,
				       by[i] + 1, w->chain, p->final[by[i]]);
	free(check);
	free(by);
}

/* Does an insert of p take the place of stale rule have[k]? */
static bool replaced_by(const struct ipt_plan *p, size_t k)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (p->ops[i].kind != IPT_OP_DELETE && p->ops[i].replaces == k)
			return true;
	return false;
}

static int iptables_diff(struct cg_ctx *ctx, struct cg_resource *r,
			 struct cg_error *err)
{
	const struct want *w = r->desired;
	struct cg_change *c = &r->change;
	const char *armed;
	char where[512];
	struct need nd;
	size_t i, k;

	if (compute_need(r, &nd, err) < 0)
		return CG_ERR;
	if (nd.drop) {
		c->action = CG_ACTION_DELETE;
		cg_change_add(c, "chain", w->chain, NULL);
		for (i = 0; i < nd.chain->n; i++) {
			char *rule = cg_xasprintf("-A %s %s", w->chain,
						  nd.chain->rules[i].spec);
			struct cg_change_item *it =
				cg_change_add(c, "rule", rule, NULL);

			it->detail = cg_xasprintf("- [%zu] %s", i + 1, rule);
			free(rule);
		}
		need_release(&nd);
		return 0;
	}
	if (nd.create) {
		c->action = CG_ACTION_CREATE;
		cg_change_add(c, "chain", NULL, w->chain);
	}
	if (nd.policy_to)
		cg_change_add(c, "policy", nd.policy_from, nd.policy_to);
	for (i = 0; i < nd.plan.n; i++) {
		const struct ipt_op *op = &nd.plan.ops[i];
		char *rule = cg_xasprintf("-A %s%s%s", w->chain,
					  op->spec[0] ? " " : "", op->spec);
		bool del = op->kind == IPT_OP_DELETE;
		struct cg_change_item *it;

		if (del && op->stale && replaced_by(&nd.plan, op->at - 1)) {
			free(rule); /* shown with the rule replacing it */
			continue;
		}
		if (!del && op->replaces != NONE) {
			char *old = cg_xasprintf(
				"-A %s %s", w->chain,
				nd.chain->rules[op->replaces].spec);

			it = cg_change_add(c, "rule", old, rule);
			it->detail = cg_xasprintf("~ [%zu] replaced: %s -> %s",
						  op->at, old, rule);
			free(old);
			free(rule);
			continue;
		}
		it = cg_change_add(c, "rule", del ? rule : NULL,
				   del ? NULL : rule);
		place_note(&nd, op, where, sizeof(where));
		if (del && op->stale)
			it->detail = cg_xasprintf("- [%zu] removed from the "
						  "policy: %s",
						  op->at, rule);
		else
			it->detail = cg_xasprintf("%c [%zu] %s%s",
						  del ? '-' : '+', op->at, rule,
						  where);
		free(rule);
	}
	for (i = 0, k = 0; i < nd.plan.nkept; i++) {
		char *rule = cg_xasprintf("-A %s %s", w->chain,
					  nd.plan.kept[i].spec);

		/* kept[] points into the chain, in its order. */
		while (k < nd.chain->n &&
		       nd.chain->rules[k].spec != nd.plan.kept[i].spec)
			k++;
		cg_change_unmanaged(c, "rule", rule, nd.plan.kept[i].owner)
			->pos = (uint32_t)(k + 1);
		free(rule);
	}
	if (c->n && c->action == CG_ACTION_NONE)
		c->action = CG_ACTION_UPDATE;
	if (c->n)
		kept_note(c, &nd.plan);
	/* The ledger's words: whether congruent creates the chain. */
	if (c->n)
		c->before = nd.create ? cg_xstrdup("absent")
			    : cg_xasprintf("chain rules=%zu%s%s",
					   nd.chain ? nd.chain->n : 0,
					   nd.policy_to ? " policy=" : "",
					   nd.policy_to && nd.policy_from
						   ? nd.policy_from
						   : "");
	warn_shadowed(r, &nd, c);
	/*
	 * A run armed the guard and never settled it: it died, and the
	 * guard undid its change. Said while the chain still differs.
	 */
	armed = ctx && ctx->record ? ctx->record(ctx, r, "guard") : NULL;
	if (c->n && armed && cg_str_starts(armed, "armed "))
		cg_change_warn(c,
			       "the change of the run of %s was rolled back "
			       "by its guard: the agent died before it could "
			       "confirm it",
			       armed + 6);
	need_release(&nd);
	return 0;
}

/* --- apply ---------------------------------------------------------- */

/* Whose a line of a restore script is. */
struct tx_tag {
	size_t job;  /* job index, or NONE */
	size_t rule; /* index into the job's want rules, or NONE */
};

/* A restore script, and whose each line is. */
struct tx {
	struct cg_buf text;
	struct tx_tag *tags; /* owned: by line number (1-based) */
	size_t n, cap;
	size_t nkeep; /* policy lines that only keep counters */
};

static void tx_line(struct tx *t, size_t job, size_t rule, const char *fmt,
		    ...) __attribute__((format(printf, 4, 5)));

static void tx_line(struct tx *t, size_t job, size_t rule, const char *fmt,
		    ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s)
		abort();
	cg_buf_addstr(&t->text, s);
	cg_buf_addch(&t->text, '\n');
	free(s);
	cg_grow(&t->tags, &t->cap, t->n + 2, sizeof(*t->tags));
	t->n++;
	t->tags[t->n].job = job;
	t->tags[t->n].rule = rule;
}

static void tx_release(struct tx *t)
{
	cg_buf_release(&t->text);
	free(t->tags);
	memset(t, 0, sizeof(*t));
}

/* The text of line l of t (1-based), into buf. */
static void tx_line_text(const struct tx *t, unsigned l, char *buf,
			 size_t size)
{
	const char *p = t->text.data ? t->text.data : "";
	unsigned i;

	buf[0] = '\0';
	for (i = 1; i < l && p; i++) {
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	if (p && *p) {
		const char *nl = strchr(p, '\n');

		snprintf(buf, size, "%.*s",
			 (int)(nl ? (size_t)(nl - p) : strlen(p)), p);
	}
}

/* A multiset of specs, as a plain list: small and only counted. */
struct specs {
	char **v; /* owned */
	size_t n, cap;
};

static void specs_add(struct specs *s, const char *spec)
{
	cg_grow(&s->v, &s->cap, s->n + 1, sizeof(*s->v));
	s->v[s->n++] = cg_xstrdup(spec);
}

static size_t specs_count(const struct specs *s, const char *spec)
{
	size_t i, k = 0;

	for (i = 0; i < s->n; i++)
		k += strcmp(s->v[i], spec) == 0;
	return k;
}

static void specs_release(struct specs *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static size_t chain_count(const struct ipt_chain *c, const char *spec)
{
	size_t i, k = 0;

	for (i = 0; c && i < c->n; i++)
		k += strcmp(c->rules[i].spec, spec) == 0;
	return k;
}

/* One resource being applied, and what was done to it, to undo it. */
struct job {
	struct cg_resource *r;
	struct want *w;
	/* The chain before this apply. */
	char *had_policy;   /* owned */
	struct specs had;   /* in order */
	/* What our transactions did. */
	struct specs added, removed, added_now;
	/* The rules of the chain congruent added, as far as it knows. */
	struct tags owned;
	bool set_policy, made_chain, dropped_chain;
	bool failed_once;   /* a line of it failed, on the last try */
	char bad_line[512]; /* which */
	bool done, failed;
};

static void job_release(struct job *j)
{
	free(j->had_policy);
	specs_release(&j->had);
	specs_release(&j->added);
	specs_release(&j->removed);
	specs_release(&j->added_now);
	tags_release(&j->owned);
}

/* Add job ji's lines of one phase (0 -N ... 5 -X) to t. */
static void tx_add_job(struct tx *t, size_t ji, const struct job *j,
		       const struct need *nd, int phase)
{
	const struct want *w = j->w;
	size_t i;

	switch (phase) {
	case 0:
		if (nd->create)
			tx_line(t, ji, NONE, "-N %s", w->chain);
		break;
	case 1:
		/* Else a policy line at the top (policy_lines) set it. */
		if (nd->policy_to && !nd->chain)
			tx_line(t, ji, NONE, "-P %s %s", w->chain,
				nd->policy_to);
		break;
	case 2:
		for (i = 0; i < nd->plan.n; i++)
			if (nd->plan.ops[i].kind == IPT_OP_DELETE)
				tx_line(t, ji, NONE, "-D %s%s%s", w->chain,
					nd->plan.ops[i].spec[0] ? " " : "",
					nd->plan.ops[i].spec);
		break;
	case 3:
		for (i = 0; i < nd->plan.n; i++) {
			const struct ipt_op *op = &nd->plan.ops[i];
			size_t src;

			if (op->kind == IPT_OP_DELETE)
				continue;
			src = w->canon_src[op->want];
			if (op->kind == IPT_OP_INSERT)
				tx_line(t, ji, src, "-I %s %zu %s", w->chain,
					op->pos, op->spec);
			else if (op->kind == IPT_OP_APPEND)
				tx_line(t, ji, src, "-A %s %s", w->chain,
					op->spec);
		}
		break;
	case 4:
		if (nd->drop)
			tx_line(t, ji, NONE, "-F %s", w->chain);
		break;
	case 5:
		if (nd->drop)
			tx_line(t, ji, NONE, "-X %s", w->chain);
		break;
	}
}

/* Remember what a transaction that went through did to j. */
static void job_record(struct job *j, const struct need *nd)
{
	size_t i;

	specs_release(&j->added_now);
	if (nd->create)
		j->made_chain = true;
	if (nd->drop)
		j->dropped_chain = true;
	if (nd->policy_to)
		j->set_policy = true;
	for (i = 0; i < nd->plan.n; i++) {
		const struct ipt_op *op = &nd->plan.ops[i];

		if (op->kind == IPT_OP_DELETE) {
			specs_add(&j->removed, op->spec);
		} else {
			specs_add(&j->added, op->spec);
			specs_add(&j->added_now, op->spec);
		}
	}
}

/* Read table of h again (after a change, or a failed one). */
static int refresh(struct host *h, const char *table, struct cg_error *err)
{
	struct ipt_ruleset fresh = { 0 };
	int rc;

	rc = ipt_save(h->be, h->family, &h->where, table, false, &fresh, err);
	if (rc == 0)
		ipt_ruleset_take_table(&h->rs, &fresh, table);
	ipt_ruleset_release(&fresh);
	return rc;
}

/*
 * After our change the chain differs from the policy, our new rules are
 * not there, and rules nobody had before are: the kernel may have stored
 * ours in another form. Trying again would add them again.
 */
static bool looks_transformed(const struct job *j, const struct ipt_chain *c)
{
	bool missing = false;
	size_t i;

	for (i = 0; i < j->added_now.n && !missing; i++)
		missing = !chain_count(c, j->added_now.v[i]);
	for (i = 0; missing && c && i < c->n; i++)
		if (!specs_count(&j->had, c->rules[i].spec) &&
		    !want_has(j->w, c->rules[i].spec))
			return true;
	return false;
}

struct readd {
	const char *spec;
	size_t pos; /* where it was, 0-based */
	size_t count;
};

static int cmp_readd(const void *a, const void *b)
{
	const struct readd *x = a, *y = b;

	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Lines that undo what our transactions did to job j (index ji). */
static void undo_job(struct tx *tx, size_t ji, const struct job *j,
		     const struct ipt_table *t)
{
	const struct ipt_chain *c = ipt_table_chain(t, j->w->chain);
	const char *chain = j->w->chain;
	struct specs seen = { 0 };
	struct readd *back = NULL;
	size_t len = c ? c->n : 0, nback = 0, i, k;

	if (j->dropped_chain && !c) {
		tx_line(tx, ji, NONE, "-N %s", chain);
		for (k = 0; k < j->had.n; k++)
			tx_line(tx, ji, NONE, "-A %s %s", chain, j->had.v[k]);
		return;
	}
	if (!c)
		return;
	/* Its policy went back with the policy lines (undo). */
	/*
	 * Per spec we added or deleted: as many copies as there were before.
	 * Specs nobody of us touched are left alone, whoever added them.
	 */
	for (i = 0; i < j->added.n + j->removed.n; i++) {
		const char *s = i < j->added.n ? j->added.v[i]
					       : j->removed.v[i - j->added.n];
		size_t before = specs_count(&j->had, s);
		size_t now = chain_count(c, s);

		if (specs_count(&seen, s))
			continue;
		specs_add(&seen, s);
		for (; now > before; now--, len--)
			tx_line(tx, ji, NONE, "-D %s %s", chain, s);
		if (now < before) {
			back = cg_xrealloc(back, (nback + 1) * sizeof(*back));
			back[nback].spec = s;
			back[nback].count = before - now;
			for (k = 0; k < j->had.n; k++)
				if (strcmp(j->had.v[k], s) == 0)
					break;
			back[nback++].pos = k;
		}
	}
	/* Deleted rules go back where they were, as near as can be. */
	if (nback)
		qsort(back, nback, sizeof(*back), cmp_readd);
	for (i = 0; i < nback; i++)
		for (k = 0; k < back[i].count; k++, len++) {
			if (back[i].pos < len)
				tx_line(tx, ji, NONE, "-I %s %zu %s", chain,
					back[i].pos + 1, back[i].spec);
			else
				tx_line(tx, ji, NONE, "-A %s %s", chain,
					back[i].spec);
		}
	if (j->made_chain && len == 0) {
		bool used = false;
		size_t a, b;

		for (a = 0; a < t->n; a++)
			for (b = 0; b < t->chains[a].n; b++) {
				char *tg = ipt_rule_target(
					t->chains[a].rules[b].spec);

				used |= tg && strcmp(tg, chain) == 0;
				free(tg);
			}
		if (!used)
			tx_line(tx, ji, NONE, "-X %s", chain);
	}
	free(back);
	specs_release(&seen);
}

/*
 * Undo what our transactions did to the jobs in v, and only that, against
 * the table as it is now: rules we added that are still there go, rules we
 * deleted come back, the policy and chains we changed are put back. Rules
 * others added meanwhile are not touched.
 */
/* Does a script (table, lines, COMMIT) do more than keep counters? */
static bool has_change(const struct tx *tx)
{
	return tx->n > tx->nkeep + 2;
}

/*
 * The policy of built-in chains is set with a line ":INPUT DROP [p:b]"
 * carrying the chain's counters as read (restore runs with -c), never
 * with -P, which zeroes them. The legacy backend zeroes the policy
 * counters of every built-in chain of a table it writes unless given
 * such a line: there, every built-in chain gets one (its policy as it
 * is). The packets counted between the read and the restore are lost.
 */
static void policy_line(struct tx *tx, size_t ji, const struct ipt_chain *c,
			const char *policy)
{
	tx_line(tx, ji, NONE, ":%s %s [%" PRIu64 ":%" PRIu64 "]", c->name,
		policy, c->pkts, c->bytes);
	if (c->policy && strcmp(c->policy, policy) == 0)
		tx->nkeep++;
}

static void undo_policy_lines(struct tx *tx, const struct ipt_backend *be,
			      const char *table, const struct ipt_table *t,
			      struct job **v, size_t n)
{
	const char *const *b = ipt_builtin_chains(table);
	size_t i, k;

	for (k = 0; b && b[k]; k++) {
		const struct ipt_chain *c = ipt_table_chain(t, b[k]);
		const char *pol = NULL;
		size_t ji = NONE;

		if (!c || !c->policy)
			continue;
		for (i = 0; i < n; i++)
			if (v[i]->set_policy &&
			    strcmp(v[i]->w->chain, b[k]) == 0 &&
			    strcmp(c->policy, v[i]->had_policy) != 0) {
				pol = v[i]->had_policy;
				ji = i;
			}
		if (pol || be == &ipt_backend_legacy)
			policy_line(tx, ji, c, pol ? pol : c->policy);
	}
}

static int undo(struct host *h, const char *table, struct job **v, size_t n,
		struct cg_error *err)
{
	const struct ipt_table *t = ipt_ruleset_table(&h->rs, table);
	struct tx tx = { 0 };
	unsigned line;
	size_t i;
	int rc = 0;

	tx_line(&tx, NONE, NONE, "*%s", table);
	undo_policy_lines(&tx, h->be, table, t, v, n);
	for (i = 0; i < n; i++)
		undo_job(&tx, i, v[i], t);
	tx_line(&tx, NONE, NONE, "COMMIT");
	if (has_change(&tx))
		rc = ipt_restore(h->be, h->family, &h->where, tx.text.data,
				 tx.text.len, &line, err);
	tx_release(&tx);
	if (rc == 0)
		rc = refresh(h, table, err);
	return rc;
}

static void job_fail(struct job *j, const char *where, const char *hint,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void job_fail(struct job *j, const char *where, const char *hint,
		     const char *fmt, ...)
{
	struct cg_error e;
	va_list ap;

	cg_error_clear(&e);
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	snprintf(e.where, sizeof(e.where), "%s", where ? where : j->r->where);
	if (hint)
		cg_error_hint(&e, "%s", hint);
	cg_resource_fail(j->r, &e);
	j->failed = true;
}

/* Undo jobs v[0..n) and fail them with why. */
static void undo_and_fail(struct host *h, const char *table, struct job **v,
			  size_t n, const char *why, const char *hint)
{
	struct cg_error e;
	size_t i;

	cg_error_clear(&e);
	if (undo(h, table, v, n, &e) == 0) {
		for (i = 0; i < n; i++)
			job_fail(v[i], NULL, hint,
				 "%s; what congruent changed was undone", why);
	} else {
		for (i = 0; i < n; i++)
			job_fail(v[i], NULL, hint,
				 "%s; undoing what congruent changed failed "
				 "too: %s",
				 why, e.msg);
	}
}

/* Build the transaction for the jobs that have work (or only first). */
/* The policy lines of a change (see policy_line). */
static void policy_lines(struct tx *tx, bool legacy, const char *table,
			 const struct job *jobs, const struct need *nds,
			 size_t n, size_t only)
{
	const char *const *b = ipt_builtin_chains(table);
	const struct ipt_table *t = NULL;
	size_t i, k;

	for (i = 0; i < n && !t; i++)
		t = table_of(jobs[i].r);
	for (k = 0; b && b[k]; k++) {
		const struct ipt_chain *c = ipt_table_chain(t, b[k]);
		size_t ji = NONE;

		if (!c || !c->policy)
			continue;
		for (i = 0; i < n; i++)
			if (!jobs[i].done && !jobs[i].failed &&
			    (only == NONE || i == only) && nds[i].policy_to &&
			    nds[i].chain == c)
				ji = i;
		if (ji != NONE)
			policy_line(tx, ji, c, nds[ji].policy_to);
		else if (legacy)
			policy_line(tx, NONE, c, c->policy);
	}
}

static void build_tx(struct tx *tx, const char *table, const struct job *jobs,
		     const struct need *nds, size_t n, size_t only, bool legacy)
{
	int phase;
	size_t i;

	tx_line(tx, NONE, NONE, "*%s", table);
	policy_lines(tx, legacy, table, jobs, nds, n, only);
	/* New chains first (rules may jump to them), removed ones last. */
	for (phase = 0; phase < 6; phase++)
		for (i = 0; i < n; i++)
			if (!jobs[i].done && !jobs[i].failed &&
			    (only == NONE || i == only))
				tx_add_job(tx, i, &jobs[i], &nds[i], phase);
	tx_line(tx, NONE, NONE, "COMMIT");
}

/*
 * A transaction failed at line (0: it did not say). The table may have
 * changed since it was read (a rule to delete is gone): the caller reads
 * it again and retries. A line that fails again on fresh state is its
 * rule's fault, and fails that resource only. True when nobody could be
 * blamed.
 */
static bool blame(struct job *jobs, const struct tx *tx, unsigned line,
		  size_t only, const struct cg_error *e)
{
	size_t ji = line && line <= tx->n ? tx->tags[line].job : NONE;
	char text[512];

	tx_line_text(tx, line, text, sizeof(text));
	if (ji == NONE)
		ji = only;
	if (ji == NONE)
		return true;
	if (jobs[ji].failed_once && strcmp(jobs[ji].bad_line, text) == 0) {
		size_t src = line && line <= tx->n ? tx->tags[line].rule : NONE;

		job_fail(&jobs[ji],
			 src != NONE ? jobs[ji].w->rules[src].where : NULL,
			 "the other chains of the table were still changed; "
			 "try the rule by hand with iptables -A",
			 "iptables-restore refused %s%s%s: %s",
			 text[0] ? "'" : "the change", text,
			 text[0] ? "'" : "", e->msg);
	} else {
		jobs[ji].failed_once = true;
		snprintf(jobs[ji].bad_line, sizeof(jobs[ji].bad_line), "%s",
			 text);
	}
	return false;
}

/* --- the guard ------------------------------------------------------ */

/* The jobs of one family and table, applied together. */
struct group {
	struct host *h;    /* borrowed */
	const char *table; /* borrowed */
	struct job *jobs;  /* owned */
	size_t n;
};

/* An apply under a guard: all it changes, to undo it. */
struct guarded {
	struct cg_ctx *ctx;
	struct cg_guard g;
	bool armed;
	struct group *groups; /* borrowed */
	size_t ngroups;
};

/*
 * Lines that undo what nd is about to do to job ji, against the chain as
 * it is before it: in phases like build_tx, mirrored.
 */
static void inverse_of_need(struct tx *tx, size_t ji, const struct job *j,
			    const struct need *nd, int phase)
{
	const char *chain = j->w->chain;
	struct readd *back;
	size_t i, nback = 0;

	switch (phase) {
	case 0:
		if (nd->drop && nd->chain) {
			tx_line(tx, ji, NONE, "-N %s", chain);
			for (i = 0; i < nd->chain->n; i++)
				tx_line(tx, ji, NONE, "-A %s %s", chain,
					nd->chain->rules[i].spec);
		}
		break;
	case 1:
		if (nd->policy_to && nd->chain)
			policy_line(tx, ji, nd->chain, nd->policy_from);
		else if (nd->policy_to)
			tx_line(tx, ji, NONE, "-P %s %s", chain,
				nd->policy_from);
		break;
	case 2:
		for (i = 0; i < nd->plan.n; i++)
			if (nd->plan.ops[i].kind != IPT_OP_DELETE)
				tx_line(tx, ji, NONE, "-D %s %s", chain,
					nd->plan.ops[i].spec);
		break;
	case 3:
		/* Back where they were: in order, each at its old place. */
		back = cg_xcalloc(nd->plan.n + 1, sizeof(*back));
		for (i = 0; i < nd->plan.n; i++)
			if (nd->plan.ops[i].kind == IPT_OP_DELETE) {
				back[nback].spec = nd->plan.ops[i].spec;
				back[nback++].pos = nd->plan.ops[i].at - 1;
			}
		qsort(back, nback, sizeof(*back), cmp_readd);
		for (i = 0; i < nback; i++)
			tx_line(tx, ji, NONE, "-I %s %zu %s", chain,
				back[i].pos + 1, back[i].spec);
		free(back);
		break;
	case 4:
		if (nd->create)
			tx_line(tx, ji, NONE, "-F %s", chain);
		break;
	case 5:
		if (nd->create)
			tx_line(tx, ji, NONE, "-X %s", chain);
		break;
	}
}

/*
 * The script that undoes everything done so far to the groups of one
 * family, against their tables as last read; with nds (for group cur),
 * also what the transaction about to run does. Empty when there is
 * nothing to undo.
 */
static void undo_script(const struct guarded *gd, enum ipt_family f,
			size_t cur, const struct need *nds, size_t only,
			struct cg_buf *out)
{
	size_t gi, i;
	int phase;

	for (gi = 0; gi < gd->ngroups; gi++) {
		const struct group *g = &gd->groups[gi];
		const struct ipt_table *t;
		struct tx tx = { 0 };
		struct job **v;

		if (g->h->family != f)
			continue;
		v = cg_xcalloc(g->n + 1, sizeof(*v));
		t = ipt_ruleset_table(&g->h->rs, g->table);
		tx_line(&tx, NONE, NONE, "*%s", g->table);
		for (i = 0; i < g->n; i++)
			v[i] = &g->jobs[i];
		undo_policy_lines(&tx, g->h->be, g->table, t, v, g->n);
		for (phase = 0; gi == cur && nds && phase < 6; phase++)
			for (i = 0; i < g->n; i++)
				if (!g->jobs[i].done && !g->jobs[i].failed &&
				    (only == NONE || i == only))
					inverse_of_need(&tx, i, &g->jobs[i],
							&nds[i], phase);
		for (i = 0; i < g->n; i++)
			undo_job(&tx, i, &g->jobs[i], t);
		tx_line(&tx, NONE, NONE, "COMMIT");
		/* Policy lines alone undo nothing (they only keep counters). */
		if (has_change(&tx))
			cg_buf_add(out, tx.text.data, tx.text.len);
		tx_release(&tx);
		free(v);
	}
}

/*
 * Give the guard the undo of what is done so far and, first choice,
 * with what group cur's next transaction (nds) does: if the agent dies
 * while it runs, either may be the truth, and iptables-restore, atomic,
 * refuses the one that is not.
 */
static void guard_hold(struct guarded *gd, size_t cur, const struct need *nds,
		       size_t only)
{
	struct cg_buf a[2] = { { 0 } }, b[2] = { { 0 } };
	struct cg_guard_undo u[2];
	const char *argv[2][6];
	char *prog[2] = { NULL, NULL };
	size_t nu = 0, gi;
	enum ipt_family f;
	struct cg_error e;

	if (!gd || !gd->armed)
		return;
	for (f = IPT_IPV4; f <= IPT_IPV6; f++) {
		const struct host *h = NULL;

		for (gi = 0; gi < gd->ngroups; gi++)
			if (gd->groups[gi].h->family == f)
				h = gd->groups[gi].h;
		if (!h)
			continue;
		undo_script(gd, f, cur, nds, only, &a[f]);
		if (nds)
			undo_script(gd, f, NONE, NULL, NONE, &b[f]);
		if (!a[f].len ||
		    ipt_tool(h->be, f, "restore", false, &prog[f], &e) < 0)
			continue;
		/* -c: the policy lines carry the chains' counters. */
		argv[f][0] = prog[f];
		argv[f][1] = "--noflush";
		argv[f][2] = "-c";
		argv[f][3] = "-w";
		argv[f][4] = "10";
		argv[f][5] = NULL;
		memset(&u[nu], 0, sizeof(u[nu]));
		u[nu].argv = argv[f];
		u[nu].in[0] = a[f].data;
		u[nu].in_len[0] = a[f].len;
		u[nu].nin = 1;
		/* Nothing done before: if the transaction did not go through,
		 * an empty script is the undo. */
		u[nu].in[1] = b[f].len ? b[f].data : "";
		u[nu].in_len[1] = b[f].len;
		u[nu].nin += nds != NULL;
		nu++;
	}
	/* A guard that cannot be told is one that undoes it all anyway. */
	(void)cg_guard_hold(&gd->g, u, nu, &e);
	for (f = IPT_IPV4; f <= IPT_IPV6; f++) {
		cg_buf_release(&a[f]);
		cg_buf_release(&b[f]);
		free(prog[f]);
	}
}

/*
 * Make the jobs (all of one family and table) true: one iptables-restore
 * for all of them, read back, and again on fresh state if someone else
 * changed the table meanwhile. What cannot be made true is undone.
 */
/*
 * Before a transaction: the rules it adds are congruent's from now on,
 * on disk first, so that an agent killed right after the restore still
 * knows them (one that never got in is dropped again below).
 */
static void owned_ahead(struct cg_ctx *ctx, struct job *j,
			const struct need *nd)
{
	char tag[TAG_LEN + 1];
	struct cg_error e;
	size_t i, had = j->owned.n;

	for (i = 0; i < nd->plan.n; i++) {
		if (nd->plan.ops[i].kind == IPT_OP_DELETE)
			continue;
		rule_tag(nd->plan.ops[i].spec, tag);
		tags_add(&j->owned, tag);
	}
	cg_error_clear(&e);
	if (j->owned.n != had)
		(void)owned_write(ctx, j->r, &j->owned, &e);
}

/* After all: congruent owns what it added that is still in the chain. */
static void owned_settle(struct cg_ctx *ctx, const struct host *h,
			 struct job *j)
{
	const struct ipt_chain *c =
		ipt_table_chain(ipt_ruleset_table(&h->rs, j->w->table),
				j->w->chain);
	char tag[TAG_LEN + 1];
	struct tags now = { 0 };
	struct cg_error e;
	size_t i;

	for (i = 0; c && i < c->n; i++) {
		rule_tag(c->rules[i].spec, tag);
		if (tags_has(&j->owned, tag))
			tags_add(&now, tag);
	}
	cg_error_clear(&e);
	if (!tags_equal(&now, &j->w->owned))
		(void)owned_write(ctx, j->r, &now, &e);
	tags_release(&now);
}

static void apply_table(struct host *h, const char *table, struct job *jobs,
			size_t n, struct guarded *gd, size_t gi)
{
	struct need *nds = cg_xcalloc(n + 1, sizeof(*nds));
	struct job **left = cg_xcalloc(n + 1, sizeof(*left));
	unsigned rounds = 0, applied = 0, unblamed = 0;
	bool isolate = false;
	struct cg_error e;
	size_t i, nleft = 0;

	for (;;) {
		struct tx tx = { 0 };
		size_t first = NONE;
		unsigned line;

		for (i = 0; i < n; i++) {
			need_release(&nds[i]);
			if (jobs[i].done || jobs[i].failed)
				continue;
			cg_error_clear(&e);
			if (compute_need(jobs[i].r, &nds[i], &e) < 0) {
				cg_resource_fail(jobs[i].r, &e);
				jobs[i].failed = true;
			} else if (need_is_empty(&nds[i])) {
				jobs[i].done = true;
			} else if (first == NONE) {
				first = i;
			}
		}
		/* Each failed round blames a job (twice) or isolates them. */
		if (first == NONE || applied == MAX_ATTEMPTS ||
		    ++rounds > MAX_ATTEMPTS + 2 * n + 2)
			break;
		build_tx(&tx, table, jobs, nds, n, isolate ? first : NONE,
			 h->be == &ipt_backend_legacy);
		guard_hold(gd, gi, nds, isolate ? first : NONE);
		for (i = 0; i < n; i++)
			if (!jobs[i].done && !jobs[i].failed &&
			    (!isolate || i == first))
				owned_ahead(gd->ctx, &jobs[i], &nds[i]);
		cg_error_clear(&e);
		if (ipt_restore(h->be, h->family, &h->where, tx.text.data,
				tx.text.len, &line, &e) < 0) {
			if (blame(jobs, &tx, line, isolate ? first : NONE, &e) &&
			    ++unblamed >= 2)
				isolate = true; /* then one chain at a time */
			tx_release(&tx);
			if (refresh(h, table, &e) < 0)
				goto out_unread;
			continue;
		}
		tx_release(&tx);
		applied++;
		for (i = 0; i < n; i++)
			if (!jobs[i].done && !jobs[i].failed &&
			    (!isolate || i == first))
				job_record(&jobs[i], &nds[i]);
		if (refresh(h, table, &e) < 0)
			goto out_unread;
		guard_hold(gd, NONE, NULL, NONE);
		/* Verify: what came out other than written is undone. */
		for (i = 0; i < n; i++) {
			struct job *one = &jobs[i];
			const struct ipt_chain *c;

			if (one->done || one->failed || !one->added_now.n)
				continue;
			c = ipt_table_chain(ipt_ruleset_table(&h->rs, table),
					    one->w->chain);
			if (looks_transformed(one, c))
				undo_and_fail(h, table, &one, 1,
					      "the rules read back are not "
					      "the rules written",
					      "the kernel keeps a rule in "
					      "another form than it did in a "
					      "scratch namespace: please "
					      "report it, with iptables-save "
					      "of the chain");

			specs_release(&one->added_now);
		}
	}
	for (i = 0; i < n; i++)
		if (!jobs[i].done && !jobs[i].failed)
			left[nleft++] = &jobs[i];
	if (nleft)
		undo_and_fail(h, table, left, nleft,
			      "the chain still differs after several tries",
			      "another program keeps changing this table at "
			      "the same time; stop it, or leave the chain to "
			      "one of you");
	goto out;

out_unread:
	for (i = 0; i < n; i++)
		if (!jobs[i].done && !jobs[i].failed)
			job_fail(&jobs[i], NULL,
				 "run again: it reads the table afresh",
				 "cannot read table %s back: %s", table, e.msg);
out:
	for (i = 0; i < n; i++)
		need_release(&nds[i]);
	free(nds);
	free(left);
}

static void job_init(struct job *j, struct cg_resource *r)
{
	const struct ipt_table *t = table_of(r);
	const struct ipt_chain *c;
	size_t i;

	memset(j, 0, sizeof(*j));
	j->r = r;
	j->w = r->desired;
	c = ipt_table_chain(t, j->w->chain);
	j->had_policy = cg_xstrdup(c && c->policy ? c->policy : "ACCEPT");
	for (i = 0; c && i < c->n; i++)
		specs_add(&j->had, c->rules[i].spec);
	for (i = 0; i < j->w->owned.n; i++)
		tags_add(&j->owned, j->w->owned.v[i]);
}

/* Did the job change anything that is still to be undone? */
static bool job_changed(const struct job *j)
{
	return !j->failed && (j->added.n || j->removed.n || j->set_policy ||
			      j->made_chain || j->dropped_chain);
}

/*
 * After the change: does the filter INPUT chain of each family it touched
 * still let in what it did before (established sessions, the management
 * port)? Then every canary. The first failure, into why.
 */
static bool still_reachable(struct guarded *gd, char *why, size_t size,
			    bool *canary)
{
	size_t gi, i;

	for (gi = 0; gi < gd->ngroups; gi++) {
		const struct group *g = &gd->groups[gi];

		if (strcmp(g->table, "filter") != 0)
			continue;
		for (i = 0; i < g->n; i++) {
			const struct job *j = &g->jobs[i];
			const struct ipt_chain *c;
			const char **now;
			char before[8], after[512];
			size_t k;
			bool ok;

			if (!job_changed(j) || strcmp(j->w->chain, "INPUT") != 0)
				continue;
			if (!ipt_chain_lets_in((const char *const *)j->had.v,
					       j->had.n, j->had_policy,
					       gd->ctx->management_port, before,
					       sizeof(before)))
				continue; /* it did not before: not ours */
			c = ipt_table_chain(ipt_ruleset_table(&g->h->rs,
							      g->table),
					    "INPUT");
			now = cg_xcalloc(c ? c->n + 1 : 1, sizeof(*now));
			for (k = 0; c && k < c->n; k++)
				now[k] = c->rules[k].spec;
			ok = ipt_chain_lets_in(now, c ? c->n : 0,
					       c ? c->policy : NULL,
					       gd->ctx->management_port, after,
					       sizeof(after));
			free(now);
			if (!ok) {
				snprintf(why, size, "%s %s", ipt_family_name(g->h->family), after);
				return false;
			}
		}
	}
	*canary = true;
	for (i = 0; i < gd->ctx->ncanaries; i++)
		if (ipt_canary_run(gd->ctx, &gd->ctx->canaries[i], why, size) <
		    0)
			return false;
	return true;
}

/*
 * The change is made: confirm it if the host is still reachable, else
 * undo it (ourselves, against the tables as they are now; the guard if
 * that fails) and fail what changed.
 */
/*
 * Undo what the jobs changed, against the tables read afresh (the guard
 * may have undone some or all of it already: then there is less to do).
 */
static bool undo_all(struct guarded *gd)
{
	struct cg_error e;
	bool ok = true;
	size_t gi, i;

	for (gi = 0; gi < gd->ngroups; gi++) {
		struct group *g = &gd->groups[gi];
		struct job **v = cg_xcalloc(g->n + 1, sizeof(*v));
		size_t nv = 0;

		for (i = 0; i < g->n; i++)
			if (job_changed(&g->jobs[i]))
				v[nv++] = &g->jobs[i];
		cg_error_clear(&e);
		if (nv && (refresh(g->h, g->table, &e) < 0 ||
			   undo(g->h, g->table, v, nv, &e) < 0))
			ok = false;
		free(v);
	}
	return ok;
}

static void guard_settle(struct guarded *gd)
{
	char why[1024];
	struct cg_error e;
	bool undone = true, canary = false, changed = false;
	const char *hint;
	size_t gi, i;

	for (gi = 0; gi < gd->ngroups; gi++)
		for (i = 0; i < gd->groups[gi].n; i++)
			changed |= job_changed(&gd->groups[gi].jobs[i]);
	cg_error_clear(&e);
	if (!changed) {
		/* Nothing of ours is there: nothing to check or undo. */
		(void)cg_guard_confirm(&gd->g, &e);
		return;
	}
	if (still_reachable(gd, why, sizeof(why), &canary)) {
		if (cg_guard_confirm(&gd->g, &e) == 0)
			return;
		/*
		 * Too late: the guard ran its undo, maybe before the last
		 * transaction. Whatever of ours is left goes too.
		 */
		snprintf(why, sizeof(why), "%s", e.msg);
		undone = undo_all(gd);
		canary = false;
	} else {
		undone = undo_all(gd);
		cg_error_clear(&e);
		if (undone)
			(void)cg_guard_confirm(&gd->g, &e);
		else
			undone = cg_guard_fire(&gd->g, &e) == 0;
	}
	if (canary)
		hint = "the change cuts off what the canary checks: keep its "
		       "traffic allowed, or fix the canary (agent config "
		       "firewall: canaries:)";
	else if (gd->g.seconds && strstr(why, "guard_seconds"))
		hint = "the canaries took too long: raise firewall: "
		       "guard_seconds: in the agent config";
	else
		hint = "keep an accept of ESTABLISHED and of the management "
		       "port before any DROP in INPUT (or set firewall: "
		       "management_port: in the agent config)";
	for (gi = 0; gi < gd->ngroups; gi++) {
		struct group *g = &gd->groups[gi];

		cg_error_clear(&e);
		(void)refresh(g->h, g->table, &e);
		for (i = 0; i < g->n; i++)
			if (job_changed(&g->jobs[i]))
				job_fail(&g->jobs[i], NULL, hint, "%s: %s",
					 undone ? "rolled back"
						: "rolling back failed",
					 why);
	}
}

/*
 * STATE/records "guard" of each resource: "armed TIME" while a change is
 * unconfirmed, so that the run after one whose agent died says that the
 * guard undid it; NULL to clear. Best effort: it only informs.
 */
static void guard_record(struct cg_ctx *ctx, struct cg_resource **res,
			 size_t n, bool armed)
{
	char when[32], val[48];
	const char *kv[2];
	struct cg_error e;
	size_t i;

	if (!ctx->record_set)
		return;
	cg_time_iso(when, (int64_t)time(NULL));
	snprintf(val, sizeof(val), "armed %s", when);
	kv[0] = "guard";
	kv[1] = armed ? val : NULL;
	for (i = 0; i < n; i++) {
		if (!armed && !(ctx->record && ctx->record(ctx, res[i], "guard")))
			continue;
		cg_error_clear(&e);
		(void)ctx->record_set(ctx, res[i], kv, 1, &e);
	}
}

static int iptables_apply(struct cg_ctx *ctx, struct cg_resource **res,
			  size_t n, struct cg_error *err)
{
	bool *seen = cg_xcalloc(n + 1, sizeof(*seen));
	struct group *groups = cg_xcalloc(n + 1, sizeof(*groups));
	struct guarded gd;
	size_t i, j, ng = 0;

	(void)err;
	/* One transaction per table of a family, in the order of the first. */
	for (i = 0; i < n; i++) {
		const struct want *wi = res[i]->desired;
		struct group *g;

		if (seen[i])
			continue;
		g = &groups[ng++];
		g->h = res[i]->observed;
		g->table = wi->table;
		g->jobs = cg_xcalloc(n - i + 1, sizeof(*g->jobs));
		for (j = i; j < n; j++) {
			if (seen[j] || !same_group(wi, res[j]->desired))
				continue;
			seen[j] = true;
			job_init(&g->jobs[g->n++], res[j]);
		}
	}
	/*
	 * Armed before the first change, so that the agent dying at any
	 * point after it leaves the undo to the guard.
	 */
	memset(&gd, 0, sizeof(gd));
	gd.ctx = ctx;
	gd.groups = groups;
	gd.ngroups = ng;
	if (ctx->guard_seconds) {
		struct cg_error e;

		cg_error_clear(&e);
		if (cg_guard_arm(ctx, ctx->guard_seconds, &gd.g, &e) < 0) {
			for (i = 0; i < n; i++)
				cg_resource_failf(res[i],
						  "set firewall: guard_seconds: "
						  "0 in the agent config to "
						  "change the firewall "
						  "unguarded",
						  "not changed: %s", e.msg);
			goto out;
		}
		gd.armed = true;
		guard_record(ctx, res, n, true);
	}
	for (i = 0; i < ng; i++)
		apply_table(groups[i].h, groups[i].table, groups[i].jobs,
			    groups[i].n, &gd, i);
	if (gd.armed) {
		guard_settle(&gd);
		guard_record(ctx, res, n, false);
	}
	for (i = 0; i < ng; i++)
		for (j = 0; j < groups[i].n; j++)
			owned_settle(ctx, groups[i].h, &groups[i].jobs[j]);
out:
	for (i = 0; i < ng; i++) {
		for (j = 0; j < groups[i].n; j++)
			job_release(&groups[i].jobs[j]);
		free(groups[i].jobs);
	}
	free(groups);
	free(seen);
	return 0;
}

/* --- check ---------------------------------------------------------- */

static void report(const struct cg_parse_ctx *pc, const struct cg_resource *r,
		   const char *where, bool warning, const char *hint,
		   const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void report(const struct cg_parse_ctx *pc, const struct cg_resource *r,
		   const char *where, bool warning, const char *hint,
		   const char *fmt, ...)
{
	struct cg_error e;
	va_list ap;

	cg_error_clear(&e);
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	snprintf(e.where, sizeof(e.where), "%s", where ? where : r->where);
	cg_error_resource(&e, r->id);
	if (hint)
		cg_error_hint(&e, "%s", hint);
	if (!warning)
		pc->report(pc, &e);
	else if (pc->warn)
		pc->warn(pc, &e);
}

/* Jumps to chains the check had to make up: typos, or the host's own. */
static void check_unknown_chains(const struct ipt_canon_job *job,
				 struct cg_resource **res, size_t n,
				 const struct cg_parse_ctx *pc)
{
	size_t u, i, k;

	for (u = 0; u < job->nunknown; u++) {
		const char *chain = job->unknown_chains[u];
		const char *best = cg_suggest(chain, std_targets);
		bool told = false;

		for (i = 0; i < n && !told; i++) {
			const struct want *w = res[i]->desired;

			for (k = 0; k < w->nrules && !told; k++) {
				char *t = ipt_rule_target(w->rules[k].text);
				char hint[128];

				if (t && strcmp(t, chain) == 0) {
					told = true;
					if (best) {
						snprintf(hint, sizeof(hint),
							 "did you mean '%s'?",
							 best);
						report(pc, res[i],
						       w->rules[k].where, false,
						       hint,
						       "no target or chain "
						       "'%s'",
						       chain);
					} else {
						report(pc, res[i],
						       w->rules[k].where, true,
						       NULL,
						       "jumps to chain '%s', "
						       "which the policy does "
						       "not declare: it must "
						       "exist on each host",
						       chain);
					}
				}
				free(t);
			}
		}
	}
}

/*
 * check: load every rule into a scratch namespace, as root. Before a run
 * this is left to observe, which knows the host's chains.
 */
static void iptables_validate(struct cg_resource *const *res, size_t n,
			      const struct cg_parse_ctx *pc)
{
	const struct ipt_backend *be;
	struct cg_resource **group;
	struct cg_error e;
	bool *seen;
	size_t i, k, ng;

	if (!n || !pc->checking)
		return;
	if (geteuid() != 0) {
		report(pc, res[0], NULL, true, NULL,
		       "iptables rules were not checked by the kernel: that "
		       "needs root (congruent check loads them into a scratch "
		       "network namespace)");
		return;
	}
	cg_error_clear(&e);
	if (ipt_backend_detect(&be, &e) < 0) {
		report(pc, res[0], NULL, true, NULL,
		       "iptables rules were not checked by the kernel: %s",
		       e.msg);
		return;
	}
	group = cg_xcalloc(n + 1, sizeof(*group));
	seen = cg_xcalloc(n + 1, sizeof(*seen));
	for (i = 0; i < n; i++) {
		static const struct ipt_where here = { NULL, -1, 0 };
		const struct want *wi = res[i]->desired;
		struct ipt_canon_job job;
		size_t *rule_res = NULL, *rule_idx = NULL, nchains;
		char **chains;

		ng = take_group(res, n, i, seen, is_present, group);
		if (!ng)
			continue;
		group_chains(group, ng, wi, NULL, true, &chains, &nchains);
		cg_error_clear(&e);
		/* Sets and accounting objects: this machine's. */
		if (canon_group(be, group, ng, chains, nchains, true, NULL,
				&here, &job, &rule_res, &rule_idx, &e) < 0) {
			report(pc, group[0], NULL, true, NULL,
			       "iptables rules were not checked by the "
			       "kernel: %s",
			       e.msg);
		} else {
			for (k = 0; k < job.nrules; k++) {
				const struct ipt_canon_rule *cr = &job.rules[k];
				const struct want *w =
					group[rule_res[k]]->desired;

				if (!cr->failed)
					continue;
				report(pc, group[rule_res[k]],
				       w->rules[rule_idx[k]].where, false,
				       cr->err.hint[0] ? cr->err.hint : NULL,
				       "%s", cr->err.msg);
			}
			check_unknown_chains(&job, group, ng, pc);
			for (k = 0; k < ng; k++) {
				struct want *w = group[k]->desired;

				cg_error_clear(&e);
				fill_canon(w, &job, k, rule_res, rule_idx, &e);
				cg_error_clear(&e);
				if (check_dups(group[k], &e) < 0) {
					cg_error_resource(&e, group[k]->id);
					pc->report(pc, &e);
				}
			}
		}
		ipt_canon_job_release(&job);
		free(job.rules);
		free(rule_res);
		free(rule_idx);
		free_names(chains, nchains);
	}
	free(group);
	free(seen);
}

/* --- fingerprint ---------------------------------------------------- */

/*
 * What the policy manages of the chain, as it is: whether it exists, its
 * policy if the policy sets it, and its rules in order but those kept for
 * others (other software, ignore:, hand-added ones with purge off).
 * Counters are left out.
 */
static void iptables_fingerprint(const struct cg_resource *r,
				 unsigned char out[16])
{
	const struct want *w = r->desired;
	struct cg_buf b = { 0 };
	struct cg_error e;
	struct need nd;
	size_t i, k = 0;

	cg_buf_addf(&b, "%s\n", r->id);
	if (compute_need(r, &nd, &e) == 0 && nd.chain) {
		const struct ipt_chain *c = nd.chain;

		cg_buf_addstr(&b, "chain\n");
		if (w->policy)
			cg_buf_addf(&b, "policy %s\n", c->policy);
		for (i = 0; i < c->n; i++) {
			/* kept[] points into the chain, in its order. */
			if (k < nd.plan.nkept &&
			    nd.plan.kept[k].spec == c->rules[i].spec) {
				k++;
				continue;
			}
			cg_buf_addf(&b, "%s\n", c->rules[i].spec);
		}
	} else if (w->builtin) {
		/* A table nobody used yet: its chains are empty, ACCEPT. */
		cg_buf_addf(&b, "chain\n%s", w->policy ? "policy ACCEPT\n" : "");
	}
	need_release(&nd);
	cg_hash128(b.data, b.len, out);
	cg_buf_release(&b);
}

/* The family's ruleset goes with the last resource that holds it. */
static void iptables_forget(struct cg_resource *r)
{
	host_unref(r->observed);
	r->observed = NULL;
}

/* --- orphans: revert ------------------------------------------------ */

#define SAY(rv, ...) snprintf((rv)->what, sizeof((rv)->what), __VA_ARGS__)

/* One orphan chain's revert: lines of its table's delta, and their undo. */
struct rvchain {
	struct cg_revert *rv; /* borrowed */
	enum ipt_family family;
	char table[64];
	char chain[64];
	struct tags owned;   /* owned: its owned records */
	struct cg_buf lines; /* owned: -D, -X, -P lines */
	struct cg_buf undo;  /* owned: what puts them back */
	/* filter's INPUT that let in established sessions and the
	 * management port: the guard checks it still does after. */
	bool lets_in;
};

/* Is rule spec of chain one this revert deletes (an orphan's own)? */
static bool reverted_rule(const struct rvchain *self,
			  const struct rvchain *xs, size_t n,
			  const char *chain, const char *spec)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (xs[i].family == self->family &&
		    strcmp(xs[i].table, self->table) == 0 &&
		    strcmp(xs[i].chain, chain) == 0 &&
		    tags_has_rule(&xs[i].owned, spec))
			return true;
	return false;
}

/*
 * Does a rule of t other than in chain itself jump or go to chain,
 * other than one this revert deletes?
 */
static const char *jumper(const struct ipt_table *t, const char *chain,
			  const struct rvchain *self,
			  const struct rvchain *xs, size_t n)
{
	size_t i, j, k, nw;

	for (i = 0; i < t->n; i++) {
		if (strcmp(t->chains[i].name, chain) == 0)
			continue;
		for (j = 0; j < t->chains[i].n; j++) {
			char **w = NULL;
			bool hit = false;

			if (reverted_rule(self, xs, n, t->chains[i].name,
					  t->chains[i].rules[j].spec))
				continue;

			if (ipt_split(t->chains[i].rules[j].spec, &w, &nw) < 0)
				return t->chains[i].name;
			for (k = 0; k + 1 < nw; k++)
				if ((strcmp(w[k], "-j") == 0 ||
				     strcmp(w[k], "-g") == 0 ||
				     strcmp(w[k], "--jump") == 0 ||
				     strcmp(w[k], "--goto") == 0) &&
				    strcmp(w[k + 1], chain) == 0)
					hit = true;
			ipt_words_free(w);
			if (hit)
				return t->chains[i].name;
		}
	}
	return NULL;
}

/* Add to what, keeping room; a line that does not fit ends it with "...". */
static void what_add(struct cg_revert *rv, const char *fmt, ...)
{
	size_t len = strlen(rv->what), room = sizeof(rv->what) - len;
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(rv->what + len, room, fmt, ap);
	va_end(ap);
	if (k >= 0 && (size_t)k >= room && sizeof(rv->what) > 4)
		memcpy(rv->what + sizeof(rv->what) - 4, "...", 4);
}

/*
 * Decide the revert of one chain, reading only: the rules congruent
 * added (its owned tags, matched against the chain's rules as
 * iptables-save prints them) are deleted; a chain congruent created
 * goes once nothing else is in it and nothing jumps to it; a built-in
 * chain gets its policy back. Rules of others are never touched.
 */
static void revert_decide(const struct cg_ctx *ctx,
			  const struct ipt_backend *be, struct rvchain *x,
			  const struct rvchain *xs, size_t n)
{
	struct cg_revert *rv = x->rv;
	char policy[16] = "", tag[TAG_LEN + 1];
	const char *chain = x->chain;
	const struct ipt_table *t;
	const struct ipt_chain *c;
	struct ipt_ruleset rs = { 0 };
	struct ipt_where where = { ctx->netns, -1, ctx->helper_timeout_ms };
	struct tags used = { 0 };
	const char *p, *who;
	size_t before_n = 0, i, ndel = 0;
	bool created, stays = false;
	struct cg_error e;

	cg_error_clear(&e);
	if (!x->chain[0]) {
		rv->verdict = CG_REVERT_KEEP;
		SAY(rv, "keep: not a chain's id");
		return;
	}
	if (!rv->before || (strcmp(rv->before, "absent") != 0 &&
			    sscanf(rv->before, "chain rules=%zu", &before_n) !=
				    1)) {
		rv->verdict = CG_REVERT_KEEP;
		SAY(rv, "keep: what was there before congruent is unknown; "
			"release it with congruent forget %s",
		    rv->id);
		return;
	}
	created = strcmp(rv->before, "absent") == 0;
	p = strstr(rv->before, " policy=");
	if (p)
		snprintf(policy, sizeof(policy), "%s", p + 8);
	if (ipt_save(be, x->family, &where, x->table, false, &rs, &e) < 0) {
		rv->verdict = CG_REVERT_CHANGE;
		rv->failed = true;
		rv->err = e;
		SAY(rv, "cannot read the chain");
		return;
	}
	t = ipt_ruleset_table(&rs, x->table);
	c = t ? ipt_table_chain(t, chain) : NULL;
	if (!c) {
		rv->verdict = created ? CG_REVERT_FORGET : CG_REVERT_KEEP;
		SAY(rv, created ? "nothing to revert: the chain is gone, as "
				  "before congruent"
				: "keep: the chain is gone; congruent does not "
				  "make it again to revert");
		goto out;
	}
	if (strcmp(x->table, "filter") == 0 && strcmp(chain, "INPUT") == 0) {
		const char **specs = cg_xcalloc(c->n + 1, sizeof(*specs));
		char why[8];

		for (i = 0; i < c->n; i++)
			specs[i] = c->rules[i].spec;
		x->lets_in = ipt_chain_lets_in(specs, c->n, c->policy,
					       ctx->management_port, why,
					       sizeof(why));
		free(specs);
	}
	/*
	 * A tag names a rule's text, not one copy of it: the first copy
	 * goes (the one iptables -D deletes), once per tag.
	 */
	SAY(rv, "%s", "");
	for (i = 0; i < c->n; i++) {
		rule_tag(c->rules[i].spec, tag);
		if (!tags_has(&x->owned, tag) || tags_has(&used, tag))
			continue;
		tags_add(&used, tag);
		cg_buf_addf(&x->lines, "-D %s %s\n", chain, c->rules[i].spec);
		cg_buf_addf(&x->undo, "-I %s %zu %s\n", chain, i + 1,
			    c->rules[i].spec);
		what_add(rv, "%s-D %s %s", ndel ? "; " : "delete the rules "
						"congruent added: ",
			 chain, c->rules[i].spec);
		ndel++;
	}
	if (created && c->n == ndel) {
		if ((who = jumper(t, chain, x, xs, n))) {
			stays = true;
			what_add(rv, "%skeep the chain: a rule in %.60s jumps "
				     "to it", ndel ? "; " : "keep: ", who);
		} else {
			cg_buf_addf(&x->lines, "-X %s\n", chain);
			what_add(rv, "%sdelete the %schain congruent created",
				 ndel ? "; then " : "", ndel ? "" : "empty ");
			rv->removes = true;
		}
	} else if (created) {
		stays = true;
		what_add(rv, "%skeep the chain: %zu rule%s of others in it",
			 ndel ? "; " : "keep: ", c->n - ndel,
			 c->n - ndel == 1 ? "" : "s");
	}
	if (policy[0] && c->policy && strcmp(c->policy, policy) != 0) {
		cg_buf_addf(&x->lines, "-P %s %s\n", chain, policy);
		cg_buf_addf(&x->undo, "-P %s %s\n", chain, c->policy);
		what_add(rv, "%sset its policy back to %s, as before congruent",
			 rv->what[0] ? "; " : "", policy);
	}
	if (x->lines.len) {
		rv->verdict = CG_REVERT_CHANGE;
	} else if (stays) {
		/* Nothing done, and the chain congruent made is still
		 * there: it stays in the ledger, for a later run. */
		rv->verdict = CG_REVERT_KEEP;
	} else {
		rv->verdict = CG_REVERT_FORGET;
		SAY(rv, "nothing to revert: no rule of congruent's in it%s",
		    policy[0] ? ", and its policy as before" : "");
	}
out:
	tags_release(&used);
	ipt_ruleset_release(&rs);
}

/*
 * The undo of x: with made, the -N of each chain it deletes (all of a
 * table's before any rule goes back, a jump among them); else the rules
 * put back where they were, and the old policy.
 */
static void undo_lines(const struct rvchain *x, bool made, struct cg_buf *out)
{
	const char *l, *end;

	if (!made) {
		if (x->undo.len)
			cg_buf_addf(out, "%s", x->undo.data);
		return;
	}
	for (l = x->lines.data; l && *l; l = end + 1) {
		end = strchr(l, '\n');
		if (strncmp(l, "-X ", 3) == 0)
			cg_buf_addf(out, "-N %.*s\n", (int)(end - l - 3), l + 3);
	}
}

/*
 * The guard holds the undo of every table's delta (one restore per
 * family), armed before the first change like any firewall change.
 */
static void revert_guard_hold(struct cg_guard *g, const struct ipt_backend *be,
			      const struct rvchain *xs, size_t n)
{
	struct cg_buf a[2] = { { 0 } };
	struct cg_guard_undo u[2];
	const char *argv[2][5];
	char *prog[2] = { NULL, NULL };
	size_t nu = 0, i, j, k;
	enum ipt_family f;
	struct cg_error e;

	for (f = IPT_IPV4; f <= IPT_IPV6; f++) {
		for (i = 0; i < n; i++) {
			bool first = true;

			if (xs[i].family != f || !xs[i].lines.len ||
			    xs[i].rv->failed)
				continue;
			for (j = 0; j < i; j++)
				if (xs[j].family == f && xs[j].lines.len &&
				    !xs[j].rv->failed &&
				    strcmp(xs[j].table, xs[i].table) == 0)
					first = false;
			if (!first)
				continue;
			cg_buf_addf(&a[f], "*%s\n", xs[i].table);
			for (k = 0; k < 2; k++)
				for (j = i; j < n; j++)
					if (xs[j].family == f &&
					    xs[j].lines.len &&
					    !xs[j].rv->failed &&
					    strcmp(xs[j].table, xs[i].table) ==
						    0)
						undo_lines(&xs[j], k == 0,
							   &a[f]);
			cg_buf_addf(&a[f], "COMMIT\n");
		}
		cg_error_clear(&e);
		if (!a[f].len ||
		    ipt_tool(be, f, "restore", false, &prog[f], &e) < 0)
			continue;
		argv[f][0] = prog[f];
		argv[f][1] = "--noflush";
		argv[f][2] = "-w";
		argv[f][3] = "10";
		argv[f][4] = NULL;
		memset(&u[nu], 0, sizeof(u[nu]));
		u[nu].argv = argv[f];
		u[nu].in[0] = a[f].data;
		u[nu].in_len[0] = a[f].len;
		u[nu].nin = 1;
		nu++;
	}
	cg_error_clear(&e);
	(void)cg_guard_hold(g, u, nu, &e);
	for (f = IPT_IPV4; f <= IPT_IPV6; f++) {
		cg_buf_release(&a[f]);
		free(prog[f]);
	}
}

static void revert_fail(struct rvchain *xs, size_t n, const struct cg_error *e,
			const char *hint)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!xs[i].lines.len || xs[i].rv->failed)
			continue;
		xs[i].rv->failed = true;
		xs[i].rv->err = *e;
		if (hint)
			cg_error_hint(&xs[i].rv->err, "%s", hint);
	}
}

/* The lines of b that are "-OP ...", onto out. */
static void lines_of(struct cg_buf *out, const struct cg_buf *b, char op)
{
	const char *l, *end;

	for (l = b->data; l && *l; l = end + 1) {
		end = strchr(l, '\n');
		if (l[0] == '-' && l[1] == op)
			cg_buf_addf(out, "%.*s\n", (int)(end - l), l);
	}
}

/*
 * Does each INPUT that let sessions and the management port in before
 * the revert still do? false with why naming what it takes away.
 */
static bool still_lets_in(const struct cg_ctx *ctx,
			  const struct ipt_backend *be,
			  const struct rvchain *xs, size_t n, char *why,
			  size_t size)
{
	struct ipt_where where = { ctx->netns, -1, ctx->helper_timeout_ms };
	size_t i, k;

	for (i = 0; i < n; i++) {
		struct ipt_ruleset rs = { 0 };
		const struct ipt_chain *c;
		const char **now;
		struct cg_error e;
		char after[400];
		bool ok;

		if (!xs[i].lets_in || !xs[i].lines.len || xs[i].rv->failed)
			continue;
		cg_error_clear(&e);
		if (ipt_save(be, xs[i].family, &where, "filter", false, &rs,
			     &e) < 0) {
			snprintf(why, size, "cannot read INPUT back: %.200s", e.msg);
			return false;
		}
		c = ipt_table_chain(ipt_ruleset_table(&rs, "filter"), "INPUT");
		now = cg_xcalloc(c ? c->n + 1 : 1, sizeof(*now));
		for (k = 0; c && k < c->n; k++)
			now[k] = c->rules[k].spec;
		ok = ipt_chain_lets_in(now, c ? c->n : 0, c ? c->policy : NULL,
				       ctx->management_port, after,
				       sizeof(after));
		free(now);
		ipt_ruleset_release(&rs);
		if (!ok) {
			snprintf(why, size, "%s %s",
				 ipt_family_name(xs[i].family), after);
			return false;
		}
	}
	return true;
}

/*
 * Make the decided reverts: one iptables-restore --noflush per family
 * and table (all of its lines or none), guarded; a canary that fails
 * has the guard undo them all.
 */
static void revert_apply(struct cg_ctx *ctx, const struct ipt_backend *be,
			 struct rvchain *xs, size_t n)
{
	struct ipt_where where = { ctx->netns, -1, ctx->helper_timeout_ms };
	struct cg_guard g = { -1, -1, 0, false };
	struct cg_error e;
	size_t i, j, any = 0;
	bool armed = false, canary = false, lockout = false, refused = false;
	char why[512];

	for (i = 0; i < n; i++)
		any += xs[i].lines.len > 0;
	if (!any)
		return;
	cg_error_clear(&e);
	if (ctx->guard_seconds) {
		if (cg_guard_arm(ctx, ctx->guard_seconds, &g, &e) < 0) {
			revert_fail(xs, n, &e,
				    "set firewall: guard_seconds: 0 in the "
				    "agent config to change the firewall "
				    "unguarded");
			return;
		}
		armed = true;
		revert_guard_hold(&g, be, xs, n);
	}
	for (i = 0; i < n; i++) {
		struct cg_buf script = { 0 };
		unsigned line = 0;
		bool first = true;
		int phase;

		if (!xs[i].lines.len)
			continue;
		for (j = 0; j < i; j++)
			if (xs[j].family == xs[i].family && xs[j].lines.len &&
			    strcmp(xs[j].table, xs[i].table) == 0)
				first = false;
		if (!first)
			continue;
		cg_buf_addf(&script, "*%s\n", xs[i].table);
		/* Rules first, then chains (a jump goes before its target),
		 * then policies. */
		for (phase = 0; phase < 3; phase++)
			for (j = i; j < n; j++)
				if (xs[j].family == xs[i].family &&
				    xs[j].lines.len &&
				    strcmp(xs[j].table, xs[i].table) == 0)
					lines_of(&script, &xs[j].lines,
						 "DXP"[phase]);
		cg_buf_addf(&script, "COMMIT\n");
		cg_error_clear(&e);
		if (ipt_restore(be, xs[i].family, &where, script.data,
				script.len, &line, &e) < 0)
			for (j = i; j < n; j++)
				if (xs[j].family == xs[i].family &&
				    xs[j].lines.len &&
				    strcmp(xs[j].table, xs[i].table) == 0 &&
				    !xs[j].rv->failed) {
					xs[j].rv->failed = true;
					xs[j].rv->err = e;
					refused = true;
				}
		cg_buf_release(&script);
	}
	/* A table whose delta did not go in has nothing to undo. */
	if (armed && refused)
		revert_guard_hold(&g, be, xs, n);
	if (!armed)
		return;
	if (still_lets_in(ctx, be, xs, n, why, sizeof(why))) {
		for (i = 0; i < ctx->ncanaries; i++)
			if (ipt_canary_run(ctx, &ctx->canaries[i], why,
					   sizeof(why)) < 0)
				break;
		canary = i < ctx->ncanaries;
	} else {
		lockout = true;
	}
	cg_error_clear(&e);
	if (canary || lockout) {
		bool undone = cg_guard_fire(&g, &e) == 0;

		cg_error_set(&e, CG_ERR, "%s: %s",
			     undone ? "rolled back" : "rolling back failed",
			     why);
		revert_fail(xs, n, &e,
			    canary ? "the revert cuts off what the canary "
				     "checks: keep its traffic allowed in the "
				     "policy, or fix the canary (agent config "
				     "firewall: canaries:)"
				   : "what INPUT had before congruent does not "
				     "let established sessions or the "
				     "management port in: keep the chain in "
				     "the policy, or release it with congruent "
				     "forget");
	} else if (cg_guard_confirm(&g, &e) < 0) {
		revert_fail(xs, n, &e,
			    "the canaries took too long: raise firewall: "
			    "guard_seconds: in the agent config");
	}
}

static int iptables_revert(struct cg_ctx *ctx, struct cg_revert *const *v,
			   size_t n, bool apply, struct cg_error *err)
{
	const struct ipt_backend *be = NULL;
	struct rvchain *xs = cg_xcalloc(n + 1, sizeof(*xs));
	size_t i;

	(void)err;
	/* First every orphan's chain and rules: a jump from a rule that
	 * goes in the same revert does not keep a chain. */
	for (i = 0; i < n; i++) {
		char fam[16];
		size_t k;

		xs[i].rv = v[i];
		if (sscanf(v[i]->name, "%15[^/]/%63[^/]/%63s", fam,
			   xs[i].table, xs[i].chain) != 3) {
			xs[i].chain[0] = '\0';
			continue;
		}
		xs[i].family = strcmp(fam, "ipv6") == 0 ? IPT_IPV6 : IPT_IPV4;
		for (k = 0; ctx->ledger && k < OWNED_KEYS; k++)
			tags_parse(&xs[i].owned,
				   ctx->ledger(ctx, v[i]->id, owned_keys[k]));
	}
	for (i = 0; i < n; i++) {
		/* As observe: --root is another machine's tree. */
		if (!ctx->root->host && !ctx->netns) {
			v[i]->verdict = CG_REVERT_KEEP;
			SAY(v[i], "keep: not touching this machine's firewall "
				  "for --root (pass --netns NAME)");
			continue;
		}
		if (!be && ipt_backend_detect(&be, &v[i]->err) < 0) {
			be = NULL;
			v[i]->verdict = CG_REVERT_CHANGE;
			v[i]->failed = true;
			SAY(v[i], "cannot find the iptables tools");
			continue;
		}
		revert_decide(ctx, be, &xs[i], xs, n);
	}
	if (apply && be)
		revert_apply(ctx, be, xs, n);
	for (i = 0; i < n; i++) {
		tags_release(&xs[i].owned);
		cg_buf_release(&xs[i].lines);
		cg_buf_release(&xs[i].undo);
	}
	free(xs);
	return 0;
}

const struct cg_module cg_module_iptables = {
	.type = "iptables",
	.keys = iptables_keys,
	.parse = iptables_parse,
	.observe = iptables_observe,
	.diff = iptables_diff,
	.apply = iptables_apply,
	.release = iptables_release,
	.validate = iptables_validate,
	.fingerprint = iptables_fingerprint,
	.forget = iptables_forget,
	.revert = iptables_revert,
	.ledger_keys = owned_keys,
	.flags = CG_MODULE_BATCH | CG_MODULE_VERIFIES,
	/* NET_ADMIN: change tables; NET_RAW: the legacy tools' socket;
	 * SYS_ADMIN: enter --netns and make the scratch namespace. */
	.caps = { CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN },
	.ncaps = 3,
};
