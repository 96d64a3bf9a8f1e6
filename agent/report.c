/* report.c: reports queued in STATE and pushed to the central repository as commits. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <git2.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "cg/hash.h"
#include "cg/jsonparse.h"
#include "cg/reportkey.h"

/*
 * Layout under STATE/reports:
 *   last-run.json     the last run's report (main.c)
 *   queue/SEQ-TIME-DIGEST.json
 *                     reports not yet delivered, oldest first by name;
 *                     DIGEST is cg_report_digest, TIME the run's start
 *   last              "DIGEST TIME" of the newest report queued or
 *                     delivered: what an unchanged run is compared with
 *   dropped           how many reports a full queue dropped since the
 *                     last delivery (the next commit says so)
 *   repo.git/         a bare repository where commits are made before
 *                     the push: refs/congruent/central is the host's ref
 *                     as fetched, refs/congruent/out what is pushed,
 *                     refs/congruent/pushed/KEY what the server last took
 *
 * On the central repository, refs/heads/PREFIX+HOST is a chain of commits
 * whose tree holds one file, report.json, and whose message ends with
 * trailers: Congruent-State (the digest), and
 * Congruent-Dropped when reports were lost to a full queue.
 */

#define CENTRAL_REF "refs/congruent/central"
#define OUT_REF "refs/congruent/out"
/*
 * refs/congruent/pushed/KEY: what the server took last time, per server
 * and ref (KEY: the first 16 hex digits of SHA-256 of "URL\nREF"), so
 * that a host moved to another reports URL or shard never builds on
 * what another server has.
 */
#define PUSHED_PREFIX "refs/congruent/pushed/"
/* The push child's word for "built on a ref the server no longer has". */
#define RETRY "retry: "
#define MAX_QUEUE_NAME 128

void cg_report_digest(const struct cg_policy *p, const struct cg_run_info *info,
		      char out[65])
{
	unsigned char d[CG_SHA256_LEN];
	struct cg_buf b = { 0 };
	char fp[65];
	size_t i, k;
	bool repaired = false;

	/* Fields end in NUL, records in '\n': no two reports hash alike. */
	cg_engine_fingerprint(p, fp);
	cg_buf_addf(&b, "%s%c%s%c%s%c%d%c%s%c%s\n", info->command, 0,
		    info->host, 0, info->commit ? info->commit : "", 0,
		    info->exit_status, 0, fp, 0,
		    info->change ? info->change : "");
	/*
	 * What the source step decided is news too: a refusal of another
	 * commit, a source that went stale or came back. Not the fetch
	 * time, which changes on every run.
	 */
	if (info->source) {
		const struct cg_source *src = info->source;

		cg_buf_addf(&b, "s%d%d%c%s%c%s%c%s\n", src->stale, src->refused,
			    0, src->refused ? src->refused_commit : "", 0,
			    src->refusal, 0,
			    src->stale || src->refused ? src->why.msg : "");
	}
	/* Only when set, so that the digests of enforcing runs stay. */
	if (info->audit)
		cg_buf_addstr(&b, "mode audit\n");
	for (i = 0; i < p->n; i++) {
		const struct cg_resource *r = &p->res[p->order[i]];

		if (r->status == CG_STATUS_REPAIRED)
			repaired = true;
		cg_buf_addf(&b, "%s%c%s%c%s", r->id, 0,
			    cg_status_name(r->status), 0,
			    cg_action_name(r->change.action));
		b.len++;
		for (k = 0; r->status != CG_STATUS_OK && k < r->change.n; k++) {
			const struct cg_change_item *it = &r->change.items[k];

			cg_buf_addf(&b, "%s%c%s%c%s", it->field, 0,
				    it->from ? it->from : "", 0,
				    it->to ? it->to : "");
			b.len++;
		}
		for (k = 0; k < r->change.nunmanaged; k++) {
			const struct cg_unmanaged *u = &r->change.unmanaged[k];

			cg_buf_addf(&b, "u%s%c%s", u->kind ? u->kind : "", 0,
				    u->item ? u->item : "");
			b.len++;
		}
		for (k = 0; k < r->change.nwarnings; k++) {
			cg_buf_addf(&b, "w%s", r->change.warnings[k]);
			b.len++;
		}
		if (r->err)
			cg_buf_addstr(&b, r->err->msg);
		cg_buf_addch(&b, '\n');
	}
	/*
	 * A repair is news every time: the same drift undone twice is two
	 * events the fleet must count, not one report that looks unchanged.
	 * Only runs that changed nothing are folded into the heartbeat.
	 */
	if (repaired) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		cg_buf_addf(&b, "r%lld.%09ld.%ld\n", (long long)ts.tv_sec,
			    ts.tv_nsec, (long)getpid());
	}
	cg_sha256_buf(b.data, b.len, d);
	cg_hex(d, sizeof(d), out);
	cg_buf_release(&b);
}

int cg_report_ref(const char *prefix, const char *host, char *out, size_t size,
		  struct cg_error *err)
{
	int valid = 0;
	int n = snprintf(out, size, "refs/heads/%s%s", prefix, host);

	cg_git_setup(NULL);
	if (n < 0 || (size_t)n >= size ||
	    git_reference_name_is_valid(&valid, out) < 0 || !valid ||
	    !host[0] || strchr(host, '/')) {
		cg_error_set(err, CG_ERR, "'%s%s' is not a valid branch name "
					  "for the reports of host '%s'",
			     prefix, host, host);
		cg_error_hint(err, "check reports.branch_prefix in the agent "
				   "config (and --hostname)");
		return CG_ERR;
	}
	return 0;
}

/* --- the queue ------------------------------------------------------- */

struct qent {
	char *name; /* owned */
	unsigned long seq;
	int64_t time;
	char digest[65];
	size_t bytes;
};

struct queue {
	struct qent *e; /* owned: sorted oldest first */
	size_t n, cap;
	size_t bytes;
};

static void queue_release(struct queue *q)
{
	size_t i;

	for (i = 0; i < q->n; i++)
		free(q->e[i].name);
	free(q->e);
	memset(q, 0, sizeof(*q));
}

static bool parse_qname(const char *name, struct qent *e)
{
	unsigned long seq;
	long long t;
	char d[65];
	int end = 0;

	if (strlen(name) > MAX_QUEUE_NAME ||
	    sscanf(name, "%10lu-%20lld-%64[0-9a-f].json%n", &seq, &t, d,
		   &end) != 3 ||
	    name[end] || strlen(d) != 64)
		return false;
	e->seq = seq;
	e->time = t;
	memcpy(e->digest, d, sizeof(d));
	return true;
}

static int cmp_qent(const void *a, const void *b)
{
	const struct qent *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The queue as it is on disk. Names that are not ours are left alone. */
static int queue_read(const char *dir, struct queue *q, struct cg_error *err)
{
	struct dirent *de;
	DIR *d;

	memset(q, 0, sizeof(*q));
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return cg_error_sys(err, CG_ERR, "cannot read %s", dir);
	}
	while ((de = readdir(d))) {
		struct qent e = { 0 };
		struct stat st;

		if (!parse_qname(de->d_name, &e) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		e.name = cg_xstrdup(de->d_name);
		e.bytes = (size_t)st.st_size;
		cg_grow(&q->e, &q->cap, q->n + 1, sizeof(*q->e));
		q->e[q->n++] = e;
		q->bytes += e.bytes;
	}
	closedir(d);
	if (q->n)
		qsort(q->e, q->n, sizeof(*q->e), cmp_qent);
	return 0;
}

static char *reports_path(const char *state_dir, const char *name)
{
	return cg_xasprintf("%s/reports/%s", state_dir, name);
}

/* "DIGEST TIME" of the newest report recorded, from the queue or "last". */
static bool read_last(const char *state_dir, const struct queue *q,
		      char digest[65], int64_t *when)
{
	char *path, buf[160];
	long long t;
	ssize_t n;
	int fd;

	if (q->n) {
		memcpy(digest, q->e[q->n - 1].digest, 65);
		*when = q->e[q->n - 1].time;
		return true;
	}
	path = reports_path(state_dir, "last");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(path);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	if (sscanf(buf, "%64[0-9a-f] %lld", digest, &t) != 2 ||
	    strlen(digest) != 64)
		return false;
	*when = t;
	return true;
}

static int write_last(const char *state_dir, const char *digest, int64_t when,
		      struct cg_error *err)
{
	char *path = reports_path(state_dir, "last");
	char buf[160];
	int rc;

	snprintf(buf, sizeof(buf), "%s %" PRId64 "\n", digest, when);
	rc = cg_write_file_atomic(path, buf, strlen(buf), 0600, err);
	free(path);
	return rc;
}

static unsigned read_dropped(const char *state_dir)
{
	char *path = reports_path(state_dir, "dropped"), buf[32];
	unsigned long v = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(path);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		v = strtoul(buf, NULL, 10);
	}
	return v > 100000000ul ? 100000000u : (unsigned)v;
}

static int write_dropped(const char *state_dir, unsigned v,
			 struct cg_error *err)
{
	char *path = reports_path(state_dir, "dropped");
	char buf[32];
	int rc = 0;

	if (v == 0) {
		if (unlink(path) < 0 && errno != ENOENT)
			rc = cg_error_sys(err, CG_ERR, "cannot remove %s", path);
	} else {
		snprintf(buf, sizeof(buf), "%u\n", v);
		rc = cg_write_file_atomic(path, buf, strlen(buf), 0600, err);
	}
	free(path);
	return rc;
}

/* The report as JSON, without display-only diffs, into b. */
static int report_json(const struct cg_policy *p,
		       const struct cg_run_info *info,
		       const struct cg_counts *counts, struct cg_buf *b,
		       struct cg_error *err)
{
	FILE *f = open_memstream(&b->data, &b->len);

	if (!f)
		return cg_error_sys(err, CG_ERR, "cannot make the report");
	cg_output_json(p, info, counts, false, true, f);
	fclose(f);
	b->cap = b->len + 1;
	return 0;
}

int cg_report_queue(const struct cg_config *c, const char *state_dir,
		    const struct cg_policy *p, const struct cg_run_info *info,
		    const struct cg_counts *counts, struct cg_report_status *st,
		    struct cg_error *err)
{
	char *qdir = reports_path(state_dir, "queue"), *path = NULL;
	size_t max_bytes = (size_t)c->reports_queue_max_mb << 20;
	char digest[65], last[65];
	struct queue q;
	struct cg_buf b = { 0 };
	int64_t last_time = 0, now = info->started;
	unsigned long seq;
	int rc;

	memset(st, 0, sizeof(*st));
	rc = queue_read(qdir, &q, err);
	if (rc < 0)
		goto out;
	cg_report_digest(p, info, digest);
	if (read_last(state_dir, &q, last, &last_time) &&
	    strcmp(last, digest) == 0 && c->reports_heartbeat &&
	    now >= last_time && now - last_time < (int64_t)c->reports_heartbeat)
		goto done; /* nothing new, and the last one is recent enough */

	rc = report_json(p, info, counts, &b, err);
	if (rc < 0)
		goto out;

	/* Make room, oldest first; the count goes with the next commit. */
	while (q.n && (q.n + 1 > c->reports_queue_max ||
		       q.bytes + b.len > max_bytes)) {
		char *old = cg_xasprintf("%s/%s", qdir, q.e[0].name);

		if (unlink(old) < 0 && errno != ENOENT) {
			rc = cg_error_sys(err, CG_ERR, "cannot remove %s", old);
			free(old);
			goto out;
		}
		free(old);
		st->dropped++;
		q.bytes -= q.e[0].bytes;
		free(q.e[0].name);
		memmove(q.e, q.e + 1, (q.n - 1) * sizeof(*q.e));
		q.n--;
	}
	if (st->dropped &&
	    write_dropped(state_dir, read_dropped(state_dir) + st->dropped,
			  err) < 0) {
		rc = CG_ERR;
		goto out;
	}
	rc = cg_mkdir_p(qdir, 0700, err);
	if (rc < 0)
		goto out;
	seq = q.n ? q.e[q.n - 1].seq + 1 : 1;
	path = cg_xasprintf("%s/%010lu-%020" PRId64 "-%s.json", qdir, seq, now,
			    digest);
	rc = cg_write_file_atomic(path, b.data, b.len, 0600, err);
	if (rc < 0)
		goto out;
	rc = write_last(state_dir, digest, now, err);
	if (rc < 0)
		goto out;
	st->queued = true;
	q.bytes += b.len;
done:
	st->pending = (unsigned)q.n + st->queued;
	st->pending_bytes = q.bytes;
	rc = 0;
out:
	if (rc < 0)
		cg_error_where(err, "%s", qdir);
	queue_release(&q);
	cg_buf_release(&b);
	free(path);
	free(qdir);
	return rc;
}

/* --- the push, in a child -------------------------------------------- */

/* The bound fleet sets on a report commit (agent/fleet.c). */
#define REPORT_COMMIT_MAX (64u << 10)

struct push_args {
	const struct cg_config *c;
	const char *repo_path;
	const char *qdir;
	const char *host;
	const char *ref;      /* refs/heads/PREFIX+host */
	const char *url;      /* reports.url, for this host's shard */
	const struct queue *q;
	unsigned dropped;
	const struct cg_reportkey *key; /* signs each report commit */
	/* plan: the one report, in memory (q has one entry, no name) */
	const char *mem;
	size_t memlen;
	bool refetch;         /* fetch the ref first, whatever we pushed */
};

void cg_report_shard_url(const char *url, unsigned shards, unsigned shard,
			 char *out, size_t size)
{
	const char *at = strstr(url, "{shard}");
	int width = 1;
	unsigned m;

	for (m = shards > 1 ? shards - 1 : 0; m >= 10; m /= 10)
		width++;
	if (!at)
		snprintf(out, size, "%s", url);
	else
		snprintf(out, size, "%.*s%0*u%s", (int)(at - url), url, width,
			 shard, at + strlen("{shard}"));
}

unsigned cg_report_shard_of(const char *host, unsigned shards)
{
	unsigned char d[CG_SHA256_LEN];
	uint32_t v;

	if (shards <= 1)
		return 0;
	cg_sha256_buf(host, strlen(host), d);
	v = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 |
	    d[3];
	return v % shards;
}

/*
 * A report commit signed with the host's key, as git commit -S makes
 * one with gpg.format=ssh: the signature over the commit without it, in
 * a gpgsig header.
 */
static int create_signed(git_oid *out, git_repository *repo,
			 const struct cg_reportkey *key,
			 const git_signature *sig, const char *msg,
			 const git_tree *tree, size_t nparents,
			 const git_commit **parents)
{
	git_buf content = { 0 };
	struct cg_buf armored = { 0 };
	int rc;

	rc = git_commit_create_buffer(&content, repo, sig, sig, NULL, msg,
				      tree, nparents, parents);
	if (rc == 0 &&
	    cg_reportkey_sign(key, "git", content.ptr, content.size, &armored,
			      NULL) < 0) {
		git_error_set_str(GIT_ERROR_NONE, "cannot sign the report "
				  "commit");
		rc = -1;
	}
	/* libgit2 indents after every newline: none after the last line. */
	if (rc == 0 && armored.len && armored.data[armored.len - 1] == '\n')
		armored.data[--armored.len] = '\0';
	if (rc == 0)
		rc = git_commit_create_with_signature(out, repo, content.ptr,
						      armored.data, "gpgsig");
	git_buf_dispose(&content);
	cg_buf_release(&armored);
	return rc;
}

bool cg_report_trailer(const char *msg, const char *key, char *out,
		       size_t size)
{
	size_t klen = strlen(key);
	const char *l;

	for (l = msg; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, key, klen) == 0 && l[klen] == ':' &&
		    l[klen + 1] == ' ') {
			size_t n = strcspn(l + klen + 2, "\n");

			if (n >= size)
				n = size - 1;
			memcpy(out, l + klen + 2, n);
			out[n] = '\0';
			return true;
		}
	}
	return false;
}

const char *cg_report_change(const char *state_dir, const char *commit,
			     const struct cg_counts *c)
{
	struct cg_jlimits lim = cg_jlimits_default;
	struct cg_jdoc doc = { 0 };
	struct cg_buf b = { 0 };
	const struct cg_jnode *v;
	const char *kind = "rollout", *prev;
	char *path;
	int fd;

	if (!c->repaired && !c->drifted)
		return NULL;
	path = reports_path(state_dir, "last-run.json");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(path);
	if (fd < 0)
		return kind; /* the first run: all of it is the policy's doing */
	lim.max_bytes = (size_t)256 << 20;
	lim.max_nodes = SIZE_MAX / 2;
	if (cg_read_fd(fd, &b, lim.max_bytes, NULL) == 0 &&
	    cg_jdoc_parse(&doc, b.data ? b.data : "", b.len, &lim, NULL) == 0) {
		v = cg_jnode_get(&doc, cg_jdoc_root(&doc), "commit");
		prev = cg_jnode_str(&doc, v);
		/* null and null: the same local policy (--policy DIR). */
		if (v && ((!prev && !commit && cg_jnode_is(v, CG_JNULL)) ||
			  (prev && commit && strcmp(prev, commit) == 0)))
			kind = "drift";
	}
	close(fd);
	cg_jdoc_release(&doc);
	cg_buf_release(&b);
	return kind;
}

const char *cg_report_state(int64_t exit_status, const int64_t count[5],
			    bool refused, bool stale_source, bool rollout)
{
	/* The worst first; each word is one a run's exit status allows. */
	if (exit_status == 1 || count[3] || count[4])
		return "failed";
	if (refused)
		return "refused";
	if (exit_status & 4)
		return "failed";
	if (stale_source)
		return "stale source";
	if (count[2])
		return rollout ? "rolled out" : "repaired";
	if (count[1])
		return "drifted";
	return "congruent";
}

/* The subject of a report's commit: "HOST: STATE (counts)". */
static void subject(struct cg_buf *m, const char *host, const char *data,
		    size_t len, bool heartbeat)
{
	static const char *const names[] = { "ok", "drifted", "repaired",
					     "failed", "skipped" };
	struct cg_jlimits lim = cg_jlimits_default;
	struct cg_jdoc doc = { 0 };
	const struct cg_jnode *sum = NULL, *root = NULL, *src;
	int64_t v[5] = { 0 }, extra = 0, status = 0;
	bool refused = false, stale = false, rollout, plan;
	size_t i;

	lim.max_bytes = len + 1;
	lim.max_nodes = SIZE_MAX / 2;
	if (cg_jdoc_parse(&doc, data, len, &lim, NULL) == 0) {
		root = cg_jdoc_root(&doc);
		sum = cg_jnode_get(&doc, root, "summary");
	}
	for (i = 0; i < 5; i++)
		cg_jnode_get_int(&doc, sum, names[i], &v[i]);
	/* Rules in managed chains nobody known owns: the fleet sees them. */
	cg_jnode_get_int(&doc, sum, "extra", &extra);
	cg_jnode_get_int(&doc, root, "exit_status", &status);
	plan = cg_jnode_get_str(&doc, root, "command") &&
	       strcmp(cg_jnode_get_str(&doc, root, "command"), "plan") == 0;
	src = cg_jnode_get(&doc, root, "source");
	refused = cg_jnode_get_str(&doc, src, "refused_commit") != NULL;
	cg_jnode_bool(cg_jnode_get(&doc, src, "stale"), &stale);
	rollout = cg_jnode_get_str(&doc, root, "change") &&
		  strcmp(cg_jnode_get_str(&doc, root, "change"), "rollout") == 0;
	cg_buf_addf(m, "%s%s%s: %s (%" PRId64 " ok, %" PRId64 " repaired, %" PRId64
		       " failed, %" PRId64 " skipped",
		    heartbeat ? "heartbeat " : "", plan ? "plan " : "", host,
		    cg_report_state(status, v, refused, stale, rollout), v[0], v[2],
		    v[3], v[4]);
	if (v[1] > 0)
		cg_buf_addf(m, ", %" PRId64 " drifted", v[1]);
	if (extra > 0)
		cg_buf_addf(m, ", %" PRId64 " extra", extra);
	cg_buf_addstr(m, ")\n");
	cg_jdoc_release(&doc);
}

/* The callbacks share one payload (the ssh auth): this is the child's. */
static char push_why[512];

static int push_ref_cb(const char *refname, const char *status, void *data)
{
	(void)data;
	if (status)
		snprintf(push_why, sizeof(push_why), "%s refused: %s", refname,
			 status);
	return 0;
}

/*
 * What the server printed (a pre-receive hook's reason), kept to say why
 * a push was refused: the tail of it, printable ASCII only, since the
 * server is not ours to trust with the terminal.
 */
static char push_remote[2048];
static size_t push_remote_len;

static int push_sideband_cb(const char *str, int len, void *data)
{
	int i;

	(void)data;
	for (i = 0; i < len; i++) {
		char c = str[i] == '\r' ? '\n' : str[i];

		if (c != '\n' && (c < 0x20 || c > 0x7e))
			c = '?';
		if (push_remote_len + 1 >= sizeof(push_remote)) {
			memmove(push_remote, push_remote + 1024,
				push_remote_len - 1024);
			push_remote_len -= 1024;
		}
		push_remote[push_remote_len++] = c;
	}
	push_remote[push_remote_len] = '\0';
	return 0;
}

/* The server's last non-empty line, or "". */
static void push_remote_reason(char *out, size_t size)
{
	char *end = push_remote + push_remote_len, *b;

	while (end > push_remote && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	for (b = end; b > push_remote && b[-1] != '\n'; b--)
		;
	snprintf(out, size, "%.*s", (int)(end - b), b);
}

/*
 * Commit every queued report on top of the host's ref as fetched, and
 * push. Says "ok FILES COMMITS TIP", or what failed.
 */
static int push_child(void *arg, char *msg, size_t size)
{
	const struct push_args *a = arg;
	git_repository *repo = NULL;
	git_remote *remote = NULL;
	git_reference *ref = NULL;
	git_fetch_options fo;
	git_push_options po;
	git_oid tip;
	bool have_tip = false;
	char spec[600], tip_digest[65] = "";
	char *specs[] = { spec };
	git_strarray refspecs = { specs, 1 };
	int64_t tip_time = 0;
	unsigned commits = 0, dropped = a->dropped;
	bool skipped = false, pushing = false;
	char why[1100] = ""; /* push_why and what the server said */
	char pushed_ref[64];
	const git_error *ge;
	void *auth = NULL;
	size_t i;
	int rc;

	if (cg_git_child_begin(a->c, a->url, msg, size) < 0)
		return -1;
	{
		unsigned char d[CG_SHA256_LEN];
		struct cg_buf k = { 0 };
		char hex[65];

		cg_buf_addf(&k, "%s\n%s", a->url, a->ref);
		cg_sha256_buf(k.data, k.len, d);
		cg_hex(d, sizeof(d), hex);
		cg_buf_release(&k);
		snprintf(pushed_ref, sizeof(pushed_ref), PUSHED_PREFIX "%.16s",
			 hex);
	}
	rc = git_repository_open_bare(&repo, a->repo_path);
	if (rc < 0)
		rc = git_repository_init(&repo, a->repo_path, 1);
	if (rc < 0)
		goto git_fail;
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	fo.update_fetchhead = 0;
	cg_git_auth_callbacks(&fo.callbacks, a->url, a->c->ssh_key,
			      a->c->known_hosts, &auth);
	/*
	 * Our ref on the server is where our last push left it, unless
	 * someone moved it (fleet compact, fleet forget): build on that
	 * without a fetch, one connection fewer. If the push then fails,
	 * the parent asks again with refetch.
	 */
	skipped = !a->refetch &&
		  git_reference_name_to_id(&tip, repo, pushed_ref) == 0;
	if (skipped) {
		rc = git_reference_create(&ref, repo, CENTRAL_REF, &tip, 1,
					  "congruent report: as pushed");
		git_reference_free(ref);
		ref = NULL;
		if (rc < 0)
			goto git_fail;
	} else {
		/* libgit2 1.5 ignores "+": fetch into a ref that does not exist. */
		if (git_reference_lookup(&ref, repo, CENTRAL_REF) == 0) {
			git_reference_delete(ref);
			git_reference_free(ref);
			ref = NULL;
		}
		if (git_reference_lookup(&ref, repo, pushed_ref) == 0)
			git_reference_delete(ref);
		git_reference_free(ref);
		ref = NULL;
		snprintf(spec, sizeof(spec), "%s:" CENTRAL_REF, a->ref);
		rc = git_remote_create_anonymous(&remote, repo, a->url);
		if (rc == 0)
			rc = git_remote_fetch(remote, &refspecs, &fo,
					      "congruent report");
		if (rc < 0)
			goto git_fail;
		git_remote_free(remote);
		remote = NULL;
	}
	if (git_reference_name_to_id(&tip, repo, CENTRAL_REF) == 0) {
		git_commit *c = NULL;
		git_odb *odb = NULL;
		git_object_t type;
		size_t len = 0;

		have_tip = true;
		/*
		 * Our ref on the central side is ours, unless the central
		 * repository is not: its size from the header first, as
		 * fleet does, before building on it.
		 */
		if (git_repository_odb(&odb, repo) == 0 &&
		    git_odb_read_header(&len, &type, odb, &tip) == 0 &&
		    (type != GIT_OBJECT_COMMIT || len > REPORT_COMMIT_MAX)) {
			git_odb_free(odb);
			snprintf(msg, size, "%s on the central repository "
					    "points at a %s of %zu bytes, not "
					    "a report commit (at most %u)",
				 a->ref, git_object_type2string(type), len,
				 REPORT_COMMIT_MAX);
			goto fail;
		}
		git_odb_free(odb);
		if (git_commit_lookup(&c, repo, &tip) == 0) {
			cg_report_trailer(git_commit_message(c),
					  "Congruent-State", tip_digest,
					  sizeof(tip_digest));
			tip_time = git_commit_time(c);
			git_commit_free(c);
		}
	}
	for (i = 0; i < a->q->n; i++) {
		const struct qent *e = &a->q->e[i];
		struct cg_buf data = { 0 }, m = { 0 };
		git_treebuilder *tb = NULL;
		git_signature *sig = NULL;
		git_commit *parent = NULL;
		git_oid blob, tree_id, commit_id;
		git_tree *tree = NULL;
		bool same = strcmp(e->digest, tip_digest) == 0;
		char *path;
		int fd;

		/*
		 * The central copy is newer than what this host remembers.
		 * Only known when fetched: a tip taken from our last push
		 * may be behind (plan pushes from a scratch repository), and
		 * then the queue's own decision stands.
		 */
		if (!skipped && same && a->c->reports_heartbeat &&
		    e->time >= tip_time &&
		    e->time - tip_time < (int64_t)a->c->reports_heartbeat)
			continue;
		if (a->mem) {
			cg_buf_add(&data, a->mem, a->memlen);
			goto have_data;
		}
		path = cg_xasprintf("%s/%s", a->qdir, e->name);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 || cg_read_fd(fd, &data, (size_t)256 << 20, NULL) < 0) {
			snprintf(msg, size, "cannot read %s", path);
			if (fd >= 0)
				close(fd);
			free(path);
			cg_buf_release(&data);
			goto fail;
		}
		close(fd);
		free(path);
have_data:
		subject(&m, a->host, data.data ? data.data : "", data.len, same);
		cg_buf_addf(&m, "\nCongruent-State: %s\n", e->digest);
		if (dropped)
			cg_buf_addf(&m, "Congruent-Dropped: %u\n", dropped);
		rc = git_blob_create_from_buffer(&blob, repo, data.data, data.len);
		if (rc == 0)
			rc = git_treebuilder_new(&tb, repo, NULL);
		if (rc == 0)
			rc = git_treebuilder_insert(NULL, tb, "report.json", &blob,
						    GIT_FILEMODE_BLOB);
		if (rc == 0)
			rc = git_treebuilder_write(&tree_id, tb);
		if (rc == 0)
			rc = git_tree_lookup(&tree, repo, &tree_id);
		if (rc == 0)
			rc = git_signature_new(&sig, a->host, "congruent@report",
					       e->time, 0);
		if (rc == 0 && have_tip)
			rc = git_commit_lookup(&parent, repo, &tip);
		if (rc == 0) {
			const git_commit *parents[1] = { parent };

			rc = create_signed(&commit_id, repo, a->key, sig,
					   m.data, tree, have_tip ? 1 : 0,
					   parents);
		}
		git_commit_free(parent);
		git_signature_free(sig);
		git_tree_free(tree);
		git_treebuilder_free(tb);
		cg_buf_release(&data);
		cg_buf_release(&m);
		if (rc < 0)
			goto git_fail;
		tip = commit_id;
		have_tip = true;
		memcpy(tip_digest, e->digest, sizeof(tip_digest));
		tip_time = e->time;
		dropped = 0;
		commits++;
	}
	if (commits) {
		rc = git_reference_create(&ref, repo, OUT_REF, &tip, 1,
					  "congruent report");
		git_reference_free(ref);
		ref = NULL;
		if (rc < 0)
			goto git_fail;
		git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
		po.callbacks = fo.callbacks;
		po.callbacks.push_update_reference = push_ref_cb;
		po.callbacks.sideband_progress = push_sideband_cb;
		snprintf(spec, sizeof(spec), OUT_REF ":%s", a->ref);
		rc = git_remote_create_anonymous(&remote, repo, a->url);
		pushing = true;
		if (rc == 0)
			rc = git_remote_push(remote, &refspecs, &po);
		if (rc < 0)
			goto git_fail;
		if (push_why[0]) {
			char said[512];

			push_remote_reason(said, sizeof(said));
			if (said[0])
				snprintf(why, sizeof(why),
					 "%s (the server said: %s)", push_why,
					 said);
			else
				snprintf(why, sizeof(why), "%s", push_why);
			goto fail;
		}
		/* What the server took: the next push builds on it. */
		rc = git_reference_create(&ref, repo, pushed_ref, &tip, 1,
					  "congruent report: pushed");
		git_reference_free(ref);
		ref = NULL;
		if (rc < 0)
			goto git_fail;
	}
	git_oid_tostr(spec, sizeof(spec), &tip);
	snprintf(msg, size, "ok %zu %u %s", a->q->n, commits,
		 have_tip ? spec : "-");
	free(auth);
	git_remote_free(remote);
	git_repository_free(repo);
	return 0;
git_fail:
	ge = git_error_last();
	if (auth && cg_git_auth_why(auth))
		snprintf(why, sizeof(why), "%s", cg_git_auth_why(auth));
	else
		snprintf(why, sizeof(why), "%s",
			 ge && ge->message ? ge->message : "git failed");
fail:
	if (why[0])
		snprintf(msg, size, "%s%s", skipped && pushing ? RETRY : "",
			 why);
	free(auth);
	git_remote_free(remote);
	git_repository_free(repo);
	return -1;
}

int cg_report_push(const struct cg_config *c, const char *state_dir,
		   const char *host, struct cg_report_status *st,
		   struct cg_error *err)
{
	char *qdir = reports_path(state_dir, "queue");
	char *repo_path = reports_path(state_dir, "repo.git");
	char ref[512], msg[1024], tip[48] = "", url[1024];
	struct cg_reportkey key = { 0 };
	struct cg_error perr;
	struct push_args a;
	struct queue q;
	unsigned files = 0, commits = 0;
	size_t i;
	int rc;

	rc = cg_report_ref(c->reports_prefix, host, ref, sizeof(ref), err);
	if (rc < 0)
		goto out;
	rc = queue_read(qdir, &q, err);
	if (rc < 0)
		goto out;
	if (!q.n)
		goto out_queue;
	rc = cg_report_signing_key(c, state_dir, true, &key, NULL, err);
	if (rc < 0) {
		cg_error_prefix(err, "reports are not pushed");
		goto out_queue;
	}
	memset(&a, 0, sizeof(a));
	a.key = &key;
	a.c = c;
	a.repo_path = repo_path;
	a.qdir = qdir;
	a.host = host;
	a.ref = ref;
	cg_report_shard_url(c->reports_url, c->reports_shards,
			    cg_report_shard_of(host, c->reports_shards), url,
			    sizeof(url));
	a.url = url;
	a.q = &q;
	a.dropped = read_dropped(state_dir);
	cg_error_clear(&perr);
	rc = cg_git_in_child(c->reports_timeout, push_child, &a, msg,
			     sizeof(msg), &perr);
	if (rc < 0 && cg_str_starts(perr.msg, RETRY)) {
		a.refetch = true;
		cg_error_clear(&perr);
		rc = cg_git_in_child(c->reports_timeout, push_child, &a, msg,
				     sizeof(msg), &perr);
	}
	if (rc < 0) {
		struct stat sb;

		*err = perr;
		/* libgit2 calls a missing path "unsupported URL protocol". */
		if (url[0] == '/' && stat(url, &sb) < 0)
			snprintf(err->msg, sizeof(err->msg), "no repository there");
		cg_error_prefix(err, "cannot push to %s", url);
		cg_error_hint(err, "%u report%s (%zu bytes) wait%s in %s for the "
				   "next run",
			      (unsigned)q.n, q.n == 1 ? "" : "s", q.bytes,
			      q.n == 1 ? "s" : "", qdir);
		goto out_queue;
	}
	if (sscanf(msg, "ok %u %u %47s", &files, &commits, tip) != 3 ||
	    files != q.n) {
		rc = cg_error_set(err, CG_ERR, "the push child said '%s'", msg);
		goto out_queue;
	}
	/* Delivered: out of the queue, oldest first. */
	for (i = 0; i < q.n; i++) {
		char *path = cg_xasprintf("%s/%s", qdir, q.e[i].name);

		if (unlink(path) < 0 && errno != ENOENT)
			rc = cg_error_sys(err, CG_ERR, "cannot remove %s", path);
		free(path);
		if (rc < 0)
			goto out_queue;
	}
	st->pending = 0;
	st->pending_bytes = 0;
	st->delivered = files;
	st->commits = commits;
	snprintf(st->tip, sizeof(st->tip), "%s", tip);
	rc = write_dropped(state_dir, 0, err);
out_queue:
	cg_reportkey_release(&key);
	queue_release(&q);
out:
	free(qdir);
	free(repo_path);
	return rc;
}

int cg_report_signing_key(const struct cg_config *c, const char *state_dir,
			  bool create, struct cg_reportkey *out,
			  char **path_out, struct cg_error *err)
{
	char *path = c->reports_signing_key
			     ? cg_xstrdup(c->reports_signing_key)
			     : cg_xasprintf("%s/report.key", state_dir);
	int rc;

	rc = cg_reportkey_load(out, path, create && !c->reports_signing_key,
			       NULL, err);
	if (rc == 0 && path_out)
		*path_out = path;
	else
		free(path);
	return rc;
}

/* --- plan: one report, pushed at once -------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

int cg_report_push_now(const struct cg_config *c, const char *state_dir,
		       const struct cg_policy *p,
		       const struct cg_run_info *info,
		       const struct cg_counts *counts,
		       struct cg_report_status *st, struct cg_error *err)
{
	char *qdir = state_dir ? reports_path(state_dir, "queue") : NULL;
	char *lastpath = state_dir ? reports_path(state_dir, "last") : NULL;
	struct queue pending = { 0 };
	const char *tmpdir = getenv("TMPDIR");
	char ref[512], msg[1024], tip[48] = "", url[1024], *tmp;
	char *repo_path = NULL;
	struct cg_buf b = { 0 };
	struct cg_reportkey key = { 0 };
	struct cg_error perr;
	struct push_args a;
	struct qent e = { 0 };
	struct queue q = { 0 };
	unsigned files = 0, commits = 0;
	int rc;

	memset(st, 0, sizeof(*st));
	tmp = NULL;
	rc = cg_report_ref(c->reports_prefix, info->host ? info->host : "", ref,
			   sizeof(ref), err);
	if (rc < 0)
		goto out;
	/*
	 * Reports of runs wait in the queue: plan's, newer, would come
	 * before them on the host's ref, and fleet would take an old run's
	 * for the host's last word. The run that delivers them reports.
	 */
	if (qdir && queue_read(qdir, &pending, NULL) == 0 && pending.n) {
		rc = cg_error_set(err, CG_ERR, "plan's report is not pushed: %zu "
					       "report%s of runs wait in %s",
				  pending.n, pending.n == 1 ? "" : "s", qdir);
		cg_error_hint(err, "the next run delivers them (and its own)");
		goto out;
	}
	/*
	 * Signed like run's reports, with the key a run made: plan makes
	 * none (it writes nothing), so before the first run's push it
	 * cannot report.
	 */
	if (!state_dir && !c->reports_signing_key) {
		rc = cg_error_set(err, CG_ERR, "plan's report is not pushed: "
					       "no report key");
		goto out;
	}
	rc = cg_report_signing_key(c, state_dir, false, &key, NULL, err);
	if (rc < 0) {
		cg_error_prefix(err, "plan's report is not pushed");
		cg_error_hint(err, "a run makes the report key (STATE/report.key) "
				   "on its first push, or set reports.signing_key");
		goto out;
	}
	rc = report_json(p, info, counts, &b, err);
	if (rc < 0)
		goto out;
	/*
	 * libgit2 commits and pushes from a repository on disk (see
	 * doc/design-notes.md): a scratch one, outside STATE, gone after.
	 */
	tmp = cg_xasprintf("%s/congruent-plan-XXXXXX",
			   tmpdir && *tmpdir ? tmpdir : "/tmp");
	if (!mkdtemp(tmp)) {
		rc = cg_error_sys(err, CG_ERR, "cannot make a scratch "
					       "directory %s", tmp);
		cg_error_hint(err, "plan pushes its report from a scratch "
				   "repository: TMPDIR must be writable");
		goto out;
	}
	repo_path = cg_xasprintf("%s/repo.git", tmp);
	cg_report_digest(p, info, e.digest);
	e.time = info->started;
	e.bytes = b.len;
	q.e = &e;
	q.n = 1;
	q.bytes = b.len;
	memset(&a, 0, sizeof(a));
	a.c = c;
	a.repo_path = repo_path;
	a.qdir = tmp;
	a.host = info->host;
	a.ref = ref;
	a.q = &q;
	a.mem = b.data;
	a.memlen = b.len;
	a.key = &key;
	cg_report_shard_url(c->reports_url, c->reports_shards,
			    cg_report_shard_of(a.host ? a.host : "",
					       c->reports_shards),
			    url, sizeof(url));
	a.url = url;
	cg_error_clear(&perr);
	rc = cg_git_in_child(c->reports_timeout, push_child, &a, msg,
			     sizeof(msg), &perr);
	nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (rc < 0) {
		struct stat sb;

		*err = perr;
		if (url[0] == '/' && stat(url, &sb) < 0)
			snprintf(err->msg, sizeof(err->msg), "no repository there");
		cg_error_prefix(err, "cannot push plan's report to %s", url);
		cg_error_hint(err, "plan keeps no queue: the next plan or run "
				   "reports again");
		goto out;
	}
	if (sscanf(msg, "ok %u %u %47s", &files, &commits, tip) != 3 ||
	    files != 1) {
		rc = cg_error_set(err, CG_ERR, "the push child said '%s'", msg);
		goto out;
	}
	st->delivered = files;
	st->commits = commits;
	snprintf(st->tip, sizeof(st->tip), "%s", tip);
	/*
	 * The one write plan makes, and only where runs report already:
	 * "last" says what the host's ref says now (plan's report), so
	 * that the next run reports even when it says what the run before
	 * plan said (a run deduplicates against "last"). See
	 * doc/design-notes.md.
	 */
	if (lastpath && access(lastpath, F_OK) == 0 &&
	    write_last(state_dir, e.digest, e.time, err) < 0) {
		cg_error_prefix(err, "plan's report was pushed, but");
		cg_error_hint(err, "the next run may not report if it finds "
				   "what the last run found");
		rc = CG_ERR;
	}
out:
	cg_reportkey_release(&key);
	queue_release(&pending);
	free(qdir);
	free(lastpath);
	free(repo_path);
	free(tmp);
	cg_buf_release(&b);
	return rc;
}
