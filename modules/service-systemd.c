/* service-systemd.c: services under systemd: one `systemctl show` for all,
 * start order as After=/Before= drop-ins, one daemon-reload per apply. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cg/exec.h"
#include "cg/fs.h"
#include "cg/jsonparse.h"
#include "cg/store.h"
#include "service.h"

#define UNIT_MAX 256
#define DROPIN_DIR "/etc/systemd/system/%s.service.d"
#define DROPIN_FILE DROPIN_DIR "/congruent-order.conf"
#define DROPIN_MAX (64u << 10)
/* systemctl start waits for the job; units have their own time-outs. */
#define JOB_TIMEOUT_MS 120000u
/* A Type=simple unit counts as started once forked: watch it a moment. */
#define SETTLE_ROUNDS 5
#define SETTLE_STEP_MS 100
/* What the unit said in the journal: bounded in time, size and lines. */
#define JOURNAL_TIMEOUT_MS 15000u
#define JOURNAL_OUT_MAX (4u << 20)
#define JOURNAL_ROUNDS 5
#define JOURNAL_LINES 12

/* What systemd says about one unit. */
struct unit {
	char name[UNIT_MAX];
	bool present;
	bool stale;
	bool can_reload;
	char load[32];
	char active[32];
	char sub[32];
	char file_state[32];
	char *dropins; /* owned: DropInPaths, as systemd has them loaded */
};

struct units {
	struct unit *v; /* owned */
	size_t n, cap;
};

static size_t unit_add(struct units *u, const char *name)
{
	char unit[UNIT_MAX];
	size_t i;

	svc_unit_name(name, unit, sizeof(unit));
	for (i = 0; i < u->n; i++)
		if (strcmp(u->v[i].name, unit) == 0)
			return i;
	cg_grow(&u->v, &u->cap, u->n + 1, sizeof(*u->v));
	memset(&u->v[u->n], 0, sizeof(u->v[0]));
	snprintf(u->v[u->n].name, UNIT_MAX, "%s", unit);
	return u->n++;
}

/*
 * Run systemctl (with --root=ROOT for an image) with the given verb and
 * units. 0 when it ran, whatever its status (res->status).
 */
static int ctl(const struct svc_run *run, const char *const *args,
	       size_t nargs, const char *const *units, size_t n,
	       unsigned timeout_ms, struct cg_exec_result *res,
	       struct cg_error *err)
{
	const char **argv = cg_xcalloc(n + nargs + 4, sizeof(*argv));
	char *rootopt = NULL;
	struct cg_exec x;
	size_t k = 0, i;
	int rc;

	argv[k++] = "systemctl";
	if (run->offline) {
		rootopt = cg_xasprintf("--root=%s", run->root);
		argv[k++] = rootopt;
	}
	argv[k++] = "--no-ask-password";
	for (i = 0; i < nargs; i++)
		argv[k++] = args[i];
	for (i = 0; i < n; i++)
		argv[k++] = units[i];
	argv[k] = NULL;
	cg_exec_init(&x, argv);
	if (timeout_ms)
		x.timeout_ms = timeout_ms;
	rc = cg_exec_run(&x, res, err);
	if (rc == CG_ENOTFOUND)
		cg_error_hint(err, "systemd's systemctl is needed to manage "
				   "services on a systemd host or image");
	free(rootopt);
	free(argv);
	return rc;
}

static void set_field(char *dst, size_t size, const char *v, size_t len)
{
	if (len >= size)
		len = size - 1;
	memcpy(dst, v, len);
	dst[len] = '\0';
}

/* Parse `systemctl show` output: one block per unit, in order. */
static int parse_show(char *text, struct unit *v, size_t n,
		      struct cg_error *err)
{
	size_t k = 0;
	bool in_block = false;
	char *line = text, *nl;

	for (; line && *line; line = nl ? nl + 1 : NULL) {
		const char *eq;
		struct unit *u;

		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (!*line) {
			if (in_block)
				k++;
			in_block = false;
			continue;
		}
		if (k >= n)
			break;
		in_block = true;
		u = &v[k];
		eq = strchr(line, '=');
		if (!eq)
			continue;
#define FIELD(key) (strncmp(line, key "=", sizeof(key)) == 0)
		if (FIELD("DropInPaths")) {
			free(u->dropins);
			u->dropins = cg_xstrdup(eq + 1);
		} else if (FIELD("LoadState"))
			set_field(u->load, sizeof(u->load), eq + 1,
				  strlen(eq + 1));
		else if (FIELD("ActiveState"))
			set_field(u->active, sizeof(u->active), eq + 1,
				  strlen(eq + 1));
		else if (FIELD("SubState"))
			set_field(u->sub, sizeof(u->sub), eq + 1,
				  strlen(eq + 1));
		else if (FIELD("UnitFileState"))
			set_field(u->file_state, sizeof(u->file_state), eq + 1,
				  strlen(eq + 1));
		else if (FIELD("NeedDaemonReload"))
			u->stale = strcmp(eq + 1, "yes") == 0;
		else if (FIELD("CanReload"))
			u->can_reload = strcmp(eq + 1, "yes") == 0;
#undef FIELD
	}
	if (in_block)
		k++;
	if (k != n)
		return cg_error_set(err, CG_ERR,
				    "systemctl show described %zu units, not "
				    "%zu",
				    k, n);
	return 0;
}

/* One `systemctl show` for all units (live host). */
static int show(const struct svc_run *run, struct unit *v, size_t n,
		const char *props, struct cg_error *err)
{
	const char **names = cg_xcalloc(n + 1, sizeof(*names));
	const char *args[] = { "show", props };
	struct cg_exec_result res;
	char line[160], empty[1] = "";
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		names[i] = v[i].name;
	rc = ctl(run, args, 2, names, n, 0, &res, err);
	if (rc == 0 && res.status != 0) {
		cg_exec_first_line(&res, line, sizeof(line));
		rc = cg_error_set(err, CG_ERR, "systemctl show failed: %s",
				  line[0] ? line : "no message");
		cg_error_hint(err, "is systemd running? (systemctl "
				   "is-system-running)");
	}
	if (rc == 0)
		rc = parse_show(res.out.data ? res.out.data : empty, v, n, err);
	for (i = 0; rc == 0 && i < n; i++)
		v[i].present = strcmp(v[i].load, "not-found") != 0 &&
			       v[i].load[0];
	cg_exec_result_release(&res);
	free(names);
	return rc;
}

static void units_free(struct unit *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		free(v[i].dropins);
	free(v);
}

/* Is path one of the space-separated words of list? */
static bool has_word(const char *list, const char *path)
{
	size_t len = strlen(path);
	const char *p = list;

	while (p && (p = strstr(p, path))) {
		if ((p == list || p[-1] == ' ') && (p[len] == ' ' || !p[len]))
			return true;
		p += len;
	}
	return false;
}

static const char *const unit_dirs[] = {
	"/etc/systemd/system", "/run/systemd/system",
	"/lib/systemd/system", "/usr/lib/systemd/system",
};

/*
 * Do the drop-ins on disk differ from those systemd loaded? Its own
 * NeedDaemonReload misses a drop-in that is new (systemd 252), such as
 * one a file resource wrote earlier in this run.
 */
static bool dropins_changed(struct cg_root *root, const struct unit *u)
{
	char dir[UNIT_MAX + 64], path[UNIT_MAX + 384];
	size_t i, on_disk, loaded;
	bool changed = false;

	for (i = 0; i < CG_ARRAY_SIZE(unit_dirs) && !changed; i++) {
		const char *base, *p;
		struct dirent *de;
		int pfd, fd;
		DIR *d;

		snprintf(dir, sizeof(dir), "%s/%s.d", unit_dirs[i], u->name);
		on_disk = loaded = 0;
		for (p = u->dropins; p && (p = strstr(p, dir)); p += strlen(dir))
			if ((p == u->dropins || p[-1] == ' ') &&
			    p[strlen(dir)] == '/')
				loaded++;
		if (cg_root_open_parent(root, dir, 0, &pfd, &base, NULL, NULL) <
		    0) {
			changed = loaded > 0;
			continue;
		}
		fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(pfd);
		d = fd >= 0 ? fdopendir(fd) : NULL;
		if (!d) {
			if (fd >= 0)
				close(fd);
			changed = loaded > 0;
			continue;
		}
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.' ||
			    !cg_str_ends(de->d_name, ".conf"))
				continue;
			on_disk++;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if (!has_word(u->dropins ? u->dropins : "", path))
				changed = true;
		}
		closedir(d);
		if (on_disk != loaded)
			changed = true;
	}
	return changed;
}

/* Does the unit file exist in the image (offline: no manager to ask)? */
static bool unit_file_exists(struct cg_root *root, const char *unit)
{
	const char *const *dirs = unit_dirs;
	char path[UNIT_MAX + 64];
	const char *base;
	struct stat st;
	size_t i;
	int dirfd;
	bool found = false;

	for (i = 0; i < CG_ARRAY_SIZE(unit_dirs) && !found; i++) {
		snprintf(path, sizeof(path), "%s/%s", dirs[i], unit);
		if (cg_root_open_parent(root, path, 0, &dirfd, &base, NULL,
					NULL) < 0)
			continue;
		found = fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
		close(dirfd);
	}
	/* A service made from an init script by systemd-sysv-generator. */
	if (!found && cg_str_ends(unit, ".service")) {
		snprintf(path, sizeof(path), "/etc/init.d/%.*s",
			 (int)(strlen(unit) - 8), unit);
		if (cg_root_open_parent(root, path, 0, &dirfd, &base, NULL,
					NULL) == 0) {
			found = fstatat(dirfd, base, &st, 0) == 0 &&
				S_ISREG(st.st_mode);
			close(dirfd);
		}
	}
	return found;
}

/* `systemctl is-enabled` for units, one line each; per unit if not. */
static int is_enabled(const struct svc_run *run, struct unit **v, size_t n,
		      struct cg_error *err)
{
	const char **names = cg_xcalloc(n + 1, sizeof(*names));
	const char *args[] = { "is-enabled" };
	struct cg_exec_result res;
	size_t i, lines = 0;
	char *p, *save = NULL;
	int rc;

	for (i = 0; i < n; i++)
		names[i] = v[i]->name;
	rc = ctl(run, args, 1, names, n, 0, &res, err);
	if (rc == 0 && res.out.data)
		for (p = res.out.data; *p; p++)
			lines += *p == '\n';
	if (rc == 0 && lines == n && res.out.data) {
		for (i = 0, p = strtok_r(res.out.data, "\n", &save); p && i < n;
		     i++, p = strtok_r(NULL, "\n", &save))
			set_field(v[i]->file_state, sizeof(v[i]->file_state), p,
				  strlen(p));
	} else if (rc == 0 && n > 1) {
		/* An answer went missing (a unit it could not read). */
		for (i = 0; i < n && rc == 0; i++)
			rc = is_enabled(run, &v[i], 1, err);
	} else if (rc == 0) {
		char line[160];

		cg_exec_first_line(&res, line, sizeof(line));
		rc = cg_error_set(err, CG_ERR,
				  "systemctl is-enabled %s said nothing: %s",
				  v[0]->name, line);
	}
	cg_exec_result_release(&res);
	free(names);
	return rc;
}

/* Read the drop-in as it is: *out NULL when there is none. */
static int read_dropin(struct cg_root *root, const char *name, char **out,
		       struct cg_error *err)
{
	char path[UNIT_MAX + 64];
	struct cg_buf b = { 0 };
	const char *base;
	struct stat st;
	int dirfd, fd, rc;

	*out = NULL;
	snprintf(path, sizeof(path), DROPIN_FILE, name);
	rc = cg_root_open_parent(root, path, 0, &dirfd, &base, NULL, err);
	if (rc == CG_ENOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = errno == ENOENT ? 0
				     : cg_error_sys(err, CG_ERR,
						    "cannot stat %s", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = cg_error_set(err, CG_ERR,
				  "%s is not a regular file; not touching it",
				  path);
		goto out;
	}
	fd = openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		rc = cg_error_sys(err, CG_ERR, "cannot open %s", path);
		goto out;
	}
	rc = cg_read_fd(fd, &b, DROPIN_MAX, err);
	close(fd);
	if (rc == 0)
		*out = b.data ? cg_buf_detach(&b, NULL) : cg_xstrdup("");
	cg_buf_release(&b);
out:
	close(dirfd);
	return rc;
}

static bool is_running(const struct unit *u)
{
	return strcmp(u->active, "active") == 0 ||
	       strcmp(u->active, "reloading") == 0 ||
	       (strcmp(u->active, "activating") == 0 &&
		strcmp(u->sub, "auto-restart") != 0);
}

static void fill_seen(struct svc_seen *s, const struct unit *u, bool offline)
{
	s->present = u->present;
	s->offline = offline;
	snprintf(s->state, sizeof(s->state), "%s",
		 strcmp(u->load, "masked") == 0 ? "masked" : u->file_state);
	s->masked = cg_str_starts(s->state, "masked");
	s->enabled = strcmp(s->state, "enabled") == 0 ||
		     strcmp(s->state, "enabled-runtime") == 0;
	s->running = !offline && is_running(u);
	s->can_reload = u->can_reload;
	s->stale = u->stale;
}

static int sd_observe(const struct svc_run *run, struct cg_resource **res,
		      size_t n, struct cg_error *err)
{
	struct units u = { 0 };
	struct unit **ask = NULL;
	size_t *idx = cg_xcalloc(n + 1, sizeof(*idx));
	size_t i, j, nask = 0;
	int rc = 0;

	for (i = 0; i < n; i++) {
		const struct svc_want *w = res[i]->desired;

		idx[i] = unit_add(&u, res[i]->name);
		for (j = 0; j < w->nafter; j++)
			unit_add(&u, w->after[j]);
		for (j = 0; j < w->nbefore; j++)
			unit_add(&u, w->before[j]);
	}
	if (!run->offline) {
		rc = show(run, u.v, u.n,
			  "--property=Id,LoadState,ActiveState,SubState,"
			  "UnitFileState,NeedDaemonReload,CanReload,"
			  "DropInPaths",
			  err);
		if (rc < 0)
			goto out;
		/* What systemd has not seen yet: a new unit or drop-in. */
		for (i = 0; i < n; i++) {
			struct unit *x = &u.v[idx[i]];

			if (strcmp(x->load, "masked") == 0)
				continue;
			if (!x->present &&
			    unit_file_exists(run->ctx->root, x->name))
				x->present = x->stale = true;
			else if (x->present &&
				 dropins_changed(run->ctx->root, x))
				x->stale = true;
		}
	} else {
		for (i = 0; i < u.n; i++)
			u.v[i].present =
				unit_file_exists(run->ctx->root, u.v[i].name);
	}
	/* Offline, systemctl --root answers from the files; live, a unit
	 * made from an init script is enabled as the rc links say. */
	ask = cg_xcalloc(u.n + 1, sizeof(*ask));
	for (i = 0; i < n; i++) {
		struct unit *x = &u.v[idx[i]];

		if (x->present && (run->offline ||
				   strcmp(x->file_state, "generated") == 0))
			ask[nask++] = x;
	}
	if (nask && (rc = is_enabled(run, ask, nask, err)) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		struct cg_resource *r = res[i];
		const struct svc_want *w = r->desired;
		struct svc_seen *s = cg_xcalloc(1, sizeof(*s));
		struct cg_error e;

		svc_seen_free(r->observed);
		r->observed = s;
		s->be = &svc_backend_systemd;
		fill_seen(s, &u.v[idx[i]], run->offline);
		s->dep_present = cg_xcalloc(w->nafter + w->nbefore + 1,
					    sizeof(*s->dep_present));
		s->dep_number = cg_xcalloc(w->nafter + w->nbefore + 1,
					   sizeof(*s->dep_number));
		for (j = 0; j < w->nafter + w->nbefore; j++)
			s->dep_present[j] =
				u.v[unit_add(&u, j < w->nafter
							 ? w->after[j]
							 : w->before[j - w->nafter])]
					.present;
		cg_error_clear(&e);
		if (read_dropin(run->ctx->root, r->name, &s->order_have, &e) < 0)
			cg_resource_fail(r, &e);
	}
out:
	free(ask);
	free(idx);
	units_free(u.v, u.n);
	return rc;
}

static void add_names(struct cg_buf *b, const char *key, char **v, size_t n)
{
	char unit[UNIT_MAX];
	size_t i;

	if (!n)
		return;
	cg_buf_addf(b, "%s=", key);
	for (i = 0; i < n; i++) {
		svc_unit_name(v[i], unit, sizeof(unit));
		cg_buf_addf(b, "%s%s", i ? " " : "", unit);
	}
	cg_buf_addch(b, '\n');
}

/*
 * The drop-in: the same on every host, whatever is installed there, so
 * that a service named in After= and installed later is ordered too.
 */
static char *sd_order_want(const struct svc_run *run,
			   const struct cg_resource *r)
{
	const struct svc_want *w = r->desired;
	struct cg_buf b = { 0 };

	(void)run;
	if (!w->nafter && !w->nbefore)
		return NULL;
	cg_buf_addf(&b,
		    "# Written by congruent: the start order of %s.service.\n"
		    "# Soft: After= and Before= only, never Requires=, so a "
		    "service missing\n"
		    "# on this host never keeps this one from starting. "
		    "Changes here are\n"
		    "# overwritten; change the policy instead.\n"
		    "[Unit]\n",
		    r->name);
	add_names(&b, "After", w->after, w->nafter);
	add_names(&b, "Before", w->before, w->nbefore);
	return cg_buf_detach(&b, NULL);
}

/* "After=a.service; Before=b.service": the drop-in's lines that count. */
static char *sd_order_show(const char *order)
{
	struct cg_buf b = { 0 };
	const char *line = order;

	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		if (len && line[0] != '#' && line[0] != '[' && line[0] != ';')
			cg_buf_addf(&b, "%s%.*s", b.len ? "; " : "", (int)len,
				    line);
		line = nl ? nl + 1 : NULL;
	}
	if (!b.len)
		cg_buf_addstr(&b, "(no ordering)");
	return cg_buf_detach(&b, NULL);
}

/* Write or remove the drop-in, keeping what was there in the store. */
static int write_dropin(const struct svc_run *run, const struct cg_resource *r,
			struct cg_error *err)
{
	const struct svc_seen *s = r->observed;
	char path[UNIT_MAX + 64], dir[UNIT_MAX + 64];
	struct cg_root *root = run->ctx->root;
	const char *base;
	struct stat st;
	bool exists;
	int dirfd, oldfd = -1, rc;

	snprintf(path, sizeof(path), DROPIN_FILE, r->name);
	rc = cg_root_open_parent(root, path, s->order_want ? CG_WALK_MKDIR : 0,
				 &dirfd, &base, NULL, err);
	if (rc == CG_ENOTFOUND && !s->order_want)
		return 0;
	if (rc < 0)
		return rc;
	exists = fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (!exists && errno != ENOENT) {
		rc = cg_error_sys(err, CG_ERR, "cannot stat %s", path);
		goto out;
	}
	if (exists) {
		rc = cg_store_keep(run->ctx->store, dirfd, base, path, NULL,
				   err);
		if (rc < 0) {
			cg_error_prefix(err, "not changing %s: backup failed",
					path);
			goto out;
		}
	}
	if (s->order_want) {
		struct cg_content c = { s->order_want, strlen(s->order_want),
					-1 };

		if (exists && S_ISREG(st.st_mode))
			oldfd = openat(dirfd, base, O_RDONLY | O_NOFOLLOW |
							    O_NONBLOCK | O_CLOEXEC);
		rc = cg_fs_replace(dirfd, base, &c, 0644, (uid_t)-1, (gid_t)-1,
				   oldfd, NULL, err);
		goto out;
	}
	if (!exists)
		goto out;
	if (unlinkat(dirfd, base, 0) < 0) {
		rc = cg_error_sys(err, CG_ERR, "cannot remove %s", path);
		goto out;
	}
	rc = cg_fs_sync_dir(dirfd, path, err);
	close(dirfd);
	dirfd = -1;
	/* The directory, if it was only ours. */
	snprintf(dir, sizeof(dir), DROPIN_DIR, r->name);
	if (rc == 0 &&
	    cg_root_open_parent(root, dir, 0, &dirfd, &base, NULL, NULL) == 0 &&
	    unlinkat(dirfd, base, AT_REMOVEDIR) == 0)
		rc = cg_fs_sync_dir(dirfd, dir, err);
out:
	if (oldfd >= 0)
		close(oldfd);
	if (dirfd >= 0)
		close(dirfd);
	return rc;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * The journal position now, so that the error of an action carries what
 * the unit logged in this attempt only; "" when there is no journal.
 */
static void journal_cursor(char *out, size_t size)
{
	const char *argv[] = { "journalctl", "--show-cursor", "--lines=0",
			       "--quiet", "--no-pager", NULL };
	struct cg_exec_result res;
	struct cg_exec x;
	const char *p;

	out[0] = '\0';
	cg_exec_init(&x, argv);
	x.timeout_ms = JOURNAL_TIMEOUT_MS;
	x.out_max = 4096;
	if (cg_exec_run(&x, &res, NULL) == 0 && res.status == 0 &&
	    res.out.data && (p = strstr(res.out.data, "-- cursor: "))) {
		p += strlen("-- cursor: ");
		snprintf(out, size, "%.*s", (int)strcspn(p, "\n"), p);
	}
	cg_exec_result_release(&res);
}

/*
 * What unit's own processes logged since cursor (not PID 1's lines about
 * it, not earlier attempts): the last JOURNAL_LINES lines into out. No
 * journalctl matches: combined with --after-cursor, journalctl 252 misses
 * entries through them; the unit is picked here from _SYSTEMD_UNIT. A
 * stream line may reach the journal a moment after the process ended:
 * look a few times.
 */
static bool journal_lines(const char *cursor, const char *unit, char *out,
			  size_t size)
{
	char *after = cg_xasprintf("--after-cursor=%s", cursor);
	const char *argv[] = { "journalctl", after, "--output=json",
			       "--output-fields=_SYSTEMD_UNIT,MESSAGE",
			       "--quiet", "--no-pager", NULL };
	const char *sync[] = { "journalctl", "--sync", NULL };
	struct cg_buf keep = { 0 };
	size_t round, nlines = 0;
	bool read = true;

	for (round = 0; round < JOURNAL_ROUNDS && !nlines; round++) {
		struct cg_exec_result res;
		struct cg_exec x;
		const char *line;

		if (round)
			sleep_ms(SETTLE_STEP_MS);
		cg_exec_init(&x, sync);
		x.timeout_ms = JOURNAL_TIMEOUT_MS;
		if (cg_exec_run(&x, &res, NULL) == 0)
			cg_exec_result_release(&res);
		cg_exec_init(&x, argv);
		x.timeout_ms = JOURNAL_TIMEOUT_MS;
		x.out_max = JOURNAL_OUT_MAX;
		cg_buf_reset(&keep);
		if (cg_exec_run(&x, &res, NULL) < 0 || res.status != 0) {
			cg_exec_result_release(&res);
			read = false;
			break;
		}
		if (!res.out.data) {
			cg_exec_result_release(&res);
			continue;
		}
		for (line = res.out.data; *line;) {
			const char *nl = strchr(line, '\n');
			size_t len = nl ? (size_t)(nl - line) : strlen(line);
			struct cg_jdoc doc = { 0 };
			const char *u, *msg;

			if (cg_jdoc_parse(&doc, line, len, &cg_jlimits_default,
					  NULL) == 0) {
				u = cg_jnode_get_str(&doc, cg_jdoc_root(&doc),
						     "_SYSTEMD_UNIT");
				msg = cg_jnode_get_str(&doc, cg_jdoc_root(&doc),
						       "MESSAGE");
				if (u && msg && strcmp(u, unit) == 0) {
					cg_buf_addf(&keep, "%s\n", msg);
					nlines++;
				}
			}
			cg_jdoc_release(&doc);
			line = nl ? nl + 1 : line + len;
		}
		cg_exec_result_release(&res);
	}
	if (keep.data) {
		const char *from = keep.data;

		/* The last lines say most: an error ends what a unit says. */
		while (nlines > JOURNAL_LINES) {
			from = strchr(from, '\n') + 1;
			nlines--;
		}
		svc_add_lines(out, size, from, JOURNAL_LINES);
	}
	cg_buf_release(&keep);
	free(after);
	return read;
}

/*
 * Fail r: "UNIT what: why" and then what the unit logged in this
 * attempt (since cursor), or that it logged nothing.
 */
static void fail_with_journal(struct cg_resource *r, const char *cursor,
			      const char *what, const char *why)
{
	struct cg_error e;
	char unit[UNIT_MAX];
	size_t len;
	bool read;

	svc_unit_name(r->name, unit, sizeof(unit));
	cg_error_clear(&e);
	snprintf(e.msg, sizeof(e.msg), "%s %s%s%s:", unit, what,
		 why && why[0] ? " " : "", why ? why : "");
	len = strlen(e.msg);
	read = cursor[0] && journal_lines(cursor, unit, e.msg, sizeof(e.msg));
	if (strlen(e.msg) == len) {
		e.msg[len - 1] = '\0';
		snprintf(e.msg + len - 1, sizeof(e.msg) - len + 1, "%s",
			 read ? " (the unit logged nothing this time)"
			      : " (what the unit said could not be read from "
				"the journal)");
	}
	cg_error_hint(&e, "journalctl -u %s -n 50 shows more; systemctl status "
			  "%s",
		      unit, unit);
	cg_resource_fail(r, &e);
}

/* The units of the resources sel[0..n) (not failed), in their order. */
static size_t unit_list(struct cg_resource **sel, size_t n,
			char (*names)[UNIT_MAX], const char **ptrs)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (cg_resource_is_failed(sel[i]))
			continue;
		svc_unit_name(sel[i]->name, names[k], UNIT_MAX);
		ptrs[k] = names[k];
		sel[k++] = sel[i];
	}
	return k;
}

/*
 * systemctl VERB for the services sel. For verbs that may be repeated
 * (enable, mask, stop, reload), a failure is retried one service at a time,
 * so that each failure lands on its own service; for the others, the
 * state afterwards tells (see settle). Returns whether it ran at all.
 */
static bool ctl_each(const struct svc_run *run, const char *const *args,
		     size_t nargs, struct cg_resource **sel, size_t n,
		     bool retry)
{
	char(*names)[UNIT_MAX] = cg_xcalloc(n + 1, UNIT_MAX);
	const char **ptrs = cg_xcalloc(n + 1, sizeof(*ptrs));
	const char *verb = args[nargs - 1];
	struct cg_exec_result res;
	struct cg_error e;
	char line[300];
	size_t i;
	bool ok;
	int rc;

	n = unit_list(sel, n, names, ptrs);
	if (!n)
		goto out;
	cg_error_clear(&e);
	rc = ctl(run, args, nargs, ptrs, n, JOB_TIMEOUT_MS, &res, &e);
	ok = rc == 0 && res.status == 0;
	if (rc == 0 && !ok) {
		cg_exec_first_line(&res, line, sizeof(line));
		cg_error_set(&e, CG_ERR, "systemctl %s failed: %s", verb,
			     line[0] ? line : "no message");
	}
	cg_exec_result_release(&res);
	/* A time-out, or a missing systemctl: nothing to retry. */
	if (rc < 0 || (!ok && !retry)) {
		for (i = 0; rc < 0 && i < n; i++)
			cg_resource_fail(sel[i], &e);
		goto out;
	}
	for (i = 0; !ok && i < n; i++) {
		cg_error_clear(&e);
		rc = ctl(run, args, nargs, &ptrs[i], 1, JOB_TIMEOUT_MS, &res,
			 &e);
		if (rc == 0 && res.status != 0) {
			cg_exec_first_line(&res, line, sizeof(line));
			cg_error_set(&e, CG_ERR, "systemctl %s %s failed: %s",
				     verb, ptrs[i],
				     line[0] ? line : "no message");
		}
		if (rc < 0 || res.status != 0)
			cg_resource_fail(sel[i], &e);
		cg_exec_result_release(&res);
	}
out:
	free(names);
	free(ptrs);
	return n > 0;
}


/*
 * After start or restart: a unit that failed, or whose process died
 * within a moment (systemctl start returns once a simple service forked),
 * fails its resource with the unit's status lines.
 */
static void settle(const struct svc_run *run, struct cg_resource **sel,
		   size_t n, const char *cursor, const char *what)
{
	struct unit *u = cg_xcalloc(n + 1, sizeof(*u));
	bool *bad = cg_xcalloc(n + 1, sizeof(*bad));
	struct cg_error e;
	size_t i, round, nbad = 0;

	for (i = 0; i < n; i++)
		svc_unit_name(sel[i]->name, u[i].name, UNIT_MAX);
	for (round = 0; round <= SETTLE_ROUNDS && nbad < n; round++) {
		if (round)
			sleep_ms(SETTLE_STEP_MS);
		cg_error_clear(&e);
		if (show(run, u, n, "--property=Id,LoadState,ActiveState,SubState",
			 &e) < 0) {
			for (i = 0; i < n; i++)
				cg_resource_fail(sel[i], &e);
			goto out;
		}
		for (i = 0; i < n; i++)
			if (!bad[i] && !is_running(&u[i])) {
				bad[i] = true;
				nbad++;
			}
	}
	for (i = 0; i < n; i++)
		if (bad[i])
			fail_with_journal(sel[i], cursor, what, NULL);
out:
	units_free(u, n);
	free(bad);
}

/* Collect the resources whose todo field equals val (and not failed). */
static size_t pick(struct cg_resource **res, const struct svc_todo *t,
		   size_t n, size_t off, signed char val, bool reverse,
		   struct cg_resource **out)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		size_t j = reverse ? n - 1 - i : i;
		const signed char *f =
			(const signed char *)((const char *)&t[j] + off);

		if (*f == val && !cg_resource_is_failed(res[j]))
			out[k++] = res[j];
	}
	return k;
}

static void mark_acted(struct cg_resource **sel, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		((struct svc_want *)sel[i]->desired)->acted = true;
}

static int sd_apply(const struct svc_run *run, struct cg_resource **res,
		    const struct svc_todo *t, size_t n, struct cg_error *err)
{
	struct cg_resource **sel = cg_xcalloc(n + 1, sizeof(*sel));
	char cursor[512];
	bool changed = false;
	size_t i, k;

	(void)err;
	/*
	 * A unit that is not there can only be masked or have a drop-in:
	 * todo_for failed the others (the same check in plan).
	 */
	for (i = 0; i < n; i++) {
		struct cg_error e;

		if (!t[i].order || cg_resource_is_failed(res[i]))
			continue;
		cg_error_clear(&e);
		if (write_dropin(run, res[i], &e) < 0)
			cg_resource_fail(res[i], &e);
		else
			changed = true;
	}
	/*
	 * Unit files change first, with --no-reload; then one daemon-reload
	 * for all of them, and only then anything is started.
	 */
	{
		static const struct {
			const char *verb;
			size_t off;
			signed char val;
		} steps[] = {
			{ "unmask", offsetof(struct svc_todo, mask), 0 },
			{ "mask", offsetof(struct svc_todo, mask), 1 },
			{ "disable", offsetof(struct svc_todo, enable), 0 },
			{ "enable", offsetof(struct svc_todo, enable), 1 },
		};
		size_t st;

		for (st = 0; st < CG_ARRAY_SIZE(steps); st++) {
			const char *args[] = { "--no-reload", steps[st].verb };

			k = pick(res, t, n, steps[st].off, steps[st].val, false,
				 sel);
			if (k && ctl_each(run, args, 2, sel, k, true))
				changed = true;
		}
	}
	if (run->offline)
		goto out;
	for (i = 0; i < n; i++)
		if (((const struct svc_seen *)res[i]->observed)->stale)
			changed = true;
	if (changed) {
		const char *args[] = { "daemon-reload" };
		struct cg_exec_result r;
		struct cg_error e;
		char line[300];
		int rc;

		cg_error_clear(&e);
		rc = ctl(run, args, 1, NULL, 0, JOB_TIMEOUT_MS, &r, &e);
		if (rc == 0 && r.status != 0) {
			cg_exec_first_line(&r, line, sizeof(line));
			cg_error_set(&e, CG_ERR,
				     "systemctl daemon-reload failed: %s", line);
		}
		cg_exec_result_release(&r);
		if (e.msg[0]) {
			for (i = 0; i < n; i++)
				if (!cg_resource_is_failed(res[i]))
					cg_resource_fail(res[i], &e);
			goto out;
		}
	}
	/* Stop in reverse start order, then start in start order. */
	k = pick(res, t, n, offsetof(struct svc_todo, run), 0, true, sel);
	if (k) {
		const char *args[] = { "stop" };

		ctl_each(run, args, 1, sel, k, true);
	}
	/*
	 * Starts and restarts go in one call each: one transaction, in
	 * which systemd itself keeps After=. Whether each unit came up is
	 * read afterwards, not guessed from systemctl's exit status.
	 */
	k = pick(res, t, n, offsetof(struct svc_todo, run), 1, false, sel);
	if (k) {
		const char *args[] = { "start" };

		mark_acted(sel, k);
		journal_cursor(cursor, sizeof(cursor));
		ctl_each(run, args, 1, sel, k, false);
		k = pick(res, t, n, offsetof(struct svc_todo, run), 1, false,
			 sel);
		settle(run, sel, k, cursor, "did not start");
	}
	k = pick(res, t, n, offsetof(struct svc_todo, bounce), 1, false, sel);
	if (k) {
		const char *args[] = { "restart" };

		mark_acted(sel, k);
		journal_cursor(cursor, sizeof(cursor));
		ctl_each(run, args, 1, sel, k, false);
		k = pick(res, t, n, offsetof(struct svc_todo, bounce), 1,
			 false, sel);
		settle(run, sel, k, cursor,
		       "did not come back after the restart");
	}
	/* Reloads one by one: a failure is its unit's, and none repeats. */
	k = pick(res, t, n, offsetof(struct svc_todo, bounce), 2, false, sel);
	mark_acted(sel, k);
	for (i = 0; i < k; i++) {
		const char *args[] = { "reload" };
		char unit[UNIT_MAX];
		const char *u = unit;
		struct cg_exec_result r;
		struct cg_error e;
		int rc;

		svc_unit_name(sel[i]->name, unit, sizeof(unit));
		cg_error_clear(&e);
		journal_cursor(cursor, sizeof(cursor));
		rc = ctl(run, args, 1, &u, 1, JOB_TIMEOUT_MS, &r, &e);
		if (rc < 0)
			cg_resource_fail(sel[i], &e);
		else if (r.status != 0)
			fail_with_journal(sel[i], cursor, "did not reload",
					  NULL);
		cg_exec_result_release(&r);
	}
out:
	free(sel);
	return 0;
}

const struct svc_backend svc_backend_systemd = {
	.name = "systemd",
	.has_mask = true,
	.numbers = false,
	.order_field = "order",
	.missing = "there is no unit %s.service on this host",
	.heading = "boot order of the managed services (systemd: After=/"
		   "Before= drop-ins, soft: never Requires=)",
	.observe = sd_observe,
	.order_want = sd_order_want,
	.order_show = sd_order_show,
	.apply = sd_apply,
};
