/* policy.c: loading site.yaml and roles/ into resources, with every error. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "cg/hash.h"
#include "cg/node.h"
#include "cg/template.h"

static const char *const site_keys[] = { "classes", "vars", "orphans",
					 "hierarchy", "mode", "revert_packages",
					 NULL };
static const char *const class_keys[] = { "match", "facts", "roles", "vars",
					  "orphans", "mode", NULL };
static const char *const role_keys[] = { "resources", "description", NULL };
/* Keys every resource takes, whatever its type. */
static const char *const common_keys[] = { "requires", "audit", NULL };

/* checking: a class, to render templates with its vars. */
struct check_class {
	char *where;         /* owned: "site.yaml:7" */
	char **roles;        /* owned */
	size_t nroles;
	struct cg_vars vars; /* site vars, then the class's */
	const char **names;  /* owned array: vars, then facts */
};

struct loader {
	bool orphans_forget; /* orphans: forget, site's then the class's */
	bool audit_mode;     /* mode: audit, site's then the class's */
	bool orphans_revert; /* orphans: revert, the same */
	bool revert_packages; /* site.yaml revert_packages: true */
	struct cg_policy *p;
	struct cg_diag *diag;
	struct cg_parse_ctx pc;
	struct cg_facts *facts; /* NULL when checking */
	struct cg_vars sitevars; /* checking: site.yaml's vars */
	struct cg_vars datavars; /* checking: what data files may give */
	struct check_class *classes; /* owned; checking: every class */
	size_t nclasses;
	const char *role;       /* the role being loaded */
	struct check_class *norole; /* owned: site vars alone, for roles
				     * no class uses */
	struct cg_index paths;  /* path -> index: one resource per path */
	/*
	 * Ids of resources refused with an error of their own: a reference
	 * to one is no second error ("which is not declared").
	 */
	struct cg_kvs broken;
	/* Per resource, the hash of its declared attributes: the same id
	 * declared twice must say the same thing. */
	unsigned char (*attrs)[16]; /* cg_hash128 */
	size_t attrs_cap;
	struct cg_buf ser;      /* scratch for serialising attributes */
};

static void vadd_err(struct loader *l, const char *where, const char *resource,
		     const char *hint, const char *fmt, va_list ap)
{
	struct cg_error e;

	cg_error_clear(&e);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	if (where)
		snprintf(e.where, sizeof(e.where), "%s", where);
	if (resource)
		cg_error_resource(&e, resource);
	if (hint)
		cg_error_hint(&e, "%s", hint);
	cg_diag_add(l->diag, &e);
}

/* An error at a node of the YAML (at may be NULL). */
static void add_err(struct loader *l, const struct cg_node *at,
		    const char *resource, const char *hint, const char *fmt,
		    ...) __attribute__((format(printf, 5, 6)));

static void add_err(struct loader *l, const struct cg_node *at,
		    const char *resource, const char *hint, const char *fmt,
		    ...)
{
	char where[256];
	va_list ap;

	if (at)
		cg_node_where(at, where, sizeof(where));
	va_start(ap, fmt);
	vadd_err(l, at ? where : NULL, resource, hint, fmt, ap);
	va_end(ap);
}

/* An error at a place given as "file:line". */
static void add_err_where(struct loader *l, const char *where,
			  const char *resource, const char *hint,
			  const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void add_err_where(struct loader *l, const char *where,
			  const char *resource, const char *hint,
			  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vadd_err(l, where, resource, hint, fmt, ap);
	va_end(ap);
}

static bool is_fact_name(const char *name)
{
	return cg_fact_is_name(name);
}

/* Errors from below lack the file when they had no node: add it. */
static void add_cg_err(struct loader *l, struct cg_error *e, const char *file,
		       const char *resource)
{
	if (file)
		cg_error_where(e, "%s", file);
	if (resource)
		cg_error_resource(e, resource);
	cg_diag_add(l->diag, e);
}

static const char *file_type(mode_t mode)
{
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device";
	return "another kind of file";
}

/*
 * Policy files are regular files: a FIFO (opened with O_NONBLOCK, so that
 * the open does not hang) would read as empty and check ok, a device as
 * anything. Git trees hold none; a --policy DIR may.
 */
static int want_regular(int fd, struct cg_error *e)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return cg_error_sys(e, CG_ERR, "cannot stat");
	if (S_ISREG(st.st_mode))
		return 0;
	cg_error_set(e, CG_ERR, "not a regular file but %s",
		     file_type(st.st_mode));
	cg_error_hint(e, "replace it with a plain YAML file");
	return CG_ERR;
}

static int open_doc(struct loader *l, const char *rel, struct cg_doc **out,
		    bool quiet_missing)
{
	struct cg_error e;
	int fd, rc;

	cg_error_clear(&e);
	rc = cg_open_beneath(l->p->fd, rel, O_RDONLY | O_NONBLOCK, &fd, &e);
	if (rc == CG_ENOTFOUND && quiet_missing)
		return rc;
	if (rc < 0) {
		if (rc == CG_ENOTFOUND) {
			cg_error_set(&e, rc, "no such file in the policy tree %s",
				     l->p->dir);
			cg_error_hint(&e, "a policy tree has site.yaml and "
					  "roles/NAME.yaml files at its top");
		}
		add_cg_err(l, &e, rel, NULL);
		return rc;
	}
	rc = want_regular(fd, &e);
	if (rc == 0)
		rc = cg_doc_load_fd(out, fd, rel, &e);
	close(fd);
	if (rc < 0)
		add_cg_err(l, &e, rel, NULL);
	return rc;
}

static bool valid_name(const char *s, bool dots)
{
	const char *p;

	if (!s[0] || s[0] == '.' || s[0] == '-')
		return false;
	for (p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
		      (dots && *p == '.')))
			return false;
	return true;
}

static int check_keys(struct loader *l, const struct cg_node *map,
		      const char *const *allowed, const char *what,
		      const char *resource)
{
	struct cg_error e;

	cg_error_clear(&e);
	if (cg_map_check_keys(map, allowed, what, &e) < 0) {
		add_cg_err(l, &e, NULL, resource);
		return CG_ERR;
	}
	return 0;
}

static int want_map(struct loader *l, const struct cg_node *n,
		    const char *what, const char *example)
{
	if (n && n->kind == CG_NODE_MAP)
		return 0;
	if (n)
		add_err(l, n, NULL, example, "%s must be a map, not %s", what,
			cg_node_kind_name(n));
	return CG_ERR;
}

/* Every secret in a var's value is well-formed (nothing is decrypted). */
static void check_secrets(struct loader *l, const struct cg_node *n)
{
	struct cg_error e;
	size_t i;

	if (n->kind == CG_NODE_SCALAR) {
		if (!cg_secret_is(n->str))
			return;
		cg_error_clear(&e);
		if (cg_secret_check(n->str, &e) < 0) {
			char where[256];

			cg_node_where(n, where, sizeof(where));
			add_cg_err(l, &e, where, NULL);
		}
		return;
	}
	for (i = 0; i < (n->kind == CG_NODE_MAP ? 2 * n->len : n->len); i++)
		check_secrets(l, n->items[i]);
}

static void parse_vars(struct loader *l, const struct cg_node *n,
		       struct cg_vars *into)
{
	size_t i;

	if (want_map(l, n, "vars", "write vars: as name: value lines") < 0)
		return;
	for (i = 0; i < n->len; i++) {
		const struct cg_node *k = n->items[2 * i], *v = n->items[2 * i + 1];

		if (!valid_name(k->str, true)) {
			add_err(l, k, NULL,
				"use letters, digits, '_', '-' and '.'",
				"invalid variable name '%s'", k->str);
			continue;
		}
		/* Any YAML value: the loader bounded its size and depth. */
		check_secrets(l, v);
		cg_vars_set(into, k->str, v);
	}
}

/* Does the class at n apply to this host? */
static bool class_matches(struct loader *l, const struct cg_node *cls)
{
	const struct cg_node *m = cg_map_get(cls, "match");
	const struct cg_node *facts = cg_map_get(cls, "facts");
	size_t i;

	if (m && m->kind == CG_NODE_SCALAR) {
		/* A pattern with a dot is matched against the full name. */
		const char *name = cg_facts_get(l->facts,
						strchr(m->str, '.') ? "fqdn"
								    : "hostname");

		if (fnmatch(m->str, name, 0) != 0)
			return false;
	}
	if (facts && facts->kind == CG_NODE_MAP) {
		for (i = 0; i < facts->len; i++) {
			const struct cg_node *k = facts->items[2 * i];
			const struct cg_node *v = facts->items[2 * i + 1];
			const char *have = cg_facts_get(l->facts, k->str);

			if (!have || v->kind != CG_NODE_SCALAR ||
			    fnmatch(v->str, have, 0) != 0)
				return false;
		}
	}
	return true;
}

/* --- the data hierarchy ------------------------------------------------ */

#define DATA_MAX_FILES 10000 /* data files check reads */
#define DATA_MAX_DEPTH 16    /* directories under data/ */

/*
 * One level of hierarchy: (a path under data/ with {{ fact }} in it) as
 * the path for this host, or (facts NULL) as a glob with '*' for each
 * fact, for check. Anything but a fact's name in {{ }} is an error.
 */
static int level_path(struct loader *l, const struct cg_node *n,
		      struct cg_buf *out)
{
	const char *p = n->str, *open, *close;

	cg_buf_reset(out);
	cg_buf_addstr(out, "data/");
	if (!p[0] || p[0] == '/' || strstr(p, "{%") || strstr(p, "{#") ||
	    strcmp(p, "..") == 0 || strncmp(p, "../", 3) == 0 ||
	    strstr(p, "/../") ||
	    (strlen(p) >= 3 && strcmp(p + strlen(p) - 3, "/..") == 0)) {
		add_err(l, n, NULL,
			"a level is a path under data/, like "
			"hosts/{{ hostname }}.yaml",
			"invalid hierarchy level '%s'", p);
		return CG_ERR;
	}
	while ((open = strstr(p, "{{"))) {
		char name[64];
		const char *a, *b;

		cg_buf_add(out, p, (size_t)(open - p));
		close = strstr(open + 2, "}}");
		if (!close) {
			add_err(l, n, NULL, "close it with }}",
				"unclosed {{ in hierarchy level '%s'", n->str);
			return CG_ERR;
		}
		for (a = open + 2; *a == ' '; a++)
			;
		for (b = close; b > a && b[-1] == ' '; b--)
			;
		if ((size_t)(b - a) >= sizeof(name) || b == a) {
			add_err(l, n, NULL, "write {{ FACT }}, like {{ hostname }}",
				"hierarchy level '%s' names no fact", n->str);
			return CG_ERR;
		}
		memcpy(name, a, (size_t)(b - a));
		name[b - a] = '\0';
		if (!is_fact_name(name)) {
			const char *best = cg_suggest(name, cg_fact_names);
			char hint[160];

			snprintf(hint, sizeof(hint),
				 best ? "did you mean '%s'? only facts name "
					"data files"
				      : "only facts name data files; "
					"congruent facts lists them%s",
				 best ? best : "");
			add_err(l, n, NULL, hint,
				"hierarchy level '%s': '%s' is not a fact",
				n->str, name);
			return CG_ERR;
		}
		if (l->facts) {
			const char *v = cg_facts_get(l->facts, name);

			cg_buf_addstr(out, v ? v : "");
		} else {
			cg_buf_addch(out, '*');
		}
		p = close + 2;
	}
	cg_buf_addstr(out, p);
	return 0;
}

/* A merged map's items are borrowed and never written through. */
static struct cg_node *unconst(const struct cg_node *n)
{
	union {
		const struct cg_node *c;
		struct cg_node *m;
	} u = { n };

	return u.m;
}

/*
 * high over low: two maps merge key by key, deeply; anything else is
 * replaced whole (lists too, as hiera's default, so that a host's list
 * is exactly what its file says).
 */
static const struct cg_node *merge_nodes(struct cg_policy *p,
					 const struct cg_node *low,
					 const struct cg_node *high)
{
	struct cg_node *m;
	size_t i, n = 0, cap;

	if (!low || low->kind != CG_NODE_MAP || high->kind != CG_NODE_MAP)
		return high;
	m = cg_xcalloc(1, sizeof(*m));
	*m = *high;
	m->items = cg_xcalloc(2 * (low->len + high->len) + 1,
			      sizeof(*m->items));
	for (i = 0; i < low->len; i++) {
		const struct cg_node *k = low->items[2 * i];
		const struct cg_node *hv = cg_map_get(high, k->str);

		m->items[2 * n] = low->items[2 * i];
		m->items[2 * n + 1] =
			hv ? unconst(merge_nodes(p, low->items[2 * i + 1], hv))
			   : low->items[2 * i + 1];
		n++;
	}
	for (i = 0; i < high->len; i++) {
		if (cg_map_get(low, high->items[2 * i]->str))
			continue;
		m->items[2 * n] = high->items[2 * i];
		m->items[2 * n + 1] = high->items[2 * i + 1];
		n++;
	}
	m->len = n;
	cap = p->nmerged; /* the array is exactly as long as it is full */
	cg_grow(&p->merged, &cap, p->nmerged + 1, sizeof(*p->merged));
	p->merged[p->nmerged++] = m;
	return m;
}

/* A data file is a map of vars (or empty): say what is wrong with it. */
static int validate_data(struct loader *l, const struct cg_doc *doc)
{
	const struct cg_node *root = doc->root;
	size_t i;
	int rc = 0;

	if (!root)
		return 0;
	if (root->kind != CG_NODE_MAP) {
		add_err(l, root, NULL, "a data file holds name: value lines, "
				       "like vars: in site.yaml",
			"a data file must be a map of vars, not %s",
			cg_node_kind_name(root));
		return CG_ERR;
	}
	for (i = 0; i < root->len; i++) {
		const struct cg_node *k = root->items[2 * i];

		if (!valid_name(k->str, true)) {
			add_err(l, k, NULL,
				"use letters, digits, '_', '-' and '.'",
				"invalid variable name '%s'", k->str);
			rc = CG_ERR;
		}
		check_secrets(l, root->items[2 * i + 1]);
	}
	return rc;
}

/* Merge a data file's vars over into. */
static void merge_data(struct cg_policy *p, const struct cg_doc *doc,
		       struct cg_vars *into)
{
	const struct cg_node *root = doc->root;
	size_t i;

	if (!root || root->kind != CG_NODE_MAP)
		return;
	for (i = 0; i < root->len; i++) {
		const char *k = root->items[2 * i]->str;

		if (valid_name(k, true))
			cg_vars_set(into, k,
				    merge_nodes(p, cg_vars_get(into, k),
						root->items[2 * i + 1]));
	}
}

static void keep_doc(struct cg_policy *p, struct cg_doc *doc)
{
	size_t cap = p->ndata;

	cg_grow(&p->data, &cap, p->ndata + 1, sizeof(*p->data));
	p->data[p->ndata++] = doc;
}

/* hierarchy: in site.yaml, a list of levels; NULL when there is none. */
static const struct cg_node *hierarchy_levels(struct loader *l,
					      const struct cg_node *site)
{
	const struct cg_node *h = cg_map_get(site, "hierarchy");
	size_t i;

	if (!h)
		return NULL;
	if (h->kind != CG_NODE_SEQ) {
		add_err(l, h, NULL, "hierarchy: [hosts/{{ hostname }}.yaml, "
				    "common.yaml]",
			"hierarchy must be a list of paths under data/, not %s",
			cg_node_kind_name(h));
		return NULL;
	}
	for (i = 0; i < h->len; i++) {
		if (h->items[i]->kind != CG_NODE_SCALAR) {
			add_err(l, h->items[i], NULL, NULL,
				"a hierarchy level is a path, not %s",
				cg_node_kind_name(h->items[i]));
			return NULL;
		}
	}
	return h;
}

/*
 * This host's data files, least specific (the last level) first, merged
 * over vars. A level whose file does not exist is skipped: most hosts
 * have no file of their own.
 */
static void load_hierarchy(struct loader *l, const struct cg_node *site,
			   struct cg_vars *vars)
{
	const struct cg_node *h = hierarchy_levels(l, site);
	struct cg_buf path = { 0 };
	size_t i;

	for (i = h ? h->len : 0; i-- > 0;) {
		struct cg_doc *doc = NULL;

		if (level_path(l, h->items[i], &path) < 0)
			continue;
		if (open_doc(l, path.data, &doc, true) < 0)
			continue;
		keep_doc(l->p, doc);
		if (validate_data(l, doc) == 0)
			merge_data(l->p, doc, vars);
	}
	cg_buf_release(&path);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* check: the regular files under data/ (rel), to a bound; symlinks not. */
static void list_data(int dirfd, const char *rel, unsigned depth,
		      char ***files, size_t *n, size_t *cap)
{
	struct dirent *de;
	DIR *d;

	if (depth > DATA_MAX_DEPTH)
		return;
	d = fdopendir(dirfd);
	if (!d) {
		close(dirfd);
		return;
	}
	while ((de = readdir(d)) && *n < DATA_MAX_FILES) {
		char *sub;
		struct stat st;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		sub = cg_xasprintf("%s/%s", rel, de->d_name);
		if (S_ISDIR(st.st_mode)) {
			fd = openat(dirfd, de->d_name,
				    O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					    O_CLOEXEC);
			if (fd >= 0)
				list_data(fd, sub, depth + 1, files, n, cap);
			free(sub);
		} else if (S_ISREG(st.st_mode)) {
			cg_grow(files, cap, *n + 1, sizeof(**files));
			(*files)[(*n)++] = sub;
		} else {
			free(sub);
		}
	}
	closedir(d);
}

/*
 * check: every data file (syntax, a map of vars, well-formed secrets),
 * every level (only facts in it), and into vars what a host of any class
 * could get: the files each level may name, least specific first, so
 * that a template is checked with the names the data gives it.
 */
static void check_hierarchy(struct loader *l, const struct cg_node *site,
			    struct cg_vars *vars)
{
	const struct cg_node *h = hierarchy_levels(l, site);
	char **files = NULL, **globs;
	struct cg_doc **docs;
	bool *named;
	size_t nfiles = 0, cap = 0, i, j;
	int fd;

	if (cg_open_beneath(l->p->fd, "data", O_RDONLY | O_DIRECTORY, &fd,
			    NULL) == 0)
		list_data(fd, "data", 0, &files, &nfiles, &cap);
	if (nfiles)
		qsort(files, nfiles, sizeof(*files), cmp_str);
	docs = cg_xcalloc(nfiles + 1, sizeof(*docs));
	named = cg_xcalloc(nfiles + 1, sizeof(*named));
	for (i = 0; i < nfiles; i++)
		if (open_doc(l, files[i], &docs[i], false) == 0) {
			keep_doc(l->p, docs[i]);
			validate_data(l, docs[i]);
		}
	globs = cg_xcalloc((h ? h->len : 0) + 1, sizeof(*globs));
	for (i = 0; h && i < h->len; i++) {
		struct cg_buf b = { 0 };

		if (level_path(l, h->items[i], &b) == 0)
			globs[i] = cg_buf_detach(&b, NULL);
		cg_buf_release(&b);
	}
	for (i = h ? h->len : 0; i-- > 0;) {
		for (j = 0; globs[i] && j < nfiles; j++) {
			if (fnmatch(globs[i], files[j], FNM_PATHNAME) != 0)
				continue;
			named[j] = true;
			if (docs[j])
				merge_data(l->p, docs[j], vars);
		}
	}
	for (j = 0; j < nfiles; j++) {
		if (!named[j] && docs[j]) {
			struct cg_error e;

			cg_error_clear(&e);
			snprintf(e.where, sizeof(e.where), "%s", files[j]);
			snprintf(e.msg, sizeof(e.msg),
				 "no level of hierarchy: in site.yaml names "
				 "this data file");
			cg_diag_warn(l->diag, &e);
		}
	}
	for (i = 0; h && i < h->len; i++)
		free(globs[i]);
	free(globs);
	for (i = 0; i < nfiles; i++)
		free(files[i]);
	free(files);
	free(docs);
	free(named);
}

static void add_role(char ***roles, size_t *n, const char *name)
{
	size_t i, cap;

	for (i = 0; i < *n; i++)
		if (strcmp((*roles)[i], name) == 0)
			return;
	cap = *n;
	cg_grow(roles, &cap, *n + 1, sizeof(**roles));
	(*roles)[(*n)++] = cg_xstrdup(name);
}

/*
 * orphans: report | forget | revert, into *forget and *revert (left alone
 * when absent).
 */
static int parse_orphans(struct loader *l, const struct cg_node *map,
			 bool *forget, bool *revert)
{
	const struct cg_node *n = cg_map_get(map, "orphans");

	if (!n)
		return 0;
	if (n->kind == CG_NODE_SCALAR && (strcmp(n->str, "report") == 0 ||
					  strcmp(n->str, "forget") == 0 ||
					  strcmp(n->str, "revert") == 0)) {
		*forget = strcmp(n->str, "forget") == 0;
		*revert = strcmp(n->str, "revert") == 0;
		return 0;
	}
	add_err(l, n, NULL, "orphans: report (the default), forget or revert",
		"'orphans' must be report, forget or revert");
	return CG_ERR;
}

/* revert_packages: true | false (site.yaml), into *out. */
static int parse_revert_packages(struct loader *l, const struct cg_node *map,
				 bool *out)
{
	const struct cg_node *n = cg_map_get(map, "revert_packages");
	struct cg_error e;

	if (!n)
		return 0;
	cg_error_clear(&e);
	if (cg_node_bool(n, "revert_packages", out, &e) < 0) {
		add_err(l, n, NULL, "revert_packages: true lets orphans: "
				    "revert remove packages congruent installed",
			"%s", e.msg);
		return CG_ERR;
	}
	return 0;
}

/* mode: enforce | audit, into *audit (left alone when absent). */
static int parse_mode(struct loader *l, const struct cg_node *map, bool *audit)
{
	const struct cg_node *n = cg_map_get(map, "mode");

	if (!n)
		return 0;
	if (n->kind == CG_NODE_SCALAR && strcmp(n->str, "enforce") == 0) {
		*audit = false;
		return 0;
	}
	if (n->kind == CG_NODE_SCALAR && strcmp(n->str, "audit") == 0) {
		*audit = true;
		return 0;
	}
	add_err(l, n, NULL,
		"mode: enforce (the default: run changes what differs) or "
		"audit (run only reports it, as plan does)",
		"'mode' must be enforce or audit");
	return CG_ERR;
}

/* Validate one class; add its roles to roles (checking: all classes). */
static int parse_class(struct loader *l, const struct cg_node *cls,
		       char ***roles, size_t *nroles, struct cg_vars *vars)
{
	const struct cg_node *m, *facts, *r, *v;
	const char **names = NULL;
	size_t i, n = 0;
	struct cg_error e;
	int rc = 0;

	if (cls->kind != CG_NODE_MAP) {
		add_err(l, cls, NULL, "write each class as: - match: \"web-*\"",
			"a class must be a map, not %s", cg_node_kind_name(cls));
		return CG_ERR;
	}
	if (check_keys(l, cls, class_keys, "a class", NULL) < 0)
		rc = CG_ERR;
	if (parse_orphans(l, cls, &l->orphans_forget, &l->orphans_revert) < 0)
		rc = CG_ERR;
	if (parse_mode(l, cls, &l->audit_mode) < 0)
		rc = CG_ERR;
	m = cg_map_get(cls, "match");
	facts = cg_map_get(cls, "facts");
	r = cg_map_get(cls, "roles");
	v = cg_map_get(cls, "vars");
	if (m && m->kind != CG_NODE_SCALAR) {
		add_err(l, m, NULL, NULL, "'match' must be a hostname glob");
		rc = CG_ERR;
	}
	if (!m && !facts) {
		add_err(l, cls, NULL, "add match: \"*\" to match every host",
			"a class needs 'match' or 'facts'");
		rc = CG_ERR;
	}
	if (facts && want_map(l, facts, "facts", "facts: { os_id: debian }") == 0) {
		for (i = 0; i < facts->len; i++) {
			const struct cg_node *k = facts->items[2 * i];
			const char *best;
			char hint[128] = "";

			if (facts->items[2 * i + 1]->kind != CG_NODE_SCALAR) {
				add_err(l, facts->items[2 * i + 1], NULL, NULL,
					"fact patterns must be strings");
				rc = CG_ERR;
			}
			if (is_fact_name(k->str))
				continue;
			best = cg_suggest(k->str, cg_fact_names);
			if (best)
				snprintf(hint, sizeof(hint),
					 "did you mean '%s'?", best);
			add_err(l, k, NULL, best ? hint : "congruent facts lists them",
				"unknown fact '%s'", k->str);
			rc = CG_ERR;
		}
	} else if (facts) {
		rc = CG_ERR;
	}
	if (!r) {
		add_err(l, cls, NULL, "add roles: [base]", "a class needs 'roles'");
		return CG_ERR;
	}
	cg_error_clear(&e);
	if (cg_node_strlist(r, "roles", &names, &n, &e) < 0) {
		add_cg_err(l, &e, NULL, NULL);
		return CG_ERR;
	}
	for (i = 0; i < n; i++) {
		if (!valid_name(names[i], false)) {
			add_err(l, r, NULL, "a role is a file roles/NAME.yaml",
				"invalid role name '%s'", names[i]);
			rc = CG_ERR;
			continue;
		}
		add_role(roles, nroles, names[i]);
	}
	free(names);
	if (v)
		parse_vars(l, v, vars);
	return rc;
}

static const char *check_lookup(void *cookie, const char *name)
{
	(void)cookie;
	/* A fact of no particular host: placeholders says so. */
	return is_fact_name(name) ? "" : NULL;
}

static const struct cg_node *check_lookup_node(void *cookie, const char *name)
{
	const struct check_class *cc = cookie;

	return cg_vars_get(&cc->vars, name);
}

static const char *const *check_names(void *cookie)
{
	struct check_class *cc = cookie;
	size_t i, n = 0;

	if (!cc->names) {
		/* vars, every fact, and the NULL at the end. */
		for (i = 0; cg_fact_names[i]; i++)
			;
		cc->names = cg_xcalloc(cc->vars.n + i + 1, sizeof(*cc->names));
		for (i = 0; i < cc->vars.n; i++)
			cc->names[n++] = cc->vars.keys[i];
		for (i = 0; cg_fact_names[i]; i++)
			cc->names[n++] = cg_fact_names[i];
	}
	return cc->names;
}

static bool has_role(const struct check_class *cc, const char *role)
{
	size_t i;

	for (i = 0; i < cc->nroles; i++)
		if (strcmp(cc->roles[i], role) == 0)
			return true;
	return false;
}

static bool class_vars(const struct cg_parse_ctx *pc, size_t i,
		       struct cg_template_vars *out, const char **where)
{
	struct loader *l = pc->agent;
	struct check_class *cc = NULL;
	size_t k, seen = 0;

	for (k = 0; k < l->nclasses && l->role; k++) {
		if (!has_role(&l->classes[k], l->role))
			continue;
		if (seen++ == i) {
			cc = &l->classes[k];
			break;
		}
	}
	if (!cc && seen == 0 && i == 0) {
		if (!l->norole) {
			l->norole = cg_xcalloc(1, sizeof(*l->norole));
			l->norole->where = cg_xstrdup("site.yaml (no class "
						      "uses this role)");
			cg_vars_copy(&l->norole->vars, &l->sitevars);
			for (k = 0; k < l->datavars.n; k++)
				cg_vars_set(&l->norole->vars,
					    l->datavars.keys[k],
					    merge_nodes(l->p,
							cg_vars_get(&l->norole->vars,
								    l->datavars.keys[k]),
							l->datavars.vals[k]));
		}
		cc = l->norole;
	}
	if (!cc)
		return false;
	memset(out, 0, sizeof(*out));
	out->lookup = check_lookup;
	out->names = check_names;
	out->lookup_node = check_lookup_node;
	out->cookie = cc;
	out->placeholders = true;
	*where = cc->where;
	return true;
}

static void check_class_release(struct check_class *cc)
{
	size_t i;

	if (!cc)
		return;
	free(cc->where);
	for (i = 0; i < cc->nroles; i++)
		free(cc->roles[i]);
	free(cc->roles);
	cg_vars_release(&cc->vars);
	free(cc->names);
}

static void ser_cb(void *cookie, const void *data, size_t len)
{
	cg_buf_add(cookie, data, len);
}

/* Is key one of m's attribute keys? */
static bool is_key_of(const struct cg_module *m, const char *key)
{
	size_t i;

	for (i = 0; m->keys && m->keys[i]; i++)
		if (strcmp(m->keys[i], key) == 0)
			return true;
	return false;
}

/* The type key of a resource item, and its module. */
static const struct cg_node *find_type(struct loader *l,
				       const struct cg_node *item,
				       const struct cg_module **mod_out)
{
	const struct cg_node *key = NULL;
	const char *types[32];
	size_t i, ntypes = 0;

	*mod_out = NULL;
	for (i = 0; i < item->len; i++) {
		const struct cg_module *m = cg_module_find(item->items[2 * i]->str);

		if (!m)
			continue;
		/* group: is a type, and an attribute of file: and user:. */
		if (*mod_out && is_key_of(*mod_out, m->type))
			continue;
		if (*mod_out && is_key_of(m, (*mod_out)->type)) {
			*mod_out = m;
			key = item->items[2 * i];
			continue;
		}
		if (*mod_out) {
			add_err(l, item->items[2 * i], NULL,
				"split it into two resources",
				"one resource with two types, '%s' and '%s'",
				(*mod_out)->type, m->type);
			return NULL;
		}
		*mod_out = m;
		key = item->items[2 * i];
	}
	if (key)
		return key;
	for (i = 0; cg_modules[i] && ntypes < CG_ARRAY_SIZE(types) - 1; i++)
		types[ntypes++] = cg_modules[i]->type;
	types[ntypes] = NULL;
	{
		const char *first = item->len ? item->items[0]->str : "";
		const char *best = cg_suggest(first, types);
		char hint[256];
		size_t len = 0;

		if (best) {
			snprintf(hint, sizeof(hint), "did you mean '%s'?", best);
		} else {
			len = (size_t)snprintf(hint, sizeof(hint),
					       "a resource starts with its type:");
			for (i = 0; types[i] && len < sizeof(hint); i++)
				len += (size_t)snprintf(hint + len,
							sizeof(hint) - len,
							" %s", types[i]);
		}
		add_err(l, item, NULL, hint,
			best ? "unknown resource type '%s'"
			     : "resource has no type (first key: '%s')",
			first);
	}
	return NULL;
}

static int parse_requires(struct loader *l, struct cg_resource *r,
			  const struct cg_node *n)
{
	const char **v = NULL;
	struct cg_error e;
	size_t i, count = 0;
	int rc = 0;

	cg_error_clear(&e);
	if (cg_node_strlist(n, "requires", &v, &count, &e) < 0) {
		add_cg_err(l, &e, NULL, r->id);
		return CG_ERR;
	}
	r->requires = cg_xcalloc(count ? count : 1, sizeof(*r->requires));
	for (i = 0; i < count; i++) {
		const char *colon = strchr(v[i], ':');
		char type[64];

		if (!colon || (size_t)(colon - v[i]) >= sizeof(type) ||
		    !colon[1]) {
			add_err(l, n, r->id, "write it as TYPE:NAME, like "
					     "file:/etc/motd",
				"requires '%s' is not a resource id", v[i]);
			rc = CG_ERR;
			continue;
		}
		memcpy(type, v[i], (size_t)(colon - v[i]));
		type[colon - v[i]] = '\0';
		if (!cg_module_find(type)) {
			add_err(l, n, r->id, NULL,
				"requires '%s': unknown resource type '%s'",
				v[i], type);
			rc = CG_ERR;
			continue;
		}
		r->requires[r->nrequires++] = cg_xstrdup(v[i]);
	}
	free(v);
	return rc;
}

static bool is_path_type(const struct cg_module *m)
{
	return strcmp(m->type, "file") == 0 ||
	       strcmp(m->type, "directory") == 0 ||
	       strcmp(m->type, "symlink") == 0;
}

/* Parse one resource item and add it to the policy. */
static void parse_resource(struct loader *l, const struct cg_node *item,
			   const char *file)
{
	struct cg_policy *p = l->p;
	const struct cg_module *mod;
	const struct cg_node *tkey, *req;
	const char *allowed[64];
	unsigned char attrs[16];
	struct cg_resource r;
	struct cg_error e;
	size_t i, n = 0, old;
	char what[80];

	if (item->kind != CG_NODE_MAP) {
		add_err(l, item, NULL, "write it as: - file: /etc/motd",
			"a resource must be a map, not %s",
			cg_node_kind_name(item));
		return;
	}
	tkey = find_type(l, item, &mod);
	if (!tkey)
		return;
	allowed[n++] = mod->type;
	for (i = 0; common_keys[i]; i++)
		allowed[n++] = common_keys[i];
	for (i = 0; mod->keys && mod->keys[i] && n < CG_ARRAY_SIZE(allowed) - 1;
	     i++)
		allowed[n++] = mod->keys[i];
	allowed[n] = NULL;

	memset(&r, 0, sizeof(r));
	r.mod = mod;
	r.decl = p->n;
	r.where = cg_xasprintf("%s:%u", file, item->line);
	cg_error_clear(&e);
	if (mod->parse(&r, item, cg_map_get(item, mod->type), &l->pc, &e) < 0) {
		add_cg_err(l, &e, r.where, r.id);
		goto out_release;
	}
	snprintf(what, sizeof(what), "a %s resource", mod->type);
	if (check_keys(l, item, allowed, what, r.id) < 0)
		goto out_release;
	req = cg_map_get(item, "requires");
	if (req && parse_requires(l, &r, req) < 0)
		goto out_release;
	/* audit: true is the engine's to honour, whatever the type. */
	if (cg_map_get(item, "audit") &&
	    cg_node_bool(cg_map_get(item, "audit"), "audit", &r.audit,
			 &e) < 0) {
		cg_error_hint(&e, "audit: true reports the resource's drift "
				  "and never changes it");
		add_cg_err(l, &e, r.where, r.id);
		goto out_release;
	}

	/* The author writes both declarations: a fast hash is enough. */
	cg_buf_reset(&l->ser);
	cg_node_serialize(item, ser_cb, &l->ser);
	cg_hash128(l->ser.data, l->ser.len, attrs);

	if (cg_index_get(&p->ids, r.id, &old)) {
		if (memcmp(l->attrs[old], attrs, sizeof(l->attrs[0])) != 0) {
			char hint[300];

			snprintf(hint, sizeof(hint),
				 "the other declaration is at %s; declare it "
				 "once, or make both identical",
				 p->res[old].where);
			add_err(l, item, r.id, hint,
				"%s is declared twice with different attributes",
				r.id);
		}
		/* Identical twice (two roles sharing it) is fine: keep one. */
		goto out_release;
	}
	if (is_path_type(mod) && cg_index_get(&l->paths, r.name, &old)) {
		char hint[300];

		snprintf(hint, sizeof(hint), "%s (at %s) manages the same path",
			 p->res[old].id, p->res[old].where);
		add_err(l, item, r.id, hint,
			"%s is managed twice, as two different types", r.name);
		goto out_release;
	}
	cg_grow(&p->res, &p->cap, p->n + 1, sizeof(*p->res));
	cg_grow(&l->attrs, &l->attrs_cap, p->n + 1, sizeof(*l->attrs));
	memcpy(l->attrs[p->n], attrs, sizeof(l->attrs[0]));
	cg_resource_pack(&r);
	p->res[p->n] = r;
	cg_index_put(&p->ids, p->res[p->n].id, p->n, NULL);
	if (is_path_type(mod))
		cg_index_put(&l->paths, p->res[p->n].name, p->n, NULL);
	p->n++;
	return;

out_release:
	{
		const struct cg_node *v = cg_map_get(item, mod->type);

		if (r.id)
			cg_kvs_set(&l->broken, r.id, "");
		else if (v && v->kind == CG_NODE_SCALAR) {
			char *id = cg_xasprintf("%s:%s", mod->type, v->str);

			cg_kvs_set(&l->broken, id, "");
			free(id);
		}
	}
	cg_resource_release(&r);
}

struct role_cookie {
	struct loader *l;
	const char *file;
};

static void on_resource(void *cookie, const struct cg_node *item)
{
	struct role_cookie *rc = cookie;

	parse_resource(rc->l, item, rc->file);
}

static void load_role(struct loader *l, const char *role,
		      const struct cg_node *named_at)
{
	char *rel = cg_xasprintf("roles/%s.yaml", role);
	struct role_cookie cookie = { l, rel };
	const struct cg_node *list;
	struct cg_doc *doc = NULL;
	struct cg_error e;
	int fd, rc;

	l->role = role;
	cg_error_clear(&e);
	rc = cg_open_beneath(l->p->fd, rel, O_RDONLY | O_NONBLOCK, &fd, &e);
	if (rc == CG_ENOTFOUND && named_at) {
		char hint[256];

		snprintf(hint, sizeof(hint), "create %s in %s, or fix the name",
			 rel, l->p->dir);
		add_err(l, named_at, NULL, hint, "role '%s' not found (%s)",
			role, rel);
		goto out;
	}
	if (rc < 0) {
		add_cg_err(l, &e, rel, NULL);
		goto out;
	}
	/* Resources are parsed as they stream by: see cg_doc_stream_fd. */
	rc = want_regular(fd, &e);
	if (rc == 0)
		rc = cg_doc_stream_fd(&doc, fd, rel, "resources", on_resource,
				      &cookie, &e);
	close(fd);
	if (rc < 0) {
		add_cg_err(l, &e, rel, NULL);
		goto out;
	}
	if (!doc->root) {
		/* An empty role is allowed: a placeholder for later. */
		goto out;
	}
	if (want_map(l, doc->root, rel, "a role file has resources: [...]") < 0 ||
	    check_keys(l, doc->root, role_keys, "a role file", NULL) < 0)
		goto out;
	list = cg_map_get(doc->root, "resources");
	if (list && list->kind != CG_NODE_SEQ &&
	    !(list->kind == CG_NODE_SCALAR && list->plain && list->len == 0))
		add_err(l, list, NULL, "write each resource as '- TYPE: NAME'",
			"resources must be a list, not %s",
			cg_node_kind_name(list));
out:
	l->role = NULL;
	cg_doc_free(doc);
	free(rel);
}

static const char **id_list(const struct cg_policy *p)
{
	const char **v = cg_xcalloc(p->n + 1, sizeof(*v));
	size_t i;

	for (i = 0; i < p->n; i++)
		v[i] = p->res[i].id;
	return v;
}

/* One id of requires: or orders to an index in deps; false if missing. */
static void resolve_one(struct loader *l, struct cg_resource *r, size_t i,
			const char *id, bool hard, const char **ids)
{
	struct cg_policy *p = l->p;
	const char *best;
	char hint[300];
	size_t idx;
	bool optional = id[0] == '?';

	if (optional)
		id++;
	if (!cg_index_get(&p->ids, id, &idx) && cg_kvs_get(&l->broken, id))
		return; /* its own error was reported: no cascade */
	if (cg_index_get(&p->ids, id, &idx)) {
		if (idx == i)
			add_err_where(l, r->where, r->id, NULL,
				      "%s %s itself", r->id,
				      hard ? "requires" : "must come after");
		else
			r->deps[r->ndeps++] = idx;
		return;
	}
	if (optional)
		return;
	best = cg_suggest_n(id, ids, p->n);
	if (best)
		snprintf(hint, sizeof(hint), "did you mean '%s'?", best);
	else if (l->facts)
		snprintf(hint, sizeof(hint),
			 "declare it in one of this host's roles, or remove it");
	else
		snprintf(hint, sizeof(hint), "declare it, or remove it");
	add_err_where(l, r->where, r->id, hint,
		      "%s '%s', which is not declared%s",
		      hard ? "requires" : "names", id,
		      l->facts ? " for this host" : "");
}

/* requires: and orders: ids to indexes, hard ones first. */
static void resolve_requires(struct loader *l)
{
	struct cg_policy *p = l->p;
	const char **ids = NULL;
	size_t i, j;

	for (i = 0; i < p->n; i++) {
		struct cg_resource *r = &p->res[i];

		if (!r->nrequires && !r->norders)
			continue;
		if (!ids)
			ids = id_list(p);
		r->deps = cg_xcalloc(r->nrequires + r->norders,
				     sizeof(*r->deps));
		for (j = 0; j < r->nrequires; j++)
			resolve_one(l, r, i, r->requires[j], true, ids);
		r->nhard = r->ndeps;
		for (j = 0; j < r->norders; j++)
			resolve_one(l, r, i, r->orders[j], false, ids);
	}
	free(ids);
}

static void report_cb(const struct cg_parse_ctx *pc, const struct cg_error *err)
{
	const struct loader *l = pc->agent;

	cg_diag_add(l->diag, err);
}

static void warn_cb(const struct cg_parse_ctx *pc, const struct cg_error *err)
{
	const struct loader *l = pc->agent;

	cg_diag_warn(l->diag, err);
}

/* What no single resource can tell: each module looks at all of its own. */
static void validate_modules(struct loader *l)
{
	struct cg_policy *p = l->p;
	struct cg_resource **v = cg_xcalloc(p->n + 1, sizeof(*v));
	size_t k, i, n;

	for (k = 0; cg_modules[k]; k++) {
		if (!cg_modules[k]->validate)
			continue;
		for (i = n = 0; i < p->n; i++)
			if (p->res[i].mod == cg_modules[k])
				v[n++] = &p->res[i];
		if (n)
			cg_modules[k]->validate(v, n, &l->pc);
	}
	free(v);
}

static int open_tree(struct loader *l, const char *dir)
{
	struct cg_error e;

	l->p->dir = cg_xstrdup(dir);
	l->p->fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (l->p->fd < 0) {
		cg_error_sys(&e, CG_ERR, "cannot open policy tree %s", dir);
		cg_error_hint(&e, "pass --policy DIR with a site.yaml in it");
		cg_diag_add(l->diag, &e);
		return CG_ERR;
	}
	l->pc.policy_fd = l->p->fd;
	l->pc.policy_dir = l->p->dir;
	l->pc.class_vars = class_vars;
	l->pc.report = report_cb;
	l->pc.warn = warn_cb;
	l->pc.agent = l;
	return 0;
}

static void loader_release(struct loader *l)
{
	size_t i;

	cg_kvs_release(&l->broken);
	cg_vars_release(&l->sitevars);
	cg_vars_release(&l->datavars);
	for (i = 0; i < l->nclasses; i++)
		check_class_release(&l->classes[i]);
	free(l->classes);
	check_class_release(l->norole);
	free(l->norole);
	cg_index_release(&l->paths);
	free(l->attrs);
	cg_buf_release(&l->ser);
}

static void finish(struct loader *l)
{
	struct cg_policy *p = l->p;
	size_t i, n = 0;

	/* The array grew by doubling; give the slack back. */
	if (p->n && p->cap > p->n) {
		p->res = cg_xrealloc(p->res, p->n * sizeof(*p->res));
		p->cap = p->n;
	}
	resolve_requires(l);
	validate_modules(l);
	if (l->diag->n == 0)
		cg_order(p->res, p->n, &p->order, l->diag);
	for (i = 0; cg_fact_names[i]; i++)
		;
	p->names = cg_xcalloc(p->vars.n + i + 1, sizeof(*p->names));
	for (i = 0; i < p->vars.n; i++)
		p->names[n++] = p->vars.keys[i];
	for (i = 0; cg_fact_names[i]; i++)
		p->names[n++] = cg_fact_names[i];
}

int cg_policy_load(struct cg_policy *p, const char *dir, struct cg_facts *facts,
		   struct cg_diag *diag)
{
	struct loader l;
	struct cg_doc *site = NULL;
	const struct cg_node *classes, *vars, *matched = NULL;
	size_t i;

	memset(p, 0, sizeof(*p));
	p->fd = -1;
	memset(&l, 0, sizeof(l));
	l.p = p;
	l.diag = diag;
	l.facts = facts;
	if (open_tree(&l, dir) < 0 || open_doc(&l, "site.yaml", &site, false) < 0)
		goto out;
	if (want_map(&l, site->root, "site.yaml",
		     "site.yaml has classes: and vars:") < 0) {
		if (!site->root)
			add_err(&l, NULL, NULL, "see policies/site.yaml",
				"site.yaml is empty");
		goto out;
	}
	check_keys(&l, site->root, site_keys, "site.yaml", NULL);
	parse_mode(&l, site->root, &l.audit_mode);
	parse_orphans(&l, site->root, &l.orphans_forget, &l.orphans_revert);
	parse_revert_packages(&l, site->root, &l.revert_packages);
	vars = cg_map_get(site->root, "vars");
	if (vars)
		parse_vars(&l, vars, &p->vars);
	classes = cg_map_get(site->root, "classes");
	if (!classes || classes->kind != CG_NODE_SEQ) {
		add_err(&l, classes ? classes : site->root, NULL,
			"classes: is a list of - match: GLOB / roles: [...]",
			"site.yaml needs a list of classes");
		goto out;
	}
	for (i = 0; i < classes->len; i++) {
		const struct cg_node *cls = classes->items[i];

		if (cls->kind != CG_NODE_MAP || !class_matches(&l, cls))
			continue;
		parse_class(&l, cls, &p->roles, &p->nroles, &p->vars);
		p->orphans_forget = l.orphans_forget;
		p->orphans_revert = l.orphans_revert;
		p->revert_packages = l.revert_packages;
		p->audit_mode = l.audit_mode;
		p->class_where = cg_xasprintf("site.yaml:%u", cls->line);
		matched = cls;
		break;
	}
	/* Data over the class's vars over site's: see doc/design-notes.md. */
	load_hierarchy(&l, site->root, &p->vars);
	if (!p->class_where) {
		char hint[256];

		snprintf(hint, sizeof(hint),
			 "add a class for it, or a catch-all class with "
			 "match: \"*\" at the end");
		add_err(&l, classes, NULL, hint,
			"no class in site.yaml matches host '%s'",
			cg_facts_get(facts, "hostname"));
		goto out;
	}
	if (diag->n)
		goto out;
	for (i = 0; i < p->nroles; i++)
		load_role(&l, p->roles[i], cg_map_get(matched, "roles"));
	finish(&l);
out:
	/* The vars are nodes of site.yaml. */
	p->site = site;
	loader_release(&l);
	return diag->n ? CG_ERR : 0;
}

/* All roles/NAME.yaml in the tree, to check even unused ones. */
static void list_role_files(struct loader *l, char ***roles, size_t *n)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if (cg_open_beneath(l->p->fd, "roles", O_RDONLY | O_DIRECTORY, &fd,
			    NULL) < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char *name;

		if (len <= 5 || strcmp(de->d_name + len - 5, ".yaml") != 0)
			continue;
		name = cg_xstrndup(de->d_name, len - 5);
		if (valid_name(name, false))
			add_role(roles, n, name);
		free(name);
	}
	closedir(d);
}

int cg_policy_check(const char *dir, struct cg_diag *diag)
{
	struct cg_policy p;
	struct loader l;
	struct cg_doc *site = NULL;
	const struct cg_node *classes, *vars;
	char **roles = NULL;
	size_t nroles = 0, nused, i;

	memset(&p, 0, sizeof(p));
	p.fd = -1;
	memset(&l, 0, sizeof(l));
	l.p = &p;
	l.diag = diag;
	l.pc.checking = true;
	if (open_tree(&l, dir) < 0 || open_doc(&l, "site.yaml", &site, false) < 0)
		goto out;
	if (want_map(&l, site->root, "site.yaml",
		     "site.yaml has classes: and vars:") < 0) {
		if (!site->root)
			add_err(&l, NULL, NULL, "see policies/site.yaml",
				"site.yaml is empty");
		goto out;
	}
	check_keys(&l, site->root, site_keys, "site.yaml", NULL);
	parse_orphans(&l, site->root, &l.orphans_forget, &l.orphans_revert);
	parse_revert_packages(&l, site->root, &l.revert_packages);
	parse_mode(&l, site->root, &l.audit_mode);
	vars = cg_map_get(site->root, "vars");
	if (vars)
		parse_vars(&l, vars, &l.sitevars);
	check_hierarchy(&l, site->root, &l.datavars);
	classes = cg_map_get(site->root, "classes");
	if (!classes || classes->kind != CG_NODE_SEQ) {
		add_err(&l, classes ? classes : site->root, NULL,
			"classes: is a list of - match: GLOB / roles: [...]",
			"site.yaml needs a list of classes");
		goto out;
	}
	l.classes = cg_xcalloc(classes->len + 1, sizeof(*l.classes));
	for (i = 0; i < classes->len; i++) {
		struct check_class *cc = &l.classes[l.nclasses++];
		size_t before = nroles, j;

		cc->where = cg_xasprintf("site.yaml:%u",
					 classes->items[i]->line);
		cg_vars_copy(&cc->vars, &l.sitevars);
		parse_class(&l, classes->items[i], &cc->roles, &cc->nroles,
			    &cc->vars);
		for (j = 0; j < l.datavars.n; j++)
			cg_vars_set(&cc->vars, l.datavars.keys[j],
				    merge_nodes(&p, cg_vars_get(&cc->vars,
							       l.datavars.keys[j]),
						l.datavars.vals[j]));
		for (j = 0; j < cc->nroles; j++)
			add_role(&roles, &nroles, cc->roles[j]);
		/* A role a class names must exist. */
		for (j = before; j < nroles; j++) {
			char *rel = cg_xasprintf("roles/%s.yaml", roles[j]);
			int fd;

			if (cg_open_beneath(p.fd, rel, O_RDONLY | O_NONBLOCK, &fd,
					    NULL) == 0) {
				close(fd);
			} else {
				char hint[256];
				const char *best = NULL;
				char **all = NULL;
				size_t nall = 0;

				list_role_files(&l, &all, &nall);
				best = cg_suggest_n(roles[j],
						    (const char *const *)all,
						    nall);
				if (best)
					snprintf(hint, sizeof(hint),
						 "did you mean '%s'?", best);
				else
					snprintf(hint, sizeof(hint),
						 "create %s", rel);
				add_err(&l, cg_map_get(classes->items[i],
						       "roles"),
					NULL, hint, "role '%s' not found (%s)",
					roles[j], rel);
				for (size_t k = 0; k < nall; k++)
					free(all[k]);
				free(all);
				free(roles[j]);
				memmove(&roles[j], &roles[j + 1],
					(nroles - j - 1) * sizeof(*roles));
				nroles--;
				j--;
			}
			free(rel);
		}
	}
	nused = nroles;
	list_role_files(&l, &roles, &nroles);
	for (i = 0; i < nroles; i++) {
		load_role(&l, roles[i], NULL);
		if (i >= nused) {
			struct cg_error e;

			cg_error_clear(&e);
			snprintf(e.where, sizeof(e.where), "roles/%s.yaml",
				 roles[i]);
			snprintf(e.msg, sizeof(e.msg),
				 "role '%s' is not used by any class", roles[i]);
			cg_diag_warn(diag, &e);
		}
	}
	finish(&l);
out:
	for (i = 0; i < nroles; i++)
		free(roles[i]);
	free(roles);
	cg_doc_free(site);
	loader_release(&l);
	cg_policy_release(&p);
	return diag->n ? CG_ERR : 0;
}

/* Keep the resources whose type is mod (keep) or is not (!keep). */
static void policy_filter(struct cg_policy *p, const struct cg_module *mod,
			  bool keep)
{
	size_t *map = cg_xcalloc(p->n + 1, sizeof(*map));
	size_t i, j, n = 0, k = 0;

	for (i = 0; i < p->n; i++) {
		if ((p->res[i].mod == mod) != keep) {
			cg_resource_release(&p->res[i]);
			map[i] = (size_t)-1;
			continue;
		}
		map[i] = n;
		p->res[n++] = p->res[i];
	}
	for (i = 0; i < n; i++) {
		struct cg_resource *r = &p->res[i];
		uint32_t nd = 0, nhard = 0;

		for (j = 0; j < r->ndeps; j++) {
			if (map[r->deps[j]] == (size_t)-1)
				continue;
			if (j < r->nhard)
				nhard++;
			r->deps[nd++] = map[r->deps[j]];
		}
		r->ndeps = nd;
		r->nhard = nhard;
	}
	for (i = 0; i < p->n; i++)
		if (map[p->order[i]] != (size_t)-1)
			p->order[k++] = map[p->order[i]];
	p->n = n;
	cg_index_release(&p->ids);
	for (i = 0; i < n; i++)
		cg_index_put(&p->ids, p->res[i].id, i, NULL);
	free(map);
}

void cg_policy_only(struct cg_policy *p, const struct cg_module *mod)
{
	policy_filter(p, mod, true);
}

void cg_policy_skip(struct cg_policy *p, const struct cg_module *mod)
{
	policy_filter(p, mod, false);
}

void cg_policy_release(struct cg_policy *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->n; i++)
		cg_resource_release(&p->res[i]);
	free(p->res);
	for (i = 0; i < p->nroles; i++)
		free(p->roles[i]);
	free(p->roles);
	free(p->order);
	free(p->names);
	free(p->dir);
	free(p->commit);
	free(p->class_where);
	if (p->fd >= 0)
		close(p->fd);
	cg_vars_release(&p->vars);
	cg_doc_free(p->site);
	for (i = 0; i < p->ndata; i++)
		cg_doc_free(p->data[i]);
	free(p->data);
	for (i = 0; i < p->nmerged; i++) {
		free(p->merged[i]->items);
		free(p->merged[i]);
	}
	free(p->merged);
	cg_index_release(&p->ids);
	memset(p, 0, sizeof(*p));
	p->fd = -1;
}
