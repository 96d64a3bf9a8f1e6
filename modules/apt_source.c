/* apt_source.c: a deb822 apt source and its signing key, and the update after. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg/diff.h"
#include "cg/fs.h"
#include "cg/hash.h"
#include "cg/module.h"
#include "cg/store.h"
#include "cg/util.h"
#include "fsmeta.h"
#include "package.h"

#define SOURCES_DIR "/etc/apt/sources.list.d"
#define KEYRINGS_DIR "/etc/apt/keyrings"
#define FILE_MAX (1u << 20)
#define ARMOR "-----BEGIN PGP PUBLIC KEY BLOCK-----"
/* The record saying the lists are older than the sources written. */
#define REC_UPDATE "update_pending"

struct want {
	char *sources;      /* owned: the .sources file's content */
	char *sources_path; /* owned: /etc/apt/sources.list.d/NAME.sources */
	char *key;          /* owned, or NULL: the keyring's bytes */
	size_t key_len;
	char *key_path;     /* owned, or NULL: /etc/apt/keyrings/NAME.asc */
	/*
	 * state: absent: the sources file and both keyrings congruent may
	 * have written (key_path NAME.asc, key2_path NAME.gpg) go.
	 */
	bool absent;
	char *key2_path;    /* owned, or NULL */
};

/* One file as found. */
struct found {
	bool exists;
	bool regular;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	char *data; /* owned: its content when regular */
	size_t len;
};

struct seen {
	struct found sources, key, key2;
	bool update_pending; /* an update after a change failed */
};

static const char *const apt_source_keys[] = {
	"types", "uris", "suites", "components", "architectures", "key",
	"state", NULL,
};

static int at_node(struct cg_error *err, const struct cg_node *n)
{
	cg_error_where(err, "%s:%u", n->doc->name, n->line);
	return CG_ERR;
}

static bool name_ok(const char *s)
{
	size_t i;

	if (!s[0] || s[0] == '.' || s[0] == '-' || strlen(s) > 100)
		return false;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '.' || s[i] == '-'))
			return false;
	return true;
}

/* Words for a deb822 field: non-empty, no blanks, no control bytes. */
static bool word_ok(const char *s)
{
	if (!s[0])
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

/* A list field (a string is a list of one) appended as "Field: a b". */
static int field(struct cg_buf *out, const struct cg_node *item,
		 const char *key, const char *label, bool required,
		 const char *const *allowed, size_t *count,
		 struct cg_error *err)
{
	const struct cg_node *n = cg_map_get(item, key);
	const char **v = NULL;
	size_t i, k, len = 0;

	*count = 0;
	if (!n) {
		if (!required)
			return 0;
		cg_error_set(err, CG_ERR, "an apt_source needs %s", key);
		cg_error_hint(err, "%s: [...]", key);
		return CG_ERR;
	}
	if (cg_node_strlist(n, key, &v, &len, err) < 0)
		return CG_ERR;
	if (!len && required) {
		free(v);
		cg_error_set(err, CG_ERR, "%s is empty", key);
		return at_node(err, n);
	}
	for (i = 0; i < len; i++) {
		bool ok = word_ok(v[i]);

		for (k = 0; ok && allowed && allowed[k]; k++)
			if (strcmp(v[i], allowed[k]) == 0)
				break;
		if (ok && allowed && !allowed[k])
			ok = false;
		if (!ok) {
			cg_error_set(err, CG_ERR, "%s: \"%s\" is not %s", key,
				     v[i],
				     allowed ? "deb or deb-src"
					     : "one word (no blanks)");
			free(v);
			return at_node(err, n);
		}
	}
	if (len) {
		cg_buf_addf(out, "%s:", label);
		for (i = 0; i < len; i++)
			cg_buf_addf(out, " %s", v[i]);
		cg_buf_addch(out, '\n');
	}
	free(v);
	*count = len;
	return 0;
}

/* Read the key named by key: from the policy tree; decide .asc or .gpg. */
static int parse_key(struct want *w, const char *name,
		     const struct cg_node *n, const struct cg_parse_ctx *pc,
		     struct cg_error *err)
{
	struct cg_buf b = { 0 };
	const char *rel;
	const unsigned char *p;
	bool armored, binary;
	int fd, rc;

	if (cg_node_string(n, "key", &rel, err) < 0)
		return CG_ERR;
	rc = cg_open_beneath(pc->policy_fd, rel, O_RDONLY, &fd, err);
	if (rc < 0) {
		cg_error_prefix(err, "key %s", rel);
		cg_error_hint(err, "a keyring file of the policy tree, "
				   "relative to its top: files/NAME.asc");
		return at_node(err, n);
	}
	rc = cg_read_fd(fd, &b, FILE_MAX, err);
	close(fd);
	if (rc < 0) {
		cg_buf_release(&b);
		cg_error_prefix(err, "key %s", rel);
		return at_node(err, n);
	}
	p = (const unsigned char *)b.data;
	armored = b.len >= strlen(ARMOR) &&
		  (memcmp(b.data, ARMOR, strlen(ARMOR)) == 0 ||
		   memmem(b.data, b.len, "\n" ARMOR, strlen(ARMOR) + 1));
	/* An OpenPGP packet: tag 6 (public key), old or new format. */
	binary = !armored && b.len > 2 && (p[0] & 0x80) &&
		 ((p[0] & 0x40) ? (p[0] & 0x3f) == 6
				: ((p[0] >> 2) & 0x0f) == 6);
	if (!armored && !binary) {
		cg_buf_release(&b);
		cg_error_set(err, CG_ERR, "key %s is neither an armored nor a "
					  "binary OpenPGP public keyring",
			     rel);
		cg_error_hint(err, "export it with `gpg --export --armor KEYID` "
				   "(or without --armor)");
		return at_node(err, n);
	}
	w->key_path = cg_xasprintf(KEYRINGS_DIR "/%s.%s", name,
				   armored ? "asc" : "gpg");
	w->key_len = b.len;
	w->key = cg_buf_detach(&b, NULL);
	return 0;
}

static int apt_source_parse(struct cg_resource *r, const struct cg_node *item,
			    const struct cg_node *value,
			    const struct cg_parse_ctx *pc,
			    struct cg_error *err)
{
	static const char *const types[] = { "deb", "deb-src", NULL };
	const struct cg_node *n;
	struct cg_buf b = { 0 };
	const char *name;
	struct want *w;
	size_t ntypes, nuris, nsuites, ncomps, narch;

	if (cg_node_string(value, "apt_source", &name, err) < 0)
		return CG_ERR;
	if (!name_ok(name)) {
		cg_error_set(err, CG_ERR, "'%s' is not an apt source name",
			     name);
		cg_error_hint(err, "letters, digits, '.', '_' and '-' (it names "
				   SOURCES_DIR "/NAME.sources)");
		return at_node(err, value);
	}
	cg_resource_set_id(r, "apt_source", name);
	w = cg_xcalloc(1, sizeof(*w));
	r->desired = w;
	n = cg_map_get(item, "state");
	if (n) {
		const char *st;
		size_t k;

		if (cg_node_string(n, "state", &st, err) < 0)
			goto out;
		if (strcmp(st, "absent") != 0 && strcmp(st, "present") != 0) {
			cg_error_set(err, CG_ERR, "'state' must be present or "
						  "absent, not \"%s\"",
				     st);
			at_node(err, n);
			goto out;
		}
		w->absent = strcmp(st, "absent") == 0;
		for (k = 0; w->absent && apt_source_keys[k]; k++) {
			const struct cg_node *o =
				cg_map_get(item, apt_source_keys[k]);

			if (o && o != n) {
				cg_error_set(err, CG_ERR,
					     "an absent apt_source takes no "
					     "'%s'",
					     apt_source_keys[k]);
				cg_error_hint(err, "its file and keyrings are "
						   "removed whatever they "
						   "hold: drop the other keys");
				at_node(err, o);
				goto out;
			}
		}
	}
	if (w->absent) {
		w->sources_path = cg_xasprintf(SOURCES_DIR "/%s.sources", name);
		w->key_path = cg_xasprintf(KEYRINGS_DIR "/%s.asc", name);
		w->key2_path = cg_xasprintf(KEYRINGS_DIR "/%s.gpg", name);
		return 0;
	}
	cg_buf_addf(&b, "# managed by congruent: apt_source:%s\n", name);
	if (cg_map_get(item, "types")) {
		if (field(&b, item, "types", "Types", true, types, &ntypes,
			  err) < 0)
			goto out;
	} else {
		cg_buf_addstr(&b, "Types: deb\n");
	}
	if (field(&b, item, "uris", "URIs", true, NULL, &nuris, err) < 0 ||
	    field(&b, item, "suites", "Suites", true, NULL, &nsuites, err) <
		    0 ||
	    field(&b, item, "components", "Components", false, NULL, &ncomps,
		  err) < 0 ||
	    field(&b, item, "architectures", "Architectures", false, NULL,
		  &narch, err) < 0)
		goto out;
	n = cg_map_get(item, "suites");
	{
		/* An exact path ("./", "stable/") takes no components. */
		const char **v = NULL;
		size_t i, len = 0;
		bool exact = false, dist = false;

		if (cg_node_strlist(n, "suites", &v, &len, err) < 0)
			goto out;
		for (i = 0; i < len; i++) {
			if (cg_str_ends(v[i], "/"))
				exact = true;
			else
				dist = true;
		}
		free(v);
		if (exact && (dist || ncomps)) {
			cg_error_set(err, CG_ERR, "a suite ending in '/' is an "
						  "exact path: it takes no "
						  "components, nor other "
						  "suites");
			cg_error_hint(err, "drop components:, or write the "
					   "suite as a distribution name");
			at_node(err, n);
			goto out;
		}
		if (dist && !ncomps) {
			cg_error_set(err, CG_ERR, "an apt_source with suite "
						  "names needs components");
			cg_error_hint(err, "components: [main]");
			at_node(err, value);
			goto out;
		}
	}
	n = cg_map_get(item, "key");
	if (n) {
		if (parse_key(w, name, n, pc, err) < 0)
			goto out;
		cg_buf_addf(&b, "Signed-By: %s\n", w->key_path);
	}
	w->sources_path = cg_xasprintf(SOURCES_DIR "/%s.sources", name);
	w->sources = cg_buf_detach(&b, NULL);
	return 0;
out:
	if (err && !err->where[0])
		at_node(err, value);
	cg_buf_release(&b);
	return CG_ERR;
}

static void found_release(struct found *f)
{
	free(f->data);
	memset(f, 0, sizeof(*f));
}

static void seen_free(struct seen *s)
{
	if (!s)
		return;
	found_release(&s->sources);
	found_release(&s->key);
	found_release(&s->key2);
	free(s);
}

static void apt_source_release(struct cg_resource *r)
{
	struct want *w = r->desired;

	if (w) {
		free(w->sources);
		free(w->sources_path);
		free(w->key);
		free(w->key_path);
		free(w->key2_path);
		free(w);
	}
	seen_free(r->observed);
	r->desired = r->observed = NULL;
}

static int look(struct cg_root *root, const char *path, struct found *f,
		struct cg_error *err)
{
	struct cg_buf b = { 0 };
	const char *base;
	struct stat st;
	int dirfd, fd, rc;

	memset(f, 0, sizeof(*f));
	rc = cg_root_open_parent(root, path, 0, &dirfd, &base, NULL, err);
	if (rc == CG_ENOTFOUND)
		return 0; /* apply makes the directories */
	if (rc < 0)
		return rc;
	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = errno == ENOENT ? 0
				     : cg_error_sys(err, CG_ERR,
						    "cannot look at %s", path);
		goto out;
	}
	f->exists = true;
	f->regular = S_ISREG(st.st_mode);
	f->mode = st.st_mode & 07777;
	f->uid = st.st_uid;
	f->gid = st.st_gid;
	if (!f->regular)
		goto out;
	fd = openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		rc = cg_error_sys(err, CG_ERR, "cannot read %s", path);
		goto out;
	}
	rc = cg_read_fd(fd, &b, FILE_MAX, err);
	close(fd);
	if (rc < 0) {
		cg_buf_release(&b);
		goto out;
	}
	f->len = b.len;
	f->data = b.len ? cg_buf_detach(&b, NULL) : cg_xstrdup("");
out:
	close(dirfd);
	return rc;
}

static int apt_source_observe(struct cg_ctx *ctx, struct cg_resource **res,
			      size_t n, struct cg_error *err)
{
	size_t i;

	(void)err;
	for (i = 0; i < n; i++) {
		struct cg_resource *r = res[i];
		const struct want *w = r->desired;
		struct seen *s = cg_xcalloc(1, sizeof(*s));
		const char *rec;
		struct cg_error e;

		seen_free(r->observed);
		r->observed = s;
		cg_error_clear(&e);
		if (look(ctx->root, w->sources_path, &s->sources, &e) < 0 ||
		    (w->key_path &&
		     look(ctx->root, w->key_path, &s->key, &e) < 0) ||
		    (w->key2_path &&
		     look(ctx->root, w->key2_path, &s->key2, &e) < 0)) {
			cg_resource_fail(r, &e);
			continue;
		}
		rec = ctx->record ? ctx->record(ctx, r, REC_UPDATE) : NULL;
		s->update_pending = rec != NULL;
	}
	return 0;
}

static bool same(const struct found *f, const char *data, size_t len)
{
	return f->exists && f->regular && f->len == len &&
	       memcmp(f->data, data, len) == 0;
}

static char *hash_of(const char *data, size_t len)
{
	unsigned char d[CG_SHA256_LEN];
	char hex[CG_SHA256_LEN * 2 + 1];

	cg_sha256_buf(data, len, d);
	cg_hex(d, 6, hex);
	return cg_xasprintf("sha256:%s", hex);
}

/* What differs about one file: content, then mode and owner. */
static void diff_file(struct cg_change *c, const char *what,
		      const char *mode_field, const char *path, const struct found *f,
		      const char *data, size_t len, bool text)
{
	struct cg_change_item *it;

	if (!same(f, data, len)) {
		char *from = f->exists && f->regular ? hash_of(f->data, f->len)
						     : NULL;
		char *to = hash_of(data, len);

		it = cg_change_add(c, what, from, to);
		if (text) {
			struct cg_buf d = { 0 };
			char *label = cg_xasprintf("%s (policy)", path);

			cg_diff_unified(f->exists && f->regular ? f->data : "",
					f->exists && f->regular ? f->len : 0,
					data, len,
					f->exists ? path : "/dev/null", label,
					3, &d);
			free(label);
			it->detail = d.len ? cg_buf_detach(&d, NULL) : NULL;
			cg_buf_release(&d);
		}
		free(from);
		free(to);
	} else if (f->mode != 0644 || f->uid != 0 || f->gid != 0) {
		char have[32];

		snprintf(have, sizeof(have), "%04o %u:%u", (unsigned)f->mode,
			 (unsigned)f->uid, (unsigned)f->gid);
		cg_change_add(c, mode_field, have, "0644 0:0");
	}
}

/* state: absent: each file that is there goes. */
static int diff_absent(const char *what, const char *path,
		       const struct found *f, struct cg_change *c,
		       struct cg_error *err)
{
	char *from;

	if (!f->exists)
		return 0;
	if (!f->regular) {
		cg_error_set(err, CG_ERR, "%s is not a regular file", path);
		cg_error_hint(err, "remove it by hand; congruent removes only "
				   "the files it writes");
		return CG_ERR;
	}
	from = hash_of(f->data, f->len);
	cg_change_add(c, what, from, NULL);
	free(from);
	return 0;
}

/*
 * A file in fsmeta_before's words, the content's hash only when it is to
 * change (write_file then keeps the old content in the backups).
 */
static char *file_words(const struct found *f, const char *data, size_t len)
{
	unsigned char d[CG_SHA256_LEN];
	char extra[8 + CG_SHA256_HEX];

	if (!f->exists)
		return fsmeta_before(NULL, 0, 0, 0, NULL);
	if (!f->regular)
		return fsmeta_before("special", f->mode, f->uid, f->gid, NULL);
	if (same(f, data, len))
		return fsmeta_before("file", f->mode, f->uid, f->gid, NULL);
	cg_sha256_buf(f->data, f->len, d);
	memcpy(extra, "sha256=", 7);
	cg_hex(d, sizeof(d), extra + 7);
	return fsmeta_before("file", f->mode, f->uid, f->gid, extra);
}

/*
 * The ledger's words: "sources: WORDS; key PATH: WORDS" or "sources:
 * WORDS; no key", WORDS as a file's (fsmeta_before).
 */
static char *apt_source_before(const struct want *w, const struct seen *s)
{
	char *a = file_words(&s->sources, w->sources, strlen(w->sources));
	char *b = w->key_path ? file_words(&s->key, w->key, w->key_len) : NULL;
	char *out = b ? cg_xasprintf("sources: %s; key %s: %s", a, w->key_path,
				     b)
		      : cg_xasprintf("sources: %s; no key", a);

	free(a);
	free(b);
	return out;
}

static int apt_source_diff(struct cg_ctx *ctx, struct cg_resource *r,
			   struct cg_error *err)
{
	const struct want *w = r->desired;
	const struct seen *s = r->observed;
	struct cg_change *c = &r->change;

	(void)ctx;
	if (w->absent) {
		if (diff_absent("key", w->key_path, &s->key, c, err) < 0 ||
		    diff_absent("key", w->key2_path, &s->key2, c, err) < 0 ||
		    diff_absent("sources", w->sources_path, &s->sources, c,
				err) < 0)
			return CG_ERR;
		if (c->n) {
			c->action = CG_ACTION_DELETE;
			cg_change_note(c, "then apt-get update, once, before "
					  "any package");
		} else if (s->update_pending) {
			cg_change_add(c, "lists", "older than the sources",
				      "apt-get update");
			cg_change_note(c, "apt-get update is pending: the "
					  "last one failed");
			c->action = CG_ACTION_UPDATE;
		}
		return 0;
	}
	if (w->key_path)
		diff_file(c, "key", "key mode", w->key_path, &s->key, w->key, w->key_len,
			  false);
	diff_file(c, "sources", "sources mode", w->sources_path, &s->sources, w->sources,
		  strlen(w->sources), true);
	if (c->n) {
		c->action = s->sources.exists ? CG_ACTION_UPDATE
					       : CG_ACTION_CREATE;
		c->before = apt_source_before(w, s);
		cg_change_note(c, "then apt-get update, once, before any "
				  "package");
	} else if (s->update_pending) {
		cg_change_add(c, "lists", "older than the sources",
			      "apt-get update");
		cg_change_note(c, "apt-get update is pending: the last one "
				  "failed");
		c->action = CG_ACTION_UPDATE;
	}
	return 0;
}

static int write_file(struct cg_ctx *ctx, const char *path, const char *data,
		      size_t len, struct cg_error *err)
{
	struct cg_content content = { data, len, -1 };
	const char *base;
	struct stat st;
	int dirfd, old = -1, rc;

	rc = cg_root_open_parent(ctx->root, path, CG_WALK_MKDIR, &dirfd, &base,
				 NULL, err);
	if (rc < 0)
		return rc;
	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		rc = cg_store_keep(ctx->store, dirfd, base, path, NULL, err);
		if (rc < 0) {
			cg_error_prefix(err, "not changing %s: backup failed",
					path);
			goto out;
		}
		if (S_ISREG(st.st_mode))
			old = openat(dirfd, base,
				     O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
					     O_CLOEXEC);
	}
	rc = cg_fs_replace(dirfd, base, &content, 0644, 0, 0, old, NULL, err);
	if (rc < 0)
		cg_error_prefix(err, "cannot write %s", path);
out:
	if (old >= 0)
		close(old);
	close(dirfd);
	return rc;
}

/* Keep path in the backups, then remove it (never following a link). */
static int remove_file(struct cg_ctx *ctx, const char *path,
		       const struct found *f, struct cg_error *err)
{
	const char *base;
	int dirfd, rc;

	if (!f->exists)
		return 0;
	rc = cg_root_open_parent(ctx->root, path, 0, &dirfd, &base, NULL, err);
	if (rc == CG_ENOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	rc = cg_store_keep(ctx->store, dirfd, base, path, NULL, err);
	if (rc < 0)
		cg_error_prefix(err, "not removing %s: backup failed", path);
	else if (unlinkat(dirfd, base, 0) < 0 && errno != ENOENT)
		rc = cg_error_sys(err, CG_ERR, "cannot remove %s", path);
	else
		rc = cg_fs_sync_dir(dirfd, path, err);
	close(dirfd);
	return rc;
}

static int set_pending(struct cg_ctx *ctx, struct cg_resource *r, bool on,
		       struct cg_error *err)
{
	const char *kv[2] = { REC_UPDATE, on ? "1" : NULL };

	if (!ctx->record_set)
		return 0;
	return ctx->record_set(ctx, r, kv, 1, err);
}

/*
 * Write the keys and sources of every changed resource, then run apt-get
 * update once for all of them: the package transaction after sees the new
 * repositories. Until an update works, each keeps a record that it is
 * owed, so the next run tries again even though the files are right.
 */
static int apt_source_apply(struct cg_ctx *ctx, struct cg_resource **res,
			    size_t n, struct cg_error *err)
{
	struct cg_error e;
	char *reason = NULL;
	size_t i, written = 0;
	int rc;

	(void)err;
	for (i = 0; i < n; i++) {
		struct cg_resource *r = res[i];
		const struct want *w = r->desired;
		const struct seen *s = r->observed;

		cg_error_clear(&e);
		/* Pending first: a crash after the write still updates. */
		if (w->absent) {
			if (set_pending(ctx, r, true, &e) < 0 ||
			    remove_file(ctx, w->sources_path, &s->sources,
					&e) < 0 ||
			    remove_file(ctx, w->key_path, &s->key, &e) < 0 ||
			    remove_file(ctx, w->key2_path, &s->key2, &e) < 0)
				cg_resource_fail(r, &e);
			else
				written++;
			continue;
		}
		if (set_pending(ctx, r, true, &e) < 0 ||
		    (w->key_path &&
		     write_file(ctx, w->key_path, w->key, w->key_len, &e) < 0) ||
		    write_file(ctx, w->sources_path, w->sources,
			       strlen(w->sources), &e) < 0) {
			cg_resource_fail(r, &e);
			continue;
		}
		written++;
	}
	if (!written)
		return 0;
	cg_error_clear(&e);
	rc = pkg_apt_update(ctx->root, &reason, &e);
	for (i = 0; i < n; i++) {
		struct cg_resource *r = res[i];
		struct cg_error e2;

		if (r->status == CG_STATUS_FAILED)
			continue;
		if (rc < 0) {
			cg_resource_fail(r, &e);
			continue;
		}
		if (reason) {
			cg_resource_failf(r, "the sources are written; check "
					     "the URIs and the key, then the "
					     "next run updates again",
					  "apt-get update failed: %s", reason);
			continue;
		}
		cg_error_clear(&e2);
		if (set_pending(ctx, r, false, &e2) < 0)
			cg_resource_fail(r, &e2);
		else
			((struct seen *)r->observed)->update_pending = false;
	}
	free(reason);
	return 0;
}

static void apt_source_fingerprint(const struct cg_resource *r,
				   unsigned char out[16])
{
	const struct seen *s = r->observed;
	struct cg_buf b = { 0 };

	cg_buf_addf(&b, "%s\n%d %o %u %u %zu\n", r->id, s->sources.exists,
		    (unsigned)s->sources.mode, (unsigned)s->sources.uid,
		    (unsigned)s->sources.gid, s->sources.len);
	if (s->sources.data)
		cg_buf_add(&b, s->sources.data, s->sources.len);
	cg_buf_addf(&b, "\n%d %o %u %u %zu\n", s->key.exists,
		    (unsigned)s->key.mode, (unsigned)s->key.uid,
		    (unsigned)s->key.gid, s->key.len);
	if (s->key.data)
		cg_buf_add(&b, s->key.data, s->key.len);
	if (s->key2.exists)
		cg_buf_addf(&b, "\n%d %zu\n", s->key2.exists, s->key2.len);
	cg_hash128(b.data, b.len, out);
	cg_buf_release(&b);
}

static void apt_source_forget(struct cg_resource *r)
{
	seen_free(r->observed);
	r->observed = NULL;
}

#define SAY(rv, ...) snprintf((rv)->what, sizeof((rv)->what), __VA_ARGS__)

/*
 * The two parts of ledger.before (apt_source_before) into sources and
 * key words and the key's path (NULL: no key); false when it is not so.
 */
static bool split_before(const char *before, char **src, char **key,
			 char **key_path)
{
	const char *semi, *colon;

	*src = *key = *key_path = NULL;
	if (!before || strncmp(before, "sources: ", 9) != 0 ||
	    !(semi = strstr(before, "; ")))
		return false;
	*src = cg_xstrndup(before + 9, (size_t)(semi - before - 9));
	if (strcmp(semi + 2, "no key") == 0)
		return true;
	if (strncmp(semi + 2, "key ", 4) != 0 ||
	    !(colon = strstr(semi + 6, ": "))) {
		free(*src);
		*src = NULL;
		return false;
	}
	*key_path = cg_xstrndup(semi + 6, (size_t)(colon - semi - 6));
	*key = cg_xstrdup(colon + 2);
	return true;
}

/*
 * orphans: revert: the .sources file and its key as files are reverted
 * (removed when congruent created them, their content put back when it
 * changed them), both or neither; then one apt-get update for all, so
 * that the lists forget the repository.
 */
static int apt_source_revert(struct cg_ctx *ctx, struct cg_revert *const *v,
			     size_t n, bool apply, struct cg_error *err)
{
	struct cg_revert **done = cg_xcalloc(n + 1, sizeof(*done));
	struct cg_error e;
	char *reason = NULL;
	size_t i, k = 0;
	int rc;

	(void)err;
	for (i = 0; i < n; i++) {
		struct cg_revert *rv = v[i], a = *rv, b = *rv;
		char *src, *key, *key_path, *path;
		int pass;

		if (!split_before(rv->before, &src, &key, &key_path)) {
			rv->verdict = CG_REVERT_KEEP;
			SAY(rv, "keep: what was there before congruent is "
				"unknown; release it with congruent forget %s",
			    rv->id);
			continue;
		}
		path = cg_xasprintf(SOURCES_DIR "/%s.sources", rv->name);
		/* Decide both first; change them only if neither is kept. */
		for (pass = 0; pass < 2; pass++) {
			bool act = pass == 1;

			fsmeta_revert_path(ctx, &a, path, src, act);
			b.verdict = CG_REVERT_FORGET;
			b.failed = false;
			b.what[0] = '\0';
			if (key_path)
				fsmeta_revert_path(ctx, &b, key_path, key, act);
			if (!act && (!apply || a.verdict == CG_REVERT_KEEP ||
				     b.verdict == CG_REVERT_KEEP))
				break;
		}
		if (a.verdict == CG_REVERT_KEEP || b.verdict == CG_REVERT_KEEP) {
			rv->verdict = CG_REVERT_KEEP;
			SAY(rv, "keep: %.200s: %.250s",
			    a.verdict == CG_REVERT_KEEP ? path : key_path,
			    a.verdict == CG_REVERT_KEEP ? a.what : b.what);
		} else if (a.verdict == CG_REVERT_FORGET &&
			   b.verdict == CG_REVERT_FORGET) {
			rv->verdict = CG_REVERT_FORGET;
			SAY(rv, "nothing to revert: its files are as before "
				"congruent");
		} else {
			rv->verdict = CG_REVERT_CHANGE;
			rv->removes = a.removes;
			SAY(rv, "%.100s: %.150s%s%.100s%s%.150s; then apt-get "
				"update",
			    path, a.what, key_path ? "; " : "",
			    key_path ? key_path : "", key_path ? ": " : "",
			    key_path ? b.what : "");
			if (a.failed || b.failed) {
				rv->failed = true;
				rv->err = a.failed ? a.err : b.err;
			} else if (apply) {
				done[k++] = rv;
			}
		}
		free(path);
		free(src);
		free(key);
		free(key_path);
	}
	if (k) {
		cg_error_clear(&e);
		rc = pkg_apt_update(ctx->root, &reason, &e);
		if (rc == 0 && reason) {
			cg_error_set(&e, CG_ERR, "apt-get update failed: %s",
				     reason);
			cg_error_hint(&e, "the files are as before; run apt-get "
					  "update once it can reach its "
					  "sources");
			rc = CG_ERR;
		}
		for (i = 0; rc < 0 && i < k; i++) {
			done[i]->failed = true;
			done[i]->err = e;
		}
	}
	free(reason);
	free(done);
	return 0;
}

/* The sources file and the keyrings, whatever the state. */
static void apt_source_paths(struct cg_ctx *ctx, const struct cg_resource *r,
			     void (*add)(void *arg, const char *path),
			     void *arg)
{
	const struct want *w = r->desired;

	(void)ctx;
	add(arg, w->sources_path);
	if (w->key_path)
		add(arg, w->key_path);
	if (w->key2_path)
		add(arg, w->key2_path);
}

const struct cg_module cg_module_apt_source = {
	.type = "apt_source",
	.keys = apt_source_keys,
	.parse = apt_source_parse,
	.observe = apt_source_observe,
	.diff = apt_source_diff,
	.revert = apt_source_revert,
	.paths = apt_source_paths,
	.apply = apt_source_apply,
	.release = apt_source_release,
	.forget = apt_source_forget,
	.fingerprint = apt_source_fingerprint,
	.observe_window = 0, /* all at once: they are applied together */
	/* All changed sources at once: one apt-get update for them all. */
	.flags = CG_MODULE_BATCH | CG_MODULE_ALL_CAPS,
	/*
	 * Files as the file module writes them, and apt-get update as the
	 * package module runs apt: its hooks (APT::Update::Post-Invoke)
	 * are code nobody can bound, so run keeps every capability.
	 */
	.caps = { CAP_CHOWN, CAP_FOWNER, CAP_DAC_OVERRIDE, CAP_FSETID,
		  CAP_SETUID, CAP_SETGID, CAP_SYS_CHROOT, CAP_KILL },
	.ncaps = 8,
};
