/* package.c: the package resource: installed, absent, or an exact version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cg/hash.h"
#include "cg/module.h"
#include "cg/util.h"
#include "package.h"

/* The package managers congruent knows, tried in order on each root. */
static const struct pkg_backend *const backends[] = {
	&pkg_backend_apt,
	NULL,
};

enum want_state {
	WANT_INSTALLED, /* any version; an installed one is left alone */
	WANT_ABSENT,    /* removed (configuration files are kept) */
	WANT_VERSION,   /* exactly this version: up- or downgraded to it */
};

struct want {
	unsigned char state; /* enum want_state */
	char *version;       /* owned: WANT_VERSION */
	/*
	 * owned, or NULL: what the one apt transaction would do besides the
	 * policy's packages (dependencies pulled in or removed), kept on
	 * the first resource of the batch for the summary: it belongs to
	 * the transaction, not to that package. Here, not in seen, because
	 * the summary comes after forget.
	 */
	char *besides;
};

/* What the database says of the package, and what apt would do to it. */
struct seen {
	const struct pkg_backend *be; /* who observed it */
	unsigned char state; /* enum pkg_state */
	bool hold, essential;
	char *version; /* owned, or NULL */
	char *arch;    /* owned, or NULL */
	char *status;  /* owned: the database's word ("half-configured") */
	char *to;      /* owned: the version apt would install, or NULL */
	char *detail;  /* owned: what apt would do, for plan, or NULL */
	/*
	 * owned, or NULL: why apt cannot install it, held back for diff
	 * because an apt_source comes earlier in the order: if that one
	 * changes in this run, apt's lists are updated before our turn
	 * (plan cannot know what the new repository offers).
	 */
	struct cg_error *unknown;
};

static const char *const package_keys[] = { "state", NULL };

/* --- the database, generic part ------------------------------------- */

struct pkg_entry *pkg_db_add(struct pkg_db *db)
{
	struct pkg_entry *e;

	cg_grow(&db->e, &db->cap, db->n + 1, sizeof(*db->e));
	e = &db->e[db->n];
	memset(e, 0, sizeof(*e));
	e->seq = (unsigned)db->n++;
	return e;
}

void pkg_db_keep(struct pkg_db *db, char *text)
{
	db->texts = cg_xrealloc(db->texts,
				(db->ntexts + 1) * sizeof(*db->texts));
	db->texts[db->ntexts++] = text;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct pkg_entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (!c)
		c = strcmp(x->arch, y->arch);
	if (!c)
		c = x->seq < y->seq ? -1 : x->seq > y->seq;
	return c;
}

void pkg_db_finish(struct pkg_db *db)
{
	size_t i, k = 0;

	if (!db->n)
		return;
	qsort(db->e, db->n, sizeof(*db->e), cmp_entry);
	/* Of equal name and arch, the last read (the journal) wins. */
	for (i = 0; i < db->n; i++) {
		if (i + 1 < db->n && strcmp(db->e[i].name, db->e[i + 1].name) == 0 &&
		    strcmp(db->e[i].arch, db->e[i + 1].arch) == 0)
			continue;
		db->e[k++] = db->e[i];
	}
	db->n = k;
}

static int cmp_key(const void *key, const void *elem)
{
	const struct pkg_entry *e = elem;
	const char *name = key;
	size_t len = strcspn(name, ":");
	int c = strncmp(name, e->name, len);

	return c ? c : e->name[len] ? -1 : 0;
}

/* More installed is better: what "is it installed?" should look at. */
static int rank(const struct pkg_entry *e, const char *native)
{
	static const int by_state[] = {
		[PKG_ABSENT] = 0,
		[PKG_CONFIG_FILES] = 1,
		[PKG_BROKEN] = 2,
		[PKG_INSTALLED] = 3,
	};
	int r = by_state[e->state] * 4;

	if (native && strcmp(e->arch, native) == 0)
		r += 2;
	else if (strcmp(e->arch, "all") == 0)
		r += 1;
	return r;
}

const struct pkg_entry *pkg_db_find(const struct pkg_db *db, const char *name)
{
	const struct pkg_entry *hit, *best = NULL, *lo, *hi, *end = db->e + db->n;
	const char *arch = strchr(name, ':');

	if (!db->n)
		return NULL;
	hit = bsearch(name, db->e, db->n, sizeof(*db->e), cmp_key);
	if (!hit)
		return NULL;
	for (lo = hit; lo > db->e && cmp_key(name, lo - 1) == 0; lo--)
		;
	for (hi = hit; hi < end && cmp_key(name, hi) == 0; hi++)
		;
	for (; lo < hi; lo++) {
		/* NAME:ARCH is that architecture, or a package for all. */
		if (arch && strcmp(lo->arch, arch + 1) != 0 &&
		    strcmp(lo->arch, "all") != 0)
			continue;
		if (!best || rank(lo, db->native) > rank(best, db->native))
			best = lo;
	}
	return best;
}

const struct pkg_entry *pkg_db_first_broken(const struct pkg_db *db,
					    size_t *count)
{
	const struct pkg_entry *first = NULL;
	size_t i, k = 0;

	for (i = 0; i < db->n; i++) {
		if (db->e[i].state != PKG_BROKEN)
			continue;
		if (!first)
			first = &db->e[i];
		k++;
	}
	if (count)
		*count = k;
	return first;
}

void pkg_db_release(struct pkg_db *db)
{
	size_t i;

	if (!db)
		return;
	for (i = 0; i < db->ntexts; i++)
		free(db->texts[i]);
	free(db->texts);
	free(db->e);
	memset(db, 0, sizeof(*db));
}

/* --- parse ---------------------------------------------------------- */

/* Debian's rule for names (policy 5.6.1), and an optional ":arch". */
static bool valid_name(const char *s)
{
	const char *p = s, *colon = strchr(s, ':');

	if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
		return false;
	for (p++; *p && p != colon; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '+' || *p == '-' || *p == '.'))
			return false;
	if (!colon)
		return p - s <= 200;
	if (!colon[1])
		return false;
	for (p = colon + 1; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '-'))
			return false;
	return p - s <= 200;
}

/* An exact version: [epoch:]upstream[-revision], starting with a digit. */
static bool valid_version(const char *s)
{
	const char *p;

	if (!(*s >= '0' && *s <= '9') || strlen(s) > 200)
		return false;
	for (p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr(".+~:-", *p)))
			return false;
	return true;
}

static int package_parse(struct cg_resource *r, const struct cg_node *item,
			 const struct cg_node *value,
			 const struct cg_parse_ctx *pc, struct cg_error *err)
{
	const struct cg_node *n;
	const char *name, *state;
	struct want *w;

	(void)pc;
	if (cg_node_string(value, "package", &name, err) < 0)
		return CG_ERR;
	if (!valid_name(name)) {
		cg_error_set(err, CG_ERR, "invalid package name \"%s\"", name);
		cg_error_hint(err, "a Debian package name: lower-case letters, "
				   "digits, '+', '-' and '.', starting with a "
				   "letter or digit; optionally :ARCH");
		cg_error_where(err, "%s:%u", value->doc->name, value->line);
		return CG_ERR;
	}
	cg_resource_set_id(r, "package", name);
	w = cg_xcalloc(1, sizeof(*w));
	r->desired = w;
	w->state = WANT_INSTALLED;
	n = cg_map_get(item, "state");
	if (!n)
		return 0;
	if (cg_node_string(n, "state", &state, err) < 0)
		return CG_ERR;
	if (strcmp(state, "installed") == 0 || strcmp(state, "present") == 0) {
		w->state = WANT_INSTALLED;
	} else if (strcmp(state, "absent") == 0) {
		w->state = WANT_ABSENT;
	} else if (valid_version(state)) {
		w->state = WANT_VERSION;
		w->version = cg_xstrdup(state);
	} else {
		cg_error_set(err, CG_ERR,
			     "invalid package state \"%s\": installed, absent, "
			     "or an exact version",
			     state);
		cg_error_hint(err, "a version starts with a digit, like "
				   "\"1.2-3\" or \"1:2.0~rc1-1\"; quote it");
		cg_error_where(err, "%s:%u", n->doc->name, n->line);
		return CG_ERR;
	}
	return 0;
}

/* Two resources for one package would fight: a cga and a cga:amd64. */
static void package_validate(struct cg_resource *const *res, size_t n,
			     const struct cg_parse_ctx *pc)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		size_t li = strcspn(res[i]->name, ":");

		for (j = i + 1; j < n; j++) {
			size_t lj = strcspn(res[j]->name, ":");
			struct cg_error e;

			if (li != lj ||
			    strncmp(res[i]->name, res[j]->name, li) != 0)
				continue;
			/* cga:amd64 and cga:i386 are two packages. */
			if (res[i]->name[li] && res[j]->name[lj])
				continue;
			cg_error_clear(&e);
			snprintf(e.where, sizeof(e.where), "%s", res[j]->where);
			cg_error_resource(&e, res[j]->id);
			snprintf(e.msg, sizeof(e.msg),
				 "the package %.*s is also managed as %s (%s)",
				 (int)li, res[i]->name, res[i]->id,
				 res[i]->where);
			cg_error_hint(&e, "declare it once; with :ARCH only "
					  "where several architectures are "
					  "installed");
			pc->report(pc, &e);
		}
	}
}

/* --- observe -------------------------------------------------------- */

static const struct pkg_backend *backend_for(struct cg_root *root)
{
	size_t i;

	for (i = 0; backends[i]; i++)
		if (backends[i]->detect(root))
			return backends[i];
	return NULL;
}

static int no_backend(struct cg_root *root, struct cg_error *err)
{
	cg_error_set(err, CG_ERR, "no package manager congruent knows in %s",
		     root->path);
	cg_error_hint(err, "congruent manages packages with apt/dpkg "
			   "(it looked for /var/lib/dpkg/status)");
	return CG_ERR;
}

static void free_seen(struct seen *s)
{
	if (!s)
		return;
	free(s->version);
	free(s->arch);
	free(s->status);
	free(s->to);
	free(s->detail);
	free(s->unknown);
	free(s);
}

static void package_forget(struct cg_resource *r)
{
	free_seen(r->observed);
	r->observed = NULL;
}

static void package_release(struct cg_resource *r)
{
	struct want *w = r->desired;

	if (w) {
		free(w->version);
		free(w->besides);
		free(w);
	}
	free_seen(r->observed);
	r->desired = r->observed = NULL;
}

/* What must happen to bring the package where the policy wants it. */
static enum cg_action needed(const struct pkg_backend *be, const struct want *w,
			     const struct seen *s)
{
	bool there = s->state == PKG_INSTALLED || s->state == PKG_BROKEN;

	switch (w->state) {
	case WANT_ABSENT:
		return there ? CG_ACTION_DELETE : CG_ACTION_NONE;
	case WANT_VERSION:
		if (!there)
			return CG_ACTION_CREATE;
		return s->state == PKG_INSTALLED &&
				       be->version_cmp(s->version, w->version) == 0
			       ? CG_ACTION_NONE
			       : CG_ACTION_UPDATE;
	default:
		return s->state == PKG_INSTALLED ? CG_ACTION_NONE
						 : CG_ACTION_CREATE;
	}
}

static void fill_seen(const struct pkg_backend *be, struct cg_resource *r,
		      const struct pkg_entry *e)
{
	struct seen *s = cg_xcalloc(1, sizeof(*s));

	free_seen(r->observed);
	r->observed = s;
	s->be = be;
	s->state = PKG_ABSENT;
	if (!e)
		return;
	s->state = (unsigned char)e->state;
	s->hold = e->hold;
	s->essential = e->essential;
	s->status = cg_xstrdup(e->status);
	if (e->state != PKG_ABSENT) {
		s->version = e->version[0] ? cg_xstrdup(e->version) : NULL;
		s->arch = e->arch[0] ? cg_xstrdup(e->arch) : NULL;
	}
}

static void fill_req(const struct pkg_backend *be, const struct cg_resource *r,
		     struct pkg_req *q)
{
	const struct want *w = r->desired;
	const struct seen *s = r->observed;

	memset(q, 0, sizeof(*q));
	q->name = r->name;
	q->op = w->state == WANT_ABSENT ? PKG_OP_REMOVE : PKG_OP_INSTALL;
	q->version = w->state == WANT_VERSION ? w->version : NULL;
	q->downgrade = q->version && s->state == PKG_INSTALLED && s->version &&
		       be->version_cmp(s->version, q->version) > 0;
}

/* "unknown package": the operator should look at names and sources. */
static void fail_why(struct cg_resource *r, const struct pkg_req *q,
		     const char *why)
{
	const char *hint;
	char *name = cg_xstrndup(q->name, strcspn(q->name, ":"));

	if (strstr(why, "Unable to locate") || strstr(why, "no installation "
							   "candidate"))
		hint = "check the name, and that a repository that has it is "
		       "in the apt sources and `apt-get update` has run";
	else if (strstr(why, "Failed to fetch"))
		hint = "it could not be downloaded: is the mirror reachable, "
		       "and are the apt lists current (`apt-get update`)?";
	else if (strstr(why, "Depends:") || strstr(why, "Conflicts:") ||
		 strstr(why, "Breaks:"))
		hint = "what it depends on cannot be installed with it: is the "
		       "repository that has it in the apt sources? "
		       "`apt-get install -s NAME` shows apt's view";
	else if (strstr(why, "Version '"))
		hint = "`apt-cache policy NAME` lists the versions the "
		       "repositories offer";
	else if (strstr(why, "script"))
		hint = "the package's own scripts failed; see apt's output "
		       "with `apt-get install NAME`, and `dpkg --audit`";
	else
		hint = "`apt-get install -s NAME` shows how apt sees it";
	cg_resource_failf(r, NULL, "apt cannot %s %s: %s",
			  q->op == PKG_OP_REMOVE ? "remove" : "install",
			  q->name, why);
	/* The hint names the package where it says NAME. */
	{
		struct cg_buf h = { 0 };
		const char *p = hint, *at;

		while ((at = strstr(p, "NAME"))) {
			cg_buf_add(&h, p, (size_t)(at - p));
			cg_buf_addstr(&h, name);
			p = at + 4;
		}
		cg_buf_addstr(&h, p);
		snprintf(r->err->hint, sizeof(r->err->hint), "%s", h.data);
		cg_buf_release(&h);
	}
	free(name);
}

static const struct pkg_action *action_for(const struct pkg_result *res,
					   const char *name, bool *used)
{
	size_t i, len = strcspn(name, ":");

	for (i = 0; i < res->nacts; i++) {
		const char *an = res->acts[i].name;
		size_t alen = strcspn(an, ":");

		if (alen == len && strncmp(an, name, len) == 0) {
			used[i] = true;
			return &res->acts[i];
		}
	}
	return NULL;
}

static void describe(const struct pkg_backend *be, struct cg_buf *b,
		     const struct pkg_action *a, const char *extra)
{
	if (b->len)
		cg_buf_addch(b, '\n');
	if (a->op == 'I' && a->from) {
		int c = be->version_cmp(a->to, a->from);

		cg_buf_addf(b, "~ %s %s -> %s (%s", a->name, a->from,
			    a->to ? a->to : "?",
			    c > 0 ? "upgrade" : c < 0 ? "downgrade" : "reinstall");
		cg_buf_addf(b, "%s%s)", extra ? ", " : "", extra ? extra : "");
	} else if (a->op == 'I') {
		cg_buf_addf(b, "+ %s %s", a->name, a->to ? a->to : "?");
		if (extra)
			cg_buf_addf(b, " (%s)", extra);
	} else {
		cg_buf_addf(b, "- %s %s", a->name, a->from ? a->from : "");
		if (a->op == 'P' || extra)
			cg_buf_addf(b, " (%s%s%s)", a->op == 'P' ? "purge" : "",
				    a->op == 'P' && extra ? ", " : "",
				    extra ? extra : "");
	}
}

/*
 * Give each resource what apt would do to its package; what apt would
 * do besides (dependencies pulled in or removed) is the transaction's,
 * shown by the summary.
 */
static void attach(const struct pkg_backend *be, struct cg_resource **rs,
		   const struct pkg_req *reqs, size_t k,
		   const struct pkg_result *res)
{
	bool *used = cg_xcalloc(res->nacts + 1, sizeof(*used));
	struct cg_resource *first = NULL;
	struct cg_buf extra = { 0 };
	size_t i;

	for (i = 0; i < k; i++) {
		struct seen *s = rs[i]->observed;
		const struct pkg_action *a = action_for(res, reqs[i].name, used);
		struct cg_buf d = { 0 };

		if (!a || (a->op == 'I') != (reqs[i].op == PKG_OP_INSTALL)) {
			/* A virtual package: apt picks a provider, and the
			 * name itself would never be installed. */
			cg_resource_failf(rs[i],
					  "name the package to install itself",
					  "apt would not %s %s itself%s%s",
					  reqs[i].op == PKG_OP_REMOVE
						  ? "remove"
						  : "install",
					  reqs[i].name,
					  res->notes ? ": " : "",
					  res->notes ? res->notes : "");
			continue;
		}
		describe(be, &d, a, NULL);
		free(s->detail);
		s->detail = cg_buf_detach(&d, NULL);
		free(s->to);
		s->to = a->to ? cg_xstrdup(a->to) : NULL;
		if (!first)
			first = rs[i];
	}
	for (i = 0; i < res->nacts; i++)
		if (!used[i])
			describe(be, &extra, &res->acts[i],
				 res->acts[i].op == 'I' && !res->acts[i].from
					 ? "pulled in by apt: not in the policy"
					 : "by apt: not in the policy");
	for (i = 0; i < k; i++) {
		struct want *w = rs[i]->desired;

		free(w->besides);
		w->besides = NULL;
	}
	if (first && extra.len)
		((struct want *)first->desired)->besides =
			cg_buf_detach(&extra, NULL);
	cg_buf_release(&extra);
	free(used);
}

/*
 * Simulate the changes of rs together. A package apt cannot install
 * fails alone, with apt's reason, and the others are simulated again
 * without it: apt names it (unknown, no such version, unmet
 * dependencies), or else each is tried on its own.
 */
static void simulate(const struct pkg_backend *be, struct cg_root *root,
		     struct cg_resource **rs, size_t k)
{
	struct pkg_req *reqs = cg_xcalloc(k + 1, sizeof(*reqs));
	struct pkg_result res;
	struct cg_error err;
	size_t i, j, named;
	bool alone = false;

	while (k) {
		for (i = 0; i < k; i++)
			fill_req(be, rs[i], &reqs[i]);
		cg_error_clear(&err);
		if (be->simulate(root, reqs, k, &res, &err) < 0) {
			for (i = 0; i < k; i++)
				cg_resource_fail(rs[i], &err);
			break;
		}
		if (res.ok) {
			attach(be, rs, reqs, k, &res);
			pkg_result_release(&res);
			break;
		}
		named = 0;
		for (i = 0; i < k; i++)
			if (res.why[i])
				named++;
		if (!named && k == 1) {
			fail_why(rs[0], &reqs[0], res.reason ? res.reason : "?");
			pkg_result_release(&res);
			break;
		}
		if (res.interrupted || (!named && alone)) {
			/* Each passes alone; the conflict is among them. */
			for (i = 0; i < k; i++)
				cg_resource_failf(rs[i],
						  "`apt-get install -s` with "
						  "these packages shows why",
						  "apt cannot make these %zu "
						  "changes together: %s",
						  k, res.reason ? res.reason : "?");
			pkg_result_release(&res);
			break;
		}
		if (!named) {
			/* Nobody named: try each alone, keep who passes. */
			for (i = j = 0; i < k; i++) {
				struct pkg_result one;

				cg_error_clear(&err);
				if (be->simulate(root, &reqs[i], 1, &one, &err) <
				    0) {
					cg_resource_fail(rs[i], &err);
					continue;
				}
				if (!one.ok) {
					fail_why(rs[i], &reqs[i],
						 one.why[0] ? one.why[0]
						 : one.reason ? one.reason
							      : "?");
				} else {
					rs[j++] = rs[i];
				}
				pkg_result_release(&one);
			}
			alone = true;
		} else {
			for (i = j = 0; i < k; i++) {
				if (res.why[i])
					fail_why(rs[i], &reqs[i], res.why[i]);
				else
					rs[j++] = rs[i];
			}
		}
		pkg_result_release(&res);
		k = j;
	}
	free(reqs);
}

/*
 * A database in a half-done state is either being changed right now (a
 * package manager holds the lock: wait for it, bounded) or was left so
 * by a run that was killed or failed (the operator must repair it).
 */
static int read_settled(const struct pkg_backend *be, struct cg_root *root,
			struct pkg_db *db, bool *busy, char *who, size_t size,
			struct cg_error *err)
{
	uint64_t deadline = cg_now_ns() +
			    (uint64_t)pkg_lock_timeout() * 1000000000u;
	int rc;

	*busy = false;
	for (;;) {
		long pid;
		char comm[64];

		rc = be->read_db(root, db, err);
		if (rc < 0 || (!db->journal && !pkg_db_first_broken(db, NULL)))
			return rc;
		if (!be->locked(root, &pid, comm, sizeof(comm)))
			return 0;
		*busy = true;
		if (pid)
			snprintf(who, size, "%s (pid %ld)",
				 comm[0] ? comm : "?", pid);
		else
			snprintf(who, size, "another process");
		if (cg_now_ns() >= deadline)
			return 0;
		while (cg_now_ns() < deadline &&
		       be->locked(root, &pid, comm, sizeof(comm))) {
			struct timespec ts = { 0, 200000000 };

			nanosleep(&ts, NULL);
		}
		pkg_db_release(db);
	}
}

/* "cga is unpacked, cgkill is half-configured": what dpkg --audit says. */
static void broken_list(const struct pkg_db *db, char *buf, size_t size)
{
	size_t i, k = 0, len = 0;

	buf[0] = '\0';
	for (i = 0; i < db->n && len < size; i++) {
		const struct pkg_entry *e = &db->e[i];

		if (e->state != PKG_BROKEN)
			continue;
		if (k++ == 3) {
			size_t nb;

			pkg_db_first_broken(db, &nb);
			snprintf(buf + len, size - len, ", and %zu more",
				 nb - 3);
			return;
		}
		len += (size_t)snprintf(buf + len, size - len, "%s%s is %s%s",
					k > 1 ? ", " : "", e->name, e->status,
					e->reinstreq ? " (reinstall required)"
						     : "");
	}
	if (!k)
		snprintf(buf, size, "dpkg's journal has changes not yet "
				    "applied");
}

/* The hint for a half-done database: the repair, inside --root too. */
static void repair_hint(const struct pkg_backend *be, struct cg_root *root,
			struct cg_error *err, const char *lead)
{
	if (root->host)
		snprintf(err->hint, sizeof(err->hint),
			 "%srepair it with `%s` as root, then run congruent "
			 "again",
			 lead, be->repair);
	else
		snprintf(err->hint, sizeof(err->hint),
			 "%srepair it with `chroot %s %s`, then run congruent "
			 "again",
			 lead, root->path, be->repair);
}

static void fail_interrupted(const struct pkg_backend *be, struct cg_root *root,
			     struct cg_resource *r, const struct pkg_db *db,
			     bool busy, const char *who)
{
	char what[512];

	if (busy) {
		cg_resource_failf(r,
				  "try again when it is done (or raise "
				  "CONGRUENT_DPKG_LOCK_TIMEOUT)",
				  "the package database is being changed by "
				  "%s; waited %u s",
				  who, pkg_lock_timeout());
		return;
	}
	broken_list(db, what, sizeof(what));
	cg_resource_failf(r, NULL,
			  "the package database was left half-done by an "
			  "interrupted or failed run (%s)",
			  what);
	repair_hint(be, root, r->err, "");
}

/* Is there an apt_source before r in the order? */
static bool source_earlier(const struct cg_ctx *ctx,
			   const struct cg_resource *r)
{
	const struct cg_resource *d;
	size_t i;

	for (i = 0; ctx->earlier && (d = ctx->earlier(ctx, r, i)); i++)
		if (strcmp(d->mod->type, "apt_source") == 0)
			return true;
	return false;
}

/*
 * An install apt refused, with an apt_source earlier in the order: keep
 * the reason for diff, which knows whether that source changes (then
 * apt-get update runs before this package's turn) or not (then it is
 * the failure it was).
 */
static void hold_back(const struct cg_ctx *ctx, struct cg_resource *r)
{
	struct seen *s = r->observed;
	const struct want *w = r->desired;

	if (r->status != CG_STATUS_FAILED || !r->err || !s ||
	    w->state == WANT_ABSENT || !source_earlier(ctx, r))
		return;
	free(s->unknown);
	s->unknown = r->err;
	r->err = NULL;
	r->status = CG_STATUS_PENDING;
}

static int package_observe(struct cg_ctx *ctx, struct cg_resource **res,
			   size_t n, struct cg_error *err)
{
	const struct pkg_backend *be = backend_for(ctx->root);
	struct cg_resource **todo;
	struct pkg_db db;
	bool busy, broken;
	char who[128] = "";
	size_t i, k = 0;
	int rc;

	if (!be)
		return no_backend(ctx->root, err);
	memset(&db, 0, sizeof(db));
	rc = read_settled(be, ctx->root, &db, &busy, who, sizeof(who), err);
	if (rc < 0) {
		pkg_db_release(&db);
		return rc;
	}
	broken = db.journal || pkg_db_first_broken(&db, NULL);
	todo = cg_xcalloc(n + 1, sizeof(*todo));
	for (i = 0; i < n; i++) {
		struct cg_resource *r = res[i];
		const struct want *w = r->desired;
		struct seen *s;

		fill_seen(be, r, pkg_db_find(&db, r->name));
		s = r->observed;
		if (r->status == CG_STATUS_FAILED ||
		    needed(be, w, s) == CG_ACTION_NONE)
			continue;
		if (broken)
			fail_interrupted(be, ctx->root, r, &db, busy, who);
		else if (s->hold)
			cg_resource_failf(r, "`apt-mark unhold` it, or leave it "
					     "out of the policy",
					  "%s is on hold: the administrator "
					  "froze it at %s",
					  r->name,
					  s->version ? s->version : "its state");
		else if (s->essential && w->state == WANT_ABSENT)
			cg_resource_failf(r, "essential packages are not "
					     "removed by congruent",
					  "%s is essential to the system",
					  r->name);
		else
			todo[k++] = r;
	}
	pkg_db_release(&db);
	/* Only when something differs: a no-op run never runs apt. */
	if (k)
		simulate(be, ctx->root, todo, k);
	for (i = 0; i < k; i++)
		hold_back(ctx, todo[i]);
	free(todo);
	return 0;
}

/* --- diff ----------------------------------------------------------- */

static int package_diff(struct cg_ctx *ctx, struct cg_resource *r,
			struct cg_error *err)
{
	const struct want *w = r->desired;
	const struct seen *s = r->observed;
	struct cg_change *c = &r->change;
	struct cg_change_item *it;
	const char *from = NULL, *to = NULL;

	c->action = needed(s->be, w, s);
	if (c->action == CG_ACTION_NONE)
		return 0;
	if (s->unknown) {
		const char *by = ctx->made_before
					 ? ctx->made_before(ctx, r, "apt_source:")
					 : NULL;

		if (!by) {
			*err = *s->unknown;
			c->action = CG_ACTION_NONE;
			return CG_ERR;
		}
		cg_change_add(c, "version", NULL, w->version ? w->version
							     : "(candidate)");
		cg_change_note(c, "not known to apt yet: %s, earlier, changes "
				  "the sources, and apt-get update runs before "
				  "this",
			       by);
		return 0;
	}
	if (s->state == PKG_INSTALLED || s->state == PKG_BROKEN)
		from = s->version ? s->version : "?";
	if (c->action != CG_ACTION_DELETE)
		to = w->version ? w->version : s->to ? s->to : "(candidate)";
	it = cg_change_add(c, "version", from, to);
	/* The ledger's words: "absent" means congruent installs it. */
	c->before = from ? cg_xasprintf("installed version=%s", from)
			 : cg_xstrdup("absent");
	if (s->detail)
		it->detail = cg_xstrdup(s->detail);
	if (s->state == PKG_BROKEN)
		cg_change_note(c, "dpkg has it %s", s->status);
	else if (s->state == PKG_CONFIG_FILES && c->action == CG_ACTION_CREATE)
		cg_change_note(c, "its configuration files were kept from an "
				  "earlier removal");
	return 0;
}

/* --- apply ---------------------------------------------------------- */

/* After a failed transaction: which reached what the policy wants? */
static void fail_unreached(const struct pkg_backend *be, struct cg_ctx *ctx,
			   struct cg_resource **rs, const struct pkg_req *reqs,
			   size_t k, const struct pkg_result *res)
{
	struct pkg_db db;
	struct cg_error err;
	bool broken;
	size_t i;

	memset(&db, 0, sizeof(db));
	cg_error_clear(&err);
	if (be->read_db(ctx->root, &db, &err) < 0) {
		for (i = 0; i < k; i++)
			cg_resource_fail(rs[i], &err);
		pkg_db_release(&db);
		return;
	}
	broken = db.journal || pkg_db_first_broken(&db, NULL);
	for (i = 0; i < k; i++) {
		const struct pkg_entry *e = pkg_db_find(&db, rs[i]->name);
		struct seen probe;

		memset(&probe, 0, sizeof(probe));
		probe.state = e ? (unsigned char)e->state : PKG_ABSENT;
		probe.version = e ? cg_xstrdup(e->version) : NULL;
		if (res->why[i])
			fail_why(rs[i], &reqs[i], res->why[i]);
		else if (needed(be, rs[i]->desired, &probe) != CG_ACTION_NONE)
			fail_why(rs[i], &reqs[i],
				 res->reason ? res->reason : "apt-get failed");
		if (broken && rs[i]->status == CG_STATUS_FAILED)
			repair_hint(be, ctx->root, rs[i]->err,
				    "dpkg left the package database half-done; ");
		free(probe.version);
	}
	pkg_db_release(&db);
}

static int package_apply(struct cg_ctx *ctx, struct cg_resource **res,
			 size_t n, struct cg_error *err)
{
	const struct pkg_backend *be = backend_for(ctx->root);
	struct cg_resource **rs;
	struct pkg_req *reqs;
	struct pkg_result pr;
	size_t i, j, k = n;
	int rc, round;

	if (!be)
		return no_backend(ctx->root, err);
	rs = cg_xcalloc(n + 1, sizeof(*rs));
	reqs = cg_xcalloc(n + 1, sizeof(*reqs));
	memcpy(rs, res, n * sizeof(*rs));
	/*
	 * One transaction for all. If apt refuses it as a whole before
	 * changing anything, the packages it names (or that fail alone)
	 * fail with its reason, and the others go in a second one.
	 */
	for (round = 0; round < 2 && k; round++) {
		for (i = 0; i < k; i++)
			fill_req(be, rs[i], &reqs[i]);
		rc = be->apply(ctx->root, reqs, k, &pr, err);
		if (rc < 0) {
			pkg_result_release(&pr);
			goto out;
		}
		if (pr.ok) {
			pkg_result_release(&pr);
			break;
		}
		if (pr.locked || pr.interrupted) {
			rc = cg_error_set(err, CG_ERR, "%s",
					  pr.reason ? pr.reason : "locked");
			if (pr.locked)
				cg_error_hint(err,
					      "waited %u s for it; try again "
					      "when it is done, or raise "
					      "CONGRUENT_DPKG_LOCK_TIMEOUT",
					      pkg_lock_timeout());
			else
				cg_error_hint(err, "repair it with `%s`, then "
						   "run congruent again",
					      be->repair);
			pkg_result_release(&pr);
			goto out;
		}
		if (pr.changed || round == 1) {
			fail_unreached(be, ctx, rs, reqs, k, &pr);
			pkg_result_release(&pr);
			break;
		}
		/* Nothing done yet: find who apt refuses. */
		for (i = j = 0; i < k; i++) {
			struct pkg_result one;
			struct cg_error e1;
			const char *why = pr.why[i];

			if (!why) {
				cg_error_clear(&e1);
				if (be->simulate(ctx->root, &reqs[i], 1, &one,
						 &e1) == 0 &&
				    !one.ok) {
					fail_why(rs[i], &reqs[i],
						 one.why[0] ? one.why[0]
						 : one.reason ? one.reason
							      : "?");
					pkg_result_release(&one);
					continue;
				}
				pkg_result_release(&one);
				rs[j++] = rs[i];
			} else {
				fail_why(rs[i], &reqs[i], why);
			}
		}
		if (j == k) {
			/* Each would pass alone: the reason is shared. */
			for (i = 0; i < k; i++)
				fail_why(rs[i], &reqs[i],
					 pr.reason ? pr.reason : "?");
			j = 0;
		}
		pkg_result_release(&pr);
		k = j;
	}
	rc = 0;
out:
	free(reqs);
	free(rs);
	return rc;
}

/* --- fingerprint ---------------------------------------------------- */

static void package_fingerprint(const struct cg_resource *r,
				unsigned char out[16])
{
	const struct seen *s = r->observed;
	struct cg_buf b = { 0 };
	bool there = s->state == PKG_INSTALLED || s->state == PKG_BROKEN;

	/* Removed with or without its conffiles is "absent" to the policy. */
	cg_buf_addf(&b, "package\n%s\n", r->name);
	if (there)
		cg_buf_addf(&b, "%s\n%s\n%s\n", s->status ? s->status : "",
			    s->version ? s->version : "",
			    s->arch ? s->arch : "");
	else
		cg_buf_addstr(&b, "absent\n");
	cg_hash128(b.data, b.len, out);
	cg_buf_release(&b);
}

/* The transaction's own lines: what apt does besides the policy. */
static void package_summary(const struct cg_resource *const *res, size_t n,
			    struct cg_buf *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct want *w = res[i]->desired;
		const char *line;

		if (!w || !w->besides)
			continue;
		cg_buf_addstr(out, "apt transaction, besides the packages of "
				   "the policy:\n");
		for (line = w->besides; *line;) {
			size_t len = strcspn(line, "\n");

			cg_buf_addf(out, "  %.*s\n", (int)len, line);
			line += len + (line[len] == '\n');
		}
	}
}

/* --- orphans: revert ------------------------------------------------ */

#define SAY(rv, ...) snprintf((rv)->what, sizeof((rv)->what), __VA_ARGS__)

/* Does the tool's name ("cga:amd64") stand for the request's ("cga")? */
static bool same_package(const char *tool, const char *req)
{
	size_t a = strcspn(tool, ":"), b = strcspn(req, ":");

	return strcmp(tool, req) == 0 ||
	       (a == b && strncmp(tool, req, a) == 0 &&
		(!tool[a] || !req[b]));
}

/* Fail the k orphans of rm with err, a shared reason. */
static void revert_fail(struct cg_revert **rm, size_t k,
			const struct cg_error *err)
{
	size_t i;

	for (i = 0; i < k; i++) {
		rm[i]->failed = true;
		rm[i]->err = *err;
	}
}

/*
 * orphans: revert: a package congruent installed (before "absent") is
 * removed, its configuration files kept, with revert_packages: true
 * only; all of them in one transaction, simulated first: if it would
 * remove anything else, or apt refuses it, nothing is removed. A version
 * congruent changed is kept (the old one may be gone from the archive).
 */
static int package_revert(struct cg_ctx *ctx, struct cg_revert *const *v,
			  size_t n, bool apply, struct cg_error *err)
{
	const struct pkg_backend *be = backend_for(ctx->root);
	struct cg_revert **rm;
	struct pkg_req *reqs;
	struct pkg_result res;
	struct pkg_db db;
	struct cg_error e;
	const char *other = NULL;
	char who[96], *other_name = NULL;
	size_t i, j, k = 0;
	bool busy;
	int rc;

	if (!be)
		return no_backend(ctx->root, err);
	memset(&db, 0, sizeof(db));
	if (read_settled(be, ctx->root, &db, &busy, who, sizeof(who), err) < 0)
		return CG_ERR;
	rm = cg_xcalloc(n + 1, sizeof(*rm));
	reqs = cg_xcalloc(n + 1, sizeof(*reqs));
	for (i = 0; i < n; i++) {
		struct cg_revert *rv = v[i];
		const struct pkg_entry *pe = pkg_db_find(&db, rv->name);
		bool installed = pe && (pe->state == PKG_INSTALLED ||
					pe->state == PKG_BROKEN);

		if (!rv->before || strcmp(rv->before, "unknown") == 0) {
			rv->verdict = CG_REVERT_KEEP;
			SAY(rv, "keep: what was there before congruent is "
				"unknown; release it with congruent forget %s",
			    rv->id);
		} else if (strncmp(rv->before, "installed version=", 18) == 0) {
			const char *was = rv->before + 18;

			if (installed && strcmp(pe->version, was) == 0) {
				rv->verdict = CG_REVERT_FORGET;
				SAY(rv, "nothing to revert: %s is installed, "
					"as before congruent",
				    was);
			} else {
				rv->verdict = CG_REVERT_KEEP;
				SAY(rv, "keep: congruent changed its version "
					"(it was %.100s); put that back with "
					"state: \"%.100s\" if the archive has "
					"it, or release it with congruent "
					"forget %s",
				    was, was, rv->id);
			}
		} else if (strcmp(rv->before, "absent") != 0) {
			rv->verdict = CG_REVERT_KEEP;
			SAY(rv, "keep: the ledger's \"%.100s\" is not a "
				"package's",
			    rv->before);
		} else if (!installed) {
			rv->verdict = CG_REVERT_FORGET;
			SAY(rv, "nothing to revert: not installed, as before "
				"congruent");
		} else if (pe->essential || pe->hold) {
			rv->verdict = CG_REVERT_KEEP;
			SAY(rv, "keep: it is %s", pe->essential
							  ? "essential"
							  : "held (apt-mark hold)");
		} else if (!ctx->revert_packages) {
			rv->verdict = CG_REVERT_KEEP;
			SAY(rv, "keep: congruent installed it; revert_packages: "
				"true in site.yaml lets revert remove it");
		} else {
			rv->verdict = CG_REVERT_CHANGE;
			rv->removes = true;
			rm[k] = rv;
			reqs[k].name = rv->name;
			reqs[k++].op = PKG_OP_REMOVE;
		}
	}
	pkg_db_release(&db);
	if (!k)
		goto out;
	for (i = 0; i < k; i++)
		SAY(rm[i], "remove (installed by congruent at %.60s; its "
			   "configuration files stay), in one apt transaction "
			   "for %zu package%s",
		    rm[i]->since, k, k == 1 ? "" : "s");
	/* Simulated first, in plan and run alike: the same answer. */
	cg_error_clear(&e);
	memset(&res, 0, sizeof(res));
	rc = be->simulate(ctx->root, reqs, k, &res, &e);
	if (rc == 0 && !res.ok) {
		cg_error_set(&e, CG_ERR, "apt refuses to remove them: %s",
			     res.reason ? res.reason : "?");
		cg_error_hint(&e, "`apt-get remove -s` with these packages "
				  "shows why; or release them with congruent "
				  "forget");
		rc = CG_ERR;
	}
	for (i = 0; rc == 0 && !other && i < res.nacts; i++) {
		if (res.acts[i].op != 'R' && res.acts[i].op != 'P')
			continue;
		for (j = 0; j < k; j++)
			if (same_package(res.acts[i].name, reqs[j].name))
				break;
		if (j == k)
			other = res.acts[i].name;
	}
	if (other)
		other_name = cg_xstrdup(other);
	pkg_result_release(&res);
	if (rc < 0) {
		revert_fail(rm, k, &e);
		goto out;
	}
	if (other_name) {
		for (i = 0; i < k; i++) {
			rm[i]->verdict = CG_REVERT_KEEP;
			rm[i]->removes = false;
			SAY(rm[i], "keep: removing it would also remove "
				   "%.100s, which congruent did not install",
			    other_name);
		}
		goto out;
	}
	if (!apply)
		goto out;
	cg_error_clear(&e);
	memset(&res, 0, sizeof(res));
	rc = be->apply(ctx->root, reqs, k, &res, &e);
	if (rc == 0 && !res.ok) {
		cg_error_set(&e, CG_ERR, "apt failed to remove them: %s",
			     res.reason ? res.reason : "?");
		cg_error_hint(&e, res.interrupted ? "repair the package "
						    "database first"
						  : "the next run tries again");
		rc = CG_ERR;
	}
	pkg_result_release(&res);
	if (rc < 0)
		revert_fail(rm, k, &e);
out:
	free(other_name);
	free(rm);
	free(reqs);
	return 0;
}

const struct cg_module cg_module_package = {
	.type = "package",
	.keys = package_keys,
	.parse = package_parse,
	.observe = package_observe,
	.diff = package_diff,
	.revert = package_revert,
	.apply = package_apply,
	.release = package_release,
	.validate = package_validate,
	.forget = package_forget,
	.fingerprint = package_fingerprint,
	.summary = package_summary,
	/* One read of the package database for all of them. */
	.observe_window = 0,
	/* One apt transaction for all changes of a run. */
	.flags = CG_MODULE_BATCH | CG_MODULE_ALL_CAPS,
	/*
	 * What apt and dpkg themselves need: files of any owner and mode,
	 * setuid bits (CHOWN, DAC_OVERRIDE, FOWNER, FSETID); apt's download
	 * sandbox user _apt, and maintainer scripts that add users or run
	 * things as them (SETUID, SETGID); stopping daemons of other users
	 * in prerm (KILL); dpkg chrooted into --root (SYS_CHROOT).
	 * Maintainer scripts are arbitrary root code and may need anything
	 * else (MKNOD, SYS_ADMIN, NET_ADMIN, ...); on sysvinit, daemons they
	 * start inherit our bounding set for good. Hence CG_MODULE_ALL_CAPS:
	 * this list is a floor, not a ceiling.
	 */
	.caps = { CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID,
		  CAP_SETUID, CAP_SETGID, CAP_KILL, CAP_SYS_CHROOT },
	.ncaps = 8,
};
