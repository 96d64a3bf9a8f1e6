/* factsd.c: custom facts, static YAML maps in /etc/congruent/facts.d/. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "cg/node.h"

#define FACTS_DIR "/etc/congruent/facts.d"
/* Bounds: files read, facts kept, bytes of one file and of one value. */
#define FACTS_MAX_FILES 64
#define FACTS_MAX 1000
#define FACTS_FILE_MAX (64u << 10)
#define FACTS_VALUE_MAX 4096

static void problem(struct cg_facts *f, const struct cg_error *e)
{
	if (f->nproblems < CG_FACTS_MAX_PROBLEMS)
		f->problems[f->nproblems] = *e;
	f->nproblems++;
}

static bool valid_key(const char *k)
{
	size_t i;

	if (!k[0] || k[0] < 'a' || k[0] > 'z' || strlen(k) > 64)
		return false;
	for (i = 0; k[i]; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') ||
		      (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
			return false;
	return true;
}

/* Check the whole file first: a bad one gives no facts at all. */
static int check_map(const struct cg_doc *doc, size_t have,
		     struct cg_error *err)
{
	const struct cg_node *m = doc->root;
	size_t i;

	if (!m)
		return 0;
	if (m->kind != CG_NODE_MAP) {
		cg_error_set(err, CG_ERR, "custom facts must be a map, not %s",
			     cg_node_kind_name(m));
		cg_error_where(err, "%s:%u", doc->name, m->line);
		cg_error_hint(err, "write one 'name: value' a line");
		return CG_ERR;
	}
	for (i = 0; i < m->len; i++) {
		const struct cg_node *k = m->items[2 * i];
		const struct cg_node *v = m->items[2 * i + 1];

		if (!valid_key(k->str)) {
			cg_error_set(err, CG_ERR, "invalid fact name '%s'",
				     k->str);
			cg_error_where(err, "%s:%u", doc->name, k->line);
			cg_error_hint(err, "names are [a-z][a-z0-9_]*, at "
					   "most 64 bytes; the fact is then "
					   "custom_NAME");
			return CG_ERR;
		}
		if (v->kind != CG_NODE_SCALAR || v->len > FACTS_VALUE_MAX) {
			cg_error_set(err, CG_ERR,
				     v->kind != CG_NODE_SCALAR
					     ? "fact '%s' is not a string"
					     : "fact '%s' is longer than 4096 "
					       "bytes",
				     k->str);
			cg_error_where(err, "%s:%u", doc->name, v->line);
			cg_error_hint(err, "facts are static strings; lists "
					   "and maps belong in the policy's "
					   "vars");
			return CG_ERR;
		}
	}
	if (have + m->len > FACTS_MAX) {
		cg_error_set(err, CG_ERR, "more than %d custom facts",
			     FACTS_MAX);
		cg_error_where(err, "%s", doc->name);
		cg_error_hint(err, "keep facts few; derive the rest in vars");
		return CG_ERR;
	}
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One file: all of its facts, or none and a problem. */
static void read_one(struct cg_facts *f, int dirfd, const char *name,
		     size_t *have)
{
	char *path = cg_xasprintf("%s/%s", FACTS_DIR, name);
	struct cg_doc *doc = NULL;
	struct cg_buf b = { 0 };
	struct cg_error e;
	struct stat st;
	size_t i;
	int fd;

	cg_error_clear(&e);
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd < 0)
			cg_error_sys(&e, CG_ERR, "cannot open it");
		else
			cg_error_set(&e, CG_ERR, "not a regular file");
		cg_error_where(&e, "%s", path);
		cg_error_hint(&e, "custom facts are regular files (a symlink "
				  "is not followed)");
		goto fail;
	}
	if (cg_read_fd(fd, &b, FACTS_FILE_MAX, &e) < 0) {
		cg_error_where(&e, "%s", path);
		cg_error_hint(&e, "a facts file has at most 64 KiB");
		goto fail;
	}
	if (cg_doc_load_buf(&doc, b.data ? b.data : "", b.len, path, &e) < 0) {
		cg_error_hint(&e, "fix the YAML; until then none of this "
				  "file's facts is defined");
		goto fail;
	}
	if (check_map(doc, *have, &e) < 0)
		goto fail;
	for (i = 0; doc->root && i < doc->root->len; i++) {
		char *key = cg_xasprintf("custom_%s",
					 doc->root->items[2 * i]->str);

		cg_kvs_set(&f->kv, key, doc->root->items[2 * i + 1]->str);
		free(key);
	}
	*have += doc->root ? doc->root->len : 0;
	goto out;
fail:
	problem(f, &e);
out:
	cg_doc_free(doc);
	cg_buf_release(&b);
	if (fd >= 0)
		close(fd);
	free(path);
}

void cg_facts_read_custom(struct cg_facts *f, struct cg_root *root)
{
	char **names = NULL;
	size_t n = 0, cap = 0, i, have = 0;
	struct dirent *de;
	const char *base;
	struct cg_error e;
	int pfd, dfd, dfd2;
	DIR *d;

	cg_error_clear(&e);
	if (cg_root_open_parent(root, FACTS_DIR, 0, &pfd, &base, NULL, &e) < 0)
		return; /* no /etc/congruent: no custom facts */
	dfd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(pfd);
	if (dfd < 0) {
		if (errno == ENOENT)
			return;
		cg_error_sys(&e, CG_ERR, "cannot open the directory");
		cg_error_where(&e, "%s", FACTS_DIR);
		cg_error_hint(&e, "make it a directory (not a symlink), or "
				  "remove it");
		problem(f, &e);
		return;
	}
	dfd2 = dup(dfd);
	d = dfd2 >= 0 ? fdopendir(dfd2) : NULL;
	if (!d) {
		if (dfd2 >= 0)
			close(dfd2);
		close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !cg_str_ends(de->d_name, ".yaml"))
			continue;
		cg_grow(&names, &cap, n + 1, sizeof(*names));
		names[n++] = cg_xstrdup(de->d_name);
	}
	closedir(d);
	/* In name order, so a later file overrides an earlier one's fact. */
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n; i++) {
		if (i == FACTS_MAX_FILES) {
			cg_error_set(&e, CG_ERR,
				     "more than %d files; the rest are not "
				     "read",
				     FACTS_MAX_FILES);
			cg_error_where(&e, "%s", FACTS_DIR);
			cg_error_hint(&e, "merge them into fewer files");
			problem(f, &e);
		}
		if (i < FACTS_MAX_FILES)
			read_one(f, dfd, names[i], &have);
		free(names[i]);
	}
	free(names);
	close(dfd);
}
