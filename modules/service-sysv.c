/* service-sysv.c: services under sysvinit: /etc/rcN.d links numbered from
 * the start order, and `service` to start, stop and restart. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg/exec.h"
#include "cg/fs.h"
#include "cg/store.h"
#include "service.h"

/* The runlevels with an rc directory, in the order links are listed. */
#define RC_LEVELS "0123456S"
#define SCRIPT_MAX (256u << 10)
#define SERVICE_TIMEOUT_MS 120000u

/* A link in an rc directory that names one of our services. */
struct link {
	char level;    /* '0'..'6', 'S' */
	char kind;     /* 'S' or 'K' */
	unsigned number;
	char *name;    /* owned: the service */
	char *entry;   /* owned: the directory entry ("S20nginx") */
	bool ours;     /* a symlink to ../init.d/NAME or /etc/init.d/NAME */
};

struct links {
	struct link *v; /* owned */
	size_t n, cap;
};

static void links_release(struct links *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].entry);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static bool wanted(const char *const *names, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

/* "/etc/rc2.d" opened inside the root; -1 if it is not there. */
static int open_rc_dir(struct cg_root *root, char level)
{
	char path[32];
	const char *base;
	int etc, fd;

	snprintf(path, sizeof(path), "/etc/rc%c.d", level);
	if (cg_root_open_parent(root, path, 0, &etc, &base, NULL, NULL) < 0)
		return -1;
	fd = openat(etc, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(etc);
	return fd;
}

/* Every [SK]NNname link of the names of interest, in all rc dirs. */
static void scan_links(struct cg_root *root, const char *const *names,
		       size_t nnames,
		       struct links *out)
{
	const char *lv;

	for (lv = RC_LEVELS; *lv; lv++) {
		int fd = open_rc_dir(root, *lv);
		struct dirent *de;
		DIR *d;

		if (fd < 0)
			continue;
		d = fdopendir(fd);
		if (!d) {
			close(fd);
			continue;
		}
		while ((de = readdir(d))) {
			const char *e = de->d_name;
			char target[512];
			struct link *l;
			ssize_t len;

			if ((e[0] != 'S' && e[0] != 'K') || e[1] < '0' ||
			    e[1] > '9' || e[2] < '0' || e[2] > '9' || !e[3] ||
			    !wanted(names, nnames, e + 3))
				continue;
			cg_grow(&out->v, &out->cap, out->n + 1, sizeof(*out->v));
			l = &out->v[out->n++];
			l->level = *lv;
			l->kind = e[0];
			l->number = (unsigned)(e[1] - '0') * 10 +
				    (unsigned)(e[2] - '0');
			l->name = cg_xstrdup(e + 3);
			l->entry = cg_xstrdup(e);
			len = readlinkat(dirfd(d), e, target, sizeof(target) - 1);
			if (len > 0) {
				char *a, *b;

				target[len] = '\0';
				a = cg_xasprintf("../init.d/%s", l->name);
				b = cg_xasprintf("/etc/init.d/%s", l->name);
				l->ours = strcmp(target, a) == 0 ||
					  strcmp(target, b) == 0;
				free(a);
				free(b);
			} else {
				l->ours = false;
			}
		}
		closedir(d);
	}
}

static int level_index(char level)
{
	return (int)(strchr(RC_LEVELS, level) - RC_LEVELS);
}

static int cmp_lines(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	/* "rcL.d/...": by runlevel in RC_LEVELS order, then by name. */
	int d = level_index(x[2]) - level_index(y[2]);

	return d ? d : strcmp(x, y);
}

/* Lines (owned strings) sorted and joined, each ending in '\n'. */
static char *join_sorted(char **lines, size_t n)
{
	struct cg_buf b = { 0 };
	size_t i;

	if (!n)
		return NULL;
	qsort(lines, n, sizeof(*lines), cmp_lines);
	for (i = 0; i < n; i++) {
		cg_buf_addf(&b, "%s\n", lines[i]);
		free(lines[i]);
	}
	return cg_buf_detach(&b, NULL);
}

/* The links of name as they are: "rc2.d/S20name", one per line. */
static char *links_of(const struct links *l, const char *name)
{
	char **lines = cg_xcalloc(l->n + 1, sizeof(*lines));
	char *s;
	size_t i, k = 0;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0)
			lines[k++] = cg_xasprintf("rc%c.d/%s%s", l->v[i].level,
						  l->v[i].entry,
						  l->v[i].ours ? ""
							       : " (not a link "
								 "to its "
								 "script)");
	s = join_sorted(lines, k);
	free(lines);
	return s;
}

/* Its S number, if it starts in a runlevel 2-5 (the lowest); else 0. */
static unsigned start_number(const struct links *l, const char *name)
{
	unsigned best = 0;
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0 && l->v[i].kind == 'S' &&
		    strchr("2345", l->v[i].level) &&
		    (!best || l->v[i].number < best))
			best = l->v[i].number;
	return best;
}

static bool has_start_link(const struct links *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0 && l->v[i].kind == 'S' &&
		    l->v[i].level != '0' && l->v[i].level != '6')
			return true;
	return false;
}

/* Open /etc/init.d/NAME's directory; CG_ENOTFOUND if there is none. */
static int script_dir(struct cg_root *root, const char *name, int *dirfd,
		      const char **base, char *path, size_t size)
{
	snprintf(path, size, "/etc/init.d/%s", name);
	return cg_root_open_parent(root, path, 0, dirfd, base, NULL, NULL);
}

static bool script_exists(struct cg_root *root, const char *name)
{
	char path[300];
	const char *base;
	struct stat st;
	int dirfd;
	bool ok;

	/* A unit name (foo.target) has no init script. */
	if (svc_has_unit_suffix(name) ||
	    script_dir(root, name, &dirfd, &base, path, sizeof(path)) < 0)
		return false;
	ok = fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	     (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode));
	close(dirfd);
	return ok;
}

/* Copy the runlevels of an LSB header field ("2 3 4 5") as "2345". */
static void lsb_levels(const char *v, char *out, size_t size)
{
	size_t k = 0;

	for (; *v && *v != '\n' && k + 1 < size; v++)
		if (strchr(RC_LEVELS, *v) && !memchr(out, *v, k))
			out[k++] = *v;
		else if (*v == 's' && !memchr(out, 'S', k))
			out[k++] = 'S';
	out[k] = '\0';
}

/*
 * Default-Start and Default-Stop of the script's LSB header; Debian's
 * defaults (2345 and 016) when it has none.
 */
static void read_lsb(struct cg_root *root, const char *name,
		     struct svc_seen *s)
{
	char path[300];
	struct cg_buf b = { 0 };
	const char *base, *p, *end;
	int dirfd, fd;

	snprintf(s->start_levels, sizeof(s->start_levels), "2345");
	snprintf(s->stop_levels, sizeof(s->stop_levels), "016");
	if (script_dir(root, name, &dirfd, &base, path, sizeof(path)) < 0)
		return;
	fd = openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	close(dirfd);
	if (fd < 0)
		return;
	if (cg_read_fd(fd, &b, SCRIPT_MAX, NULL) == 0 && b.data) {
		p = strstr(b.data, "### BEGIN INIT INFO");
		end = p ? strstr(p, "### END INIT INFO") : NULL;
		while (p && end && (p = strchr(p, '\n')) && p < end) {
			p++;
			if (cg_str_starts(p, "# Default-Start:"))
				lsb_levels(p + 16, s->start_levels,
					   sizeof(s->start_levels));
			else if (cg_str_starts(p, "# Default-Stop:"))
				lsb_levels(p + 15, s->stop_levels,
					   sizeof(s->stop_levels));
		}
	}
	cg_buf_release(&b);
	close(fd);
}

/* `service NAME VERB`; 0 when it ran (res->status says how). */
static int service_cmd(const char *name, const char *verb,
		       struct cg_exec_result *res, struct cg_error *err)
{
	const char *argv[] = { "service", name, verb, NULL };
	struct cg_exec x;

	cg_exec_init(&x, argv);
	x.timeout_ms = SERVICE_TIMEOUT_MS;
	return cg_exec_run(&x, res, err);
}

static int sv_observe(const struct svc_run *run, struct cg_resource **res,
		      size_t n, struct cg_error *err)
{
	struct cg_root *root = run->ctx->root;
	struct links l = { 0 };
	const char **names;
	size_t i, j, k = 0, total = 0;

	(void)err;
	for (i = 0; i < n; i++) {
		const struct svc_want *w = res[i]->desired;

		total += 1 + w->nafter + w->nbefore;
	}
	names = cg_xcalloc(total + 1, sizeof(*names));
	for (i = 0; i < n; i++) {
		const struct svc_want *w = res[i]->desired;

		names[k++] = res[i]->name;
		for (j = 0; j < w->nafter; j++)
			names[k++] = w->after[j];
		for (j = 0; j < w->nbefore; j++)
			names[k++] = w->before[j];
	}
	scan_links(root, names, k, &l);
	for (i = 0; i < n; i++) {
		struct cg_resource *r = res[i];
		const struct svc_want *w = r->desired;
		struct svc_seen *s = cg_xcalloc(1, sizeof(*s));

		svc_seen_free(r->observed);
		r->observed = s;
		s->be = &svc_backend_sysv;
		s->offline = run->offline;
		s->present = script_exists(root, r->name);
		s->order_have = links_of(&l, r->name);
		s->enabled = has_start_link(&l, r->name);
		snprintf(s->state, sizeof(s->state), "%s",
			 s->enabled ? "enabled"
			 : s->order_have ? "disabled"
					 : "no links");
		/* `service NAME reload` fails by itself where there is none. */
		s->can_reload = true;
		read_lsb(root, r->name, s);
		if (s->present && !run->offline) {
			struct cg_exec_result out;

			/* LSB: status 0 is running; 1-4, not or unknown. */
			s->running = service_cmd(r->name, "status", &out,
						 NULL) == 0 &&
				     out.status == 0;
			cg_exec_result_release(&out);
		}
		s->dep_present = cg_xcalloc(w->nafter + w->nbefore + 1,
					    sizeof(*s->dep_present));
		s->dep_number = cg_xcalloc(w->nafter + w->nbefore + 1,
					   sizeof(*s->dep_number));
		for (j = 0; j < w->nafter + w->nbefore; j++) {
			const char *d = j < w->nafter ? w->after[j]
						      : w->before[j - w->nafter];

			s->dep_present[j] = script_exists(root, d);
			s->dep_number[j] = start_number(&l, d);
		}
	}
	links_release(&l);
	free(names);
	return 0;
}

/*
 * The links the policy wants: enabled, S in the script's start levels
 * and K in its stop levels; disabled, K in both. The stop number is
 * 100 - the start number, so that stopping reverses the start order.
 */
static char *sv_order_want(const struct svc_run *run,
			   const struct cg_resource *r)
{
	const struct svc_want *w = r->desired;
	const struct svc_seen *s = r->observed;
	char **lines = cg_xcalloc(strlen(RC_LEVELS) + 1, sizeof(*lines));
	const char *lv;
	char *out;
	size_t k = 0;
	int en;

	(void)run;
	en = w->enabled != SVC_UNSET ? w->enabled
	     : s->enabled	     ? 1
	     : s->order_have	     ? 0
				     : -1;
	if (!s->present || en < 0 || !w->number) {
		free(lines);
		/* No number (a conflict, reported): leave them as they are. */
		return s->present && en >= 0 && s->order_have
			       ? cg_xstrdup(s->order_have)
			       : NULL;
	}
	for (lv = RC_LEVELS; *lv; lv++) {
		bool start = strchr(s->start_levels, *lv) != NULL;

		if (en && start)
			lines[k++] = cg_xasprintf("rc%c.d/S%02u%s", *lv,
						  w->number, r->name);
		else if (start || strchr(s->stop_levels, *lv))
			lines[k++] = cg_xasprintf("rc%c.d/K%02u%s", *lv,
						  SVC_NUMBER_MAX + 1 - w->number,
						  r->name);
	}
	out = join_sorted(lines, k);
	free(lines);
	return out;
}

/* The line after p's, or NULL. */
static const char *next_line(const char *p)
{
	const char *nl = strchr(p, '\n');

	return nl && nl[1] ? nl + 1 : NULL;
}

/* "S20: 2 3 4 5; K80: 0 1 6": links grouped by prefix, S before K. */
static char *sv_order_show(const char *order)
{
	struct cg_buf b = { 0 };
	char seen[64][4];
	size_t nseen = 0, i;
	const char *kinds = "SK", *k, *p, *q;

	for (k = kinds; *k; k++) {
		for (p = order; p && *p; p = next_line(p)) {
			char prefix[4];
			bool dup = false;

			if (strlen(p) < 10 || p[6] != *k)
				continue;
			memcpy(prefix, p + 6, 3);
			prefix[3] = '\0';
			for (i = 0; i < nseen; i++)
				dup |= strcmp(seen[i], prefix) == 0;
			if (dup || nseen == CG_ARRAY_SIZE(seen))
				continue;
			memcpy(seen[nseen++], prefix, 4);
			cg_buf_addf(&b, "%s%s:", b.len ? "; " : "", prefix);
			for (q = p; q; q = next_line(q))
				if (strlen(q) >= 10 &&
				    memcmp(q + 6, prefix, 3) == 0)
					cg_buf_addf(&b, " %c", q[2]);
		}
	}
	if (!b.len)
		cg_buf_addstr(&b, "(no links)");
	return cg_buf_detach(&b, NULL);
}

/* Is line ("rc2.d/S20x") one of text's lines? */
static bool has_line(const char *text, const char *line, size_t len)
{
	const char *p;

	for (p = text; p && *p; p = next_line(p))
		if (strncmp(p, line, len) == 0 && (p[len] == '\n' || !p[len]))
			return true;
	return false;
}

/* Remove (keeping it in the store) or add one rc link. */
static int one_link(const struct svc_run *run, const struct cg_resource *r,
		    const char *line, size_t len, bool add,
		    struct cg_error *err)
{
	struct cg_root *root = run->ctx->root;
	char path[300], entry[256], target[300];
	const char *base, *sp;
	int dirfd, rc;

	/* "rc2.d/S20x" or "rc2.d/S20x (not a link to its script)" */
	sp = memchr(line, ' ', len);
	if (sp)
		len = (size_t)(sp - line);
	snprintf(entry, sizeof(entry), "%.*s", (int)len - 6, line + 6);
	snprintf(path, sizeof(path), "/etc/rc%c.d/%s", line[2], entry);
	rc = cg_root_open_parent(root, path, add ? CG_WALK_MKDIR : 0, &dirfd,
				 &base, NULL, err);
	if (rc == CG_ENOTFOUND && !add)
		return 0;
	if (rc < 0)
		return rc;
	if (add) {
		snprintf(target, sizeof(target), "../init.d/%s", r->name);
		if (symlinkat(target, dirfd, base) < 0)
			rc = cg_error_sys(err, CG_ERR, "cannot create %s", path);
	} else {
		rc = cg_store_keep(run->ctx->store, dirfd, base, path, NULL,
				   err);
		if (rc < 0)
			cg_error_prefix(err, "not removing %s: backup failed",
					path);
		else if (unlinkat(dirfd, base, 0) < 0 && errno != ENOENT)
			rc = cg_error_sys(err, CG_ERR, "cannot remove %s", path);
	}
	if (rc == 0)
		rc = cg_fs_sync_dir(dirfd, path, err);
	close(dirfd);
	return rc;
}

/* Make r's links what order_want says: removals first (a renumbering). */
static int relink(const struct svc_run *run, const struct cg_resource *r,
		  struct cg_error *err)
{
	const struct svc_seen *s = r->observed;
	const char *texts[2] = { s->order_have, s->order_want };
	const char *p;
	int pass, rc;

	for (pass = 0; pass < 2; pass++) {
		for (p = texts[pass]; p && *p;) {
			const char *nl = strchr(p, '\n');
			size_t len = nl ? (size_t)(nl - p) : strlen(p);

			if (len > 6 && !has_line(texts[!pass], p, len)) {
				rc = one_link(run, r, p, len, pass == 1, err);
				if (rc < 0)
					return rc;
			}
			p = nl ? nl + 1 : NULL;
		}
	}
	return 0;
}

static void fail_cmd(struct cg_resource *r, const char *verb,
		     const struct cg_exec_result *out)
{
	struct cg_error e;

	cg_error_clear(&e);
	snprintf(e.msg, sizeof(e.msg), "service %s %s failed (exit %d):",
		 r->name, verb, out->status);
	if (out->out.data)
		svc_add_lines(e.msg, sizeof(e.msg), out->out.data, 6);
	if (out->err.data)
		svc_add_lines(e.msg, sizeof(e.msg), out->err.data, 6);
	cg_error_hint(&e, "run /etc/init.d/%s %s by hand to see more", r->name,
		      verb);
	cg_resource_fail(r, &e);
}

static void run_verb(struct cg_resource *r, const char *verb)
{
	struct cg_exec_result out;
	struct cg_error e;

	cg_error_clear(&e);
	((struct svc_want *)r->desired)->acted |= strcmp(verb, "stop") != 0;
	if (service_cmd(r->name, verb, &out, &e) < 0)
		cg_resource_fail(r, &e);
	else if (out.status != 0)
		fail_cmd(r, verb, &out);
	cg_exec_result_release(&out);
}

static int sv_apply(const struct svc_run *run, struct cg_resource **res,
		    const struct svc_todo *t, size_t n, struct cg_error *err)
{
	size_t i;

	(void)err;
	for (i = 0; i < n; i++) {
		struct cg_error e;

		/* A missing script: todo_for failed it (as in plan). */
		cg_error_clear(&e);
		if (t[i].order && relink(run, res[i], &e) < 0)
			cg_resource_fail(res[i], &e);
	}
	if (run->offline)
		return 0;
	/* Stop in reverse start order; start, restart, reload in order. */
	for (i = n; i-- > 0;)
		if (t[i].run == 0 && !cg_resource_is_failed(res[i]))
			run_verb(res[i], "stop");
	for (i = 0; i < n; i++) {
		if (cg_resource_is_failed(res[i]))
			continue;
		if (t[i].run == 1)
			run_verb(res[i], "start");
		else if (t[i].bounce)
			run_verb(res[i], t[i].bounce == 2 ? "reload" : "restart");
	}
	return 0;
}

const struct svc_backend svc_backend_sysv = {
	.name = "sysvinit",
	.has_mask = false,
	.numbers = true,
	.order_field = "rc links",
	.missing = "there is no /etc/init.d/%s on this host",
	.heading = "boot order of the managed services (sysvinit: start "
		   "numbers in /etc/rc2.d, as ls shows them)",
	.observe = sv_observe,
	.order_want = sv_order_want,
	.order_show = sv_order_show,
	.apply = sv_apply,
};
