/* iptables-shadow.c: which rules of a chain can never match, because an earlier rule takes every packet they would. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iptables.h"

#define NONE ((size_t)-1)

/* One condition of a rule: [!] OPTION VALUE... */
struct cond {
	bool neg;
	const char *mod;  /* the -m it follows ("" for none), borrowed */
	const char *opt;  /* borrowed from the words */
	const char *val;  /* the values joined by ' ', owned; "" for none */
	/* An address match, parsed once: a chain has thousands of them. */
	unsigned char addr[16];
	int af;           /* AF_INET, AF_INET6; 0: not an address or bad */
	int plen;
};

struct view {
	char **words; /* owned */
	struct cond *c; /* owned */
	size_t n;
	uint64_t bloom;  /* of the conditions, for a quick "cannot be" */
	bool terminal;   /* ACCEPT, DROP, REJECT, RETURN */
	bool stateful;   /* a match with state of its own (limit, recent) */
};

static const char *const stateful_matches[] = {
	"limit", "hashlimit", "recent", "connlimit", "quota", "statistic",
	"nth", "cluster", "set", NULL,
};

static bool in_list(const char *s, const char *const *v)
{
	size_t i;

	for (i = 0; v[i]; i++)
		if (strcmp(s, v[i]) == 0)
			return true;
	return false;
}

static uint64_t hash_str(uint64_t h, const char *p)
{
	for (; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211u;
	return (h ^ 0xff) * 1099511628211u;
}

/* Matched by their containment, not equality: not in the bloom's value. */
static bool is_addr(const char *opt)
{
	return strcmp(opt, "-s") == 0 || strcmp(opt, "-d") == 0 ||
	       strcmp(opt, "--source") == 0 ||
	       strcmp(opt, "--destination") == 0;
}

static bool is_states(const char *opt)
{
	return strcmp(opt, "--ctstate") == 0 || strcmp(opt, "--state") == 0;
}

/*
 * The bloom bit of a condition: of its module, option and value when it
 * must be equal, of module and option only when it may hold another.
 * A rule holding another has all of its bits.
 */
static uint64_t bit_of(const struct cond *c)
{
	uint64_t h = 1469598103934665603u;

	h = hash_str(h, c->mod);
	h = hash_str(h, c->opt);
	if (c->neg || (!is_addr(c->opt) && !is_states(c->opt)))
		h = hash_str(hash_str(h, c->neg ? "!" : ""), c->val);
	return 1ull << (h % 64);
}

/* "10.0.0.0/8" into c->addr, c->af, c->plen. */
static void parse_addr(struct cond *c)
{
	const char *slash = strchr(c->val, '/');
	char host[64];
	long plen;

	c->af = 0;
	if (!slash || (size_t)(slash - c->val) >= sizeof(host))
		return;
	memcpy(host, c->val, (size_t)(slash - c->val));
	host[slash - c->val] = '\0';
	plen = strtol(slash + 1, NULL, 10);
	c->af = strchr(host, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(c->af, host, c->addr) != 1 || plen < 0 ||
	    plen > (c->af == AF_INET ? 32 : 128))
		c->af = 0;
	c->plen = (int)plen;
}

static void view_free(struct view *v)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		free((char *)(uintptr_t)v->c[i].val);
	free(v->c);
	ipt_words_free(v->words);
	memset(v, 0, sizeof(*v));
}

static void view_parse(const char *spec, struct view *v)
{
	size_t nw, i = 0;
	const char *mod = "";

	memset(v, 0, sizeof(*v));
	if (ipt_split(spec, &v->words, &nw) < 0) {
		v->words = NULL;
		v->stateful = true; /* unreadable: shadows nothing */
		return;
	}
	v->c = cg_xcalloc(nw + 1, sizeof(*v->c));
	while (i < nw) {
		struct cg_buf val = { 0 };
		struct cond *c;
		bool neg = false;

		if (strcmp(v->words[i], "!") == 0) {
			neg = true;
			i++;
			if (i >= nw)
				break;
		}
		if (strcmp(v->words[i], "-j") == 0 ||
		    strcmp(v->words[i], "-g") == 0) {
			const char *t = i + 1 < nw ? v->words[i + 1] : "";

			v->terminal = strcmp(v->words[i], "-j") == 0 &&
				      (strcmp(t, "ACCEPT") == 0 ||
				       strcmp(t, "DROP") == 0 ||
				       strcmp(t, "REJECT") == 0 ||
				       strcmp(t, "RETURN") == 0);
			break; /* the target's options are no conditions */
		}
		c = &v->c[v->n++];
		c->neg = neg;
		c->mod = mod;
		c->opt = v->words[i++];
		while (i < nw && v->words[i][0] != '-' &&
		       strcmp(v->words[i], "!") != 0) {
			if (val.len)
				cg_buf_addch(&val, ' ');
			cg_buf_addstr(&val, v->words[i++]);
		}
		c->val = val.len ? cg_buf_detach(&val, NULL) : cg_xstrdup("");
		cg_buf_release(&val);
		if (!neg && is_addr(c->opt))
			parse_addr(c);
		if (strcmp(c->opt, "-m") == 0) {
			/* Options that follow belong to it (--mark of mark
			 * or of connmark). */
			mod = c->val;
			if (in_list(c->val, stateful_matches))
				v->stateful = true;
		}
		if (strcmp(c->opt, "-m") != 0 &&
		    strcmp(c->opt, "--comment") != 0)
			v->bloom |= bit_of(c);
	}
}

/* Does address range a hold b ("10.0.0.0/8" holds "10.1.0.0/16")? */
static bool cidr_holds(const struct cond *a, const struct cond *b)
{
	int bit;

	if (!a->af || a->af != b->af)
		return strcmp(a->val, b->val) == 0;
	if (a->plen > b->plen)
		return false;
	for (bit = 0; bit < a->plen; bit++)
		if ((a->addr[bit / 8] ^ b->addr[bit / 8]) & (0x80 >> (bit % 8)))
			return false;
	return true;
}

/* A list of states: does a hold every one of b? */
static bool states_hold(const char *a, const char *b)
{
	const char *p = b;

	while (*p) {
		size_t len = strcspn(p, ","), k;
		const char *q = a;
		bool found = false;

		while (*q && !found) {
			k = strcspn(q, ",");
			found = k == len && strncmp(p, q, len) == 0;
			q += k;
			if (*q)
				q++;
		}
		if (!found)
			return false;
		p += len;
		if (*p)
			p++;
	}
	return true;
}

/* Does condition e take every packet l's condition m does? */
static bool cond_holds(const struct cond *e, const struct cond *m)
{
	if (e->neg != m->neg || strcmp(e->opt, m->opt) != 0 ||
	    strcmp(e->mod, m->mod) != 0)
		return false;
	if (!e->neg && is_addr(e->opt))
		return cidr_holds(e, m);
	if (!e->neg && is_states(e->opt))
		return states_hold(e->val, m->val);
	return strcmp(e->val, m->val) == 0;
}

/*
 * Does the earlier rule e take every packet l would match? Exactly: each
 * condition of e is one of l's, or holds it (an address range, a set of
 * states); matches with state of their own (a rate limit) never count.
 */
static bool covers(const struct view *e, const struct view *l)
{
	size_t i, k;

	if (!e->terminal || e->stateful || !e->words)
		return false;
	if ((e->bloom & ~l->bloom) != 0)
		return false;
	for (i = 0; i < e->n; i++) {
		bool found = false;

		if (strcmp(e->c[i].opt, "-m") == 0 ||
		    strcmp(e->c[i].opt, "--comment") == 0)
			continue;
		for (k = 0; k < l->n && !found; k++)
			found = cond_holds(&e->c[i], &l->c[k]);
		if (!found)
			return false;
	}
	return true;
}

static bool is_unconditional(const struct view *v)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (strcmp(v->c[i].opt, "-m") != 0 &&
		    strcmp(v->c[i].opt, "--comment") != 0)
			return false;
	return v->terminal && !v->stateful && v->words;
}

void ipt_shadows(const char *const *specs, size_t n, const bool *check,
		 size_t *by)
{
	struct view *v = cg_xcalloc(n + 1, sizeof(*v));
	size_t i, k, wall = NONE;

	for (i = 0; i < n; i++)
		view_parse(specs[i], &v[i]);
	for (i = 0; i < n; i++) {
		by[i] = NONE;
		if (check[i]) {
			if (wall != NONE) {
				by[i] = wall;
			} else {
				for (k = 0; k < i && by[i] == NONE; k++)
					if (covers(&v[k], &v[i]))
						by[i] = k;
			}
		}
		if (wall == NONE && is_unconditional(&v[i]))
			wall = i;
	}
	for (i = 0; i < n; i++)
		view_free(&v[i]);
	free(v);
}
