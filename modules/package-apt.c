/* package-apt.c: the apt/dpkg backend of the package resource. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg/exec.h"
#include "cg/util.h"
#include "package.h"

#define DPKG_DIR "/var/lib/dpkg"
#define STATUS_MAX (256u << 20)   /* a big host's status file is ~5 MiB */
#define JOURNAL_MAX (16u << 20)
#define SIM_TIMEOUT_MS 300000u    /* reading large package lists */
#define APPLY_TIMEOUT_S 3600u     /* downloads and maintainer scripts */
#define UPDATE_TIMEOUT_S 900u     /* apt-get update: downloads only */
#define LOCK_TIMEOUT_DEFAULT 120u

/* --- dpkg's status file --------------------------------------------- */

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

struct stanza {
	char *package, *arch, *version, *status, *essential;
	unsigned line;        /* where it starts */
	unsigned status_line; /* where its Status is */
};

static int status_words(struct pkg_entry *e, char *status, const char *where,
			unsigned line, struct cg_error *err)
{
	static const struct {
		const char *word;
		enum pkg_state state;
	} words[] = {
		{ "not-installed", PKG_ABSENT },
		{ "config-files", PKG_CONFIG_FILES },
		{ "installed", PKG_INSTALLED },
		/* Installed; dpkg runs the triggers at its next run. */
		{ "triggers-pending", PKG_INSTALLED },
		{ "triggers-awaited", PKG_INSTALLED },
		{ "half-installed", PKG_BROKEN },
		{ "unpacked", PKG_BROKEN },
		{ "half-configured", PKG_BROKEN },
	};
	char *want, *flag, *word, *save = NULL;
	size_t i;

	want = strtok_r(status, " \t", &save);
	flag = want ? strtok_r(NULL, " \t", &save) : NULL;
	word = flag ? strtok_r(NULL, " \t", &save) : NULL;
	if (!word || strtok_r(NULL, " \t", &save))
		goto bad;
	e->status = word;
	e->hold = strcmp(want, "hold") == 0 || strcmp(flag, "hold") == 0 ||
		  strcmp(flag, "hold-reinstreq") == 0;
	e->reinstreq = strcmp(flag, "reinstreq") == 0 ||
		       strcmp(flag, "hold-reinstreq") == 0;
	for (i = 0; i < CG_ARRAY_SIZE(words); i++) {
		if (strcmp(word, words[i].word) == 0) {
			e->state = words[i].state;
			/* dpkg --audit lists these: it must be reinstalled. */
			if (e->reinstreq && e->state != PKG_ABSENT)
				e->state = PKG_BROKEN;
			return 0;
		}
	}
bad:
	cg_error_set(err, CG_ERR, "%s:%u: package %s: cannot read its Status",
		     where, line, e->name);
	cg_error_hint(err, "the package database is damaged; `dpkg --audit` "
			   "may say more");
	return CG_ERR;
}

static int end_stanza(struct pkg_db *db, struct stanza *st, const char *where,
		      struct cg_error *err)
{
	struct pkg_entry *e;

	if (!st->package) {
		memset(st, 0, sizeof(*st));
		return 0;
	}
	e = pkg_db_add(db);
	e->name = st->package;
	e->arch = st->arch ? st->arch : "";
	e->version = st->version ? st->version : "";
	e->essential = st->essential && strcmp(st->essential, "yes") == 0;
	e->state = PKG_ABSENT;
	e->status = "not-installed";
	if (st->status && status_words(e, st->status, where, st->status_line, err) < 0)
		return CG_ERR;
	memset(st, 0, sizeof(*st));
	return 0;
}

int pkg_dpkg_parse(struct pkg_db *db, char *text, size_t len,
		   const char *where, struct cg_error *err)
{
	struct stanza st;
	char *p = text, *end = text + len;
	unsigned line = 0;
	int rc = 0;

	pkg_db_keep(db, text);
	memset(&st, 0, sizeof(st));
	while (p < end && rc == 0) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *colon, *name, *value;

		line++;
		if (nl)
			*nl = '\0';
		else
			nl = end;
		if (memchr(p, '\0', (size_t)(nl - p))) {
			rc = cg_error_set(err, CG_ERR, "%s:%u: a NUL byte",
					  where, line);
			break;
		}
		if (*trim(p) == '\0') {
			rc = end_stanza(db, &st, where, err);
		} else if (*p == ' ' || *p == '\t') {
			/* A continuation line (Description, Conffiles). */
		} else if (!(colon = strchr(p, ':'))) {
			rc = cg_error_set(err, CG_ERR,
					  "%s:%u: not a 'Field: value' line",
					  where, line);
			cg_error_hint(err, "the package database is damaged; "
					   "`dpkg --audit` may say more");
		} else {
			*colon = '\0';
			name = trim(p);
			value = trim(colon + 1);
			if (!st.line)
				st.line = line;
			if (strcasecmp(name, "Package") == 0)
				st.package = value;
			else if (strcasecmp(name, "Architecture") == 0)
				st.arch = value;
			else if (strcasecmp(name, "Version") == 0)
				st.version = value;
			else if (strcasecmp(name, "Status") == 0) {
				st.status = value;
				st.status_line = line;
			}
			else if (strcasecmp(name, "Essential") == 0)
				st.essential = value;
		}
		p = nl + 1;
	}
	if (rc == 0)
		rc = end_stanza(db, &st, where, err);
	return rc;
}

/* --- dpkg's version order ------------------------------------------- */

static int order(int c)
{
	if (isdigit(c))
		return 0;
	if (isalpha(c))
		return c;
	if (c == '~')
		return -1;
	if (c)
		return c + 256;
	return 0;
}

/* dpkg's verrevcmp: non-digits by order(), then digit runs as numbers. */
static int verrevcmp(const char *a, const char *b, const char *aend,
		     const char *bend)
{
#define AT(p, e) ((p) < (e) ? (unsigned char)*(p) : 0)
	while (a < aend || b < bend) {
		int first_diff = 0;

		while ((a < aend && !isdigit(AT(a, aend))) ||
		       (b < bend && !isdigit(AT(b, bend)))) {
			int ac = order(AT(a, aend)), bc = order(AT(b, bend));

			if (ac != bc)
				return ac - bc;
			a++;
			b++;
		}
		while (AT(a, aend) == '0')
			a++;
		while (AT(b, bend) == '0')
			b++;
		while (isdigit(AT(a, aend)) && isdigit(AT(b, bend))) {
			if (!first_diff)
				first_diff = AT(a, aend) - AT(b, bend);
			a++;
			b++;
		}
		if (isdigit(AT(a, aend)))
			return 1;
		if (isdigit(AT(b, bend)))
			return -1;
		if (first_diff)
			return first_diff;
	}
	return 0;
#undef AT
}

struct dver {
	unsigned long epoch;
	const char *up, *upend, *rev, *revend;
};

static void split_version(const char *v, struct dver *d)
{
	const char *colon = strchr(v, ':'), *dash, *end = v + strlen(v);

	d->epoch = 0;
	if (colon) {
		d->epoch = strtoul(v, NULL, 10);
		v = colon + 1;
	}
	dash = strrchr(v, '-');
	d->up = v;
	d->upend = dash ? dash : end;
	d->rev = dash ? dash + 1 : end;
	d->revend = end;
}

int pkg_dpkg_version_cmp(const char *a, const char *b)
{
	struct dver x, y;
	int r;

	split_version(a ? a : "", &x);
	split_version(b ? b : "", &y);
	if (x.epoch != y.epoch)
		return x.epoch < y.epoch ? -1 : 1;
	r = verrevcmp(x.up, y.up, x.upend, y.upend);
	if (!r)
		r = verrevcmp(x.rev, y.rev, x.revend, y.revend);
	return r < 0 ? -1 : r > 0;
}

/* --- reading the database ------------------------------------------- */

/* dpkg's admin directory in root: the parent of its status file. */
static int open_dpkg_dir(struct cg_root *root, int *fd_out,
			 struct cg_error *err)
{
	const char *base;

	return cg_root_open_parent(root, DPKG_DIR "/status", 0, fd_out, &base,
				   NULL, err);
}

static bool apt_detect(struct cg_root *root)
{
	struct stat st;
	int dirfd;
	bool ok;

	if (open_dpkg_dir(root, &dirfd, NULL) < 0)
		return false;
	ok = fstatat(dirfd, "status", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	     S_ISREG(st.st_mode);
	close(dirfd);
	return ok;
}

/*
 * Read a whole file in as few read(2) calls as it takes: its size from
 * fstat, then one read (and one more to see the end; more only if it grew).
 */
static int read_file_at(int dirfd, const char *name, size_t max, char **out,
			size_t *len, struct cg_error *err)
{
	struct stat st;
	char *buf = NULL;
	size_t cap = 0, have = 0;
	int fd, rc = 0;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return cg_error_sys(err, errno == ENOENT ? CG_ENOTFOUND : CG_ERR,
				    "cannot open %s", name);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = cg_error_set(err, CG_ERR, "%s is not a regular file", name);
		goto out;
	}
	cg_grow(&buf, &cap, (size_t)st.st_size + 2, 1);
	for (;;) {
		ssize_t n;

		if (have + 1 >= cap)
			cg_grow(&buf, &cap, have + 65536, 1);
		n = read(fd, buf + have, cap - have - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = cg_error_sys(err, CG_ERR, "cannot read %s", name);
			goto out;
		}
		if (n == 0)
			break;
		have += (size_t)n;
		if (have > max) {
			rc = cg_error_set(err, CG_ERR,
					  "%s is larger than %zu bytes", name,
					  max);
			goto out;
		}
	}
	buf[have] = '\0';
	*out = buf;
	*len = have;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* dpkg's journal: updates/NNNN, applied in order over the status file. */
static int read_journal(int dpkgfd, struct pkg_db *db, struct cg_error *err)
{
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	fd = openat(dpkgfd, "updates",
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0
				       : cg_error_sys(err, CG_ERR,
						      "cannot open " DPKG_DIR
						      "/updates");
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return cg_error_sys(err, CG_ERR, "cannot read " DPKG_DIR
						 "/updates");
	}
	while ((de = readdir(d))) {
		/* Only NNNN entries are done; tmp.i is being written. */
		if (!de->d_name[0] ||
		    strspn(de->d_name, "0123456789") != strlen(de->d_name))
			continue;
		cg_grow(&names, &cap, n + 1, sizeof(*names));
		names[n++] = cg_xstrdup(de->d_name);
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n && rc == 0; i++) {
		char *text, where[64];
		size_t len;

		snprintf(where, sizeof(where), DPKG_DIR "/updates/%.20s",
			 names[i]);
		rc = read_file_at(dirfd(d), names[i], JOURNAL_MAX, &text, &len,
				  err);
		if (rc == CG_ENOTFOUND) {
			/* dpkg folded it into status meanwhile. */
			rc = 0;
			continue;
		}
		if (rc == 0) {
			db->reads++;
			db->journal = true;
			rc = pkg_dpkg_parse(db, text, len, where, err);
		}
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

static int apt_read_db(struct cg_root *root, struct pkg_db *db,
		       struct cg_error *err)
{
	const struct pkg_entry *self;
	char *text;
	size_t len;
	int dpkgfd, rc;

	rc = open_dpkg_dir(root, &dpkgfd, err);
	if (rc < 0)
		return rc;
	/* One read of the whole status file: every package at once. */
	rc = read_file_at(dpkgfd, "status", STATUS_MAX, &text, &len, err);
	if (rc == 0) {
		db->reads++;
		rc = pkg_dpkg_parse(db, text, len, DPKG_DIR "/status", err);
	}
	if (rc == 0)
		rc = read_journal(dpkgfd, db, err);
	close(dpkgfd);
	if (rc < 0)
		return rc;
	pkg_db_finish(db);
	/* dpkg is always of the native architecture. */
	self = pkg_db_find(db, "dpkg");
	if (self && self->arch[0] && strcmp(self->arch, "all") != 0)
		db->native = self->arch;
	return 0;
}

/* Who holds a lock file of dpkg's (fcntl locks, as dpkg and apt take). */
static bool lock_at(int dirfd, const char *name, long *pid, char *comm,
		    size_t size)
{
	struct flock fl;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return false;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_GETLK, &fl) < 0 || fl.l_type == F_UNLCK) {
		close(fd);
		return false;
	}
	close(fd);
	*pid = fl.l_pid > 0 ? (long)fl.l_pid : 0;
	if (*pid) {
		char path[64];
		int cfd;

		snprintf(path, sizeof(path), "/proc/%ld/comm", *pid);
		cfd = open(path, O_RDONLY | O_CLOEXEC);
		if (cfd >= 0) {
			ssize_t n = read(cfd, comm, size - 1);

			comm[n > 0 ? n : 0] = '\0';
			comm[strcspn(comm, "\n")] = '\0';
			close(cfd);
		}
	}
	return true;
}

static bool apt_locked(struct cg_root *root, long *pid, char *comm,
		       size_t size)
{
	int dirfd;
	bool held;

	*pid = 0;
	comm[0] = '\0';
	if (open_dpkg_dir(root, &dirfd, NULL) < 0)
		return false;
	held = lock_at(dirfd, "lock", pid, comm, size) ||
	       lock_at(dirfd, "lock-frontend", pid, comm, size);
	close(dirfd);
	return held;
}

/* --- what apt says -------------------------------------------------- */

void pkg_result_release(struct pkg_result *res)
{
	size_t i;

	if (!res)
		return;
	free(res->reason);
	for (i = 0; i < res->nwhy; i++)
		free(res->why[i]);
	free(res->why);
	for (i = 0; i < res->nacts; i++) {
		free(res->acts[i].name);
		free(res->acts[i].from);
		free(res->acts[i].to);
	}
	free(res->acts);
	free(res->notes);
	memset(res, 0, sizeof(*res));
}

/* Does apt's name (maybe "cga:amd64") stand for the request's? */
static bool same_package(const char *apt_name, size_t len, const char *req)
{
	size_t a = strcspn(apt_name, ":"), r = strcspn(req, ":");

	if (a > len)
		a = len;
	return a == r && strncmp(apt_name, req, a) == 0;
}

/*
 * Record text as the reason of every request for the package name
 * (after what was said of it already; "x:" is continued by the next).
 */
static void blame(struct pkg_result *res, const struct pkg_req *reqs, size_t n,
		  const char *name, size_t len, const char *text, size_t tlen)
{
	size_t i;

	for (i = 0; i < n; i++) {
		size_t have;

		if (!same_package(name, len, reqs[i].name))
			continue;
		if (!res->why[i]) {
			res->why[i] = cg_xstrndup(text, tlen);
		} else if (!memmem(res->why[i], have = strlen(res->why[i]),
				   text, tlen)) {
			char *s = cg_xasprintf("%s%s%.*s", res->why[i],
					       have && res->why[i][have - 1] == ':'
						       ? " "
						       : "; ",
					       (int)tlen, text);

			free(res->why[i]);
			res->why[i] = s;
		}
	}
}

/* Blame with a generic text only when nothing more precise was said. */
static void blame_unless_said(struct pkg_result *res, const struct pkg_req *reqs,
			      size_t n, const char *name, size_t len,
			      const char *text)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (same_package(name, len, reqs[i].name) && res->why[i])
			return;
	blame(res, reqs, n, name, len, text, strlen(text));
}

/* A package name out of a .deb path or URL: .../NAME_VERSION_ARCH.deb */
static bool deb_name(const char *s, size_t len, const char **name,
		     size_t *nlen)
{
	const char *end = s + len, *slash = s, *p, *us;

	for (p = s; p < end && *p != ' '; p++)
		if (*p == '/')
			slash = p + 1;
	if (p - slash < 5 || strncmp(p - 4, ".deb", 4) != 0)
		return false;
	us = memchr(slash, '_', (size_t)(p - slash));
	if (!us)
		return false;
	*name = slash;
	*nlen = (size_t)(us - slash);
	return true;
}

/* The text between quotes after prefix in line: 'NAME' */
static bool quoted_after(const char *line, const char *prefix,
			 const char **name, size_t *len)
{
	const char *p = strstr(line, prefix), *q;

	if (!p)
		return false;
	p += strlen(prefix);
	q = strchr(p, '\'');
	if (!q)
		return false;
	*name = p;
	*len = (size_t)(q - p);
	return true;
}

static void parse_action(struct pkg_result *res, char op, const char *s)
{
	struct pkg_action *a;
	const char *p = s, *q;
	size_t cap = res->nacts;

	res->acts = cg_xrealloc(res->acts, (cap + 1) * sizeof(*res->acts));
	a = &res->acts[res->nacts++];
	memset(a, 0, sizeof(*a));
	a->op = op;
	q = p + strcspn(p, " ");
	a->name = cg_xstrndup(p, (size_t)(q - p));
	p = q;
	while (*p == ' ')
		p++;
	/* "[OLD]" is the installed version; "(NEW ORIGIN [ARCH])" the new. */
	if (*p == '[') {
		q = strchr(p, ']');
		if (q) {
			a->from = cg_xstrndup(p + 1, (size_t)(q - p - 1));
			p = q + 1;
			while (*p == ' ')
				p++;
		}
	}
	if (*p == '(' && op == 'I') {
		p++;
		q = p + strcspn(p, " )");
		a->to = cg_xstrndup(p, (size_t)(q - p));
	}
}

static const char *lstrip(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* Line by line over a NUL-terminated text; line is a trimmed copy. */
struct lines {
	const char *p;
	char *line;
	size_t cap;
};

static bool next_line(struct lines *l, bool *indented)
{
	const char *nl;
	size_t len;

	if (!l->p || !*l->p)
		return false;
	nl = strchr(l->p, '\n');
	len = nl ? (size_t)(nl - l->p) : strlen(l->p);
	if (len && l->p[len - 1] == '\r')
		len--;
	cg_grow(&l->line, &l->cap, len + 1, 1);
	memcpy(l->line, l->p, len);
	l->line[len] = '\0';
	*indented = len && (l->line[0] == ' ' || l->line[0] == '\t');
	l->p = nl ? nl + 1 : l->p + strlen(l->p);
	return true;
}

/* "It is held by process 297 (perl)" out of apt's lock message. */
static void note_holder(struct cg_buf *holder, const char *line)
{
	const char *p = strstr(line, "held by process ");
	size_t len;

	if (!p || holder->len)
		return;
	len = strcspn(p, ".\n");
	cg_buf_add(holder, p, len);
}

void pkg_apt_parse(const char *out, const char *err, const struct pkg_req *reqs,
		   size_t n, struct pkg_result *res)
{
	struct cg_buf reason = { 0 }, notes = { 0 }, holder = { 0 };
	struct lines l = { out ? out : "", NULL, 0 };
	char *culprit = NULL; /* the package whose lines we are in */
	enum { NONE, UNMET, ERRORS } section = NONE;
	bool ind;

	res->why = cg_xcalloc(n + 1, sizeof(*res->why));
	res->nwhy = n;

	while (next_line(&l, &ind)) {
		const char *s = l.line;

		if (cg_str_starts(s, "Inst "))
			parse_action(res, 'I', s + 5);
		else if (cg_str_starts(s, "Remv "))
			parse_action(res, 'R', s + 5);
		else if (cg_str_starts(s, "Purg "))
			parse_action(res, 'P', s + 5);
		else if (cg_str_starts(s, "Unpacking ") ||
			 cg_str_starts(s, "Setting up ") ||
			 cg_str_starts(s, "Removing ") ||
			 cg_str_starts(s, "Preparing to unpack "))
			res->changed = true;
		else if (cg_str_starts(s, "Note, selecting ") ||
			 strstr(s, "is a virtual package provided by"))
			cg_buf_addf(&notes, "%s%s", notes.len ? "; " : "", s);
		else if (strstr(s, "Could not get lock"))
			note_holder(&holder, s);

		if (strstr(s, "have unmet dependencies:")) {
			section = UNMET;
			continue;
		}
		if (section == UNMET) {
			const char *colon = strstr(s, " : ");

			if (!*lstrip(s)) {
				section = NONE;
			} else if (ind && colon && !isspace((unsigned char)
							    s[1])) {
				/* " cgbroken : Depends: x but it is ..." */
				const char *name = lstrip(s);

				free(culprit);
				culprit = cg_xstrndup(name,
						      (size_t)(colon - name));
				blame(res, reqs, n, culprit, strlen(culprit),
				      name, strlen(name));
			} else if (ind && culprit) {
				/* "            Depends: y" of the same */
				blame(res, reqs, n, culprit, strlen(culprit),
				      lstrip(s), strlen(lstrip(s)));
			}
		}
	}
	free(culprit);
	culprit = NULL;

	l.p = err ? err : "";
	while (next_line(&l, &ind)) {
		const char *s = l.line, *name;
		size_t len;

		if (cg_str_starts(s, "dpkg: ") || strstr(s, "Sub-process"))
			res->changed = true;
		if (section == ERRORS) {
			/* "Errors were encountered while processing:" list */
			if (ind && *lstrip(s)) {
				const char *nm = lstrip(s), *dn;
				size_t dl;

				if (!deb_name(nm, strlen(nm), &dn, &dl)) {
					dn = nm;
					dl = strlen(nm);
				}
				blame_unless_said(res, reqs, n, dn, dl,
						  "dpkg failed on it");
				continue;
			}
			section = NONE;
		}
		if (cg_str_starts(s, "Errors were encountered while processing")) {
			section = ERRORS;
			continue;
		}
		/* dpkg's own failure, before any package: the reason. */
		if (cg_str_starts(s, "dpkg: error: ")) {
			cg_buf_addf(&reason, "%s%s", reason.len ? "; " : "", s);
			continue;
		}
		if (cg_str_starts(s, "E: ") || cg_str_starts(s, "W: ")) {
			const char *msg = s + 3;

			if (s[0] == 'E')
				cg_buf_addf(&reason, "%s%s",
					    reason.len ? "; " : "", msg);
			if (strstr(msg, "Could not get lock") ||
			    strstr(msg, "Unable to acquire the dpkg frontend "
					"lock") ||
			    strstr(msg, "Unable to lock the administration "
					"directory") ||
			    strstr(msg, "Unable to lock directory")) {
				res->locked = true;
				note_holder(&holder, msg);
			}
			if (strstr(msg, "dpkg was interrupted"))
				res->interrupted = true;
			if (cg_str_starts(msg, "Unable to locate package ")) {
				name = msg + 25;
				blame(res, reqs, n, name, strcspn(name, " "),
				      msg, strlen(msg));
			} else if (quoted_after(msg, "' for '", &name, &len) ||
				   quoted_after(msg, "Package '", &name,
						&len) ||
				   quoted_after(msg, "by glob '", &name,
						&len) ||
				   quoted_after(msg, "by regex '", &name,
						&len)) {
				blame(res, reqs, n, name, len, msg,
				      strlen(msg));
			} else if (cg_str_starts(msg, "Failed to fetch ") &&
				   deb_name(msg + 16, strlen(msg + 16), &name,
					    &len)) {
				blame(res, reqs, n, name, len, msg,
				      strlen(msg));
			}
			continue;
		}
		/* dpkg: error processing package NAME (--configure): */
		if (cg_str_starts(s, "dpkg: error processing package ")) {
			name = s + 31;
			len = strcspn(name, " ");
			free(culprit);
			culprit = cg_xstrndup(name, len);
			blame(res, reqs, n, name, len, s, strlen(s));
		} else if (cg_str_starts(s, "dpkg: error processing archive ")) {
			const char *dn;
			size_t dl;

			free(culprit);
			culprit = NULL;
			name = s + 31;
			if (deb_name(name, strcspn(name, " "), &dn, &dl)) {
				culprit = cg_xstrndup(dn, dl);
				blame(res, reqs, n, dn, dl, s, strlen(s));
			}
		} else if (ind && culprit && *lstrip(s)) {
			/* " installed cgfail package post-installation
			 * script subprocess returned error exit status 1" */
			blame(res, reqs, n, culprit, strlen(culprit),
			      lstrip(s), strlen(lstrip(s)));
		} else if (!ind) {
			free(culprit);
			culprit = NULL;
		}
	}
	free(culprit);
	free(l.line);

	if (res->locked) {
		long pid;
		char comm[64];

		cg_buf_reset(&reason);
		cg_buf_addf(&reason, "the dpkg lock is held by another process");
		if (holder.len && sscanf(holder.data, "held by process %ld (%63[^)])",
					 &pid, comm) == 2)
			cg_buf_addf(&reason, ": %s (pid %ld)", comm, pid);
	}
	if (reason.len)
		res->reason = cg_buf_detach(&reason, NULL);
	if (notes.len)
		res->notes = cg_buf_detach(&notes, NULL);
	cg_buf_release(&reason);
	cg_buf_release(&notes);
	cg_buf_release(&holder);
}

/* --- running apt-get ------------------------------------------------ */

unsigned pkg_lock_timeout(void)
{
	const char *s = getenv("CONGRUENT_DPKG_LOCK_TIMEOUT");
	unsigned long v;
	char *end;

	if (!s || !*s)
		return LOCK_TIMEOUT_DEFAULT;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > 86400)
		return LOCK_TIMEOUT_DEFAULT;
	return (unsigned)v;
}

/* A clean, fixed environment: messages in English (we parse them). */
static const char *const env_fixed[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"LC_ALL=C",
	"LANG=C",
	"HOME=/root",
	"DEBIAN_FRONTEND=noninteractive",
	"APT_LISTCHANGES_FRONTEND=none",
};

/* ... and how this host reaches its mirrors. */
static const char *const env_pass[] = {
	"http_proxy", "https_proxy", "ftp_proxy", "no_proxy",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
};

struct apt_run {
	const char **argv; /* owned array, borrowed strings (but owned[]) */
	size_t argc, argcap;
	char **owned;      /* strings to free */
	size_t nowned, owncap;
	const char *envp[CG_ARRAY_SIZE(env_fixed) + CG_ARRAY_SIZE(env_pass) + 2];
	int conf_fd;       /* --root: the memfd with Dir "ROOT/" */
};

static void arg(struct apt_run *a, const char *s)
{
	cg_grow(&a->argv, &a->argcap, a->argc + 2, sizeof(*a->argv));
	a->argv[a->argc++] = s;
	a->argv[a->argc] = NULL;
}

static const char *keep(struct apt_run *a, char *s)
{
	cg_grow(&a->owned, &a->owncap, a->nowned + 1, sizeof(*a->owned));
	a->owned[a->nowned++] = s;
	return s;
}

static void apt_run_release(struct apt_run *a)
{
	size_t i;

	for (i = 0; i < a->nowned; i++)
		free(a->owned[i]);
	free(a->owned);
	free(a->argv);
	if (a->conf_fd >= 0)
		close(a->conf_fd);
	memset(a, 0, sizeof(*a));
	a->conf_fd = -1;
}

/*
 * With --root, apt must read the root's configuration, not the host's:
 * APT_CONFIG is read before /etc/apt, so it moves Dir before anything
 * else is read. It must be a regular file: a memfd, handed over as stdin.
 * dpkg then runs chrooted into the root, maintainer scripts with it.
 */
static int root_config(struct apt_run *a, struct cg_root *root,
		       struct cg_error *err)
{
	char *real, *conf;
	int fd;

	real = realpath(root->path, NULL);
	if (!real)
		return cg_error_sys(err, CG_ERR, "cannot resolve %s",
				    root->path);
	if (strpbrk(real, "\"\\\n{};")) {
		cg_error_set(err, CG_ERR,
			     "apt cannot be given the root %s: its path has "
			     "characters apt's configuration cannot quote",
			     real);
		free(real);
		return CG_ERR;
	}
	conf = cg_xasprintf("Dir \"%s/\";\nDPkg::Chroot-Directory \"%s\";\n",
			    real, real);
	free(real);
	fd = memfd_create("congruent-apt.conf", MFD_CLOEXEC);
	if (fd < 0 || cg_write_all(fd, conf, strlen(conf)) < 0) {
		cg_error_sys(err, CG_ERR, "cannot prepare apt's configuration");
		free(conf);
		if (fd >= 0)
			close(fd);
		return CG_ERR;
	}
	free(conf);
	a->conf_fd = fd;
	return 0;
}

static int apt_run_init(struct apt_run *a, struct cg_root *root,
			struct cg_error *err)
{
	size_t i, k = 0;

	memset(a, 0, sizeof(*a));
	a->conf_fd = -1;
	for (i = 0; i < CG_ARRAY_SIZE(env_fixed); i++)
		a->envp[k++] = env_fixed[i];
	for (i = 0; i < CG_ARRAY_SIZE(env_pass); i++) {
		const char *v = getenv(env_pass[i]);

		if (v)
			a->envp[k++] = keep(a, cg_xasprintf("%s=%s",
							     env_pass[i], v));
	}
	if (!root->host) {
		if (root_config(a, root, err) < 0)
			return CG_ERR;
		a->envp[k++] = "APT_CONFIG=/dev/stdin";
	}
	a->envp[k] = NULL;
	arg(a, "apt-get");
	return 0;
}

/* The request as apt-get install takes it: NAME, NAME=VERSION, NAME-. */
static void add_requests(struct apt_run *a, const struct pkg_req *reqs,
			 size_t n)
{
	size_t i;

	arg(a, "install");
	for (i = 0; i < n; i++) {
		const struct pkg_req *q = &reqs[i];

		if (q->op == PKG_OP_REMOVE)
			arg(a, keep(a, cg_xasprintf("%s-", q->name)));
		else if (q->version)
			arg(a, keep(a, cg_xasprintf("%s=%s", q->name,
						    q->version)));
		else
			arg(a, q->name);
	}
}

static int run(struct apt_run *a, unsigned timeout_ms, const struct pkg_req *reqs,
	       size_t n, struct pkg_result *res, struct cg_error *err)
{
	struct cg_exec x;
	struct cg_exec_result r;
	int rc;

	cg_exec_init(&x, a->argv);
	x.envp = a->envp;
	x.in_fd = a->conf_fd;
	x.timeout_ms = timeout_ms;
	rc = cg_exec_run(&x, &r, err);
	if (rc == CG_ENOTFOUND) {
		cg_error_set(err, rc, "apt-get not found");
		cg_error_hint(err, "this host has dpkg's database but no apt; "
				   "install apt");
	}
	if (rc == 0 || rc == CG_ETIMEOUT) {
		pkg_apt_parse(r.out.data, r.err.data, reqs, n, res);
		res->ok = rc == 0 && r.status == 0;
		if (!res->ok && !res->reason) {
			char line[512];

			cg_exec_first_line(&r, line, sizeof(line));
			res->reason = line[0] ? cg_xstrdup(line)
					      : cg_xasprintf("apt-get exited "
							     "with status %d",
							     r.status);
		}
	}
	if (rc == CG_ETIMEOUT) {
		/* Killed midway: dpkg may have left a half-done state. */
		res->changed = true;
		rc = 0;
		free(res->reason);
		res->reason = cg_xstrdup(err ? err->msg : "apt-get timed out");
	}
	cg_exec_result_release(&r);
	return rc;
}

static int apt_simulate(struct cg_root *root, const struct pkg_req *reqs,
			size_t n, struct pkg_result *res, struct cg_error *err)
{
	struct apt_run a;
	int rc;

	memset(res, 0, sizeof(*res));
	rc = apt_run_init(&a, root, err);
	if (rc == 0) {
		/*
		 * -s changes nothing and takes no lock; the options keep it
		 * from writing even apt's caches and its planner log.
		 * Pattern-Only: a name is never a regular expression
		 * ("lib.2" must not match libx2).
		 */
		arg(&a, "-s");
		arg(&a, "-o");
		arg(&a, "Dir::Cache::pkgcache=");
		arg(&a, "-o");
		arg(&a, "Dir::Cache::srcpkgcache=");
		arg(&a, "-o");
		arg(&a, "Dir::Log::Planner=/dev/null");
		arg(&a, "-o");
		arg(&a, "APT::Cmd::Pattern-Only=1");
		add_requests(&a, reqs, n);
		rc = run(&a, SIM_TIMEOUT_MS, reqs, n, res, err);
	}
	apt_run_release(&a);
	return rc;
}

static int apt_apply(struct cg_root *root, const struct pkg_req *reqs, size_t n,
		     struct pkg_result *res, struct cg_error *err)
{
	unsigned lock = pkg_lock_timeout();
	struct apt_run a;
	bool down = false;
	size_t i;
	int rc;

	memset(res, 0, sizeof(*res));
	rc = apt_run_init(&a, root, err);
	if (rc == 0) {
		arg(&a, "-y");
		arg(&a, "-q");
		/* Keep a conffile the administrator changed; take the
		 * package's new one where it was left alone. */
		arg(&a, "-o");
		arg(&a, "Dpkg::Options::=--force-confdef");
		arg(&a, "-o");
		arg(&a, "Dpkg::Options::=--force-confold");
		arg(&a, "-o");
		arg(&a, "Dpkg::Use-Pty=0");
		arg(&a, "-o");
		arg(&a, "APT::Cmd::Pattern-Only=1");
		/* apt waits for the dpkg lock itself, this long. */
		arg(&a, "-o");
		arg(&a, keep(&a, cg_xasprintf("DPkg::Lock::Timeout=%u", lock)));
		for (i = 0; i < n; i++)
			down = down || reqs[i].downgrade;
		if (down)
			arg(&a, "--allow-downgrades");
		add_requests(&a, reqs, n);
		rc = run(&a, (APPLY_TIMEOUT_S + lock) * 1000u, reqs, n, res,
			 err);
	}
	apt_run_release(&a);
	return rc;
}

/*
 * Signed-By names absolute paths, which apt opens as they are even with
 * Dir moved into the root: for apt-get update under --root, the root's
 * keyring directories are mounted over the host's, for apt alone.
 * Fills binds (pairs, NULL-terminated); own[] holds what to free.
 */
static const char *const *root_keyrings(struct cg_root *root,
					const char **binds, size_t size,
					char *own[4])
{
	static const char *const dirs[][2] = {
		{ "/etc/apt/keyrings", "/etc/apt" },
		{ "/usr/share/keyrings", NULL },
	};
	char *real = realpath(root->path, NULL);
	size_t i, k = 0, j;
	struct stat st;

	memset(own, 0, 4 * sizeof(*own));
	if (!real)
		return NULL;
	for (i = 0; i < CG_ARRAY_SIZE(dirs) && k + 2 < size; i++) {
		for (j = 0; j < 2 && dirs[i][j]; j++) {
			char *from = cg_xasprintf("%s%s", real, dirs[i][j]);

			if (stat(from, &st) == 0 && S_ISDIR(st.st_mode) &&
			    stat(dirs[i][j], &st) == 0 && S_ISDIR(st.st_mode)) {
				own[i] = from;
				binds[k++] = from;
				binds[k++] = dirs[i][j];
				break;
			}
			free(from);
		}
	}
	free(real);
	binds[k] = NULL;
	return k ? binds : NULL;
}

int pkg_apt_update(struct cg_root *root, char **reason_out,
		   struct cg_error *err)
{
	const char *binds[8];
	char *own[4] = { NULL };
	size_t i;
	unsigned lock = pkg_lock_timeout();
	struct cg_exec_result r;
	struct cg_exec x;
	struct apt_run a;
	int rc;

	*reason_out = NULL;
	memset(binds, 0, sizeof(binds));
	rc = apt_run_init(&a, root, err);
	if (rc < 0)
		goto out;
	arg(&a, "-q");
	arg(&a, "-o");
	arg(&a, keep(&a, cg_xasprintf("DPkg::Lock::Timeout=%u", lock)));
	arg(&a, "update");
	cg_exec_init(&x, a.argv);
	if (!root->host)
		x.binds = root_keyrings(root, binds, sizeof(binds) / sizeof(*binds),
					own);
	x.envp = a.envp;
	x.in_fd = a.conf_fd;
	x.timeout_ms = (UPDATE_TIMEOUT_S + lock) * 1000u;
	rc = cg_exec_run(&x, &r, err);
	if (rc == CG_ENOTFOUND) {
		cg_error_set(err, rc, "apt-get not found");
		cg_error_hint(err, "install apt in %s", root->path);
	}
	if (rc == 0) {
		/*
		 * apt-get update exits 0 even when a source could not be
		 * read or verified ("W: ... not signed", "E: ..."): any
		 * E: line, or W: line about a source, is a failure.
		 */
		const char *p = r.err.data ? r.err.data : "";
		char line[512];

		if (r.status != 0 || strstr(p, "E: ") ||
		    strstr(p, "W: GPG error") || strstr(p, "W: Failed to")) {
			const char *e = strstr(p, "E: ");

			if (!e)
				e = strstr(p, "W: ");
			if (e) {
				snprintf(line, sizeof(line), "%.*s",
					 (int)strcspn(e, "\n"), e);
			} else {
				cg_exec_first_line(&r, line, sizeof(line));
			}
			*reason_out = line[0] ? cg_xstrdup(line)
					      : cg_xasprintf("exit %d", r.status);
		}
	}
	cg_exec_result_release(&r);
out:
	for (i = 0; i < CG_ARRAY_SIZE(own); i++)
		free(own[i]);
	apt_run_release(&a);
	return rc;
}

const struct pkg_backend pkg_backend_apt = {
	.name = "apt",
	.detect = apt_detect,
	.read_db = apt_read_db,
	.locked = apt_locked,
	.simulate = apt_simulate,
	.apply = apt_apply,
	.version_cmp = pkg_dpkg_version_cmp,
	.repair = "dpkg --configure -a",
};
