/* iptables-rules.c: iptables-save output, rule words, built-ins and owners. */
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iptables.h"

const char *ipt_family_name(enum ipt_family f)
{
	return f == IPT_IPV6 ? "ipv6" : "ipv4";
}

static const struct {
	const char *table;
	const char *const chains[6];
} builtins[] = {
	{ "filter", { "INPUT", "FORWARD", "OUTPUT", NULL } },
	{ "nat", { "PREROUTING", "INPUT", "OUTPUT", "POSTROUTING", NULL } },
	{ "mangle",
	  { "PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING", NULL } },
	{ "raw", { "PREROUTING", "OUTPUT", NULL } },
	{ "security", { "INPUT", "FORWARD", "OUTPUT", NULL } },
};

const char *const *ipt_builtin_chains(const char *table)
{
	size_t i;

	for (i = 0; i < CG_ARRAY_SIZE(builtins); i++)
		if (strcmp(builtins[i].table, table) == 0)
			return builtins[i].chains;
	return NULL;
}

bool ipt_table_is_known(const char *table)
{
	return ipt_builtin_chains(table) != NULL;
}

bool ipt_chain_is_builtin(const char *table, const char *chain)
{
	const char *const *c = ipt_builtin_chains(table);

	for (; c && *c; c++)
		if (strcmp(*c, chain) == 0)
			return true;
	return false;
}

bool ipt_chain_name_ok(const char *name, const char **why)
{
	const char *p;

	if (!name[0]) {
		*why = "it is empty";
		return false;
	}
	/* XT_EXTENSION_MAXNAMELEN is 29, with the NUL. */
	if (strlen(name) > 28) {
		*why = "it is longer than 28 characters";
		return false;
	}
	if (name[0] == '-' || name[0] == '!') {
		*why = "it starts with '-' or '!'";
		return false;
	}
	for (p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("_-.+:@", *p))) {
			*why = "use letters, digits and _ - . + : @";
			return false;
		}
	return true;
}

/* --- parsing iptables-save ------------------------------------------ */

static struct ipt_table *add_table(struct ipt_ruleset *rs, const char *name)
{
	struct ipt_table *t;

	cg_grow(&rs->tables, &rs->cap, rs->n + 1, sizeof(*rs->tables));
	t = &rs->tables[rs->n++];
	memset(t, 0, sizeof(*t));
	t->name = cg_xstrdup(name);
	return t;
}

static struct ipt_chain *add_chain(struct ipt_table *t, const char *name,
				   size_t len)
{
	struct ipt_chain *c;

	cg_grow(&t->chains, &t->cap, t->n + 1, sizeof(*t->chains));
	c = &t->chains[t->n++];
	memset(c, 0, sizeof(*c));
	c->name = cg_xstrndup(name, len);
	return c;
}

/* "[12:3456]" at *p; advances past it and the blank after. */
static bool parse_counters(const char **p, uint64_t *pkts, uint64_t *bytes)
{
	char *end;

	if (**p != '[')
		return false;
	*pkts = strtoull(*p + 1, &end, 10);
	if (*end != ':')
		return false;
	*bytes = strtoull(end + 1, &end, 10);
	if (*end != ']')
		return false;
	*p = end + 1;
	while (**p == ' ')
		(*p)++;
	return true;
}

static int bad_line(struct cg_error *err, unsigned lineno, const char *line,
		    size_t len, const char *why)
{
	cg_error_set(err, CG_ERR,
		     "cannot read iptables-save output, line %u (%s): %.*s",
		     lineno, why, (int)(len > 200 ? 200 : len), line);
	cg_error_hint(err, "is this iptables-save from iptables 1.4 or "
			   "later? Report it with the line");
	return CG_ERR;
}

/* Where a scan of quotes is: inside one, just after a backslash in one. */
struct quoting {
	bool quoted, escaped;
};

/*
 * Scan s[0..len) on from q. Inside quotes a backslash escapes the next
 * character, as iptables-save writes them (\" and \\) and as ipt_split
 * reads them.
 */
static void scan_quotes(struct quoting *q, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (q->escaped)
			q->escaped = false;
		else if (q->quoted && s[i] == '\\')
			q->escaped = true;
		else if (s[i] == '"')
			q->quoted = !q->quoted;
	}
}

/* Could line be one of iptables-save's own (a rule, a chain, the end)? */
static bool looks_structural(const char *line, size_t len)
{
	return (len >= 3 && memcmp(line, "-A ", 3) == 0) ||
	       (len && strchr("[:*#", line[0])) ||
	       (len == 6 && memcmp(line, "COMMIT", 6) == 0);
}

/*
 * The rule at line (*len bytes, a quote open at its end) goes on over
 * the next lines until the quote closes: *len and *nl are moved there.
 * *tangled when one of those lines looks like iptables-save's own, so
 * that what is one rule and what is not cannot be told apart. -1 when
 * the quote never closes, or only after a COMMIT line (the table would
 * end inside the rule).
 */
static int continue_rule(const char *line, size_t *len, const char **nl,
			 unsigned *lineno, bool *tangled)
{
	struct quoting q = { false, false };

	scan_quotes(&q, line, *len);
	while (q.quoted && *nl) {
		const char *from = *nl + 1, *to = strchr(from, '\n');
		size_t part = to ? (size_t)(to - from) : strlen(from);

		(*lineno)++;
		if (looks_structural(from, part))
			*tangled = true;
		if (part == 6 && memcmp(from, "COMMIT", 6) == 0)
			return -1;
		scan_quotes(&q, *nl, (size_t)(from + part - *nl));
		*nl = to;
		*len = (size_t)(from + part - line);
	}
	return q.quoted ? -1 : 0;
}

/*
 * A rule over several lines whose lines look like rules: any chain of
 * the table may have lost rules to it, or gained some. None is trusted.
 */
static void distrust_table(struct ipt_table *t, size_t ci, size_t rule)
{
	const char *cname = t->chains[ci].name;
	size_t i;

	for (i = 0; i < t->n; i++)
		if (!t->chains[i].distrust)
			t->chains[i].distrust = cg_xasprintf(
				"table %s holds a rule printed over several "
				"lines whose text looks like more rules (rule "
				"[%zu] of chain %s): where it ends cannot be "
				"told",
				t->name, rule, cname);
}

/*
 * "# Table `filter' is incompatible, use 'nft' tool.": iptables-nft-save
 * prints that instead of the table. The table is there, unreadable.
 */
static void note_incompatible(struct ipt_ruleset *rs, struct ipt_table *t,
			      const char *line, size_t len)
{
	const char *a = memchr(line, '`', len), *b;
	char name[64];

	if (t) {
		t->incompatible = true;
		return;
	}
	if (!a)
		return;
	b = memchr(a + 1, '\'', (size_t)(line + len - a - 1));
	if (!b || b == a + 1 || (size_t)(b - a - 1) >= sizeof(name))
		return;
	snprintf(name, sizeof(name), "%.*s", (int)(b - a - 1), a + 1);
	t = ipt_ruleset_table(rs, name);
	if (!t)
		t = add_table(rs, name);
	t->incompatible = true;
}

int ipt_ruleset_parse(struct ipt_ruleset *rs, const char *text,
		      struct cg_error *err)
{
	struct ipt_table *t = NULL;
	const char *line = text;
	unsigned lineno = 0;
	/*
	 * The table's tangled rule: its chain (an index: a chain declared
	 * later moves the array) and place, for messages.
	 */
	size_t tangled_c = SIZE_MAX;
	size_t tangled_rule = 0;

	while (*line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		const char *p = line;
		const char *next = nl ? nl + 1 : line + len;

		lineno++;
		if (len == 0) {
			line = next;
			continue;
		}
		if (line[0] == '#') {
			if (memmem(line, len, "legacy tables present", 21))
				rs->legacy_tables = true;
			else if (memmem(line, len, "incompatible", 12))
				note_incompatible(rs, t, line, len);
		} else if (line[0] == '*') {
			char name[64];

			if (t || len - 1 >= sizeof(name) || len < 2)
				return bad_line(err, lineno, line, len,
						"a table inside a table");
			snprintf(name, sizeof(name), "%.*s", (int)len - 1,
				 line + 1);
			if (ipt_ruleset_table(rs, name))
				return bad_line(err, lineno, line, len,
						"the table twice");
			t = add_table(rs, name);
		} else if (len == 6 && memcmp(line, "COMMIT", 6) == 0) {
			if (!t)
				return bad_line(err, lineno, line, len,
						"COMMIT outside a table");
			if (tangled_c != SIZE_MAX)
				distrust_table(t, tangled_c, tangled_rule);
			tangled_c = SIZE_MAX;
			ipt_table_learn(t);
			t = NULL;
		} else if (line[0] == ':') {
			const char *sp = memchr(line, ' ', len);
			struct ipt_chain *c;
			const char *pol, *pe;

			if (!t || !sp || sp == line + 1)
				return bad_line(err, lineno, line, len,
						"a chain outside a table");
			c = add_chain(t, line + 1, (size_t)(sp - line - 1));
			pol = sp + 1;
			pe = memchr(pol, ' ', (size_t)(line + len - pol));
			if (!pe)
				pe = line + len;
			if (!(pe - pol == 1 && pol[0] == '-'))
				c->policy = cg_xstrndup(pol, (size_t)(pe - pol));
			if (pe < line + len) {
				p = pe + 1;
				if (!parse_counters(&p, &c->pkts, &c->bytes))
					return bad_line(err, lineno, line, len,
							"bad counters");
			}
		} else {
			uint64_t pkts = 0, bytes = 0;
			const char *chain, *ce, *end = line + len;
			bool multi = false, tangled = false;
			struct ipt_chain *c;
			struct ipt_rule *r;

			if (memchr(line, '"', len)) {
				/*
				 * A quoted word (a comment) with a newline in
				 * it: the rule goes on until the quote closes.
				 */
				unsigned first = lineno;

				if (continue_rule(line, &len, &nl, &lineno,
						  &tangled) < 0)
					return bad_line(err, first, line,
							len > 200 ? 200 : len,
							"a quote that does "
							"not close within the "
							"table");
				multi = lineno != first;
				next = nl ? nl + 1 : line + len;
				end = line + len;
			}
			if (*p == '[' && !parse_counters(&p, &pkts, &bytes))
				return bad_line(err, lineno, line, len,
						"bad counters");
			if (!t || end - p < 4 || memcmp(p, "-A ", 3) != 0)
				return bad_line(err, lineno, line, len,
						"not a rule");
			chain = p + 3;
			ce = memchr(chain, ' ', (size_t)(end - chain));
			if (!ce)
				ce = end;
			c = NULL;
			{
				size_t k, clen = (size_t)(ce - chain);

				for (k = 0; k < t->n; k++)
					if (strlen(t->chains[k].name) == clen &&
					    memcmp(t->chains[k].name, chain,
						   clen) == 0)
						c = &t->chains[k];
			}
			if (!c)
				return bad_line(err, lineno, line, len,
						"a rule of an undeclared chain");
			cg_grow(&c->rules, &c->cap, c->n + 1, sizeof(*c->rules));
			r = &c->rules[c->n++];
			r->spec = ce < end ? cg_xstrndup(ce + 1,
							 (size_t)(end - ce - 1))
					   : cg_xstrdup("");
			r->pkts = pkts;
			r->bytes = bytes;
			if (multi && !c->distrust)
				c->distrust = cg_xasprintf(
					"rule [%zu] of chain %s is printed by "
					"iptables-save over several lines (a "
					"comment or other quoted text with a "
					"newline): iptables-restore can neither "
					"delete it by its text nor write it "
					"back",
					c->n, c->name);
			if (tangled && tangled_c == SIZE_MAX) {
				tangled_c = (size_t)(c - t->chains);
				tangled_rule = c->n;
			}
		}
		line = next;
	}
	if (t)
		return bad_line(err, lineno, "", 0, "no COMMIT at the end");
	return 0;
}

static void table_release(struct ipt_table *t)
{
	size_t i, j;

	for (i = 0; i < t->n; i++) {
		struct ipt_chain *c = &t->chains[i];

		for (j = 0; j < c->n; j++)
			free(c->rules[j].spec);
		free(c->rules);
		free(c->name);
		free(c->policy);
		free(c->distrust);
	}
	free(t->chains);
	free(t->name);
	for (i = 0; i < t->ndocker_ifaces; i++)
		free(t->docker_ifaces[i]);
	free(t->docker_ifaces);
	memset(t, 0, sizeof(*t));
}

void ipt_ruleset_release(struct ipt_ruleset *rs)
{
	size_t i;

	if (!rs)
		return;
	for (i = 0; i < rs->n; i++)
		table_release(&rs->tables[i]);
	free(rs->tables);
	memset(rs, 0, sizeof(*rs));
}

struct ipt_table *ipt_ruleset_table(const struct ipt_ruleset *rs,
				    const char *name)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		if (strcmp(rs->tables[i].name, name) == 0)
			return &rs->tables[i];
	return NULL;
}

struct ipt_chain *ipt_table_chain(const struct ipt_table *t, const char *name)
{
	size_t i;

	for (i = 0; t && i < t->n; i++)
		if (strcmp(t->chains[i].name, name) == 0)
			return &t->chains[i];
	return NULL;
}

void ipt_ruleset_take_table(struct ipt_ruleset *rs, struct ipt_ruleset *from,
			    const char *name)
{
	struct ipt_table *old = ipt_ruleset_table(rs, name);
	struct ipt_table *fresh = ipt_ruleset_table(from, name);

	if (old && fresh) {
		table_release(old);
		*old = *fresh;
	} else if (old) {
		table_release(old);
		*old = rs->tables[--rs->n];
	} else if (fresh) {
		cg_grow(&rs->tables, &rs->cap, rs->n + 1, sizeof(*rs->tables));
		rs->tables[rs->n++] = *fresh;
	}
	if (fresh) {
		/* Moved: from keeps no pointer to it. */
		*fresh = from->tables[--from->n];
	}
}

bool ipt_ruleset_in_use(const struct ipt_ruleset *rs, size_t *nrules_out)
{
	size_t i, j, nrules = 0;
	bool used = false;

	for (i = 0; i < rs->n; i++) {
		const struct ipt_table *t = &rs->tables[i];

		if (t->incompatible)
			used = true;
		for (j = 0; j < t->n; j++) {
			const struct ipt_chain *c = &t->chains[j];

			nrules += c->n;
			if (c->distrust)
				used = true;
			if (c->n || !c->policy ||
			    strcmp(c->policy, "ACCEPT") != 0)
				used = true;
		}
	}
	if (nrules_out)
		*nrules_out = nrules;
	return used;
}

/* --- words ---------------------------------------------------------- */

int ipt_split(const char *spec, char ***out, size_t *n_out)
{
	struct cg_buf word = { 0 };
	char **v = NULL;
	size_t n = 0, cap = 0;
	bool quoted = false, in_word = false;
	const char *p;

	for (p = spec;; p++) {
		bool blank = *p == ' ' || *p == '\t';

		if (!*p || (blank && !quoted)) {
			if (!*p && quoted) {
				cg_buf_release(&word);
				ipt_words_free(v);
				return -1;
			}
			if (in_word) {
				cg_grow(&v, &cap, n + 2, sizeof(*v));
				v[n++] = word.data ? cg_buf_detach(&word, NULL)
						   : cg_xstrdup("");
				v[n] = NULL;
				in_word = false;
			}
			if (!*p)
				break;
			continue;
		}
		in_word = true;
		if (*p == '"') {
			quoted = !quoted;
			continue;
		}
		if (quoted && *p == '\\' && p[1]) {
			p++;
		}
		cg_buf_addch(&word, *p);
	}
	cg_buf_release(&word);
	if (!v) {
		v = cg_xcalloc(1, sizeof(*v));
	}
	*out = v;
	if (n_out)
		*n_out = n;
	return 0;
}

void ipt_words_free(char **words)
{
	size_t i;

	for (i = 0; words && words[i]; i++)
		free(words[i]);
	free(words);
}

char *ipt_rule_target(const char *spec)
{
	char **w, *target = NULL;
	size_t i, n;

	if (ipt_split(spec, &w, &n) < 0)
		return NULL;
	for (i = 0; i + 1 < n; i++)
		if (strcmp(w[i], "-j") == 0 || strcmp(w[i], "--jump") == 0 ||
		    strcmp(w[i], "-g") == 0 || strcmp(w[i], "--goto") == 0) {
			free(target);
			target = cg_xstrdup(w[i + 1]);
		}
	ipt_words_free(w);
	return target;
}

/* --- software that owns rules of its own ---------------------------- */

/* Chains by the prefix of their name. */
static const struct {
	const char *owner;
	const char *const prefixes[3];
} foreign[] = {
	{ "docker", { "DOCKER", NULL } },
	{ "kubernetes", { "KUBE-", NULL } },
	{ "calico", { "cali-", NULL } },
	{ "fail2ban", { "f2b-", "fail2ban-", NULL } },
	{ "ufw", { "ufw-", "ufw6-", NULL } },
	{ "flannel", { "FLANNEL-", NULL } },
	{ "libvirt", { "LIBVIRT_", NULL } },
	{ "cilium", { "CILIUM_", NULL } },
	/* NETAVARK_FORWARD, and per network NETAVARK-1D8721804F16F */
	{ "netavark", { "NETAVARK", NULL } },
	{ "tailscale", { "ts-", NULL } },
};

/*
 * Rules by the start of their comment: what these programs put in
 * built-in chains (Calico's "Policy explicitly accepted packet." rules
 * in FORWARD, wg-quick's marks) jumps to no chain of theirs.
 */
static const struct {
	const char *owner;
	const char *prefix;
} comments[] = {
	{ "calico", "cali:" },
	{ "cilium", "cilium:" },
	{ "cilium", "cilium-feeder:" },
	{ "flannel", "flanneld " },
	{ "netavark", "netavark " },
	{ "wireguard", "wg-quick(8) " },
};

/*
 * Interfaces (fnmatch patterns): Docker's own bridges, whose rules in
 * FORWARD and POSTROUTING do not jump to a DOCKER chain (accepting
 * replies to containers, masquerading their traffic), and libvirt's
 * (its rules before LIBVIRT_* chains went straight into INPUT and
 * FORWARD). A purge must not cut containers or guests off. A bridge
 * named by com.docker.network.bridge.name is found in Docker's chains
 * (ipt_table_learn).
 */
static const struct {
	const char *owner;
	const char *pattern;
} ifaces[] = {
	{ "docker", "docker0" },
	{ "docker", "br-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]"
		    "[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]" },
	{ "libvirt", "virbr[0-9]*" },
};

/* ipset sets by the prefix of their name (Docker 28's bridge subnets). */
static const struct {
	const char *owner;
	const char *prefix;
} sets[] = {
	{ "docker", "docker-ext-bridges-v" },
};

const char *ipt_chain_owner(const char *chain)
{
	size_t i, j;

	for (i = 0; i < CG_ARRAY_SIZE(foreign); i++)
		for (j = 0; foreign[i].prefixes[j]; j++)
			if (cg_str_starts(chain, foreign[i].prefixes[j]))
				return foreign[i].owner;
	return NULL;
}

static bool is_iface_opt(const char *w)
{
	return strcmp(w, "-i") == 0 || strcmp(w, "-o") == 0 ||
	       strcmp(w, "--in-interface") == 0 ||
	       strcmp(w, "--out-interface") == 0;
}

/* The owner by words[i] and its argument, or NULL. */
static const char *word_owner(char **w, size_t i, const struct ipt_table *t)
{
	const char *arg = w[i + 1];
	size_t k;

	if (strcmp(w[i], "-j") == 0 || strcmp(w[i], "-g") == 0 ||
	    strcmp(w[i], "--jump") == 0 || strcmp(w[i], "--goto") == 0)
		return ipt_chain_owner(arg);
	if (strcmp(w[i], "--comment") == 0) {
		for (k = 0; k < CG_ARRAY_SIZE(comments); k++)
			if (cg_str_starts(arg, comments[k].prefix))
				return comments[k].owner;
		return NULL;
	}
	if (strcmp(w[i], "--match-set") == 0) {
		for (k = 0; k < CG_ARRAY_SIZE(sets); k++)
			if (cg_str_starts(arg, sets[k].prefix))
				return sets[k].owner;
		return NULL;
	}
	if (!is_iface_opt(w[i]))
		return NULL;
	for (k = 0; k < CG_ARRAY_SIZE(ifaces); k++)
		if (fnmatch(ifaces[k].pattern, arg, 0) == 0)
			return ifaces[k].owner;
	for (k = 0; t && k < t->ndocker_ifaces; k++)
		if (strcmp(t->docker_ifaces[k], arg) == 0)
			return "docker";
	return NULL;
}

const char *ipt_rule_owner_in(const struct ipt_table *t, const char *spec)
{
	const char *owner = NULL;
	char **w;
	size_t i, n;

	if (ipt_split(spec, &w, &n) < 0)
		return NULL;
	for (i = 0; i + 1 < n && !owner; i++)
		owner = word_owner(w, i, t);
	ipt_words_free(w);
	return owner;
}

const char *ipt_rule_owner(const char *spec)
{
	return ipt_rule_owner_in(NULL, spec);
}

void ipt_table_learn(struct ipt_table *t)
{
	size_t i, j, k, n;
	char **w;

	for (i = 0; i < t->n; i++) {
		const struct ipt_chain *c = &t->chains[i];
		const char *owner = ipt_chain_owner(c->name);

		if (!owner || strcmp(owner, "docker") != 0)
			continue;
		for (j = 0; j < c->n; j++) {
			if (ipt_split(c->rules[j].spec, &w, &n) < 0)
				continue;
			for (k = 0; k + 1 < n; k++) {
				size_t q;

				if (!is_iface_opt(w[k]) || strchr(w[k + 1], '+'))
					continue;
				for (q = 0; q < t->ndocker_ifaces; q++)
					if (strcmp(t->docker_ifaces[q],
						   w[k + 1]) == 0)
						break;
				if (q < t->ndocker_ifaces)
					continue;
				cg_grow(&t->docker_ifaces, &t->capdocker_ifaces,
					t->ndocker_ifaces + 1,
					sizeof(*t->docker_ifaces));
				t->docker_ifaces[t->ndocker_ifaces++] =
					cg_xstrdup(w[k + 1]);
			}
			ipt_words_free(w);
		}
	}
}
