/* tree.c: what is below a directory: a tree from the policy, purge, recurse. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg/diff.h"
#include "cg/fs.h"
#include "cg/hash.h"
#include "cg/store.h"
#include "tree.h"

enum kind {
	K_FILE = 'f',
	K_DIR = 'd',
	K_LINK = 'l',
	K_OTHER = 'o',
};

struct entry {
	char *rel;          /* owned: "sub/a.conf", relative to the top */
	unsigned char kind; /* enum kind */
	bool hashed;
	mode_t mode;        /* permission bits */
	uid_t uid;
	gid_t gid;
	unsigned char sha[CG_SHA256_LEN];
	char *target;       /* owned: a symlink's target, or NULL */
	char *diff;         /* owned: host file to source file, or NULL */
};

/* Content changes shown as unified diffs: files this small, this many. */
#define TREE_DIFF_MAX (64u << 10)
#define TREE_DIFFS 64

struct list {
	struct entry *v; /* owned */
	size_t n, cap;
};

struct tree_want {
	char *source;     /* owned: the directory in the policy tree, or NULL */
	bool recurse, purge;
	bool has_file_mode;
	mode_t file_mode;
	struct list src;  /* the source's entries, sorted by rel */
};

enum op_kind {
	OP_MKDIR,
	OP_WRITE,
	OP_LINK,
	OP_META,
	OP_PURGE,
};

/* One change below the directory, found by diff, made by apply. */
struct op {
	unsigned char kind;  /* enum op_kind */
	bool replace;        /* something else is there: kept, then removed */
	bool set_mode, set_owner, set_group;
	mode_t mode;
	const struct entry *src;  /* borrowed from the want, or NULL */
	const struct entry *host; /* borrowed from the seen, or NULL */
};

struct tree_seen {
	bool walked;     /* the directory exists and was walked */
	char *top;       /* owned: the directory's path, for messages */
	struct list host;
	char **declared; /* owned: rels other resources name under the top */
	size_t ndeclared;
	struct op *ops;  /* owned: from diff */
	size_t nops;
};

const char *const tree_keys[] = {
	"source", "recurse", "purge", "file_mode", NULL,
};

static void list_release(struct list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].rel);
		free(l->v[i].target);
		free(l->v[i].diff);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return strcmp(x->rel, y->rel);
}

static const struct entry *list_find(const struct list *l, const char *rel)
{
	struct entry key = { .rel = (char *)(uintptr_t)rel };

	return l->n ? bsearch(&key, l->v, l->n, sizeof(*l->v), entry_cmp)
		    : NULL;
}

/* What walk looks at, and how a problem is named. */
struct walk {
	struct list *l;
	const struct list *hash_for; /* hash files this list has; NULL: all */
	const char *top;             /* for messages: "files/sites" */
};

static int walk_error(struct walk *wk, struct cg_error *err, const char *rel,
		      const char *what)
{
	return cg_error_sys(err, CG_ERR, "cannot %s %s/%s", what, wk->top, rel);
}

static char *rel_join(const char *prefix, const char *name)
{
	return *prefix ? cg_xasprintf("%s/%s", prefix, name)
		       : cg_xstrdup(name);
}

/* Names in dirfd, but . and .. (the caller frees each and the array). */
static int read_names(int dirfd, char ***out, size_t *n_out)
{
	struct dirent *de;
	char **v = NULL;
	size_t n = 0, cap = 0;
	DIR *d;
	int fd;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	while ((errno = 0, de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		cg_grow(&v, &cap, n + 1, sizeof(*v));
		v[n++] = cg_xstrdup(de->d_name);
	}
	closedir(d);
	*out = v;
	*n_out = n;
	return 0;
}

static void free_names(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int walk_dir(struct walk *wk, int dirfd, const char *prefix,
		    unsigned depth, struct cg_error *err)
{
	char **names;
	size_t n, i;
	int rc = 0;

	if (depth > TREE_MAX_DEPTH)
		return cg_error_set(err, CG_ERR,
				    "%s/%s is more than %d levels deep",
				    wk->top, prefix, TREE_MAX_DEPTH);
	if (read_names(dirfd, &names, &n) < 0)
		return walk_error(wk, err, prefix, "read directory");
	for (i = 0; rc == 0 && i < n; i++) {
		struct stat st;
		struct entry *e;
		int fd;

		if (wk->l->n >= TREE_MAX_ENTRIES) {
			rc = cg_error_set(err, CG_ERR,
					  "%s has more than %d entries", wk->top,
					  TREE_MAX_ENTRIES);
			break;
		}
		if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue; /* gone meanwhile */
			rc = walk_error(wk, err, names[i], "stat");
			break;
		}
		cg_grow(&wk->l->v, &wk->l->cap, wk->l->n + 1,
			sizeof(*wk->l->v));
		e = &wk->l->v[wk->l->n++];
		memset(e, 0, sizeof(*e));
		e->rel = rel_join(prefix, names[i]);
		e->mode = st.st_mode & 07777;
		e->uid = st.st_uid;
		e->gid = st.st_gid;
		if (S_ISDIR(st.st_mode)) {
			e->kind = K_DIR;
			fd = openat(dirfd, names[i],
				    O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					    O_CLOEXEC);
			if (fd < 0) {
				rc = walk_error(wk, err, e->rel, "open");
				break;
			}
			/* e may move as the list grows: copy its name. */
			{
				char *rel = cg_xstrdup(e->rel);

				rc = walk_dir(wk, fd, rel, depth + 1, err);
				free(rel);
			}
			close(fd);
		} else if (S_ISLNK(st.st_mode)) {
			char buf[PATH_MAX];
			ssize_t len;

			e->kind = K_LINK;
			len = readlinkat(dirfd, names[i], buf, sizeof(buf) - 1);
			if (len < 0) {
				rc = walk_error(wk, err, e->rel, "read link");
				break;
			}
			e->target = cg_xstrndup(buf, (size_t)len);
		} else if (S_ISREG(st.st_mode)) {
			e->kind = K_FILE;
			if (wk->hash_for) {
				const struct entry *s =
					list_find(wk->hash_for, e->rel);

				if (!s || s->kind != K_FILE)
					continue;
			}
			fd = openat(dirfd, names[i],
				    O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
					    O_CLOEXEC);
			if (fd < 0) {
				rc = walk_error(wk, err, e->rel, "open");
				break;
			}
			rc = cg_sha256_fd(fd, e->sha, err);
			close(fd);
			e->hashed = rc == 0;
		} else {
			e->kind = K_OTHER;
		}
	}
	free_names(names, n);
	return rc;
}

static int walk(struct list *l, const struct list *hash_for, int dirfd,
		const char *top, struct cg_error *err)
{
	struct walk wk = { .l = l, .hash_for = hash_for, .top = top };
	int rc = walk_dir(&wk, dirfd, "", 1, err);

	if (rc == 0 && l->n)
		qsort(l->v, l->n, sizeof(*l->v), entry_cmp);
	return rc;
}

static int bad_node(const struct cg_node *n, struct cg_error *err)
{
	cg_error_where(err, "%s:%u", n->doc->name, n->line);
	return CG_ERR;
}

int tree_parse(struct tree_want **out, const struct cg_node *item,
	       const struct cg_parse_ctx *pc, struct cg_error *err)
{
	const struct cg_node *n;
	struct tree_want *w;
	const char *s;
	int fd, rc;
	size_t i;

	*out = NULL;
	for (i = 0; tree_keys[i] && !cg_map_get(item, tree_keys[i]); i++)
		;
	if (!tree_keys[i])
		return 0;
	w = cg_xcalloc(1, sizeof(*w));
	if ((n = cg_map_get(item, "recurse")) &&
	    cg_node_bool(n, "recurse", &w->recurse, err) < 0)
		goto fail;
	if ((n = cg_map_get(item, "purge")) &&
	    cg_node_bool(n, "purge", &w->purge, err) < 0)
		goto fail;
	if ((n = cg_map_get(item, "file_mode"))) {
		if (fsmeta_parse_mode(n, "file_mode", &w->file_mode, err) < 0)
			goto fail;
		w->has_file_mode = true;
	}
	n = cg_map_get(item, "state");
	if (n && n->str && strcmp(n->str, "absent") == 0) {
		cg_error_set(err, CG_ERR,
			     "a directory with state: absent takes no "
			     "source, recurse, purge or file_mode");
		cg_error_hint(err, "drop them, or drop state: absent");
		goto fail_where;
	}
	n = cg_map_get(item, "source");
	if (!n)
		goto done;
	if (cg_node_string(n, "source", &s, err) < 0)
		goto fail;
	w->source = cg_xstrdup(s);
	rc = cg_open_beneath(pc->policy_fd, s, O_RDONLY | O_DIRECTORY, &fd,
			     err);
	if (rc < 0) {
		if (rc == CG_ENOTFOUND)
			cg_error_hint(err, "add the directory to the policy "
					   "repository, or fix the path "
					   "(relative to %s)",
				      pc->policy_dir);
		else
			cg_error_hint(err, "a directory source must be a "
					   "directory inside the policy tree");
		goto fail_where;
	}
	rc = walk(&w->src, NULL, fd, s, err);
	close(fd);
	if (rc < 0) {
		cg_error_hint(err, "a source tree has at most %d entries, "
				   "%d levels deep: split it into several "
				   "directory resources",
			      TREE_MAX_ENTRIES, TREE_MAX_DEPTH);
		goto fail_where;
	}
	for (i = 0; i < w->src.n; i++) {
		if (w->src.v[i].kind == K_OTHER) {
			cg_error_set(err, CG_ERR,
				     "%s/%s is a special file (not a file, "
				     "directory or symlink)",
				     s, w->src.v[i].rel);
			cg_error_hint(err, "remove it from the policy tree");
			goto fail_where;
		}
	}
done:
	*out = w;
	return 0;
fail_where:
	n = cg_map_get(item, "source") ? cg_map_get(item, "source") : item;
	bad_node(n, err);
fail:
	tree_want_free(w);
	return CG_ERR;
}

void tree_want_free(struct tree_want *w)
{
	if (!w)
		return;
	free(w->source);
	list_release(&w->src);
	free(w);
}

void tree_seen_free(struct tree_seen *s)
{
	size_t i;

	if (!s)
		return;
	list_release(&s->host);
	free(s->top);
	for (i = 0; i < s->ndeclared; i++)
		free(s->declared[i]);
	free(s->declared);
	free(s->ops);
	free(s);
}

static void observe_diffs(const struct tree_want *w, struct cg_ctx *ctx,
			  const struct cg_resource *r, struct tree_seen *s,
			  int dirfd);

struct declared_add {
	struct tree_seen *s;
	const char *top; /* borrowed: the tree's path */
	size_t *cap;
};

/* Keep path, relative to the top, when it lies below the top. */
static void add_declared(void *arg, const char *path)
{
	struct declared_add *a = arg;
	size_t len = strlen(a->top);

	if (strncmp(path, a->top, len) != 0 || path[len] != '/' ||
	    path[len + 1] == '\0')
		return;
	cg_grow(&a->s->declared, a->cap, a->s->ndeclared + 1,
		sizeof(*a->s->declared));
	a->s->declared[a->s->ndeclared++] = cg_xstrdup(path + len + 1);
}

int tree_observe(const struct tree_want *w, struct cg_ctx *ctx,
		 const struct cg_resource *r, int dirfd,
		 struct tree_seen **out, struct cg_error *err)
{
	struct tree_seen *s = cg_xcalloc(1, sizeof(*s));
	const struct cg_resource *d;
	struct declared_add add;
	size_t i, cap = 0;

	s->top = cg_xstrdup(r->name);
	/*
	 * What other resources manage below, by their name or by the paths
	 * their module says they write: purge keeps it, we skip it.
	 */
	add.s = s;
	add.top = r->name;
	add.cap = &cap;
	for (i = 0; ctx->declared && (d = ctx->declared(ctx, i)); i++) {
		if (d == r)
			continue;
		add_declared(&add, d->name);
		if (ctx->declared_paths)
			ctx->declared_paths(ctx, d, add_declared, &add);
	}
	if (dirfd >= 0) {
		if (walk(&s->host, &w->src, dirfd, r->name, err) < 0) {
			cg_error_hint(err, "a managed tree has at most %d "
					   "entries, %d levels deep: manage "
					   "smaller directories",
				      TREE_MAX_ENTRIES, TREE_MAX_DEPTH);
			tree_seen_free(s);
			return CG_ERR;
		}
		s->walked = true;
		observe_diffs(w, ctx, r, s, dirfd);
	}
	*out = s;
	return 0;
}

/* Does another resource manage rel itself (exact), or something below? */
static bool declared(const struct tree_seen *s, const char *rel, bool below)
{
	size_t i, n = strlen(rel);

	for (i = 0; i < s->ndeclared; i++) {
		const char *d = s->declared[i];

		if (!below && strcmp(d, rel) == 0)
			return true;
		if (below && strncmp(d, rel, n) == 0 && d[n] == '/')
			return true;
	}
	return false;
}

/* Is rel below a path that another resource manages whole? */
static bool owned_elsewhere(const struct tree_seen *s, const char *rel)
{
	size_t i;

	for (i = 0; i < s->ndeclared; i++) {
		size_t n = strlen(s->declared[i]);

		if (strncmp(rel, s->declared[i], n) == 0 &&
		    (rel[n] == '\0' || rel[n] == '/'))
			return true;
	}
	return false;
}

static const char *kind_word(unsigned char k)
{
	switch (k) {
	case K_DIR:
		return "directory";
	case K_LINK:
		return "symlink";
	case K_FILE:
		return "file";
	default:
		return "special file";
	}
}

/* "file 0644 sha256:HEX", "symlink -> T": an entry's state, for reports. */
static char *state_str(const char *rel, const struct entry *e, mode_t mode)
{
	char hex[CG_SHA256_HEX];

	if (e->kind == K_LINK)
		return cg_xasprintf("%s symlink -> %s", rel, e->target);
	if (e->kind == K_FILE && e->hashed) {
		cg_hex(e->sha, sizeof(e->sha), hex);
		return cg_xasprintf("%s file %04o sha256:%s", rel,
				    (unsigned)mode, hex);
	}
	return cg_xasprintf("%s %s %04o", rel, kind_word(e->kind),
			    (unsigned)mode);
}

static struct op *add_op(struct tree_seen *s, size_t *cap, unsigned char kind,
			 const struct entry *src, const struct entry *host)
{
	struct op *o;

	cg_grow(&s->ops, cap, s->nops + 1, sizeof(*s->ops));
	o = &s->ops[s->nops++];
	memset(o, 0, sizeof(*o));
	o->kind = kind;
	o->src = src;
	o->host = host;
	return o;
}

/* Mode, owner and group an entry should have; false: none managed. */
static void want_meta(const struct tree_want *w, const struct fsmeta *m,
		      const struct fsmeta_ids *ids, const struct entry *src,
		      const struct entry *host, struct op *o)
{
	unsigned char k = src ? src->kind : host->kind;

	if (k == K_LINK || k == K_OTHER)
		return;
	if (k == K_DIR && m->has_mode)
		o->set_mode = true, o->mode = m->mode;
	else if (k == K_FILE && w->has_file_mode)
		o->set_mode = true, o->mode = w->file_mode;
	else if (src)
		o->set_mode = true, o->mode = src->mode;
	/* o->mode stays what is wanted; set_mode says it differs. */
	if (host && o->set_mode && (host->mode & 07777) == o->mode)
		o->set_mode = false;
	o->set_owner = m->owner &&
		       (!host || !ids->has_uid || host->uid != ids->uid);
	o->set_group = m->group &&
		       (!host || !ids->has_gid || host->gid != ids->gid);
}

/* Describe o as one change item. */
static void op_item(const struct fsmeta *m, const struct op *o,
		    struct cg_change *c)
{
	const struct entry *h = o->host, *src = o->src;
	const char *rel = src ? src->rel : h->rel;
	struct cg_change_item *it;
	struct cg_buf d = { 0 };
	char *from = NULL, *to = NULL;
	char hex[2][CG_SHA256_HEX];

	if (h)
		from = state_str(rel, h, h->mode);
	if (src)
		to = state_str(rel, src, o->mode);
	switch (o->kind) {
	case OP_PURGE:
		cg_buf_addf(&d, "- %s%s (%s, purged%s)", rel,
			    h->kind == K_DIR ? "/" : "", kind_word(h->kind),
			    h->kind == K_DIR ? "" : "; kept in the backups");
		break;
	case OP_MKDIR:
	case OP_WRITE:
	case OP_LINK:
		if (h && !o->replace && o->kind == OP_WRITE && h->diff &&
		    !o->set_owner && !o->set_group) {
			/* Shown as its field line (from/to), then the diff. */
			cg_buf_addstr(&d, h->diff);
			break;
		}
		if (h && !o->replace && o->kind == OP_WRITE) {
			cg_hex(h->sha, sizeof(h->sha), hex[0]);
			cg_hex(src->sha, sizeof(src->sha), hex[1]);
			cg_buf_addf(&d, "~ %s content sha256:%.12s -> "
					"sha256:%.12s",
				    rel, hex[0], hex[1]);
			break;
		}
		if (h && !o->replace) {
			cg_buf_addf(&d, "~ %s target %s -> %s", rel, h->target,
				    src->target);
			break;
		}
		cg_buf_addf(&d, "+ %s%s (%s", rel,
			    src->kind == K_DIR ? "/" : "",
			    kind_word(src->kind));
		if (src->kind == K_LINK)
			cg_buf_addf(&d, " -> %s", src->target);
		else
			cg_buf_addf(&d, " %04o", (unsigned)o->mode);
		if (h)
			cg_buf_addf(&d, ", replacing a %s, kept in the "
					"backups",
				    kind_word(h->kind));
		cg_buf_addch(&d, ')');
		break;
	case OP_META:
		cg_buf_addf(&d, "~ %s", rel);
		break;
	}
	if (d.len && strchr(d.data, '\n')) {
		/* a diff: from and to say the rest */
	} else if (o->kind == OP_META ||
	    (h && !o->replace && o->kind != OP_PURGE)) {
		if (o->set_mode)
			cg_buf_addf(&d, " mode %04o -> %04o",
				    (unsigned)h->mode, (unsigned)o->mode);
		if (o->set_owner)
			cg_buf_addf(&d, " owner -> %s", m->owner);
		if (o->set_group)
			cg_buf_addf(&d, " group -> %s", m->group);
	} else if (!h || o->replace) {
		if (o->set_owner)
			cg_buf_addf(&d, " owner %s", m->owner);
		if (o->set_group)
			cg_buf_addf(&d, " group %s", m->group);
	}
	it = cg_change_add(c, "entry", from, to);
	it->detail = cg_buf_detach(&d, NULL);
	free(from);
	free(to);
}

/* The change for one path that the source has (src) or the host (h). */
static int plan_entry(const struct tree_want *w, const struct fsmeta *m,
		      const struct fsmeta_ids *ids, struct tree_seen *s,
		      size_t *cap, const struct entry *src,
		      const struct entry *h, struct cg_error *err)
{
	struct op o = { 0 };

	if (owned_elsewhere(s, src ? src->rel : h->rel))
		return 0;
	if (!src) {
		if (w->purge && !declared(s, h->rel, true)) {
			if (h->kind == K_OTHER)
				goto special;
			add_op(s, cap, OP_PURGE, NULL, h);
			return 0;
		}
		if (!w->recurse)
			return 0;
		want_meta(w, m, ids, NULL, h, &o);
		if (o.set_mode || o.set_owner || o.set_group) {
			o.kind = OP_META;
			o.host = h;
			*add_op(s, cap, OP_META, NULL, h) = o;
		}
		return 0;
	}
	want_meta(w, m, ids, src, h, &o);
	o.src = src;
	o.host = h;
	o.kind = src->kind == K_DIR ? OP_MKDIR
		 : src->kind == K_LINK ? OP_LINK : OP_WRITE;
	if (!h) {
		*add_op(s, cap, o.kind, src, h) = o;
		return 0;
	}
	if (h->kind == K_OTHER)
		goto special;
	if (h->kind == K_DIR && src->kind != K_DIR) {
		cg_error_set(err, CG_ERR,
			     "%s/%s is a directory where the policy tree has "
			     "a %s (%s/%s)",
			     s->top, h->rel, kind_word(src->kind), w->source,
			     src->rel);
		cg_error_hint(err, "move it away by hand; congruent does not "
				   "delete directories to make room");
		return CG_ERR;
	}
	if (h->kind != src->kind) {
		o.replace = true;
		want_meta(w, m, ids, src, NULL, &o);
		*add_op(s, cap, o.kind, src, h) = o;
		return 0;
	}
	if (src->kind == K_LINK) {
		if (strcmp(src->target, h->target) != 0)
			*add_op(s, cap, OP_LINK, src, h) = o;
		return 0;
	}
	if (src->kind == K_FILE &&
	    (!h->hashed || memcmp(src->sha, h->sha, sizeof(h->sha)) != 0)) {
		*add_op(s, cap, OP_WRITE, src, h) = o;
		return 0;
	}
	if (o.set_mode || o.set_owner || o.set_group) {
		o.kind = OP_META;
		*add_op(s, cap, OP_META, src, h) = o;
	}
	return 0;
special:
	cg_error_set(err, CG_ERR, "%s/%s is a special file where the tree "
				  "has to change",
		     s->top, h->rel);
	cg_error_hint(err, "remove it by hand, or declare it as another "
			   "resource");
	return CG_ERR;
}

int tree_diff(const struct tree_want *w, const struct fsmeta *m,
	      const struct fsmeta_ids *ids, struct tree_seen *s,
	      struct cg_change *c, struct cg_error *err)
{
	size_t i = 0, j = 0, k, cap = 0;
	const struct entry *src, *h;
	int rc = 0;

	free(s->ops);
	s->ops = NULL;
	s->nops = 0;
	/* Both lists are sorted: walk them side by side. */
	while (rc == 0 && (i < w->src.n || j < s->host.n)) {
		int cmp;

		src = i < w->src.n ? &w->src.v[i] : NULL;
		h = j < s->host.n ? &s->host.v[j] : NULL;
		cmp = !src ? 1 : !h ? -1 : strcmp(src->rel, h->rel);
		if (cmp == 0)
			i++, j++;
		else if (cmp < 0)
			i++, h = NULL;
		else
			j++, src = NULL;
		rc = plan_entry(w, m, ids, s, &cap, src, h, err);
	}
	if (rc < 0)
		return rc;
	for (k = 0; k < s->nops; k++)
		op_item(m, &s->ops[k], c);
	return (int)s->nops;
}

/* The directories of the tree apply opened, each kept until the end. */
struct dirs {
	int top;      /* borrowed */
	char **rel;   /* owned */
	int *fd;      /* owned */
	bool *dirty;  /* something in it changed: sync it */
	size_t n, cap, cap2, cap3;
};

static void dirs_release(struct dirs *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		free(d->rel[i]);
		close(d->fd[i]);
	}
	free(d->rel);
	free(d->fd);
	free(d->dirty);
}

/* The directory that holds rel, opened without following a symlink. */
static int dirs_parent(struct dirs *d, const char *rel, const char **base,
		       size_t *idx, struct cg_error *err)
{
	const char *slash = strrchr(rel, '/');
	char *dir;
	size_t i, pidx;
	const char *pbase;
	int pfd, fd;

	*base = slash ? slash + 1 : rel;
	if (!slash) {
		*idx = SIZE_MAX;
		return d->top;
	}
	dir = cg_xstrndup(rel, (size_t)(slash - rel));
	for (i = d->n; i-- > 0;) {
		if (strcmp(d->rel[i], dir) == 0) {
			free(dir);
			*idx = i;
			return d->fd[i];
		}
	}
	pfd = dirs_parent(d, dir, &pbase, &pidx, err);
	if (pfd < 0) {
		free(dir);
		return -1;
	}
	fd = openat(pfd, pbase, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					O_CLOEXEC);
	if (fd < 0) {
		cg_error_sys(err, CG_ERR, "cannot open directory %s", dir);
		if (errno == ELOOP || errno == ENOTDIR)
			cg_error_hint(err, "it was replaced by a symlink or "
					   "file meanwhile: run again");
		free(dir);
		return -1;
	}
	cg_grow(&d->rel, &d->cap, d->n + 1, sizeof(*d->rel));
	cg_grow(&d->fd, &d->cap2, d->n + 1, sizeof(*d->fd));
	cg_grow(&d->dirty, &d->cap3, d->n + 1, sizeof(*d->dirty));
	d->rel[d->n] = dir;
	d->fd[d->n] = fd;
	d->dirty[d->n] = false;
	*idx = d->n++;
	return fd;
}

/* The absolute path of rel, for messages and the backup store. */
static char *full_path(const struct cg_resource *r, const char *rel)
{
	return cg_xasprintf("%s/%s", r->name, rel);
}

/* Keep what is at base (a file or symlink) in the backups, then remove it. */
static int keep_and_remove(struct cg_ctx *ctx, int dfd, const char *base,
			   const char *path, unsigned char kind,
			   struct cg_error *err)
{
	if (kind == K_DIR) {
		if (unlinkat(dfd, base, AT_REMOVEDIR) < 0 && errno != ENOENT)
			return cg_error_sys(err, CG_ERR, "cannot remove %s",
					    path);
		return 0;
	}
	if (cg_store_keep(ctx->store, dfd, base, path, NULL, err) < 0)
		return CG_ERR;
	if (unlinkat(dfd, base, 0) < 0 && errno != ENOENT)
		return cg_error_sys(err, CG_ERR, "cannot remove %s", path);
	return 0;
}

static int set_meta(int dfd, const char *base, const char *path,
		    const struct op *o, const struct fsmeta_ids *ids,
		    int *fds, size_t *nfds, struct cg_error *err)
{
	struct stat st;
	int fd;

	fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return cg_error_sys(err, CG_ERR, "cannot open %s", path);
	if (fstat(fd, &st) < 0 || (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))) {
		close(fd);
		return cg_error_set(err, CG_ERR, "%s changed meanwhile", path);
	}
	if ((o->set_owner || o->set_group) &&
	    fchown(fd, o->set_owner && ids->has_uid ? ids->uid : (uid_t)-1,
		   o->set_group && ids->has_gid ? ids->gid : (gid_t)-1) < 0) {
		close(fd);
		return cg_error_sys(err, CG_ERR, "cannot chown %s", path);
	}
	/* After fchown, which clears set-id bits. */
	if ((o->set_mode || o->set_owner || o->set_group) &&
	    fchmod(fd, o->set_mode ? o->mode : st.st_mode & 07777) < 0) {
		close(fd);
		return cg_error_sys(err, CG_ERR, "cannot chmod %s", path);
	}
	fds[(*nfds)++] = fd;
	return 0;
}

static int make_link(int dfd, const char *base, const char *target,
		     const char *path, struct cg_error *err)
{
	char tmp[256];

	cg_fs_tmpname(tmp, sizeof(tmp), base);
	if (symlinkat(target, dfd, tmp) < 0)
		return cg_error_sys(err, CG_ERR, "cannot create symlink %s",
				    path);
	cg_fs_temp_made(dfd, tmp);
	if (renameat(dfd, tmp, dfd, base) < 0) {
		cg_error_sys(err, CG_ERR, "cannot put symlink %s in place",
			     path);
		unlinkat(dfd, tmp, 0);
		return CG_ERR;
	}
	return 0;
}

/* Open the source file of o in the policy tree. */
static int open_source(struct cg_ctx *ctx, const struct tree_want *w,
		       const struct entry *src, int *fd, struct cg_error *err)
{
	char *p = cg_xasprintf("%s/%s", w->source, src->rel);
	int rc = cg_open_beneath(ctx->policy_fd, p, O_RDONLY | O_NOFOLLOW,
				 fd, err);

	free(p);
	return rc;
}

int tree_apply(const struct tree_want *w, struct tree_seen *s,
	       struct cg_ctx *ctx, const struct cg_resource *r, int dirfd,
	       const struct fsmeta_ids *ids, struct cg_error *err)
{
	struct dirs d = { .top = dirfd };
	struct cg_staged *st = cg_xcalloc(s->nops + 1, sizeof(*st));
	int *fds = cg_xcalloc(s->nops + 1, sizeof(*fds));
	int *all;
	size_t nst = 0, nfds = 0, i, idx;
	bool top_dirty = false;
	int rc = 0;

	/* Purges first, deepest first: the lists are parents before children. */
	for (i = s->nops; rc == 0 && i-- > 0;) {
		const struct op *o = &s->ops[i];
		const char *base;
		char *path;
		int dfd;

		if (o->kind != OP_PURGE)
			continue;
		dfd = dirs_parent(&d, o->host->rel, &base, &idx, err);
		if (dfd < 0) {
			rc = CG_ERR;
			break;
		}
		path = full_path(r, o->host->rel);
		rc = keep_and_remove(ctx, dfd, base, path, o->host->kind, err);
		free(path);
		if (idx == SIZE_MAX)
			top_dirty = true;
		else
			d.dirty[idx] = true;
	}
	for (i = 0; rc == 0 && i < s->nops; i++) {
		const struct op *o = &s->ops[i];
		const struct entry *src = o->src;
		const char *base;
		char *path;
		int dfd, ofd = -1;

		if (o->kind == OP_PURGE)
			continue;
		dfd = dirs_parent(&d, src ? src->rel : o->host->rel, &base,
				  &idx, err);
		if (dfd < 0) {
			rc = CG_ERR;
			break;
		}
		path = full_path(r, src ? src->rel : o->host->rel);
		if (o->replace)
			rc = keep_and_remove(ctx, dfd, base, path,
					     o->host->kind, err);
		if (rc < 0) {
			free(path);
			break;
		}
		switch (o->kind) {
		case OP_MKDIR:
			if (!o->host || o->replace) {
				if (mkdirat(dfd, base, 0700) < 0 &&
				    errno != EEXIST) {
					rc = cg_error_sys(err, CG_ERR,
							  "cannot create %s",
							  path);
					break;
				}
			}
			rc = set_meta(dfd, base, path, o, ids, fds, &nfds, err);
			break;
		case OP_META:
			rc = set_meta(dfd, base, path, o, ids, fds, &nfds, err);
			break;
		case OP_LINK:
			if (o->host && !o->replace)
				rc = cg_store_keep(ctx->store, dfd, base, path,
						   NULL, err);
			if (rc == 0)
				rc = make_link(dfd, base, src->target, path,
					       err);
			break;
		case OP_WRITE: {
			struct cg_content c = { .fd = -1 };
			uid_t uid = (uid_t)-1;
			gid_t gid = (gid_t)-1;

			if (o->host && !o->replace) {
				ofd = openat(dfd, base, O_RDONLY | O_NOFOLLOW |
								O_NONBLOCK |
								O_CLOEXEC);
				if (ofd < 0) {
					rc = cg_error_sys(err, CG_ERR,
							  "cannot open %s",
							  path);
					break;
				}
				rc = cg_store_keep(ctx->store, dfd, base, path,
						   NULL, err);
				uid = o->host->uid;
				gid = o->host->gid;
			}
			if (o->set_owner && ids->has_uid)
				uid = ids->uid;
			if (o->set_group && ids->has_gid)
				gid = ids->gid;
			if (rc == 0)
				rc = open_source(ctx, w, src, &c.fd, err);
			if (rc == 0) {
				rc = cg_fs_stage(dfd, base, &c,
						 o->mode,
						 uid, gid, ofd, &st[nst], NULL,
						 err);
				close(c.fd);
			}
			if (rc == 0)
				nst++;
			break;
		}
		}
		if (ofd >= 0)
			close(ofd);
		free(path);
		if (idx == SIZE_MAX)
			top_dirty = true;
		else
			d.dirty[idx] = true;
	}
	/* One sync for every file written and every inode changed... */
	all = cg_xcalloc(nfds + nst + 1, sizeof(*all));
	memcpy(all, fds, nfds * sizeof(*fds));
	for (i = 0; i < nst; i++)
		all[nfds + i] = st[i].fd;
	if (rc == 0 && nfds + nst)
		rc = cg_fs_sync_many(all, nfds + nst, err);
	free(all);
	/* ...then the renames, then each directory touched once. */
	for (i = 0; i < nst; i++) {
		if (rc == 0)
			rc = cg_fs_commit(&st[i], NULL, err);
		else
			cg_fs_unstage(&st[i]);
	}
	for (i = 0; rc == 0 && i < d.n; i++)
		if (d.dirty[i])
			rc = cg_fs_sync_dir(d.fd[i], d.rel[i], err);
	if (rc == 0 && top_dirty)
		rc = cg_fs_sync_dir(dirfd, r->name, err);
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	free(fds);
	free(st);
	dirs_release(&d);
	return rc;
}

void tree_fingerprint(const struct tree_want *w, const struct fsmeta *m,
		      const struct tree_seen *s, struct cg_buf *b)
{
	char hex[CG_SHA256_HEX];
	size_t i;

	for (i = 0; s && i < s->host.n; i++) {
		const struct entry *h = &s->host.v[i];
		const struct entry *src = list_find(&w->src, h->rel);

		if (owned_elsewhere(s, h->rel) ||
		    (!src && !w->recurse && !w->purge))
			continue;
		cg_buf_addf(b, "%s %c", h->rel, h->kind);
		if (src || w->recurse) {
			if (h->kind != K_LINK)
				cg_buf_addf(b, " %o", (unsigned)h->mode);
			if (m->owner)
				cg_buf_addf(b, " u%u", (unsigned)h->uid);
			if (m->group)
				cg_buf_addf(b, " g%u", (unsigned)h->gid);
		}
		if (h->hashed) {
			cg_hex(h->sha, sizeof(h->sha), hex);
			cg_buf_addf(b, " %s", hex);
		}
		if (h->target)
			cg_buf_addf(b, " -> %s", h->target);
		cg_buf_addch(b, '\n');
	}
}

/* Read a small file under the tree (never through a symlink), or NULL. */
static char *read_small(struct dirs *d, const char *rel, size_t *len)
{
	struct cg_buf b = { 0 };
	const char *base;
	size_t idx;
	int dfd, fd;

	dfd = dirs_parent(d, rel, &base, &idx, NULL);
	if (dfd < 0)
		return NULL;
	fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (cg_read_fd(fd, &b, TREE_DIFF_MAX, NULL) < 0) {
		close(fd);
		cg_buf_release(&b);
		return NULL;
	}
	close(fd);
	return cg_buf_detach(&b, len);
}

/*
 * For plan: the unified diff of each small text file whose content will
 * change, from what is there to the source's (a few of them).
 */
static void observe_diffs(const struct tree_want *w, struct cg_ctx *ctx,
			  const struct cg_resource *r, struct tree_seen *s,
			  int dirfd)
{
	struct dirs d = { .top = dirfd };
	size_t i, n = 0;

	for (i = 0; i < s->host.n && n < TREE_DIFFS; i++) {
		struct entry *h = &s->host.v[i];
		const struct entry *src = list_find(&w->src, h->rel);
		char *old = NULL, *new = NULL, *path, *label;
		size_t olen = 0, nlen = 0;
		struct cg_buf b = { 0 };
		int fd;

		if (!src || src->kind != K_FILE || h->kind != K_FILE ||
		    !h->hashed || !memcmp(src->sha, h->sha, sizeof(h->sha)))
			continue;
		path = cg_xasprintf("%s/%s", w->source, src->rel);
		if (cg_open_beneath(ctx->policy_fd, path, O_RDONLY | O_NOFOLLOW,
				    &fd, NULL) == 0) {
			if (cg_read_fd(fd, &b, TREE_DIFF_MAX, NULL) == 0)
				new = cg_buf_detach(&b, &nlen);
			cg_buf_release(&b);
			close(fd);
		}
		free(path);
		if (new)
			old = read_small(&d, h->rel, &olen);
		if (old && new && cg_is_text(old, olen) &&
		    cg_is_text(new, nlen)) {
			path = full_path(r, h->rel);
			label = cg_xasprintf("%s (policy)", path);
			cg_diff_unified(old, olen, new, nlen, path, label, 3, &b);
			if (b.len)
				h->diff = cg_buf_detach(&b, NULL);
			cg_buf_release(&b);
			free(label);
			free(path);
			n++;
		}
		free(old);
		free(new);
	}
	dirs_release(&d);
}
