/* fleet.c: congruent fleet: the hosts' reports from the central repository, as text, JSON or HTML. */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <ftw.h>
#include <stdarg.h>
#include <getopt.h>
#include <git2.h>
#include <git2/sys/mempack.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "cg/fs.h"
#include "cg/hash.h"
#include "cg/json.h"
#include "cg/jsonparse.h"
#include "cg/compactsig.h"
#include "cg/reportkey.h"

/*
 * Every report was written by a host, and a host may be broken or
 * hostile: each object's size is read from its header before the object
 * is, JSON goes through the bounded parser, every field is checked for
 * type and range, history is walked to a fixed depth, and what fails any
 * of this is skipped with a line naming its ref. What is shown is escaped
 * for where it goes (terminal, JSON, HTML).
 */

#define MAX_HISTORY 1000
#define DEFAULT_STALE_HOURS 12
#define DEFAULT_HISTORY 20
#define DEFAULT_MAX_REPORT (1u << 20)
/*
 * A report commit is a few hundred bytes (a signature adds a few KiB), its
 * tree one entry: anything much larger is read from no host of ours.
 */
#define MAX_COMMIT_BYTES (64u << 10)
#define MAX_TREE_BYTES (64u << 10)

/* Host states, mildest first (the names cg_report_state gives, and stale). */
enum state {
	ST_CONGRUENT,
	ST_ROLLED_OUT,
	ST_DRIFTED,
	ST_REPAIRED,
	ST_FAILED,
	ST_REFUSED,
	ST_STALE_SOURCE,
	ST_STALE,
	ST_N,
};

static const char *const state_names[] = { "congruent", "rolled out",
					   "drifted",
					   "repaired", "failed",
					   "refused", "stale source",
					   "stale" };

/* The same, as one word: HTML classes, Prometheus labels. */
static const char *const state_words[] = { "congruent", "rolled_out",
					   "drifted",
					   "repaired", "failed",
					   "refused", "stale_source",
					   "stale" };

/* Resource statuses a report may hold; RS_OK also stands for "absent". */
enum rstatus {
	RS_OK,
	RS_DRIFTED,
	RS_REPAIRED,
	RS_FAILED,
	RS_SKIPPED,
	RS_UNKNOWN, /* that report could not be read */
};

static const char *const rstatus_names[] = { "ok", "drifted", "repaired",
					     "failed", "skipped", "unknown" };

/* A field a report says differed: from and to as it says (hashes for content). */
struct rchange {
	char *field; /* owned */
	char *from;  /* owned, or NULL: absent */
	char *to;    /* owned, or NULL: absent */
	bool secret; /* from and to are "(secret)" whatever the report says */
};

#define MAX_CHANGES 64 /* per resource, kept from a report */

/* What one report says, as far as fleet uses it. */
struct report {
	char digest[65];
	char *commit;        /* owned: the policy commit, or NULL */
	char *agent_version; /* owned */
	char *time;          /* owned: as the report says */
	char fingerprint[65];
	int64_t exit_status;
	int64_t count[5];    /* ok, drifted, repaired, failed, skipped */
	int64_t extra;       /* unmanaged items nobody known owns (0: none) */
	int64_t orphans;     /* ledger ids no longer in its policy (0: none) */
	char **ids;          /* owned: resources not ok */
	uint8_t *status;     /* owned: their status */
	char **msgs;         /* owned: their error message, or NULL */
	char **hints;        /* owned: its hint, or NULL */
	struct rchange **chg; /* owned: what differed, per resource */
	uint32_t *nchg;
	bool *audit;         /* owned: per resource, audit: true */
	bool plan;           /* a plan's report: nothing was changed */
	bool audit_mode;     /* a run in mode: audit: nothing was changed */
	size_t n;
	enum state state;
	/* The source step, when the report has one. */
	bool stale_source;   /* the fetch failed: the last good commit ran */
	bool rollout;        /* its changes came with a new policy commit */
	char *change;        /* owned: "rollout", "drift", or NULL */
	char *fetched;       /* owned: the last successful fetch, or NULL */
	char *refused;       /* owned: the commit refused, or NULL */
	char *refusal;       /* owned: why, in a word ("unsigned"), or NULL */
	char *reason;        /* owned: the refusal or fetch error, or NULL */
	char *source_hint;   /* owned: or NULL */
};

struct hist {
	int64_t time;   /* the commit's */
	char oid[GIT_OID_HEXSZ + 1];
	bool heartbeat;
	bool unverified; /* --host-keys: not signed by this host's key */
	bool compacted;  /* --host-keys: rewritten by fleet compact */
	int rep;        /* index into host.reps, or -1: unreadable */
};

struct hres {
	char *id;       /* borrowed from a report of the host */
	const char *msg;  /* borrowed: the last report's error for it, or NULL */
	const char *hint; /* borrowed: or NULL */
	const struct rchange *chg; /* borrowed: the last report's changes */
	uint32_t nchg;
	bool audit;     /* the last report says audit: true */
	uint8_t *st;    /* owned: status in each history entry */
	int64_t since;  /* when the current status began; 0: ok now */
	bool before;    /* ... or earlier: history ended first */
};

struct host {
	char *name;     /* owned */
	char *ref;      /* owned */
	struct report *reps; /* owned: distinct reports in history */
	size_t nreps;
	struct hist *h; /* owned: newest first */
	size_t nh;
	bool more;      /* history goes on past what was read */
	struct hres *res; /* owned */
	size_t nres;
	enum state state; /* with stale */
	int64_t since;  /* when the last report's state began */
	bool since_before;
	unsigned dropped; /* reports the host's queue dropped, in history */
	/* --host-keys: the last report commit is not signed by the host */
	bool unverified;
	char *unverified_why; /* owned: why, or NULL */
	size_t unverified_older; /* older commits in history not signed */
};

struct fcache;

struct skip {
	char *ref;      /* owned */
	char *why;      /* owned */
};

struct fleet {
	git_repository *repo; /* owned */
	const char *source;   /* borrowed: URL or DIR, for messages */
	const char *prefix;
	struct host *hosts;   /* owned */
	size_t n, cap;
	struct skip *skips;   /* owned */
	size_t nskips, capskips;
	struct skip *warns;   /* owned: hosts shown, with something ignored */
	size_t nwarns, capwarns;
	size_t max_report;
	unsigned history;
	int64_t now;
	int64_t stale_after;  /* seconds */
	size_t count[ST_N];
	const struct cg_signers *host_keys; /* borrowed: --host-keys, or NULL */
	size_t unverified;    /* hosts whose last report is unverified */
	/* parse_report keeps what changed: only a host's last report shows it */
	bool keep_changes;
	struct fcache *cache; /* borrowed: or NULL */
};

static void report_release(struct report *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		uint32_t k;

		free(r->ids[i]);
		free(r->msgs[i]);
		free(r->hints[i]);
		for (k = 0; k < r->nchg[i]; k++) {
			free(r->chg[i][k].field);
			free(r->chg[i][k].from);
			free(r->chg[i][k].to);
		}
		free(r->chg[i]);
	}
	free(r->chg);
	free(r->nchg);
	free(r->audit);
	free(r->ids);
	free(r->msgs);
	free(r->hints);
	free(r->status);
	free(r->fetched);
	free(r->change);
	free(r->refused);
	free(r->refusal);
	free(r->reason);
	free(r->source_hint);
	free(r->commit);
	free(r->agent_version);
	free(r->time);
	memset(r, 0, sizeof(*r));
}

static void host_release(struct host *h)
{
	size_t i;

	for (i = 0; i < h->nreps; i++)
		report_release(&h->reps[i]);
	for (i = 0; i < h->nres; i++)
		free(h->res[i].st);
	free(h->reps);
	free(h->res);
	free(h->h);
	free(h->name);
	free(h->ref);
	free(h->unverified_why);
	memset(h, 0, sizeof(*h));
}

static void fleet_release(struct fleet *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		host_release(&f->hosts[i]);
	for (i = 0; i < f->nskips; i++) {
		free(f->skips[i].ref);
		free(f->skips[i].why);
	}
	for (i = 0; i < f->nwarns; i++) {
		free(f->warns[i].ref);
		free(f->warns[i].why);
	}
	free(f->hosts);
	free(f->skips);
	free(f->warns);
	git_repository_free(f->repo);
	memset(f, 0, sizeof(*f));
}

/* A ref's line in skips or warnings: the ref and why, from a format. */
static void add_ref_note(struct skip **v, size_t *cap, size_t *n,
			 const char *ref, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));

static void add_ref_note(struct skip **v, size_t *cap, size_t *n,
			 const char *ref, const char *fmt, va_list ap)
{
	char why[1200];

	vsnprintf(why, sizeof(why), fmt, ap);
	cg_grow(v, cap, *n + 1, sizeof(**v));
	(*v)[*n].ref = cg_xstrdup(ref);
	(*v)[*n].why = cg_xstrdup(why);
	(*n)++;
}

static void add_skip(struct fleet *f, const char *ref, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void add_skip(struct fleet *f, const char *ref, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_ref_note(&f->skips, &f->capskips, &f->nskips, ref, fmt, ap);
	va_end(ap);
}

static void add_warn(struct fleet *f, const char *ref, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void add_warn(struct fleet *f, const char *ref, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_ref_note(&f->warns, &f->capwarns, &f->nwarns, ref, fmt, ap);
	va_end(ap);
}

/*
 * Look up an object of the given type whose header says it is at most max
 * bytes: the object is loaded only then. why says what was wrong.
 */
static int lookup_bounded(struct fleet *f, git_object **out, const git_oid *id,
			  git_object_t want, size_t max, char *why,
			  size_t size)
{
	git_odb *odb = NULL;
	git_object_t type;
	size_t len;
	int rc;

	if (git_repository_odb(&odb, f->repo) < 0)
		rc = -1;
	else
		rc = git_odb_read_header(&len, &type, odb, id);
	git_odb_free(odb);
	if (rc < 0) {
		snprintf(why, size, "cannot read its %s object",
			 git_object_type2string(want));
		return CG_ERR;
	}
	if (type != want) {
		snprintf(why, size, "it points to a %s, not a %s",
			 git_object_type2string(type),
			 git_object_type2string(want));
		return CG_ERR;
	}
	if (len > max) {
		snprintf(why, size, "its %s object is %zu bytes, more than the "
				    "limit of %zu for a report",
			 git_object_type2string(want), len, max);
		return CG_ERR;
	}
	if (git_object_lookup(out, f->repo, id, want) < 0) {
		snprintf(why, size, "cannot read its %s object",
			 git_object_type2string(want));
		return CG_ERR;
	}
	return 0;
}

/*
 * A Congruent-Dropped trailer: a count the host's agent wrote, in decimal.
 * Anything else is not a number to add up.
 */
static bool parse_dropped(const char *s, unsigned *out)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 9)
		return false;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	*out = (unsigned)strtoul(s, NULL, 10);
	return true;
}

static bool is_hex(const char *s, size_t len)
{
	size_t i;

	if (strlen(s) != len)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static int rstatus_of(const char *s)
{
	size_t i;

	for (i = 0; i < RS_UNKNOWN; i++)
		if (strcmp(s, rstatus_names[i]) == 0)
			return (int)i;
	return -1;
}

/* A string member that must be there, at most max bytes. */
static const char *need_str(const struct cg_jdoc *d, const struct cg_jnode *o,
			    const char *key, size_t max, char *why,
			    size_t size)
{
	const char *s = cg_jnode_get_str(d, o, key);

	if (!s)
		snprintf(why, size, "report.json: no string \"%s\"", key);
	else if (strlen(s) > max)
		snprintf(why, size, "report.json: \"%s\" is longer than %zu bytes",
			 key, max);
	else
		return s;
	return NULL;
}

/* A string member that may be there, copied (NULL if not a string). */
static char *opt_str(const struct cg_jdoc *d, const struct cg_jnode *o,
		     const char *key)
{
	const char *s = cg_jnode_get_str(d, o, key);

	return s ? cg_xstrdup(s) : NULL;
}

/*
 * A resource's "changes" (absent in reports of resources that did not
 * differ): each {field, from, to}, strings or null, at most MAX_CHANGES
 * kept. "secret": true keeps the values out, whatever they say.
 */
static int parse_changes(const struct cg_jdoc *d, const struct cg_jnode *a,
			 struct rchange **out, uint32_t *n_out, char *why,
			 size_t size)
{
	const struct cg_jnode *v;
	struct rchange *c = NULL;
	uint32_t n = 0;

	*out = NULL;
	*n_out = 0;
	if (!a)
		return 0;
	if (!cg_jnode_is(a, CG_JARR)) {
		snprintf(why, size, "report.json: \"changes\" is not an array");
		return CG_ERR;
	}
	for (v = cg_jnode_first(d, a); v && n < MAX_CHANGES;
	     v = cg_jnode_next(d, v)) {
		const char *field = cg_jnode_get_str(d, v, "field");
		const struct cg_jnode *from = cg_jnode_get(d, v, "from");
		const struct cg_jnode *to = cg_jnode_get(d, v, "to");
		bool secret = false;

		if (!field || !*field || strlen(field) > 64 ||
		    (from && !cg_jnode_is(from, CG_JNULL) &&
		     !cg_jnode_str(d, from)) ||
		    (to && !cg_jnode_is(to, CG_JNULL) && !cg_jnode_str(d, to))) {
			snprintf(why, size, "report.json: a change without a "
					    "\"field\", or whose \"from\" or "
					    "\"to\" is not a string");
			goto fail;
		}
		cg_jnode_bool(cg_jnode_get(d, v, "secret"), &secret);
		c = cg_xrealloc(c, (n + 1) * sizeof(*c));
		c[n].field = cg_xstrdup(field);
		c[n].secret = secret;
		c[n].from = secret ? cg_xstrdup("(secret)")
			    : cg_jnode_str(d, from)
				    ? cg_xstrdup(cg_jnode_str(d, from))
				    : NULL;
		c[n].to = secret ? cg_xstrdup("(secret)")
			  : cg_jnode_str(d, to) ? cg_xstrdup(cg_jnode_str(d, to))
						: NULL;
		n++;
	}
	*out = c;
	*n_out = n;
	return 0;
fail:
	while (n-- > 0) {
		free(c[n].field);
		free(c[n].from);
		free(c[n].to);
	}
	free(c);
	return CG_ERR;
}

/* Check and keep what a report says. why is set when it is refused. */
static int parse_report(struct fleet *f, const char *data, size_t len,
			struct report *r, char *why, size_t size)
{
	static const char *const counts[] = { "ok", "drifted", "repaired",
					      "failed", "skipped" };
	struct cg_jlimits lim = { .max_bytes = f->max_report,
				  .max_depth = 16,
				  .max_nodes = 200000,
				  .max_string = 8192 };
	const struct cg_jnode *root, *sum, *res, *v;
	struct cg_jdoc doc = { 0 };
	struct cg_error err;
	const char *s, *fp, *tm, *ver;
	size_t i, cap = 0;
	int rc = CG_ERR;

	if (cg_jdoc_parse(&doc, data, len, &lim, &err) < 0) {
		snprintf(why, size, "report.json: %s", err.msg);
		return CG_ERR;
	}
	root = cg_jdoc_root(&doc);
	if (!cg_jnode_is(root, CG_JOBJ)) {
		snprintf(why, size, "report.json: not a JSON object");
		goto out;
	}
	if (!(tm = need_str(&doc, root, "time", 64, why, size)) ||
	    !(fp = need_str(&doc, root, "fingerprint", 64, why, size)) ||
	    !(ver = need_str(&doc, root, "agent_version", 64, why, size)))
		goto out;
	if (!is_hex(fp, 64)) {
		snprintf(why, size, "report.json: \"fingerprint\" is not a "
				    "SHA-256 in hex");
		goto out;
	}
	v = cg_jnode_get(&doc, root, "commit");
	s = cg_jnode_str(&doc, v);
	if (v && !cg_jnode_is(v, CG_JNULL) && (!s || strlen(s) > 64)) {
		snprintf(why, size, "report.json: \"commit\" is not a commit id");
		goto out;
	}
	if (!cg_jnode_get_int(&doc, root, "exit_status", &r->exit_status) ||
	    r->exit_status < 0 || r->exit_status > 255) {
		snprintf(why, size, "report.json: no \"exit_status\" from 0 to 255");
		goto out;
	}
	sum = cg_jnode_get(&doc, root, "summary");
	for (i = 0; i < 5; i++)
		if (!cg_jnode_get_int(&doc, sum, counts[i], &r->count[i]) ||
		    r->count[i] < 0) {
			snprintf(why, size, "report.json: no \"summary\" with "
					    "counts");
			goto out;
		}
	/* Reports from before 0.2 have no "extra". */
	v = cg_jnode_get(&doc, sum, "extra");
	r->extra = 0;
	if (v && (!cg_jnode_int(v, &r->extra) || r->extra < 0)) {
		snprintf(why, size, "report.json: \"extra\" in \"summary\" "
				    "is not a count");
		goto out;
	}
	/* Reports from before the ledger have no "orphans". */
	v = cg_jnode_get(&doc, sum, "orphans");
	r->orphans = 0;
	if (v && (!cg_jnode_int(v, &r->orphans) || r->orphans < 0)) {
		snprintf(why, size, "report.json: \"orphans\" in \"summary\" "
				    "is not a count");
		goto out;
	}
	res = cg_jnode_get(&doc, root, "resources");
	if (!cg_jnode_is(res, CG_JARR)) {
		snprintf(why, size, "report.json: no \"resources\" array");
		goto out;
	}
	for (v = cg_jnode_first(&doc, res); v; v = cg_jnode_next(&doc, v)) {
		const char *id = cg_jnode_get_str(&doc, v, "id");
		const char *st = cg_jnode_get_str(&doc, v, "status");
		int k = st ? rstatus_of(st) : -1;

		if (!id || !*id || strlen(id) > 4096 || k < 0) {
			snprintf(why, size, "report.json: resource %zu has no "
					    "\"id\" or a bad \"status\"",
				 r->n + 1);
			goto out;
		}
		if (k == RS_OK)
			continue;
		cg_grow(&r->ids, &cap, r->n + 1, sizeof(*r->ids));
		r->status = cg_xrealloc(r->status, cap);
		r->msgs = cg_xrealloc(r->msgs, cap * sizeof(*r->msgs));
		r->hints = cg_xrealloc(r->hints, cap * sizeof(*r->hints));
		r->ids[r->n] = cg_xstrdup(id);
		r->msgs[r->n] = opt_str(&doc, cg_jnode_get(&doc, v, "error"),
					"message");
		r->hints[r->n] = opt_str(&doc, cg_jnode_get(&doc, v, "error"),
					 "hint");
		r->chg = cg_xrealloc(r->chg, cap * sizeof(*r->chg));
		r->nchg = cg_xrealloc(r->nchg, cap * sizeof(*r->nchg));
		r->audit = cg_xrealloc(r->audit, cap * sizeof(*r->audit));
		r->audit[r->n] = false;
		cg_jnode_bool(cg_jnode_get(&doc, v, "audit"), &r->audit[r->n]);
		r->status[r->n] = (uint8_t)k;
		if (parse_changes(&doc, f->keep_changes
					  ? cg_jnode_get(&doc, v, "changes")
					  : NULL,
				  &r->chg[r->n], &r->nchg[r->n], why,
				  size) < 0) {
			r->n++;
			goto out;
		}
		r->n++;
	}
	/* Reports from before 0.3 say less about their source. */
	v = cg_jnode_get(&doc, root, "source");
	if (v) {
		bool stale = false;

		cg_jnode_bool(cg_jnode_get(&doc, v, "stale"), &stale);
		r->stale_source = stale;
		r->fetched = opt_str(&doc, v, "fetched");
		r->refused = opt_str(&doc, v, "refused_commit");
		r->refusal = opt_str(&doc, v, "refusal");
		r->reason = opt_str(&doc, v, "reason");
		r->source_hint = opt_str(&doc, v, "hint");
	}
	r->fingerprint[0] = '\0';
	memcpy(r->fingerprint, fp, 65);
	r->time = cg_xstrdup(tm);
	r->agent_version = cg_xstrdup(ver);
	r->commit = s ? cg_xstrdup(s) : NULL;
	s = cg_jnode_get_str(&doc, root, "change");
	r->rollout = s && strcmp(s, "rollout") == 0;
	r->change = s && strlen(s) < 16 ? cg_xstrdup(s) : NULL;
	s = cg_jnode_get_str(&doc, root, "command");
	r->plan = s && strcmp(s, "plan") == 0;
	s = cg_jnode_get_str(&doc, root, "mode");
	r->audit_mode = s && strcmp(s, "audit") == 0;
	s = cg_report_state(r->exit_status, r->count, r->refused != NULL,
			    r->stale_source, r->rollout);
	for (i = 0; i < ST_N; i++)
		if (strcmp(s, state_names[i]) == 0)
			r->state = (enum state)i;
	rc = 0;
out:
	if (rc < 0)
		report_release(r);
	cg_jdoc_release(&doc);
	return rc;
}

/* Read report.json of commit c, bounded before anything is loaded. */
static int read_report(struct fleet *f, git_commit *c, struct report *r,
		       char *why, size_t size)
{
	const git_tree_entry *e;
	git_tree *tree = NULL;
	git_odb *odb = NULL;
	git_odb_object *obj = NULL;
	git_object_t type;
	size_t len;
	int rc = CG_ERR;

	if (lookup_bounded(f, (git_object **)&tree, git_commit_tree_id(c),
			   GIT_OBJECT_TREE, MAX_TREE_BYTES, why, size) < 0)
		return CG_ERR;
	e = git_tree_entry_byname(tree, "report.json");
	if (!e || git_tree_entry_type(e) != GIT_OBJECT_BLOB) {
		snprintf(why, size, "no file report.json in the commit");
		goto out;
	}
	if (git_repository_odb(&odb, f->repo) < 0 ||
	    git_odb_read_header(&len, &type, odb, git_tree_entry_id(e)) < 0) {
		snprintf(why, size, "cannot read report.json");
		goto out;
	}
	if (len > f->max_report) {
		snprintf(why, size, "report.json is %zu bytes, more than the "
				    "limit of %zu (--max-report-kb)",
			 len, f->max_report);
		goto out;
	}
	if (git_odb_read(&obj, odb, git_tree_entry_id(e)) < 0) {
		snprintf(why, size, "cannot read report.json");
		goto out;
	}
	rc = parse_report(f, git_odb_object_data(obj), git_odb_object_size(obj),
			  r, why, size);
out:
	git_odb_object_free(obj);
	git_odb_free(odb);
	git_tree_free(tree);
	return rc;
}

static int find_res(const struct host *h, const char *id)
{
	size_t i;

	for (i = 0; i < h->nres; i++)
		if (strcmp(h->res[i].id, id) == 0)
			return (int)i;
	return -1;
}

/* The resources not ok somewhere in history, with their status in each. */
static void host_resources(struct host *h)
{
	size_t i, k, cap = 0;

	for (i = 0; i < h->nh; i++) {
		const struct report *r;

		if (h->h[i].rep < 0)
			continue;
		r = &h->reps[h->h[i].rep];
		for (k = 0; k < r->n; k++) {
			int j = find_res(h, r->ids[k]);

			if (j < 0) {
				cg_grow(&h->res, &cap, h->nres + 1,
					sizeof(*h->res));
				j = (int)h->nres++;
				memset(&h->res[j], 0, sizeof(h->res[j]));
				h->res[j].id = r->ids[k];
				h->res[j].st = cg_xcalloc(h->nh, 1);
			}
		}
	}
	for (k = 0; k < h->nres; k++) {
		struct hres *x = &h->res[k];

		for (i = 0; i < h->nh; i++) {
			const struct report *r;
			size_t m;

			if (h->h[i].rep < 0) {
				x->st[i] = RS_UNKNOWN;
				continue;
			}
			r = &h->reps[h->h[i].rep];
			x->st[i] = RS_OK;
			for (m = 0; m < r->n; m++) {
				if (strcmp(r->ids[m], x->id) != 0)
					continue;
				x->st[i] = r->status[m];
				if (i == 0) {
					x->msg = r->msgs[m];
					x->hint = r->hints[m];
					x->chg = r->chg[m];
					x->nchg = r->nchg[m];
					x->audit = r->audit[m];
				}
			}
		}
		if (x->st[0] == RS_OK)
			continue;
		for (i = 0; i < h->nh && x->st[i] == x->st[0]; i++)
			x->since = h->h[i].time;
		x->before = i == h->nh && h->more;
	}
}

/* One host's ref: its tip report (required) and its history. */
/*
 * --host-keys: is this report commit signed by a key listed for the host
 * it claims to be? The history's commits are checked too: a host
 * builds on its ref as it finds it, so a forged commit pushed under it
 * would otherwise hide behind the host's next signature.
 */
static void verify_report(struct fleet *f, struct host *h, git_commit *c,
			  struct hist *e)
{
	git_odb *odb = NULL;
	git_odb_object *obj = NULL;
	struct cg_buf orig = { 0 };
	struct cg_error err;
	int rc;

	cg_error_clear(&err);
	if (git_repository_odb(&odb, f->repo) < 0 ||
	    git_odb_read(&obj, odb, git_commit_id(c)) < 0)
		rc = cg_error_set(&err, CG_ERR, "cannot read the commit");
	else
		rc = cg_compact_original(git_odb_object_data(obj),
					 git_odb_object_size(obj), &orig,
					 &err);
	/*
	 * Compacted: the host signed the commit as it was before, so that
	 * is what is checked, rebuilt from what this one records.
	 */
	if (rc > 0)
		e->compacted = true;
	if (rc > 0)
		rc = cg_reportkey_verify_report(f->host_keys, h->name,
						orig.data, orig.len, f->now,
						&err);
	else if (rc == 0)
		rc = cg_reportkey_verify_report(f->host_keys, h->name,
						git_odb_object_data(obj),
						git_odb_object_size(obj),
						f->now, &err);
	cg_buf_release(&orig);
	git_odb_object_free(obj);
	git_odb_free(odb);
	if (rc == 0)
		return;
	e->unverified = true;
	if (h->nh == 0) {
		h->unverified = true;
		h->unverified_why = cg_xasprintf("%s: %s%s",
						 cg_sshsig_strerror(rc),
						 e->compacted ? "compacted "
								"commit: "
							      : "",
						 err.msg);
	} else {
		h->unverified_older++;
	}
}

/* --- the summary cache ----------------------------------------------- */

/*
 * What read_host found for each host, kept on disk by the host's tip:
 * a host whose tip did not move is read from here, with no git read at
 * all (at 10,000 hosts most of fleet's time was libgit2 resolving delta
 * chains of report blobs). Only what depends on the tip alone is kept;
 * staleness (the clock) and the resources (from the reports) are
 * computed afresh. The file: a magic line, the key it was made for,
 * then per ref its name, tip and host, then a SHA-256 of all before.
 * Anything wrong in it (truncated, another version or key, a bad sum,
 * a value out of range) and it is ignored whole, or for that host.
 */
#define FCACHE_MAGIC "congruent fleet summary 2\n"
#define FCACHE_MAX ((size_t)1 << 30) /* bytes: a bigger file is not kept */
#define FCACHE_NONE 0xffffffffu     /* a NULL string */

struct fcent {
	const char *ref; /* borrowed: in fcache.map, not terminated */
	uint32_t reflen;
	const unsigned char *tip; /* borrowed: GIT_OID_RAWSZ bytes */
	const unsigned char *data; /* borrowed: the host */
	uint32_t len;
};

struct fcache {
	char *path;       /* owned: the file, or NULL: no cache */
	char *key;        /* owned */
	void *map;        /* owned: the old file, mapped, or NULL */
	size_t maplen;
	struct fcent *ents; /* owned: sorted by ref */
	size_t n;
	const struct fcent **hits; /* borrowed: entries still true */
	size_t nhits, caphits;
	struct cg_buf out;  /* the entries read anew, as in the file */
	uint32_t nout;
};

struct fcread {
	const unsigned char *p, *end;
	bool bad;
};

static void put_u32(struct cg_buf *b, uint32_t v)
{
	unsigned char x[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 8), (unsigned char)v };

	cg_buf_add(b, x, 4);
}

static void put_i64(struct cg_buf *b, int64_t v)
{
	uint64_t u = (uint64_t)v;

	put_u32(b, (uint32_t)(u >> 32));
	put_u32(b, (uint32_t)u);
}

static void put_str(struct cg_buf *b, const char *s)
{
	size_t len = s ? strlen(s) : 0;

	put_u32(b, s ? (uint32_t)len : FCACHE_NONE);
	if (s)
		cg_buf_add(b, s, len);
}

static uint32_t get_u32(struct fcread *r)
{
	uint32_t v;

	if (r->bad || r->end - r->p < 4) {
		r->bad = true;
		return 0;
	}
	v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
	    (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	return v;
}

static int64_t get_i64(struct fcread *r)
{
	uint64_t hi = get_u32(r);

	return (int64_t)(hi << 32 | get_u32(r));
}

static uint8_t get_u8(struct fcread *r, uint8_t max)
{
	uint32_t v = get_u32(r);

	if (v > max)
		r->bad = true;
	return r->bad ? 0 : (uint8_t)v;
}

/* A string of at most max bytes, no NUL in it; NULL if absent (or bad). */
static char *get_str(struct fcread *r, size_t max, bool may_be_null)
{
	uint32_t len = get_u32(r);
	char *s;

	if (r->bad)
		return NULL;
	if (len == FCACHE_NONE) {
		if (!may_be_null)
			r->bad = true;
		return NULL;
	}
	if (len > max || (size_t)(r->end - r->p) < len ||
	    memchr(r->p, '\0', len)) {
		r->bad = true;
		return NULL;
	}
	s = cg_xmalloc((size_t)len + 1);
	memcpy(s, r->p, len);
	s[len] = '\0';
	r->p += len;
	return s;
}

static void fc_put_report(struct cg_buf *b, const struct report *r)
{
	size_t i, k;

	put_str(b, r->digest);
	put_str(b, r->commit);
	put_str(b, r->agent_version);
	put_str(b, r->time);
	put_str(b, r->fingerprint);
	put_i64(b, r->exit_status);
	for (i = 0; i < 5; i++)
		put_i64(b, r->count[i]);
	put_i64(b, r->extra);
	put_i64(b, r->orphans);
	put_u32(b, (uint32_t)r->n);
	for (i = 0; i < r->n; i++) {
		put_str(b, r->ids[i]);
		put_u32(b, r->status[i]);
		put_str(b, r->msgs[i]);
		put_str(b, r->hints[i]);
		put_u32(b, r->audit[i]);
		put_u32(b, r->nchg[i]);
		for (k = 0; k < r->nchg[i]; k++) {
			put_str(b, r->chg[i][k].field);
			put_str(b, r->chg[i][k].from);
			put_str(b, r->chg[i][k].to);
			put_u32(b, r->chg[i][k].secret);
		}
	}
	put_u32(b, r->plan);
	put_u32(b, r->audit_mode);
	put_u32(b, r->state);
	put_u32(b, r->stale_source);
	put_u32(b, r->rollout);
	put_str(b, r->change);
	put_str(b, r->fetched);
	put_str(b, r->refused);
	put_str(b, r->refusal);
	put_str(b, r->reason);
	put_str(b, r->source_hint);
}

#define FC_STR 65536 /* bytes: no string fleet keeps from a report is longer */

static int fc_get_report(struct fcread *in, struct report *r)
{
	char *s;
	size_t i, k;

	memset(r, 0, sizeof(*r));
	s = get_str(in, 64, false);
	if (s)
		memcpy(r->digest, s, strlen(s) + 1);
	free(s);
	r->commit = get_str(in, 64, true);
	r->agent_version = get_str(in, 64, false);
	r->time = get_str(in, 64, false);
	s = get_str(in, 64, false);
	if (s && strlen(s) == 64)
		memcpy(r->fingerprint, s, 65);
	else
		in->bad = true;
	free(s);
	r->exit_status = get_i64(in);
	for (i = 0; i < 5; i++)
		r->count[i] = get_i64(in);
	r->extra = get_i64(in);
	r->orphans = get_i64(in);
	k = get_u32(in);
	/* Each resource takes at least 24 bytes: a bound before allocating. */
	if (in->bad || k > (size_t)(in->end - in->p) / 24) {
		in->bad = true;
		report_release(r);
		return CG_ERR;
	}
	if (k) {
		r->ids = cg_xcalloc(k, sizeof(*r->ids));
		r->status = cg_xcalloc(k, 1);
		r->msgs = cg_xcalloc(k, sizeof(*r->msgs));
		r->hints = cg_xcalloc(k, sizeof(*r->hints));
		r->chg = cg_xcalloc(k, sizeof(*r->chg));
		r->nchg = cg_xcalloc(k, sizeof(*r->nchg));
		r->audit = cg_xcalloc(k, sizeof(*r->audit));
	}
	for (i = 0; i < k && !in->bad; i++) {
		uint32_t m, j;

		r->n = i + 1;
		r->ids[i] = get_str(in, 4096, false);
		r->status[i] = get_u8(in, RS_UNKNOWN - 1);
		if (r->status[i] == RS_OK)
			in->bad = true;
		r->msgs[i] = get_str(in, FC_STR, true);
		r->hints[i] = get_str(in, FC_STR, true);
		r->audit[i] = get_u8(in, 1);
		m = get_u32(in);
		if (in->bad || m > MAX_CHANGES) {
			in->bad = true;
			break;
		}
		if (m)
			r->chg[i] = cg_xcalloc(m, sizeof(**r->chg));
		r->nchg[i] = m;
		for (j = 0; j < m; j++) {
			r->chg[i][j].field = get_str(in, FC_STR, false);
			r->chg[i][j].from = get_str(in, FC_STR, true);
			r->chg[i][j].to = get_str(in, FC_STR, true);
			r->chg[i][j].secret = get_u8(in, 1);
		}
	}
	r->plan = get_u8(in, 1);
	r->audit_mode = get_u8(in, 1);
	r->state = (enum state)get_u8(in, ST_N - 1);
	r->stale_source = get_u8(in, 1);
	r->rollout = get_u8(in, 1);
	r->change = get_str(in, 15, true);
	r->fetched = get_str(in, FC_STR, true);
	r->refused = get_str(in, FC_STR, true);
	r->refusal = get_str(in, FC_STR, true);
	r->reason = get_str(in, FC_STR, true);
	r->source_hint = get_str(in, FC_STR, true);
	if (in->bad) {
		report_release(r);
		return CG_ERR;
	}
	return 0;
}

/* The host as read from git, and the warnings its read gave. */
static void fc_put_host(struct cg_buf *b, const struct host *h,
			const struct skip *warns, size_t nwarns)
{
	size_t i;

	put_u32(b, (uint32_t)h->nreps);
	for (i = 0; i < h->nreps; i++)
		fc_put_report(b, &h->reps[i]);
	put_u32(b, (uint32_t)h->nh);
	for (i = 0; i < h->nh; i++) {
		put_i64(b, h->h[i].time);
		put_str(b, h->h[i].oid);
		put_u32(b, h->h[i].heartbeat);
		put_u32(b, h->h[i].unverified);
		put_u32(b, h->h[i].compacted);
		put_u32(b, (uint32_t)(h->h[i].rep + 1));
	}
	put_u32(b, h->more);
	put_u32(b, h->dropped);
	put_u32(b, h->unverified);
	put_str(b, h->unverified_why);
	put_i64(b, (int64_t)h->unverified_older);
	put_u32(b, (uint32_t)nwarns);
	for (i = 0; i < nwarns; i++)
		put_str(b, warns[i].why);
}

static int fc_get_host(struct fleet *f, const struct fcent *e, struct host *h)
{
	struct fcread in = { e->data, e->data + e->len, false };
	uint32_t n, i, nw;
	int64_t older;

	n = get_u32(&in);
	if (in.bad || n > e->len / 64)
		return CG_ERR;
	h->reps = cg_xcalloc(n ? n : 1, sizeof(*h->reps));
	for (i = 0; i < n; i++) {
		if (fc_get_report(&in, &h->reps[i]) < 0)
			return CG_ERR;
		h->nreps = i + 1;
	}
	n = get_u32(&in);
	if (in.bad || n == 0 || n > f->history)
		return CG_ERR;
	for (i = 0; i < n && !in.bad; i++) {
		struct hist *x = &h->h[i];
		char *oid;
		uint32_t rep;

		x->time = get_i64(&in);
		oid = get_str(&in, GIT_OID_HEXSZ, false);
		if (oid && strlen(oid) == GIT_OID_HEXSZ &&
		    is_hex(oid, GIT_OID_HEXSZ))
			memcpy(x->oid, oid, sizeof(x->oid));
		else
			in.bad = true;
		free(oid);
		x->heartbeat = get_u8(&in, 1);
		x->unverified = get_u8(&in, 1);
		x->compacted = get_u8(&in, 1);
		rep = get_u32(&in);
		if (rep > h->nreps)
			in.bad = true;
		x->rep = (int)rep - 1;
	}
	h->nh = n;
	if (in.bad || h->h[0].rep < 0)
		return CG_ERR;
	h->more = get_u8(&in, 1);
	h->dropped = get_u32(&in);
	h->unverified = get_u8(&in, 1);
	h->unverified_why = get_str(&in, FC_STR, true);
	older = get_i64(&in);
	if (older < 0 || older > (int64_t)f->history)
		in.bad = true;
	h->unverified_older = (size_t)older;
	nw = get_u32(&in);
	if (in.bad || nw > e->len / 4)
		return CG_ERR;
	/* The warnings are checked whole before any is added. */
	{
		struct fcread w = in;

		for (i = 0; i < nw && !w.bad; i++)
			free(get_str(&w, 1200, false));
		if (w.bad || w.p != w.end)
			return CG_ERR;
	}
	for (i = 0; i < nw; i++) {
		char *why = get_str(&in, 1200, false);

		add_warn(f, h->ref, "%s", why);
		free(why);
	}
	return 0;
}

static int cmp_fcent(const void *a, const void *b)
{
	const struct fcent *x = a, *y = b;
	size_t n = x->reflen < y->reflen ? x->reflen : y->reflen;
	int c = memcmp(x->ref, y->ref, n);

	if (c)
		return c;
	return x->reflen < y->reflen ? -1 : x->reflen > y->reflen;
}

/* The old file, if it is whole and made for this key: its entries. */
static void fcache_load(struct fcache *c)
{
	unsigned char sum[CG_SHA256_LEN];
	struct fcread in;
	struct stat st;
	size_t mlen = strlen(FCACHE_MAGIC), i;
	uint32_t n;
	char *key;
	int fd;

	fd = open(c->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	/*
	 * The checksum finds damage, not forgery: the file is believed
	 * only if no one but its reader could have written it.
	 */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & 022) ||
	    st.st_size < (off_t)(mlen + CG_SHA256_LEN) ||
	    (uint64_t)st.st_size > FCACHE_MAX) {
		close(fd);
		return;
	}
	c->maplen = (size_t)st.st_size;
	c->map = mmap(NULL, c->maplen, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (c->map == MAP_FAILED) {
		c->map = NULL;
		return;
	}
	in.p = c->map;
	in.end = in.p + c->maplen - CG_SHA256_LEN;
	in.bad = false;
	cg_sha256_buf(c->map, c->maplen - CG_SHA256_LEN, sum);
	if (memcmp(sum, in.end, CG_SHA256_LEN) != 0 ||
	    memcmp(in.p, FCACHE_MAGIC, mlen) != 0)
		goto bad;
	in.p += mlen;
	key = get_str(&in, 8192, false);
	if (!key || strcmp(key, c->key) != 0) {
		free(key);
		goto bad;
	}
	free(key);
	n = get_u32(&in);
	if (in.bad || n > (size_t)(in.end - in.p) / 32)
		goto bad;
	c->ents = cg_xcalloc(n ? n : 1, sizeof(*c->ents));
	for (i = 0; i < n; i++) {
		struct fcent *e = &c->ents[i];

		e->reflen = get_u32(&in);
		if (in.bad || e->reflen > 4096 ||
		    (size_t)(in.end - in.p) < (size_t)e->reflen + GIT_OID_RAWSZ)
			goto bad;
		e->ref = (const char *)in.p;
		in.p += e->reflen;
		e->tip = in.p;
		in.p += GIT_OID_RAWSZ;
		e->len = get_u32(&in);
		if (in.bad || (size_t)(in.end - in.p) < e->len)
			goto bad;
		e->data = in.p;
		in.p += e->len;
	}
	if (in.p != in.end)
		goto bad;
	c->n = n;
	qsort(c->ents, c->n, sizeof(*c->ents), cmp_fcent);
	return;
bad:
	free(c->ents);
	c->ents = NULL;
	munmap(c->map, c->maplen);
	c->map = NULL;
}

/*
 * The cache file for a repository and what shapes read_host's result:
 * the prefix, --history, --max-report-kb and the --host-keys file's
 * content. Key validity windows (valid-after, valid-before) depend on
 * the clock: with them, signatures are checked afresh, no cache.
 */
static void fcache_open(struct fcache *c, const struct fleet *f,
			const char *dir, const char *repo,
			const char *host_keys)
{
	unsigned char d[CG_SHA256_LEN];
	char hex[CG_SHA256_HEX], khex[CG_SHA256_HEX] = "-";
	struct cg_buf k = { 0 };
	char *real, *base;
	const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	struct stat st;

	memset(c, 0, sizeof(*c));
	if (host_keys) {
		char *text = NULL;
		size_t len = 0;
		FILE *fp = fopen(host_keys, "re");

		if (fp) {
			struct cg_buf b = { 0 };
			char chunk[4096];
			size_t got;

			while ((got = fread(chunk, 1, sizeof(chunk), fp)) > 0)
				cg_buf_add(&b, chunk, got);
			if (ferror(fp))
				cg_buf_release(&b);
			fclose(fp);
			text = b.data;
			len = b.len;
		}
		if (!text || memmem(text, len, "valid-", 6)) {
			free(text);
			return;
		}
		cg_sha256_buf(text, len, d);
		cg_hex(d, CG_SHA256_LEN, khex);
		free(text);
	}
	if (dir)
		base = cg_xstrdup(dir);
	else if (x && *x == '/')
		base = cg_xasprintf("%s/congruent/fleet", x);
	else if (home && *home == '/')
		base = cg_xasprintf("%s/.cache/congruent/fleet", home);
	else
		return;
	if (cg_mkdir_p(base, 0700, NULL) < 0 || stat(base, &st) < 0 ||
	    st.st_uid != geteuid() || (st.st_mode & 022)) {
		free(base);
		return;
	}
	real = realpath(repo, NULL);
	cg_buf_addf(&k, "%s%c%s", real ? real : repo, 0, f->prefix);
	cg_sha256_buf(k.data, k.len, d);
	cg_hex(d, 10, hex);
	c->path = cg_xasprintf("%s/%s.summary", base, hex);
	c->key = cg_xasprintf("repo=%s prefix=%s history=%u max_report=%zu "
			      "host_keys=%s",
			      real ? real : repo, f->prefix, f->history,
			      f->max_report, khex);
	free(real);
	free(base);
	cg_buf_release(&k);
	fcache_load(c);
}

static const struct fcent *fcache_find(const struct fcache *c,
				       const char *ref)
{
	struct fcent want = { .ref = ref, .reflen = (uint32_t)strlen(ref) };

	if (!c->n)
		return NULL;
	return bsearch(&want, c->ents, c->n, sizeof(*c->ents), cmp_fcent);
}

static void fcache_hit(struct fcache *c, const struct fcent *e)
{
	cg_grow(&c->hits, &c->caphits, c->nhits + 1, sizeof(*c->hits));
	c->hits[c->nhits++] = e;
}

static void fcache_add(struct fcache *c, const char *ref, const git_oid *tip,
		       const struct host *h, const struct skip *warns,
		       size_t nwarns)
{
	size_t at;
	uint32_t len;

	if (!c->path)
		return;
	put_u32(&c->out, (uint32_t)strlen(ref));
	cg_buf_add(&c->out, ref, strlen(ref));
	cg_buf_add(&c->out, tip->id, GIT_OID_RAWSZ);
	at = c->out.len;
	put_u32(&c->out, 0);
	fc_put_host(&c->out, h, warns, nwarns);
	len = (uint32_t)(c->out.len - at - 4);
	c->out.data[at] = (char)(len >> 24);
	c->out.data[at + 1] = (char)(len >> 16);
	c->out.data[at + 2] = (char)(len >> 8);
	c->out.data[at + 3] = (char)len;
	c->nout++;
}

/* Written through a buffer, hashed on the way. */
struct fcwriter {
	int fd;
	struct cg_sha256 sum;
	struct cg_buf b;
	bool failed;
};

static void fcw_add(struct fcwriter *w, const void *data, size_t len)
{
	cg_sha256_update(&w->sum, data, len);
	cg_buf_add(&w->b, data, len);
	if (w->b.len >= (1u << 16)) {
		if (!w->failed && cg_write_all(w->fd, w->b.data, w->b.len) < 0)
			w->failed = true;
		w->b.len = 0;
	}
}

/*
 * Put the new file in place when it differs from the old (an entry read
 * anew, or one gone), and release c. The old entries still true are
 * copied as they are, from the mapped file.
 */
static void fcache_close(struct fcache *c)
{
	unsigned char sum[CG_SHA256_LEN];
	size_t i, total = c->out.len;

	for (i = 0; i < c->nhits; i++)
		total += c->hits[i]->len + c->hits[i]->reflen + 8 +
			 GIT_OID_RAWSZ;
	if (c->path && (c->nout || c->nhits != c->n) && total < FCACHE_MAX) {
		struct fcwriter w = { 0 };
		struct cg_buf head = { 0 };
		struct cg_atomic a;

		cg_buf_addstr(&head, FCACHE_MAGIC);
		put_str(&head, c->key);
		put_u32(&head, (uint32_t)(c->nhits + c->nout));
		/* A cache lost to a power cut is rebuilt: no fsync. */
		if (cg_atomic_begin(&a, c->path, 0600, NULL) == 0) {
			a.no_sync = true;
			w.fd = a.fd;
			cg_sha256_init(&w.sum);
			fcw_add(&w, head.data, head.len);
			for (i = 0; i < c->nhits; i++) {
				const struct fcent *e = c->hits[i];

				fcw_add(&w, e->ref - 4,
					(size_t)(e->data + e->len -
						 (const unsigned char *)e->ref) +
						4);
			}
			fcw_add(&w, c->out.data, c->out.len);
			cg_sha256_final(&w.sum, sum);
			cg_buf_add(&w.b, sum, sizeof(sum));
			if (!w.failed &&
			    cg_write_all(w.fd, w.b.data, w.b.len) == 0)
				cg_atomic_commit(&a, NULL);
			else
				cg_atomic_abort(&a);
			cg_buf_release(&w.b);
		}
		cg_buf_release(&head);
	}
	cg_buf_release(&c->out);
	if (c->map)
		munmap(c->map, c->maplen);
	free(c->hits);
	free(c->ents);
	free(c->path);
	free(c->key);
	memset(c, 0, sizeof(*c));
}

static void read_host(struct fleet *f, const char *refname, const git_oid *tip)
{
	struct host h = { 0 };
	git_commit *c = NULL;
	char why[1200];
	size_t i, capreps = 0, nwarns = f->nwarns;
	const struct fcent *e0;

	h.ref = cg_xstrdup(refname);
	h.name = cg_xstrdup(refname + strlen("refs/heads/") + strlen(f->prefix));
	h.h = cg_xcalloc(f->history, sizeof(*h.h));
	e0 = f->cache ? fcache_find(f->cache, refname) : NULL;
	if (e0 && memcmp(e0->tip, tip->id, GIT_OID_RAWSZ) == 0) {
		if (fc_get_host(f, e0, &h) == 0) {
			fcache_hit(f->cache, e0);
			goto done;
		}
		/* Not as it was written: read from git. */
		host_release(&h);
		h.ref = cg_xstrdup(refname);
		h.name = cg_xstrdup(refname + strlen("refs/heads/") +
				    strlen(f->prefix));
		h.h = cg_xcalloc(f->history, sizeof(*h.h));
	}
	if (lookup_bounded(f, (git_object **)&c, tip, GIT_OBJECT_COMMIT,
			   MAX_COMMIT_BYTES, why, sizeof(why)) < 0) {
		add_skip(f, refname, "%s", why);
		goto fail;
	}
	while (c && h.nh < f->history) {
		struct hist *e = &h.h[h.nh];
		char digest[65] = "", dropped[24];
		const char *msg = git_commit_message(c);
		git_commit *parent = NULL;

		e->time = git_commit_time(c);
		git_oid_tostr(e->oid, sizeof(e->oid), git_commit_id(c));
		e->heartbeat = msg && cg_str_starts(msg, "heartbeat ");
		e->rep = -1;
		if (f->host_keys)
			verify_report(f, &h, c, e);
		if (msg &&
		    cg_report_trailer(msg, "Congruent-State", digest,
				      sizeof(digest)) &&
		    is_hex(digest, 64)) {
			for (i = 0; i < h.nreps; i++)
				if (strcmp(h.reps[i].digest, digest) == 0)
					e->rep = (int)i;
		}
		/* Within the history read: a heartbeat is no reason to forget. */
		if (msg && cg_report_trailer(msg, "Congruent-Dropped", dropped,
					     sizeof(dropped))) {
			unsigned n;

			if (parse_dropped(dropped, &n))
				h.dropped += n;
			else
				add_warn(f, refname, "commit %.12s: ignored "
						     "a Congruent-Dropped "
						     "trailer that is not a "
						     "count: \"%s\"",
					 e->oid, dropped);
		}
		if (e->rep < 0) {
			struct report r = { 0 };

			f->keep_changes = h.nh == 0;
			if (read_report(f, c, &r, why, sizeof(why)) == 0) {
				memcpy(r.digest, digest, sizeof(r.digest));
				cg_grow(&h.reps, &capreps, h.nreps + 1,
					sizeof(*h.reps));
				e->rep = (int)h.nreps;
				h.reps[h.nreps++] = r;
			} else if (h.nh == 0) {
				add_skip(f, refname, "%s (commit %.12s)", why,
					 e->oid);
				goto fail;
			}
		}
		h.nh++;
		if (git_commit_parentcount(c) == 0) {
			git_commit_free(c);
			c = NULL;
			break;
		}
		if (lookup_bounded(f, (git_object **)&parent,
				   git_commit_parent_id(c, 0), GIT_OBJECT_COMMIT,
				   MAX_COMMIT_BYTES, why, sizeof(why)) < 0) {
			/* History ends here; "more" says it went on. */
			add_warn(f, refname, "history read up to commit %.12s: "
					     "its parent: %s",
				 e->oid, why);
			break;
		}
		git_commit_free(c);
		c = parent;
	}
	h.more = c != NULL;
	git_commit_free(c);
	c = NULL;
	if (f->cache)
		fcache_add(f->cache, refname, tip, &h, f->warns + nwarns,
			   f->nwarns - nwarns);
done:
	{
		const struct report *top = &h.reps[h.h[0].rep];

		h.state = top->state;
		for (i = 0; i < h.nh && h.h[i].rep >= 0 &&
			    h.reps[h.h[i].rep].state == top->state;
		     i++)
			h.since = h.h[i].time;
		h.since_before = i == h.nh && h.more;
		if (f->now - h.h[0].time > f->stale_after)
			h.state = ST_STALE;
	}
	host_resources(&h);
	f->count[h.state]++;
	if (h.unverified)
		f->unverified++;
	cg_grow(&f->hosts, &f->cap, f->n + 1, sizeof(*f->hosts));
	f->hosts[f->n++] = h;
	return;
fail:
	git_commit_free(c);
	host_release(&h);
}

static int cmp_host(const void *a, const void *b)
{
	const struct host *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static int fleet_read(struct fleet *f, struct cg_error *err)
{
	git_reference_iterator *it = NULL;
	git_reference *ref;
	char *base = cg_xasprintf("refs/heads/%s", f->prefix);
	size_t blen = strlen(base);
	int rc;

	rc = git_reference_iterator_new(&it, f->repo);
	if (rc < 0) {
		free(base);
		return cg_git_error(err, "cannot list the refs of %s", f->source);
	}
	while ((rc = git_reference_next(&ref, it)) == 0) {
		const char *name = git_reference_name(ref);

		if (strncmp(name, base, blen) == 0) {
			if (!name[blen])
				add_skip(f, name, "no host name after the prefix");
			else if (git_reference_type(ref) != GIT_REFERENCE_DIRECT)
				add_skip(f, name, "a symbolic ref");
			else
				read_host(f, name, git_reference_target(ref));
		}
		git_reference_free(ref);
	}
	git_reference_iterator_free(it);
	free(base);
	if (rc != GIT_ITEROVER)
		return cg_git_error(err, "cannot list the refs of %s", f->source);
	if (f->n)
		qsort(f->hosts, f->n, sizeof(*f->hosts), cmp_host);
	return 0;
}

/* --- fingerprints ---------------------------------------------------- */

struct group {
	const char *fp; /* borrowed */
	size_t *hosts;  /* owned: indexes */
	size_t n;
};

struct fpidx {
	const char *fp; /* borrowed */
	size_t i;
};

static int cmp_fpidx(const void *a, const void *b)
{
	const struct fpidx *x = a, *y = b;
	int c = strcmp(x->fp, y->fp);

	return c ? c : (x->i < y->i ? -1 : x->i > y->i);
}

static int cmp_group(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->fp, y->fp);
}

/* Hosts grouped by the fingerprint of their last report, largest first. */
static struct group *fleet_groups(const struct fleet *f, size_t *n_out)
{
	size_t *idx = cg_xcalloc(f->n + 1, sizeof(*idx));
	struct group *g = NULL;
	size_t i, n = 0, cap = 0;

	struct fpidx *fi = cg_xcalloc(f->n + 1, sizeof(*fi));

	for (i = 0; i < f->n; i++) {
		const struct host *h = &f->hosts[i];

		fi[i].fp = h->reps[h->h[0].rep].fingerprint;
		fi[i].i = i;
	}
	qsort(fi, f->n, sizeof(*fi), cmp_fpidx);
	for (i = 0; i < f->n; i++)
		idx[i] = fi[i].i;
	free(fi);
	for (i = 0; i < f->n; i++) {
		const struct host *h = &f->hosts[idx[i]];
		const char *fp = h->reps[h->h[0].rep].fingerprint;

		if (!n || strcmp(g[n - 1].fp, fp) != 0) {
			cg_grow(&g, &cap, n + 1, sizeof(*g));
			g[n].fp = fp;
			g[n].hosts = idx + i;
			g[n].n = 0;
			n++;
		}
		g[n - 1].n++;
	}
	/* Groups point into idx; the first group owns it. */
	if (n)
		qsort(g, n, sizeof(*g), cmp_group);
	else
		free(idx);
	*n_out = n;
	return g;
}

static void groups_free(struct group *g, size_t n)
{
	size_t i, *lowest = NULL;

	for (i = 0; i < n; i++)
		if (!lowest || g[i].hosts < lowest)
			lowest = g[i].hosts;
	free(lowest);
	free(g);
}

/* --- text ------------------------------------------------------------ */

/* A name from a report, made safe for a terminal. */
static void put_safe(FILE *out, const char *s, int width)
{
	int n = 0;

	for (; *s; s++, n++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
	for (; n < width; n++)
		fputc(' ', out);
}

static const char *policy_of(const struct host *h)
{
	const char *c = h->reps[h->h[0].rep].commit;

	return c ? c : "-";
}

/*
 * The refusals of other commits in the host's history, newest first, up
 * to the last report that refused nothing: each commit once.
 */
static size_t earlier_refusals(const struct host *h, size_t *out, size_t max)
{
	size_t i, k, n = 0;

	for (i = 1; i < h->nh && n < max; i++) {
		const struct report *r;
		bool seen = false;

		if (h->h[i].rep < 0)
			continue;
		r = &h->reps[h->h[i].rep];
		if (!r->refused)
			break;
		if (strcmp(r->refused, h->reps[h->h[0].rep].refused
					       ? h->reps[h->h[0].rep].refused
					       : "") == 0)
			continue;
		for (k = 0; k < n; k++)
			if (strcmp(h->reps[h->h[out[k]].rep].refused,
				   r->refused) == 0)
				seen = true;
		if (!seen)
			out[n++] = i;
	}
	return n;
}

/* Why a host is not congruent, under its line: what the report says. */
static void text_source(const struct host *h, FILE *out)
{
	const struct report *r = &h->reps[h->h[0].rep];
	size_t idx[8], n, i;
	char when[32];

	if (r->refused) {
		fprintf(out, "    refused commit %.12s (", r->refused);
		put_safe(out, r->refusal ? r->refusal : "refused", 0);
		fprintf(out, "): ");
		put_safe(out, r->reason ? r->reason : "", 0);
		fputc('\n', out);
		if (r->source_hint) {
			fprintf(out, "      hint: ");
			put_safe(out, r->source_hint, 0);
			fputc('\n', out);
		}
		n = earlier_refusals(h, idx, 8);
		for (i = 0; i < n; i++) {
			const struct report *e = &h->reps[h->h[idx[i]].rep];

			cg_time_iso(when, h->h[idx[i]].time);
			fprintf(out, "    earlier, refused commit %.12s (", e->refused);
			put_safe(out, e->refusal ? e->refusal : "refused", 0);
			fprintf(out, ") at %s\n", when);
		}
	}
	if (r->stale_source) {
		fprintf(out, "    stale source: last fetched ");
		put_safe(out, r->fetched ? r->fetched : "never", 0);
		fprintf(out, ": ");
		put_safe(out, r->reason ? r->reason : "", 0);
		fputc('\n', out);
		if (r->source_hint) {
			fprintf(out, "      hint: ");
			put_safe(out, r->source_hint, 0);
			fputc('\n', out);
		}
	}
}

/* A value as text shows it: a content hash by its first 12 digits. */
static void put_value(FILE *out, const char *v)
{
	if (!v) {
		fprintf(out, "(absent)");
		return;
	}
	if (cg_str_starts(v, "sha256:") && strlen(v) > 7 + 12)
		fprintf(out, "sha256:%.12s", v + 7);
	else
		put_safe(out, v, 0);
}

/* What differed, a line per field: "mode 0600 -> 0644". */
static void text_changes(FILE *out, const struct hres *x)
{
	uint32_t k;

	for (k = 0; k < x->nchg; k++) {
		fprintf(out, "      ");
		put_safe(out, x->chg[k].field, 0);
		fputc(' ', out);
		put_value(out, x->chg[k].from);
		fprintf(out, " -> ");
		put_value(out, x->chg[k].to);
		fputc('\n', out);
	}
}

/* What a report that changed nothing was: plan, or a run in audit mode. */
static const char *report_kind(const struct report *r)
{
	if (r->plan)
		return "plan";
	return r->audit_mode ? "audit" : NULL;
}

static void fleet_text(const struct fleet *f, FILE *out)
{
	struct group *g;
	size_t i, k, ng, nextra = 0, norphans = 0;
	char when[32], since[32];

	fprintf(out, "%-24s %-12s %-12s %-20s %s\n", "HOST", "STATE", "POLICY",
		"LAST REPORT", "SINCE");
	for (i = 0; i < f->n; i++) {
		const struct host *h = &f->hosts[i];

		cg_time_iso(when, h->h[0].time);
		cg_time_iso(since, h->since);
		put_safe(out, h->name, 24);
		fprintf(out, " %-12s %-12.12s %-20s %s%s\n",
			state_names[h->state], policy_of(h), when,
			h->since_before ? "before " : "", since);
		if (report_kind(&h->reps[h->h[0].rep]))
			fprintf(out, "    last report: %s (nothing was "
				     "changed)\n",
				h->reps[h->h[0].rep].plan
					? "plan"
					: "run in mode: audit");
		for (k = 0; k < h->nres; k++) {
			const struct hres *x = &h->res[k];

			if (x->st[0] == RS_OK)
				continue;
			cg_time_iso(since, x->since);
			fprintf(out, "    ");
			put_safe(out, x->id, 0);
			fprintf(out, "  %s%s since %s%s\n",
				rstatus_names[x->st[0]],
				x->audit ? " (audit: not changed)" : "",
				x->before ? "before " : "", since);
			text_changes(out, x);
			if (x->msg) {
				fprintf(out, "      error: ");
				put_safe(out, x->msg, 0);
				fputc('\n', out);
			}
			if (x->hint) {
				fprintf(out, "      hint: ");
				put_safe(out, x->hint, 0);
				fputc('\n', out);
			}
		}
		text_source(h, out);
		if (h->unverified) {
			fprintf(out, "    UNVERIFIED report: ");
			put_safe(out, h->unverified_why, 0);
			fputc('\n', out);
		}
		if (h->unverified_older)
			fprintf(out, "    %zu older report%s in its history "
				     "unverified\n",
				h->unverified_older,
				h->unverified_older == 1 ? "" : "s");
		if (h->dropped)
			fprintf(out, "    (%u reports dropped by the host's "
				     "full queue)\n",
				h->dropped);
		if (h->reps[h->h[0].rep].extra) {
			fprintf(out, "    %" PRId64 " extra (in managed "
				     "resources, not in the policy, owner "
				     "unknown)\n",
				h->reps[h->h[0].rep].extra);
			nextra++;
		}
		if (h->reps[h->h[0].rep].orphans) {
			fprintf(out, "    %" PRId64 " orphan%s (in its ledger, "
				     "no longer in its policy)\n",
				h->reps[h->h[0].rep].orphans,
				h->reps[h->h[0].rep].orphans == 1 ? "" : "s");
			norphans++;
		}
	}
	fprintf(out, "\n%zu host%s: %zu congruent, %zu rolled out, %zu drifted, "
		     "%zu repaired, %zu failed, %zu refused, %zu stale source, "
		     "%zu stale",
		f->n, f->n == 1 ? "" : "s", f->count[ST_CONGRUENT],
		f->count[ST_ROLLED_OUT], f->count[ST_DRIFTED], f->count[ST_REPAIRED], f->count[ST_FAILED],
		f->count[ST_REFUSED], f->count[ST_STALE_SOURCE],
		f->count[ST_STALE]);
	if (f->nskips)
		fprintf(out, "; %zu ref%s skipped", f->nskips,
			f->nskips == 1 ? "" : "s");
	if (f->host_keys)
		fprintf(out, "; %zu unverified", f->unverified);
	if (nextra)
		fprintf(out, "; %zu with extra", nextra);
	if (norphans)
		fprintf(out, "; %zu with orphans", norphans);
	fprintf(out, "\n");
	g = fleet_groups(f, &ng);
	if (ng)
		fprintf(out, "\nby fingerprint (hosts whose managed state is "
			     "identical):\n");
	for (i = 0; i < ng; i++) {
		fprintf(out, "  %.12s  %zu host%s:", g[i].fp, g[i].n,
			g[i].n == 1 ? "" : "s");
		for (k = 0; k < g[i].n && k < 8; k++) {
			fputc(' ', out);
			put_safe(out, f->hosts[g[i].hosts[k]].name, 0);
		}
		if (g[i].n > 8)
			fprintf(out, " ...");
		fputc('\n', out);
	}
	groups_free(g, ng);
}

/* --- JSON ------------------------------------------------------------ */

/* "refused" and "source" of a host's last report, when they say something. */
static void json_source(struct cg_json *j, const struct host *h)
{
	const struct report *r = &h->reps[h->h[0].rep];
	size_t idx[8], n, i;
	char when[32];

	if (r->refused) {
		cg_json_key(j, "refused");
		cg_json_obj_begin(j);
		cg_json_kstr(j, "commit", r->refused);
		cg_json_kstr(j, "refusal", r->refusal ? r->refusal : "refused");
		cg_json_kstr(j, "reason", r->reason);
		if (r->source_hint)
			cg_json_kstr(j, "hint", r->source_hint);
		cg_json_key(j, "earlier");
		cg_json_arr_begin(j);
		n = earlier_refusals(h, idx, 8);
		for (i = 0; i < n; i++) {
			const struct report *e = &h->reps[h->h[idx[i]].rep];

			cg_json_obj_begin(j);
			cg_json_kstr(j, "commit", e->refused);
			cg_json_kstr(j, "refusal",
				     e->refusal ? e->refusal : "refused");
			cg_time_iso(when, h->h[idx[i]].time);
			cg_json_kstr(j, "time", when);
			cg_json_obj_end(j);
		}
		cg_json_arr_end(j);
		cg_json_obj_end(j);
	}
	if (r->stale_source) {
		cg_json_key(j, "stale_source");
		cg_json_obj_begin(j);
		cg_json_kstr(j, "last_fetched", r->fetched);
		cg_json_kstr(j, "reason", r->reason);
		if (r->source_hint)
			cg_json_kstr(j, "hint", r->source_hint);
		cg_json_obj_end(j);
	}
}

static void fleet_json(const struct fleet *f, FILE *out)
{
	struct cg_buf buf = { 0 };
	struct cg_json j;
	struct group *g;
	char when[32];
	size_t i, k, m, ng;

	cg_json_init_file(&j, &buf, out, true);
	cg_json_obj_begin(&j);
	cg_json_kint(&j, "schema_version", CG_JSON_SCHEMA_VERSION);
	cg_time_iso(when, f->now);
	cg_json_kstr(&j, "generated", when);
	cg_json_kstr(&j, "reports", f->source);
	cg_json_kint(&j, "stale_after_hours", f->stale_after / 3600);
	cg_json_key(&j, "summary");
	cg_json_obj_begin(&j);
	cg_json_kint(&j, "hosts", (int64_t)f->n);
	for (i = 0; i < ST_N; i++)
		cg_json_kint(&j, state_words[i], (int64_t)f->count[i]);
	cg_json_kint(&j, "skipped_refs", (int64_t)f->nskips);
	if (f->host_keys)
		cg_json_kint(&j, "unverified", (int64_t)f->unverified);
	cg_json_obj_end(&j);
	cg_json_key(&j, "hosts");
	cg_json_arr_begin(&j);
	for (i = 0; i < f->n; i++) {
		const struct host *h = &f->hosts[i];
		const struct report *r = &h->reps[h->h[0].rep];

		cg_json_obj_begin(&j);
		cg_json_kstr(&j, "host", h->name);
		cg_json_kstr(&j, "ref", h->ref);
		cg_json_kstr(&j, "state", state_words[h->state]);
		cg_json_kstr(&j, "last_state", state_words[r->state]);
		cg_time_iso(when, h->since);
		cg_json_kstr(&j, "state_since", when);
		cg_json_kbool(&j, "state_since_before", h->since_before);
		cg_json_kstr(&j, "policy_commit", r->commit);
		cg_time_iso(when, h->h[0].time);
		cg_json_kstr(&j, "last_report", when);
		cg_json_kstr(&j, "run_time", r->time);
		cg_json_kint(&j, "exit_status", r->exit_status);
		cg_json_kstr(&j, "agent_version", r->agent_version);
		cg_json_kstr(&j, "fingerprint", r->fingerprint);
		cg_json_kstr(&j, "report_commit", h->h[0].oid);
		if (f->host_keys) {
			cg_json_kstr(&j, "signature", h->unverified
							      ? "unverified"
							      : "verified");
			if (h->unverified)
				cg_json_kstr(&j, "signature_error",
					     h->unverified_why);
			cg_json_kint(&j, "unverified_older",
				     (int64_t)h->unverified_older);
		}
		cg_json_kint(&j, "dropped_reports", h->dropped);
		cg_json_kint(&j, "extra", r->extra);
		cg_json_kint(&j, "orphans", r->orphans);
		cg_json_kstr(&j, "change", r->change);
		cg_json_kstr(&j, "last_command", r->plan ? "plan" : "run");
		cg_json_kstr(&j, "mode", r->audit_mode ? "audit" : "enforce");
		json_source(&j, h);
		cg_json_key(&j, "resources");
		cg_json_arr_begin(&j);
		for (k = 0; k < h->nres; k++) {
			const struct hres *x = &h->res[k];

			cg_json_obj_begin(&j);
			cg_json_kstr(&j, "id", x->id);
			cg_json_kstr(&j, "status", rstatus_names[x->st[0]]);
			if (x->st[0] != RS_OK) {
				cg_time_iso(when, x->since);
				cg_json_kstr(&j, "since", when);
				cg_json_kbool(&j, "since_before", x->before);
			}
			if (x->msg)
				cg_json_kstr(&j, "message", x->msg);
			if (x->hint)
				cg_json_kstr(&j, "hint", x->hint);
			if (x->st[0] != RS_OK) {
				uint32_t c;

				cg_json_kbool(&j, "audit", x->audit);
				cg_json_key(&j, "changes");
				cg_json_arr_begin(&j);
				for (c = 0; c < x->nchg; c++) {
					cg_json_obj_begin(&j);
					cg_json_kstr(&j, "field", x->chg[c].field);
					cg_json_kstr(&j, "from", x->chg[c].from);
					cg_json_kstr(&j, "to", x->chg[c].to);
					if (x->chg[c].secret)
						cg_json_kbool(&j, "secret", true);
					cg_json_obj_end(&j);
				}
				cg_json_arr_end(&j);
			}
			cg_json_key(&j, "history");
			cg_json_arr_begin(&j);
			for (m = 0; m < h->nh; m++)
				cg_json_str(&j, rstatus_names[x->st[m]]);
			cg_json_arr_end(&j);
			cg_json_obj_end(&j);
		}
		cg_json_arr_end(&j);
		cg_json_key(&j, "history");
		cg_json_arr_begin(&j);
		for (m = 0; m < h->nh; m++) {
			cg_json_obj_begin(&j);
			cg_time_iso(when, h->h[m].time);
			cg_json_kstr(&j, "time", when);
			cg_json_kstr(&j, "commit", h->h[m].oid);
			cg_json_kstr(&j, "state",
				     h->h[m].rep < 0
					     ? "unknown"
					     : state_words[h->reps[h->h[m].rep]
								   .state]);
			if (h->h[m].rep >= 0 && h->reps[h->h[m].rep].refused)
				cg_json_kstr(&j, "refused_commit",
					     h->reps[h->h[m].rep].refused);
			cg_json_kbool(&j, "heartbeat", h->h[m].heartbeat);
			if (f->host_keys) {
				cg_json_kbool(&j, "verified",
					      !h->h[m].unverified);
				cg_json_kbool(&j, "compacted",
					      h->h[m].compacted);
			}
			cg_json_obj_end(&j);
		}
		cg_json_arr_end(&j);
		cg_json_obj_end(&j);
	}
	cg_json_arr_end(&j);
	g = fleet_groups(f, &ng);
	cg_json_key(&j, "fingerprints");
	cg_json_arr_begin(&j);
	for (i = 0; i < ng; i++) {
		cg_json_obj_begin(&j);
		cg_json_kstr(&j, "fingerprint", g[i].fp);
		cg_json_kint(&j, "count", (int64_t)g[i].n);
		cg_json_key(&j, "hosts");
		cg_json_arr_begin(&j);
		for (k = 0; k < g[i].n; k++)
			cg_json_str(&j, f->hosts[g[i].hosts[k]].name);
		cg_json_arr_end(&j);
		cg_json_obj_end(&j);
	}
	cg_json_arr_end(&j);
	groups_free(g, ng);
	cg_json_key(&j, "skipped");
	cg_json_arr_begin(&j);
	for (i = 0; i < f->nskips; i++) {
		cg_json_obj_begin(&j);
		cg_json_kstr(&j, "ref", f->skips[i].ref);
		cg_json_kstr(&j, "reason", f->skips[i].why);
		cg_json_obj_end(&j);
	}
	cg_json_arr_end(&j);
	cg_json_key(&j, "warnings");
	cg_json_arr_begin(&j);
	for (i = 0; i < f->nwarns; i++) {
		cg_json_obj_begin(&j);
		cg_json_kstr(&j, "ref", f->warns[i].ref);
		cg_json_kstr(&j, "warning", f->warns[i].why);
		cg_json_obj_end(&j);
	}
	cg_json_arr_end(&j);
	cg_json_obj_end(&j);
	cg_buf_addch(&buf, '\n');
	cg_json_flush(&j);
	cg_buf_release(&buf);
}

/* --- HTML ------------------------------------------------------------ */

/* Text for HTML content and quoted attributes; bytes < 0x20 become '?'. */
static void esc(FILE *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", out);
			break;
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		case '\'':
			fputs("&#39;", out);
			break;
		default:
			fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s,
			      out);
		}
	}
}

static const char css[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;"
	"max-width:100%;overflow-wrap:anywhere}"
	"h1{font-size:1.4em}h2{font-size:1.1em;margin-top:2em}"
	"table{border-collapse:collapse;width:100%;table-layout:fixed}"
	"th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;"
	"vertical-align:top;overflow-wrap:anywhere}"
	"th{background:#f4f4f4;position:sticky;top:0}"
	"col.name{width:14%}col.st{width:9%}col.time{width:11%}"
	"col.pol{width:8%}col.num{width:6.5em}"
	".cards span{display:inline-block;margin:0 1em 1em 0;padding:.5em 1em;"
	"border-radius:4px;color:#fff;font-weight:bold}"
	".congruent{background:#2e7d32}.drifted{background:#f9a825}"
	".repaired{background:#1565c0}.failed{background:#c62828}"
	".stale{background:#757575}.skipped{background:#6a1b9a}"
	".unverified{background:#b71c1c;color:#fff;padding:0 .3em}"
	".rolled_out{background:#00838f}.refused{background:#ad1457}.stale_source{background:#5d4037}"
	"td.why p{margin:0 0 .3em}"
	".hint{color:#555;font-style:italic}"
	".ok{background:#c8e6c9}.unknown{background:#eee}"
	"td.state{color:#fff;font-weight:bold}"
	"code.hist{letter-spacing:1px;background:#f4f4f4}"
	"dl.legend{display:grid;grid-template-columns:max-content 1fr;"
	"gap:.2em 1em}dl.legend dt{padding:0 .5em;color:#fff;border-radius:3px}"
	"dl.legend dd{margin:0}"
	"details.res p{margin:.2em 0}summary{cursor:pointer}"
	"code{font-size:12px}";

/* One letter per status: a history in a few bytes, at 10,000 hosts. */
static const char hist_letter[] = { '.', 'd', 'R', 'F', 's', '?' };

static void html_hist(FILE *out, const struct host *h, const struct hres *x)
{
	char first[32], last[32];
	size_t m;

	/* Oldest on the left, as a timeline reads. */
	cg_time_iso(first, h->h[h->nh - 1].time);
	cg_time_iso(last, h->h[0].time);
	fprintf(out, "<code class=\"hist\" title=\"%s to %s\">", first, last);
	for (m = h->nh; m-- > 0;)
		fputc(hist_letter[x->st[m]], out);
	fprintf(out, "</code>");
}

static void html_hint(FILE *out, const char *hint)
{
	if (!hint)
		return;
	fprintf(out, " <span class=\"hint\">hint: ");
	esc(out, hint);
	fprintf(out, "</span>");
}

/* Each failed resource's error and hint, a refusal, a stale source. */
static void html_why(FILE *out, const struct host *h)
{
	const struct report *r = &h->reps[h->h[0].rep];
	size_t k, idx[8], n;
	char when[32];

	fprintf(out, "<td class=\"why\">");
	if (report_kind(r))
		fprintf(out, "<p class=\"kind\">last report: %s (nothing "
			     "was changed)</p>",
			r->plan ? "plan" : "run in mode: audit");
	for (k = 0; k < h->nres; k++) {
		const struct hres *x = &h->res[k];
		uint32_t c;

		if (x->st[0] == RS_OK || !x->nchg)
			continue;
		fprintf(out, "<p class=\"changes\"><code>");
		esc(out, x->id);
		fprintf(out, "</code> %s%s:", rstatus_names[x->st[0]],
			x->audit ? " (audit: not changed)" : "");
		for (c = 0; c < x->nchg; c++) {
			fprintf(out, "<br>");
			esc(out, x->chg[c].field);
			fprintf(out, " <code>");
			esc(out, x->chg[c].from ? x->chg[c].from : "(absent)");
			fprintf(out, "</code> &rarr; <code>");
			esc(out, x->chg[c].to ? x->chg[c].to : "(absent)");
			fprintf(out, "</code>");
		}
		fprintf(out, "</p>");
	}
	for (k = 0; k < h->nres; k++) {
		const struct hres *x = &h->res[k];

		if (x->st[0] == RS_OK || !x->msg)
			continue;
		fprintf(out, "<p><code>");
		esc(out, x->id);
		fprintf(out, "</code>: ");
		esc(out, x->msg);
		html_hint(out, x->hint);
		fprintf(out, "</p>");
	}
	if (r->refused) {
		fprintf(out, "<p class=\"refusal\">refused commit <code>%.12s</code> (",
			r->refused);
		esc(out, r->refusal ? r->refusal : "refused");
		fprintf(out, "): ");
		esc(out, r->reason ? r->reason : "");
		html_hint(out, r->source_hint);
		fprintf(out, "</p>");
		n = earlier_refusals(h, idx, 8);
		for (k = 0; k < n; k++) {
			const struct report *e = &h->reps[h->h[idx[k]].rep];

			cg_time_iso(when, h->h[idx[k]].time);
			fprintf(out, "<p>earlier, refused commit <code>%.12s</code> (",
				e->refused);
			esc(out, e->refusal ? e->refusal : "refused");
			fprintf(out, ") at %s</p>", when);
		}
	}
	if (r->stale_source) {
		fprintf(out, "<p class=\"stale-source\">stale source: last "
			     "fetched ");
		esc(out, r->fetched ? r->fetched : "never");
		fprintf(out, ": ");
		esc(out, r->reason ? r->reason : "");
		html_hint(out, r->source_hint);
		fprintf(out, "</p>");
	}
	/* Each resource's history on demand: hundreds would not fit. */
	if (h->nres) {
		fprintf(out, "<details class=\"res\"><summary>%zu resource%s "
			     "not ok in the last %zu reports</summary>",
			h->nres, h->nres == 1 ? "" : "s", h->nh);
		for (k = 0; k < h->nres; k++) {
			fprintf(out, "<p>");
			html_hist(out, h, &h->res[k]);
			fprintf(out, " <code>");
			esc(out, h->res[k].id);
			fprintf(out, "</code> %s</p>", rstatus_names[h->res[k].st[0]]);
		}
		fprintf(out, "</details>");
	}
	fprintf(out, "</td>");
}

/* What each colour says: the page's legend. */
static void html_legend(FILE *out)
{
	static const char *const what[] = {
		"its last report changed nothing",
		"its last run applied a new policy commit",
		"found drifted by plan or audit, not changed",
		"drift repaired, on the same policy commit",
		"a resource failed or was skipped",
		"a new policy commit was refused",
		"could not fetch its policy: enforces the last good commit",
		"no report for longer than the stale limit",
	};
	static const char *const marks[] = { "ok", "drifted", "repaired",
					     "failed", "skipped", "unknown" };
	size_t i;

	fprintf(out, "<h2>Legend</h2>\n<dl class=\"legend\" id=\"legend\">");
	for (i = 0; i < ST_N; i++)
		fprintf(out, "<dt class=\"%s\">%s</dt><dd>%s</dd>",
			state_words[i], state_names[i], what[i]);
	fprintf(out, "</dl>\n<p>A resource's history: one letter per report, "
		     "oldest on the left:");
	for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		fprintf(out, " <code class=\"hist\">%c</code> %s",
			hist_letter[i], marks[i]);
	fprintf(out, " (unknown: that report could not be read).</p>\n");
}

struct resrow {
	const char *id; /* borrowed */
	size_t host;
	uint8_t st;
};

static int cmp_resrow(const void *a, const void *b)
{
	const struct resrow *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	return c ? c : (x->host < y->host ? -1 : x->host > y->host);
}

struct resgroup {
	size_t first, n;  /* rows[first .. first+n) */
	size_t count[RS_UNKNOWN + 1];
};

static int cmp_resgroup(const void *a, const void *b)
{
	const struct resgroup *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return x->first < y->first ? -1 : x->first > y->first;
}

#define HTML_NAMES 100 /* host names listed under a resource */

/*
 * The resources not ok in the hosts' last reports, one row each with how
 * many hosts have it in each status, most hosts first; the names on
 * demand (a closed <details>).
 */
static void html_resources(const struct fleet *f, FILE *out)
{
	static const int cols[] = { RS_FAILED, RS_DRIFTED, RS_REPAIRED,
				    RS_SKIPPED };
	struct resrow *rows = NULL;
	struct resgroup *g = NULL;
	size_t n = 0, cap = 0, ng = 0, capg = 0, i, k;

	for (i = 0; i < f->n; i++)
		for (k = 0; k < f->hosts[i].nres; k++) {
			const struct hres *x = &f->hosts[i].res[k];

			if (x->st[0] == RS_OK)
				continue;
			cg_grow(&rows, &cap, n + 1, sizeof(*rows));
			rows[n].id = x->id;
			rows[n].host = i;
			rows[n++].st = x->st[0];
		}
	if (n)
		qsort(rows, n, sizeof(*rows), cmp_resrow);
	for (i = 0; i < n; i++) {
		if (!ng || strcmp(rows[g[ng - 1].first].id, rows[i].id) != 0) {
			cg_grow(&g, &capg, ng + 1, sizeof(*g));
			memset(&g[ng], 0, sizeof(g[ng]));
			g[ng++].first = i;
		}
		g[ng - 1].n++;
		g[ng - 1].count[rows[i].st]++;
	}
	if (ng)
		qsort(g, ng, sizeof(*g), cmp_resgroup);
	fprintf(out, "<h2>Resources not ok (%zu)</h2>\n", ng);
	if (!ng)
		fprintf(out, "<p>Every host's resources are ok.</p>\n");
	else
		fprintf(out, "<table id=\"resources\"><colgroup><col>"
			     "<col class=\"num\"><col class=\"num\">"
			     "<col class=\"num\"><col class=\"num\">"
			     "<col class=\"num\"></colgroup><thead><tr>"
			     "<th>resource</th><th>hosts</th><th>failed</th>"
			     "<th>drifted</th><th>repaired</th><th>skipped</th>"
			     "</tr></thead><tbody>\n");
	for (i = 0; i < ng; i++) {
		fprintf(out, "<tr><td><details class=\"res\"><summary><code>");
		esc(out, rows[g[i].first].id);
		fprintf(out, "</code></summary><p>");
		for (k = 0; k < g[i].n && k < HTML_NAMES; k++) {
			const struct resrow *r = &rows[g[i].first + k];

			esc(out, f->hosts[r->host].name);
			fprintf(out, " <code class=\"hist\">%c</code> ",
				hist_letter[r->st]);
		}
		if (g[i].n > HTML_NAMES)
			fprintf(out, "&hellip; and %zu more", g[i].n - HTML_NAMES);
		fprintf(out, "</p></details></td><td>%zu</td>", g[i].n);
		for (k = 0; k < sizeof(cols) / sizeof(cols[0]); k++)
			fprintf(out, "<td>%zu</td>", g[i].count[cols[k]]);
		fprintf(out, "</tr>\n");
	}
	if (ng)
		fprintf(out, "</tbody></table>\n");
	free(g);
	free(rows);
}

/* Hosts worst first, then by name (f->hosts is by name). */
static int cmp_host_state(const void *a, const void *b)
{
	const struct host *x = *(const struct host *const *)a;
	const struct host *y = *(const struct host *const *)b;

	if (x->state != y->state)
		return x->state > y->state ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The refs skipped, or the hosts' warnings: a titled list, when any. */
static void html_skips(FILE *out, const char *title, const char *id,
		       const struct skip *v, size_t n)
{
	size_t i;

	if (!n)
		return;
	fprintf(out, "<h2>%s</h2>\n<ul id=\"%s\">", title, id);
	for (i = 0; i < n; i++) {
		fprintf(out, "<li><code>");
		esc(out, v[i].ref);
		fprintf(out, "</code>: ");
		esc(out, v[i].why);
		fprintf(out, "</li>\n");
	}
	fprintf(out, "</ul>\n");
}

static void fleet_html(const struct fleet *f, FILE *out)
{
	const struct host **order;
	size_t i, k, ng;
	struct group *g;
	char when[32], since[32], short_commit[13];

	cg_time_iso(when, f->now);
	fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
		     "<meta charset=\"utf-8\"><meta name=\"viewport\" "
		     "content=\"width=device-width\">"
		     "<title>congruent fleet</title>"
		     "<style>%s</style></head><body>\n<h1>congruent fleet: ",
		css);
	esc(out, f->source);
	fprintf(out, "</h1>\n<p>%zu hosts, generated %s; stale after %" PRId64
		     " hours without a report.</p>\n<div class=\"cards\">",
		f->n, when, f->stale_after / 3600);
	for (i = 0; i < ST_N; i++)
		fprintf(out, "<span class=\"%s\" id=\"count-%s\">%zu %s</span>",
			state_words[i], state_words[i], f->count[i],
			state_names[i]);
	if (f->nskips)
		fprintf(out, "<span class=\"skipped\" id=\"count-skipped\">%zu "
			     "skipped</span>",
			f->nskips);
	if (f->host_keys)
		fprintf(out, "<span class=\"unverified\" "
			     "id=\"count-unverified\">%zu unverified</span>",
			f->unverified);
	fprintf(out, "</div>\n");
	html_legend(out);
	html_resources(f, out);
	/* Worst first: what needs a look is at the top. */
	order = cg_xcalloc(f->n + 1, sizeof(*order));
	for (i = 0; i < f->n; i++)
		order[i] = &f->hosts[i];
	qsort(order, f->n, sizeof(*order), cmp_host_state);
	fprintf(out, "<h2>Hosts (worst first)</h2>\n"
		     "<table id=\"hosts\"><colgroup><col class=\"name\">"
		     "<col class=\"st\"><col class=\"time\"><col class=\"pol\">"
		     "<col class=\"time\"><col></colgroup>"
		     "<thead><tr><th>host</th><th>state</th>"
		     "<th>since</th><th>policy</th><th>last report</th>"
		     "<th>why, and resources</th></tr></thead><tbody>\n");
	for (i = 0; i < f->n; i++) {
		const struct host *h = order[i];

		fprintf(out, "<tr data-host=\"");
		esc(out, h->name);
		fprintf(out, "\"><td>");
		esc(out, h->name);
		cg_time_iso(when, h->h[0].time);
		cg_time_iso(since, h->since);
		fprintf(out, "</td><td class=\"state %s\">%s",
			state_words[h->state], state_names[h->state]);
		if (h->unverified) {
			fprintf(out, " <span class=\"unverified\" title=\"");
			esc(out, h->unverified_why);
			fprintf(out, "\">unverified</span>");
		}
		/* A report's commit is what a host wrote: escaped too. */
		snprintf(short_commit, sizeof(short_commit), "%.12s",
			 policy_of(h));
		fprintf(out, "</td><td>%s%s</td><td><code>",
			h->since_before ? "before " : "", since);
		esc(out, short_commit);
		fprintf(out, "</code></td><td>%s</td>", when);
		html_why(out, h);
		fprintf(out, "</tr>\n");
	}
	free(order);
	fprintf(out, "</tbody></table>\n<h2>By fingerprint</h2>\n"
		     "<table id=\"fingerprints\"><colgroup><col class=\"pol\">"
		     "<col class=\"num\"><col></colgroup>"
		     "<tr><th>fingerprint</th><th>hosts</th><th>names</th></tr>\n");
	g = fleet_groups(f, &ng);
	for (i = 0; i < ng; i++) {
		fprintf(out, "<tr><td><code>%.12s</code></td><td>%zu</td><td>",
			g[i].fp, g[i].n);
		for (k = 0; k < g[i].n && k < 50; k++) {
			esc(out, f->hosts[g[i].hosts[k]].name);
			fputc(' ', out);
		}
		if (g[i].n > 50)
			fprintf(out, "&hellip;");
		fprintf(out, "</td></tr>\n");
	}
	groups_free(g, ng);
	fprintf(out, "</table>\n");
	html_skips(out, "Skipped refs", "skipped", f->skips, f->nskips);
	html_skips(out, "Warnings", "warnings", f->warns, f->nwarns);
	fprintf(out, "</body></html>\n");
}

/* --- Prometheus text exposition ------------------------------------- */

/* A label value: backslash, double quote and newline escaped. */
static void prom_label(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', out);
		if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

/*
 * For a node_exporter textfile (or any scrape): counts per state, and per
 * host its state (one series, value 1, the state a label), the time of
 * its last report and its resources by status.
 */
static void fleet_prometheus(const struct fleet *f, FILE *out)
{
	static const char *const counts[] = { "ok", "drifted", "repaired",
					      "failed", "skipped" };
	size_t i, k;

	fprintf(out, "# HELP congruent_fleet_hosts Hosts in each state.\n"
		     "# TYPE congruent_fleet_hosts gauge\n");
	for (i = 0; i < ST_N; i++)
		fprintf(out, "congruent_fleet_hosts{state=\"%s\"} %zu\n",
			state_words[i], f->count[i]);
	fprintf(out, "# HELP congruent_fleet_skipped_refs Refs whose report "
		     "could not be read.\n"
		     "# TYPE congruent_fleet_skipped_refs gauge\n"
		     "congruent_fleet_skipped_refs %zu\n",
		f->nskips);
	fprintf(out, "# HELP congruent_fleet_generated_timestamp_seconds When "
		     "this was read.\n"
		     "# TYPE congruent_fleet_generated_timestamp_seconds gauge\n"
		     "congruent_fleet_generated_timestamp_seconds %" PRId64 "\n",
		f->now);
	fprintf(out, "# HELP congruent_host_state The host's state (the label); "
		     "always 1.\n# TYPE congruent_host_state gauge\n");
	for (i = 0; i < f->n; i++) {
		fprintf(out, "congruent_host_state{host=\"");
		prom_label(out, f->hosts[i].name);
		fprintf(out, "\",state=\"%s\"} 1\n",
			state_words[f->hosts[i].state]);
	}
	if (f->host_keys) {
		fprintf(out, "# HELP congruent_fleet_unverified_hosts Hosts "
			     "whose last report is not signed by their key.\n"
			     "# TYPE congruent_fleet_unverified_hosts gauge\n"
			     "congruent_fleet_unverified_hosts %zu\n"
			     "# HELP congruent_host_report_verified 1 when the "
			     "host's last report is signed by its key.\n"
			     "# TYPE congruent_host_report_verified gauge\n",
			f->unverified);
		for (i = 0; i < f->n; i++) {
			fprintf(out, "congruent_host_report_verified{host=\"");
			prom_label(out, f->hosts[i].name);
			fprintf(out, "\"} %d\n", !f->hosts[i].unverified);
		}
	}
	fprintf(out, "# HELP congruent_host_last_report_timestamp_seconds "
		     "The host's last report or heartbeat.\n"
		     "# TYPE congruent_host_last_report_timestamp_seconds gauge\n");
	for (i = 0; i < f->n; i++) {
		fprintf(out, "congruent_host_last_report_timestamp_seconds{host=\"");
		prom_label(out, f->hosts[i].name);
		fprintf(out, "\"} %" PRId64 "\n", f->hosts[i].h[0].time);
	}
	fprintf(out, "# HELP congruent_host_exit_status The exit status of the "
		     "host's last run.\n"
		     "# TYPE congruent_host_exit_status gauge\n");
	for (i = 0; i < f->n; i++) {
		const struct host *h = &f->hosts[i];

		fprintf(out, "congruent_host_exit_status{host=\"");
		prom_label(out, h->name);
		fprintf(out, "\"} %" PRId64 "\n", h->reps[h->h[0].rep].exit_status);
	}
	fprintf(out, "# HELP congruent_host_resources Resources of the host's "
		     "last report, by status.\n"
		     "# TYPE congruent_host_resources gauge\n");
	for (i = 0; i < f->n; i++) {
		const struct host *h = &f->hosts[i];

		for (k = 0; k < 5; k++) {
			fprintf(out, "congruent_host_resources{host=\"");
			prom_label(out, h->name);
			fprintf(out, "\",status=\"%s\"} %" PRId64 "\n", counts[k],
				h->reps[h->h[0].rep].count[k]);
		}
	}
}

/* --- the repository: a directory, or fetched from a URL -------------- */

struct fetch_args {
	const char *path;   /* the cache: a bare repository, made if absent */
	const char *url;    /* with "{shard}" when shards > 1 */
	unsigned shards;
	const char *prefix;
	const struct cg_config *c;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Delete the cache's host refs that the server no longer has (libgit2
 * 1.5 prunes only with a configured remote, and ours is anonymous).
 */
static int prune_cache(git_repository *repo, char **names, size_t n,
		       const char *prefix)
{
	git_reference_iterator *it = NULL;
	git_reference *ref;
	char *glob = cg_xasprintf("refs/heads/%s*", prefix);
	int rc;

	qsort(names, n, sizeof(*names), cmp_str);
	rc = git_reference_iterator_glob_new(&it, repo, glob);
	while (rc == 0 && (rc = git_reference_next(&ref, it)) == 0) {
		const char *name = git_reference_name(ref);

		if (!bsearch(&name, names, n, sizeof(*names), cmp_str))
			rc = git_reference_delete(ref);
		git_reference_free(ref);
	}
	if (rc == GIT_ITEROVER)
		rc = 0;
	git_reference_iterator_free(it);
	free(glob);
	return rc;
}

/*
 * Fetch the hosts' refs of a->url into the cache at a->path. What the
 * cache has is sent as "have"s, so only new commits come over the wire;
 * a ref rewritten on the server (compaction) is taken as it is there,
 * a ref deleted there (fleet forget) is deleted here. Says "ok N" with
 * the number of objects received.
 */
static int fleet_fetch_child(void *arg, char *msg, size_t size)
{
	const struct fetch_args *a = arg;
	git_repository *repo = NULL;
	git_remote *remote = NULL;
	git_fetch_options fo;
	char spec[600], url[1024];
	char *specs[] = { spec };
	git_strarray refspecs = { specs, 1 };
	const git_remote_head **heads;
	const git_error *ge;
	void *auth = NULL;
	char **names = NULL;
	size_t i, n = 0, cap = 0, nh;
	unsigned shard, received = 0;
	int rc;

	cg_report_shard_url(a->url, a->shards, 0, url, sizeof(url));
	if (cg_git_child_begin(a->c, url, msg, size) < 0)
		return -1;
	snprintf(spec, sizeof(spec), "+refs/heads/%s*:refs/heads/%s*",
		 a->prefix, a->prefix);
	rc = git_repository_open_bare(&repo, a->path);
	if (rc < 0)
		rc = git_repository_init(&repo, a->path, 1);
	/* Every shard into the one cache: a host is on one ref anyway. */
	for (shard = 0; rc == 0 && shard < a->shards; shard++) {
		cg_report_shard_url(a->url, a->shards, shard, url, sizeof(url));
		git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
		fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
		fo.update_fetchhead = 0;
		free(auth);
		auth = NULL;
		cg_git_auth_callbacks(&fo.callbacks, url, a->c->ssh_key,
				      a->c->known_hosts, &auth);
		rc = git_remote_create_anonymous(&remote, repo, url);
		if (rc == 0)
			rc = git_remote_fetch(remote, &refspecs, &fo,
					      "congruent fleet");
		if (rc == 0)
			rc = git_remote_ls(&heads, &nh, remote);
		for (i = 0; rc == 0 && i < nh; i++) {
			cg_grow(&names, &cap, n + 1, sizeof(*names));
			names[n++] = cg_xstrdup(heads[i]->name);
		}
		if (rc == 0)
			received += git_remote_stats(remote)->received_objects;
		if (rc < 0)
			break;
		git_remote_free(remote);
		remote = NULL;
	}
	if (rc == 0)
		rc = prune_cache(repo, names, n, a->prefix);
	/*
	 * The refs stay loose: packing them (git_refdb_compress) peels each
	 * one, which reads the object it points to, whatever its size.
	 */
	if (rc < 0) {
		ge = git_error_last();
		snprintf(msg, size, "%s%s%s",
			 a->shards > 1 ? url : "", a->shards > 1 ? ": " : "",
			 cg_git_auth_why(auth) ? cg_git_auth_why(auth)
			 : ge && ge->message   ? ge->message
					       : "fetch failed");
	} else {
		snprintf(msg, size, "ok %u", received);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(auth);
	git_remote_free(remote);
	git_repository_free(repo);
	return rc < 0 ? -1 : 0;
}

/* --- fleet forget HOST ----------------------------------------------- */

struct forget_args {
	const char *path; /* a scratch repository: libgit2 pushes from one */
	const char *url;
	const char *ref;
	const struct cg_config *c;
};

static char forget_why[512];

static int forget_ref_cb(const char *refname, const char *status, void *data)
{
	(void)data;
	if (status)
		snprintf(forget_why, sizeof(forget_why), "%s refused: %s",
			 refname, status);
	return 0;
}

/*
 * In a child: is the host's ref there (one connection, to list), then
 * push its deletion (a second). Says "ok", "absent" or what failed.
 */
static int forget_child(void *arg, char *msg, size_t size)
{
	const struct forget_args *a = arg;
	git_repository *repo = NULL;
	git_remote *remote = NULL;
	git_push_options po;
	const git_remote_head **heads;
	const git_error *ge;
	char spec[600];
	char *specs[] = { spec };
	git_strarray refspecs = { specs, 1 };
	bool found = false;
	void *auth = NULL;
	size_t i, n = 0;
	int rc;

	if (cg_git_child_begin(a->c, a->url, msg, size) < 0)
		return -1;
	git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
	cg_git_auth_callbacks(&po.callbacks, a->url, a->c->ssh_key,
			      a->c->known_hosts, &auth);
	po.callbacks.push_update_reference = forget_ref_cb;
	rc = git_repository_init(&repo, a->path, 1);
	if (rc == 0)
		rc = git_remote_create_anonymous(&remote, repo, a->url);
	if (rc == 0)
		rc = git_remote_connect(remote, GIT_DIRECTION_FETCH,
					&po.callbacks, NULL, NULL);
	if (rc == 0)
		rc = git_remote_ls(&heads, &n, remote);
	for (i = 0; rc == 0 && i < n; i++)
		if (strcmp(heads[i]->name, a->ref) == 0)
			found = true;
	if (rc == 0)
		git_remote_disconnect(remote);
	if (rc == 0 && found) {
		snprintf(spec, sizeof(spec), ":%s", a->ref);
		rc = git_remote_push(remote, &refspecs, &po);
	}
	if (rc < 0) {
		ge = git_error_last();
		snprintf(msg, size, "%s",
			 cg_git_auth_why(auth) ? cg_git_auth_why(auth)
			 : ge && ge->message   ? ge->message
					       : "push failed");
	} else if (forget_why[0]) {
		snprintf(msg, size, "%s", forget_why);
		rc = -1;
	} else {
		snprintf(msg, size, "%s", found ? "ok" : "absent");
	}
	free(auth);
	git_remote_free(remote);
	git_repository_free(repo);
	return rc < 0 ? -1 : 0;
}

/* --- fleet compact ---------------------------------------------------- */

/*
 * Retention. A host's ref is the history of its state: a commit per
 * change, and heartbeats in between that only say "still the same".
 * Compaction drops the heartbeats older than heartbeat_ttl (they are most
 * of the commits: 6 a day per host) and, with report_ttl, everything
 * older than that; every state change younger than report_ttl is kept,
 * with its tree, message, author and committer (so its time) unchanged:
 * only the parents change. A signed commit keeps its signature and
 * original parents in headers of their own (cg_compact_rewrite), so
 * fleet --host-keys can rebuild what the host signed. The tip is always
 * kept.
 */
struct compact {
	git_repository *repo;   /* borrowed */
	git_odb *odb;           /* owned */
	git_odb_backend *mem;   /* borrowed: owned by odb */
	int64_t hb_before;      /* heartbeats older than this go */
	int64_t all_before;     /* everything older than this goes; 0: none */
	/* Refs to move once the batch's objects are on disk. */
	char **refs;            /* owned */
	git_oid *old, *new;     /* owned */
	size_t n, cap;
	size_t hosts, changed, raced, dropped, kept;
};

#define COMPACT_BATCH 500
#define COMPACT_MAX_CHAIN 1000000

/* Write the batch's commits as one pack, then move each ref if unmoved. */
static int compact_flush(struct compact *k, struct cg_error *err)
{
	git_buf pack = { 0 };
	git_odb_writepack *wp = NULL;
	git_indexer_progress st = { 0 };
	size_t i;
	int rc = 0;

	if (k->n == 0)
		return 0;
	rc = git_mempack_dump(&pack, k->repo, k->mem);
	if (rc == 0)
		rc = git_odb_write_pack(&wp, k->odb, NULL, NULL);
	if (rc == 0)
		rc = wp->append(wp, pack.ptr, pack.size, &st);
	if (rc == 0)
		rc = wp->commit(wp, &st);
	if (wp)
		wp->free(wp);
	git_buf_dispose(&pack);
	git_mempack_reset(k->mem);
	if (rc < 0) {
		rc = cg_git_error(err, "cannot write the compacted commits to %s",
				  git_repository_path(k->repo));
		goto out;
	}
	for (i = 0; i < k->n; i++) {
		git_reference *ref = NULL;

		/* A host that pushed meanwhile keeps its ref: next time. */
		if (git_reference_create_matching(&ref, k->repo, k->refs[i],
						   &k->new[i], 1, &k->old[i],
						   "congruent fleet compact") < 0)
			k->raced++;
		else
			k->changed++;
		git_reference_free(ref);
	}
out:
	for (i = 0; i < k->n; i++)
		free(k->refs[i]);
	k->n = 0;
	return rc;
}

/* One host: its first-parent chain, rebuilt without what goes. */
static int compact_host(struct compact *k, const char *refname,
			const git_oid *tip, struct cg_error *err)
{
	git_oid *ids = NULL, parent;
	bool *keep = NULL, have_parent = false, rewritten = false;
	size_t n = 0, cap = 0, i, drop = 0;
	git_commit *c = NULL;
	int rc = 0;

	/* Newest first: the chain as it is. */
	git_oid_cpy(&parent, tip);
	while (n < COMPACT_MAX_CHAIN) {
		const char *msg;
		int64_t t;

		if (git_commit_lookup(&c, k->repo, &parent) < 0) {
			rc = cg_git_error(err, "cannot read the history of %s",
					  refname);
			goto out;
		}
		cg_grow(&ids, &cap, n + 1, sizeof(*ids));
		keep = cg_xrealloc(keep, cap * sizeof(*keep));
		git_oid_cpy(&ids[n], &parent);
		msg = git_commit_message(c);
		t = git_commit_time(c);
		keep[n] = n == 0 ||
			  ((!k->all_before || t >= k->all_before) &&
			   (t >= k->hb_before || !msg ||
			    !cg_str_starts(msg, "heartbeat ")));
		drop += !keep[n];
		n++;
		if (git_commit_parentcount(c) == 0)
			break;
		git_oid_cpy(&parent, git_commit_parent_id(c, 0));
		git_commit_free(c);
		c = NULL;
	}
	git_commit_free(c);
	c = NULL;
	k->hosts++;
	k->dropped += drop;
	k->kept += n - drop;
	if (!drop)
		goto out;
	/* Oldest first: a kept commit is rewritten once one below it was. */
	for (i = n; i-- > 0;) {
		git_odb_object *obj = NULL;
		struct cg_buf raw = { 0 };
		char hex[GIT_OID_HEXSZ + 1];
		git_oid id;

		if (!keep[i]) {
			rewritten = true;
			continue;
		}
		if (!rewritten) {
			git_oid_cpy(&parent, &ids[i]);
			have_parent = true;
			continue;
		}
		/* On the raw object: every header stays, a signature too. */
		git_oid_tostr(hex, sizeof(hex), &parent);
		rc = git_odb_read(&obj, k->odb, &ids[i]);
		if (rc == 0 &&
		    cg_compact_rewrite(git_odb_object_data(obj),
				       git_odb_object_size(obj),
				       have_parent ? hex : NULL, &raw,
				       NULL) < 0) {
			git_error_set_str(GIT_ERROR_INVALID, "a commit that "
					  "is not as git writes it");
			rc = -1;
		}
		if (rc == 0)
			rc = git_odb_write(&id, k->odb, raw.data, raw.len,
					   GIT_OBJECT_COMMIT);
		git_odb_object_free(obj);
		cg_buf_release(&raw);
		if (rc < 0) {
			rc = cg_git_error(err, "cannot rewrite the history of %s",
					  refname);
			goto out;
		}
		git_oid_cpy(&parent, &id);
		have_parent = true;
	}
	cg_grow(&k->refs, &k->cap, k->n + 1, sizeof(*k->refs));
	k->old = cg_xrealloc(k->old, k->cap * sizeof(*k->old));
	k->new = cg_xrealloc(k->new, k->cap * sizeof(*k->new));
	k->refs[k->n] = cg_xstrdup(refname);
	git_oid_cpy(&k->old[k->n], tip);
	git_oid_cpy(&k->new[k->n], &parent);
	k->n++;
	if (k->n >= COMPACT_BATCH)
		rc = compact_flush(k, err);
out:
	free(ids);
	free(keep);
	return rc;
}

/* congruent fleet compact: on the reports repository itself, a path. */
static int fleet_compact(const char *path, const char *prefix,
			 unsigned long hb_days, unsigned long ttl_days)
{
	struct compact k = { 0 };
	git_reference_iterator *it = NULL;
	git_reference *ref;
	struct cg_error err;
	struct stat st;
	int64_t now = (int64_t)time(NULL);
	char *glob = cg_xasprintf("refs/heads/%s*", prefix);
	int rc, status = 1;

	cg_error_clear(&err);
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		cg_error_set(&err, CG_ERR, "fleet compact works on the reports "
					   "repository itself, not on '%s'",
			     path);
		cg_error_hint(&err, "run it on the git server, with --reports "
				    "/PATH/TO/reports.git");
		goto fail;
	}
	if (ttl_days && ttl_days < hb_days) {
		cg_error_set(&err, CG_ERR, "--report-ttl %lu is shorter than "
					   "--heartbeat-ttl %lu",
			     ttl_days, hb_days);
		cg_error_hint(&err, "state changes are kept at least as long as "
				    "heartbeats");
		goto fail;
	}
	if (git_repository_open_ext(&k.repo, path,
				    GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0) {
		cg_git_error(&err, "cannot open %s", path);
		goto fail;
	}
	if (git_repository_odb(&k.odb, k.repo) < 0 ||
	    git_mempack_new(&k.mem) < 0 ||
	    git_odb_add_backend(k.odb, k.mem, 1000) < 0) {
		cg_git_error(&err, "cannot set up %s", path);
		goto fail;
	}
	k.hb_before = now - (int64_t)hb_days * 86400;
	k.all_before = ttl_days ? now - (int64_t)ttl_days * 86400 : 0;
	rc = git_reference_iterator_glob_new(&it, k.repo, glob);
	while (rc == 0 && (rc = git_reference_next(&ref, it)) == 0) {
		if (git_reference_type(ref) == GIT_REFERENCE_DIRECT)
			rc = compact_host(&k, git_reference_name(ref),
					  git_reference_target(ref), &err);
		git_reference_free(ref);
	}
	git_reference_iterator_free(it);
	if (rc == GIT_ITEROVER)
		rc = 0;
	else if (rc < 0 && !err.msg[0])
		cg_git_error(&err, "cannot list the refs of %s", path);
	if (rc == 0)
		rc = compact_flush(&k, &err);
	if (rc < 0)
		goto fail;
	printf("compacted %s: %zu hosts, %zu refs rewritten, %zu commits "
	       "dropped, %zu kept",
	       path, k.hosts, k.changed, k.dropped, k.kept);
	if (k.raced)
		printf("; %zu hosts pushed meanwhile and were left as they are",
		       k.raced);
	printf("\n(the dropped commits take space until git gc --prune)\n");
	status = 0;
	goto out;
fail:
	cg_print_error(stderr, &err, false);
out:
	free(k.refs);
	free(k.old);
	free(k.new);
	git_odb_free(k.odb);
	git_repository_free(k.repo);
	free(glob);
	return status;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/*
 * For monitoring: 4 when a host failed, was refused, has a stale source
 * or stopped reporting; else 2 when one drifted or was repaired; else 0.
 */
static int fleet_status(const struct fleet *f)
{
	if (f->count[ST_FAILED] || f->count[ST_REFUSED] ||
	    f->count[ST_STALE_SOURCE] || f->count[ST_STALE] || f->unverified)
		return 4;
	if (f->count[ST_ROLLED_OUT] || f->count[ST_DRIFTED] ||
	    f->count[ST_REPAIRED])
		return 2;
	return 0;
}

struct fleet_opts {
	const char *config;
	bool config_given;
	const char *reports;
	const char *prefix;
	int format; /* 0 text, 1 json, 2 html, 3 prometheus */
	unsigned long stale_hours, history, max_report_kb, timeout;
	const char *forget; /* "forget HOST" after the options */
	const char *host_keys; /* --host-keys FILE */
	const char *cache;  /* --cache DIR, or NULL: the default */
	bool compact;       /* "fleet compact" */
	unsigned long heartbeat_ttl, report_ttl; /* days; 0: forever */
	unsigned long shards; /* --shards N; 0: reports.shards */
};

static int fleet_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "congruent fleet: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'congruent help fleet'.\n");
	return -1;
}

static int number(const char *opt, const char *arg, unsigned long max,
		  unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(arg, &end, 10);
	if (errno || *end || !*arg || *out < 1 || *out > max) {
		char what[128];

		snprintf(what, sizeof(what), "%s takes a number from 1 to %lu, "
					     "not '%%s'",
			 opt, max);
		return fleet_usage(what, arg);
	}
	return 0;
}

/* 0, -1 on a usage error, 1 when --help printed the usage (exit 0). */
static int fleet_opts_parse(int argc, char **argv, struct fleet_opts *o)
{
	enum { O_REPORTS = 256, O_PREFIX, O_FORMAT, O_STALE, O_HISTORY,
	       O_MAXREP, O_TIMEOUT, O_HOSTKEYS,
	       O_CACHE, O_HBTTL, O_TTL, O_SHARDS };
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "reports", required_argument, NULL, O_REPORTS },
		{ "prefix", required_argument, NULL, O_PREFIX },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "stale", required_argument, NULL, O_STALE },
		{ "history", required_argument, NULL, O_HISTORY },
		{ "max-report-kb", required_argument, NULL, O_MAXREP },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "host-keys", required_argument, NULL, O_HOSTKEYS },
		{ "cache", required_argument, NULL, O_CACHE },
		{ "heartbeat-ttl", required_argument, NULL, O_HBTTL },
		{ "report-ttl", required_argument, NULL, O_TTL },
		{ "shards", required_argument, NULL, O_SHARDS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->config = CG_DEFAULT_CONFIG;
	o->stale_hours = DEFAULT_STALE_HOURS;
	o->history = DEFAULT_HISTORY;
	o->max_report_kb = DEFAULT_MAX_REPORT / 1024;
	o->timeout = 120;
	o->heartbeat_ttl = 7;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+c:h", lo, NULL)) != -1) {
		switch (c) {
		case 'h':
			cg_usage_print("fleet", stdout);
			return 1;
		case 'c':
			o->config = optarg;
			o->config_given = true;
			break;
		case O_REPORTS:
			o->reports = optarg;
			break;
		case O_PREFIX:
			o->prefix = optarg;
			break;
		case O_FORMAT:
			if (strcmp(optarg, "text") == 0)
				o->format = 0;
			else if (strcmp(optarg, "json") == 0)
				o->format = 1;
			else if (strcmp(optarg, "html") == 0)
				o->format = 2;
			else if (strcmp(optarg, "prometheus") == 0)
				o->format = 3;
			else
				return fleet_usage("--format is text, json, "
						   "html or prometheus, not "
						   "'%s'",
						   optarg);
			break;
		case O_STALE:
			if (number("--stale", optarg, 24 * 365, &o->stale_hours) < 0)
				return -1;
			break;
		case O_HISTORY:
			if (number("--history", optarg, MAX_HISTORY, &o->history) <
			    0)
				return -1;
			break;
		case O_MAXREP:
			if (number("--max-report-kb", optarg, 256 * 1024,
				   &o->max_report_kb) < 0)
				return -1;
			break;
		case O_TIMEOUT:
			if (number("--timeout", optarg, 86400, &o->timeout) < 0)
				return -1;
			break;
		case O_HOSTKEYS:
			o->host_keys = optarg;
			break;
		case O_CACHE:
			o->cache = optarg;
			break;
		case O_HBTTL:
			if (number("--heartbeat-ttl", optarg, 36500,
				   &o->heartbeat_ttl) < 0)
				return -1;
			break;
		case O_SHARDS:
			if (number("--shards", optarg, 65536, &o->shards) < 0)
				return -1;
			break;
		case O_TTL:
			if (number("--report-ttl", optarg, 36500,
				   &o->report_ttl) < 0)
				return -1;
			break;
		default:
			return fleet_usage("unknown option '%s'",
					   argv[optind - 1]);
		}
	}
	if (optind + 1 == argc && strcmp(argv[optind], "compact") == 0) {
		o->compact = true;
		return 0;
	}
	if (optind + 2 == argc && strcmp(argv[optind], "forget") == 0) {
		o->forget = argv[optind + 1];
		return 0;
	}
	if (optind < argc)
		return fleet_usage("unexpected argument '%s'", argv[optind]);
	return 0;
}

/* A scratch directory under TMPDIR, or NULL (err says why). */
static char *scratch_dir(struct cg_error *err)
{
	const char *t = getenv("TMPDIR");
	char *tmp = cg_xasprintf("%s/congruent-fleet.XXXXXX",
				 t && *t ? t : "/tmp");

	if (!mkdtemp(tmp)) {
		cg_error_sys(err, CG_ERR, "cannot create %s", tmp);
		free(tmp);
		return NULL;
	}
	return tmp;
}

/* Delete the host's ref: in the directory, or by pushing the deletion. */
static int fleet_forget(const struct fleet_opts *o, const struct cg_config *c,
			const char *prefix, const char *host)
{
	git_repository *repo = NULL;
	git_reference *ref = NULL;
	struct cg_error err;
	struct stat st;
	char name[512], msg[1024];
	char *tmp = NULL;
	int status = 1;

	cg_error_clear(&err);
	if (cg_report_ref(prefix, host, name, sizeof(name), &err) < 0)
		goto fail;
	if (stat(o->reports, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (git_repository_open_ext(&repo, o->reports,
					    GIT_REPOSITORY_OPEN_NO_SEARCH,
					    NULL) < 0) {
			cg_git_error(&err, "cannot open %s", o->reports);
			goto fail;
		}
		if (git_reference_lookup(&ref, repo, name) < 0) {
			cg_error_set(&err, CG_ENOTFOUND, "no host '%s' in %s (no "
							 "ref %s)",
				     host, o->reports, name);
			cg_error_hint(&err, "congruent fleet lists the hosts");
			goto fail;
		}
		if (git_reference_delete(ref) < 0) {
			cg_git_error(&err, "cannot delete %s", name);
			goto fail;
		}
	} else {
		struct forget_args a;

		tmp = scratch_dir(&err);
		if (!tmp)
			goto fail;
		a.path = tmp;
		a.url = o->reports;
		a.ref = name;
		a.c = c;
		if (cg_git_in_child((unsigned)o->timeout, forget_child, &a, msg,
				    sizeof(msg), &err) < 0) {
			cg_error_prefix(&err, "cannot delete %s on %s", name,
					o->reports);
			goto fail;
		}
		if (strcmp(msg, "ok") != 0) {
			cg_error_set(&err, CG_ENOTFOUND, "no host '%s' in %s (no "
							 "ref %s)",
				     host, o->reports, name);
			cg_error_hint(&err, "congruent fleet lists the hosts");
			goto fail;
		}
	}
	printf("forgot %s (deleted %s in %s)\n", host, name, o->reports);
	status = 0;
	goto out;
fail:
	cg_print_error(stderr, &err, false);
out:
	git_reference_free(ref);
	git_repository_free(repo);
	if (tmp) {
		nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		free(tmp);
	}
	return status;
}

/*
 * The cache of a URL's reports: DIR/HASH.git, DIR being --cache, else
 * $XDG_CACHE_HOME/congruent/fleet, else ~/.cache/congruent/fleet; HASH
 * from the URL and the prefix, so that two repositories never share
 * one. NULL (err says why) when there is no such directory to make.
 */
static char *cache_repo(const char *dir, const char *url, const char *prefix,
			struct cg_error *err)
{
	unsigned char d[CG_SHA256_LEN];
	char hex[2 * CG_SHA256_LEN + 1];
	const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	struct cg_buf key = { 0 };
	char *base, *path;

	if (dir)
		base = cg_xstrdup(dir);
	else if (x && *x == '/')
		base = cg_xasprintf("%s/congruent/fleet", x);
	else if (home && *home == '/')
		base = cg_xasprintf("%s/.cache/congruent/fleet", home);
	else {
		cg_error_set(err, CG_ERR, "no directory for the fleet cache "
					  "(no HOME)");
		cg_error_hint(err, "pass --cache DIR");
		return NULL;
	}
	if (cg_mkdir_p(base, 0700, err) < 0) {
		cg_error_hint(err, "pass --cache DIR, a directory of yours");
		free(base);
		return NULL;
	}
	cg_buf_addf(&key, "%s%c%s", url, 0, prefix);
	cg_sha256_buf(key.data, key.len, d);
	cg_hex(d, 10, hex);
	path = cg_xasprintf("%s/%s.git", base, hex);
	cg_buf_release(&key);
	free(base);
	return path;
}

/*
 * One fleet at a time fetches into a cache: two fetches updating the
 * same refs would race. The lock is the fd, released on exit.
 */
static int cache_lock(const char *repo, struct cg_error *err)
{
	char *path = cg_xasprintf("%s.lock", repo);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		cg_error_sys(err, CG_ERR, "cannot lock %s", path);
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	free(path);
	return fd;
}

/* fleet_read of the repository at repo, through its summary cache. */
static int fleet_read_cached(struct fleet *f, const char *cache_dir,
			     const char *repo, const char *host_keys,
			     struct cg_error *err)
{
	struct fcache fc;
	int rc;

	fcache_open(&fc, f, cache_dir, repo, host_keys);
	f->cache = &fc;
	rc = fleet_read(f, err);
	fcache_close(&fc);
	f->cache = NULL;
	return rc;
}

int cg_cmd_fleet_main(int argc, char **argv)
{
	struct fleet_opts o;
	struct cg_config conf;
	struct cg_signers *host_keys = NULL;
	struct fleet f;
	struct cg_error err;
	struct stat st;
	char *prefix_copy = NULL, *cache = NULL;
	const char *forget = NULL;
	bool compact = false;
	char shard_url[1024];
	unsigned shards;
	int status = 1, lockfd = -1;

	/* "fleet forget HOST [options]": the options follow the host. */
	if (argc > 1 && strcmp(argv[1], "forget") == 0) {
		if (argc > 2 && (strcmp(argv[2], "--help") == 0 ||
				 strcmp(argv[2], "-h") == 0)) {
			cg_usage_print("fleet", stdout);
			return 0;
		}
		if (argc < 3 || argv[2][0] == '-') {
			fleet_usage("forget needs a host name%s", "");
			return 1;
		}
		forget = argv[2];
		argc -= 2;
		argv += 2;
	}
	/* "fleet compact [options]" */
	if (argc > 1 && strcmp(argv[1], "compact") == 0) {
		compact = true;
		argc--;
		argv++;
	}
	status = fleet_opts_parse(argc, argv, &o);
	if (status != 0)
		return status < 0 ? 1 : 0;
	status = 1;
	compact = compact || o.compact;
	if (o.forget) {
		if (forget) {
			fleet_usage("forget takes one host, not also '%s'",
				    o.forget);
			return 1;
		}
		forget = o.forget;
	}
	memset(&f, 0, sizeof(f));
	cg_error_clear(&err);
	if (cg_config_load(&conf, o.config, o.config_given, &err) < 0) {
		cg_print_error(stderr, &err, false);
		return 1;
	}
	if (!o.reports)
		o.reports = conf.reports_url;
	if (!o.reports) {
		cg_error_set(&err, CG_ERR, "no reports repository to read");
		cg_error_hint(&err, "pass --reports URL|DIR, or set reports.url "
				    "in %s",
			      conf.path ? conf.path : o.config);
		cg_print_error(stderr, &err, false);
		goto out;
	}
	prefix_copy = cg_xstrdup(o.prefix ? o.prefix : conf.reports_prefix);
	shards = o.shards ? (unsigned)o.shards : conf.reports_shards;
	if (shards > 1 && !strstr(o.reports, "{shard}")) {
		cg_error_set(&err, CG_ERR, "%u shards, but no {shard} in %s",
			     shards, o.reports);
		cg_error_hint(&err, "pass --reports with {shard} where the shard "
				    "number goes, as in reports.url");
		cg_print_error(stderr, &err, false);
		goto out;
	}
	if (forget) {
		cg_git_setup(&conf);
		cg_report_shard_url(o.reports, shards,
				    cg_report_shard_of(forget, shards), shard_url,
				    sizeof(shard_url));
		o.reports = shard_url;
		status = fleet_forget(&o, &conf, prefix_copy, forget);
		goto out;
	}
	if (compact) {
		unsigned k;

		cg_git_setup(&conf);
		status = 0;
		for (k = 0; k < shards && status == 0; k++) {
			cg_report_shard_url(o.reports, shards, k, shard_url,
					    sizeof(shard_url));
			status = fleet_compact(shard_url, prefix_copy,
					       o.heartbeat_ttl, o.report_ttl);
		}
		goto out;
	}
	f.prefix = prefix_copy;
	f.source = o.reports;
	f.history = (unsigned)o.history;
	f.max_report = (size_t)o.max_report_kb * 1024;
	f.stale_after = (int64_t)o.stale_hours * 3600;
	f.now = (int64_t)time(NULL);
	if (o.host_keys) {
		if (cg_signers_load(&host_keys, o.host_keys, &err) < 0) {
			cg_error_prefix(&err, "--host-keys");
			cg_print_error(stderr, &err, false);
			goto out;
		}
		f.host_keys = host_keys;
	}
	cg_git_setup(&conf);
	/*
	 * Reading touches every host's part of a pack of millions of
	 * objects: bound what libgit2 keeps mapped and cached, or the
	 * mapped pages alone are most of the RSS (900 MB at 10,000 hosts;
	 * 207 MB with these bounds, for 10% more CPU).
	 */
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, (size_t)32 << 20);
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, (size_t)8 << 20);
	git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, (ssize_t)8 << 20);
	cg_report_shard_url(o.reports, shards, 0, shard_url, sizeof(shard_url));
	if (stat(shard_url, &st) == 0 && S_ISDIR(st.st_mode)) {
		/* Directories: each shard read in turn, its hosts kept. */
		unsigned k;

		for (k = 0; k < shards; k++) {
			cg_report_shard_url(o.reports, shards, k, shard_url,
					    sizeof(shard_url));
			f.source = shard_url;
			if (git_repository_open_ext(&f.repo, shard_url,
						    GIT_REPOSITORY_OPEN_NO_SEARCH,
						    NULL) < 0) {
				cg_git_error(&err, "cannot open %s", shard_url);
				cg_print_error(stderr, &err, false);
				goto out;
			}
			if (fleet_read_cached(&f, o.cache, shard_url,
					      o.host_keys, &err) < 0) {
				cg_print_error(stderr, &err, false);
				goto out;
			}
			git_repository_free(f.repo);
			f.repo = NULL;
		}
		f.source = o.reports;
	} else {
		/* A URL: fetch what is new into the cache, read it there. */
		struct fetch_args a;
		char msg[1024];

		cache = cache_repo(o.cache, o.reports, f.prefix, &err);
		if (!cache || (lockfd = cache_lock(cache, &err)) < 0) {
			cg_print_error(stderr, &err, false);
			goto out;
		}
		a.path = cache;
		a.url = o.reports;
		a.shards = shards;
		a.prefix = f.prefix;
		a.c = &conf;
		if (cg_git_in_child((unsigned)o.timeout, fleet_fetch_child, &a,
				    msg, sizeof(msg), &err) < 0) {
			cg_error_prefix(&err, "cannot fetch %s", o.reports);
			cg_print_error(stderr, &err, false);
			goto out;
		}
		if (git_repository_open_bare(&f.repo, cache) < 0) {
			cg_git_error(&err, "cannot open %s", cache);
			cg_print_error(stderr, &err, false);
			goto out;
		}
		if (fleet_read_cached(&f, o.cache, cache, o.host_keys,
				      &err) < 0) {
			cg_print_error(stderr, &err, false);
			goto out;
		}
	}
	if (o.format == 1)
		fleet_json(&f, stdout);
	else if (o.format == 2)
		fleet_html(&f, stdout);
	else if (o.format == 3)
		fleet_prometheus(&f, stdout);
	else
		fleet_text(&f, stdout);
	fflush(stdout);
	{
		size_t i;

		for (i = 0; i < f.nskips; i++) {
			fprintf(stderr, "congruent fleet: ");
			put_safe(stderr, f.skips[i].ref, 0);
			fprintf(stderr, ": skipped: ");
			put_safe(stderr, f.skips[i].why, 0);
			fputc('\n', stderr);
		}
		for (i = 0; i < f.nwarns; i++) {
			fprintf(stderr, "congruent fleet: ");
			put_safe(stderr, f.warns[i].ref, 0);
			fprintf(stderr, ": warning: ");
			put_safe(stderr, f.warns[i].why, 0);
			fputc('\n', stderr);
		}
	}
	status = ferror(stdout) ? 1 : fleet_status(&f);
out:
	fleet_release(&f);
	cg_signers_free(host_keys);
	if (lockfd >= 0)
		close(lockfd);
	free(cache);
	free(prefix_copy);
	cg_config_release(&conf);
	return status;
}
