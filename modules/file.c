/* file.c: the file resource: content, mode and owner of a regular file. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cg/diff.h"
#include "cg/exec.h"
#include "cg/fs.h"
#include "cg/hash.h"
#include "cg/module.h"
#include "cg/store.h"
#include "cg/template.h"
#include "cg/util.h"
#include "fsmeta.h"

/* Bigger files are compared by hash and never shown as a diff. */
#define DIFF_MAX (1u << 20)
#define TEMPLATE_MAX (16u << 20)
/* Content a validate: command is given, in memory: at most this. */
#define VALIDATE_MAX (16u << 20)
/* What %s in validate: stands for: the new content, as the check's stdin. */
#define VALIDATE_PATH "/proc/self/fd/0"

enum src {
	SRC_NONE,     /* manage existence and metadata only */
	SRC_CONTENT,  /* content: inline */
	SRC_SOURCE,   /* source: a file of the policy tree */
	SRC_TEMPLATE, /* template: a file of the policy tree, rendered */
};

struct want {
	unsigned char src; /* enum src */
	bool show_diff;
	struct fsmeta meta;
	size_t value_len;
	/* owned: the content (SRC_CONTENT), or the path of the source or
	 * template in the policy tree */
	char *value;
	char **validate;     /* owned: argv of validate:, NULL-ended, or NULL */
	char *validate_text; /* owned: validate: as written, for messages */
};

enum kind {
	SEEN_ABSENT,
	SEEN_FILE,
	SEEN_LINK,
	SEEN_DIR,
	SEEN_OTHER,
};

/* Texts kept from observe to diff, only for content that differs. */
struct texts {
	char *old_text; /* owned, or NULL: no old content */
	size_t old_len;
	char *new_text; /* owned */
	size_t new_len;
};

/*
 * Kept for every managed file between observe and apply, so it is kept
 * small: no struct stat, hashes as bytes.
 */
struct seen {
	unsigned char kind; /* enum kind */
	bool parent_missing;
	bool ids_ok;
	bool content_differs;
	bool want_ok;        /* want holds the hash of the wanted content */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	uint32_t nlink;
	bool fcaps;       /* has security.capability, which a write drops */
	bool mount_point; /* cannot be renamed over: written in place */
	struct fsmeta_ids ids;
	struct fsmeta_why *why; /* owned, or NULL: owner/group unknown */
	/* owned, or NULL: why the directory cannot be opened (missing) */
	struct cg_error *parent_err;
	unsigned char have[CG_SHA256_LEN]; /* content as it is */
	unsigned char want[CG_SHA256_LEN]; /* content wanted */
	unsigned char content[16];         /* cg_hash128 of the content */
	struct texts *texts; /* owned, or NULL */
	bool secret; /* the content was rendered from a secret */
	char *warns; /* owned, or NULL: lines for cg_change_warn (empty facts) */
};

static const char *const file_keys[] = {
	"content", "source", "template", "mode",      "owner",
	"group",   "state",  "show_diff", "validate", NULL,
};

static int bad_path(const struct cg_node *n, const char *what,
		    const char *why, struct cg_error *err)
{
	cg_error_set(err, CG_ERR, "invalid %s \"%s\": %s", what, n->str, why);
	cg_error_where(err, "%s:%u", n->doc->name, n->line);
	return CG_ERR;
}

/* Check a source/template path: inside the tree, a regular file. */
static int check_policy_file(const struct cg_node *n, bool is_template,
			     const struct cg_parse_ctx *pc, struct cg_error *err)
{
	struct stat st;
	int fd, rc;

	rc = cg_open_beneath(pc->policy_fd, n->str, O_RDONLY | O_NONBLOCK, &fd,
			     err);
	if (rc < 0) {
		cg_error_where(err, "%s:%u", n->doc->name, n->line);
		if (rc == CG_ENOTFOUND)
			cg_error_hint(err, "add the file to the policy "
					   "repository, or fix the path "
					   "(relative to %s)",
				      pc->policy_dir);
		else
			cg_error_hint(err, "sources and templates must be "
					   "files inside the policy tree");
		return CG_ERR;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		cg_error_set(err, CG_ERR, "'%s' is not a regular file", n->str);
		cg_error_where(err, "%s:%u", n->doc->name, n->line);
		return CG_ERR;
	}
	rc = 0;
	if (is_template && pc->checking && pc->class_vars) {
		struct cg_buf text = { 0 }, out = { 0 };
		struct cg_template_vars tv;
		const char *where;
		size_t i;

		rc = cg_read_fd(fd, &text, TEMPLATE_MAX, err);
		if (rc < 0)
			cg_error_where(err, "%s", n->str);
		/* As each class's hosts will render it: its vars, its size. */
		for (i = 0; rc == 0 && pc->class_vars(pc, i, &tv, &where);
		     i++) {
			out.len = 0;
			rc = cg_template_render(text.data ? text.data : "",
						text.len, n->str, &tv, &out,
						err);
			if (rc < 0)
				cg_error_prefix(err, "for the class at %s",
						where);
		}
		cg_buf_release(&text);
		cg_buf_release(&out);
	}
	close(fd);
	return rc;
}

static int validate_error(const struct cg_node *n, const char *msg,
			  struct cg_error *err)
{
	cg_error_set(err, CG_ERR, "validate: %s", msg);
	cg_error_where(err, "%s:%u", n->doc->name, n->line);
	cg_error_hint(err, "write a command like \"visudo -c -f %%s\" (split "
			   "into words, '...' and \"...\" quote, no shell), "
			   "or a list of its words");
	return CG_ERR;
}

/*
 * Split a command line into words: blanks separate, '...' quotes
 * literally, "..." quotes with backslash escapes for \" and \\, and a
 * backslash outside quotes takes the next character as it is. No shell:
 * no variables, globs, pipes or redirections.
 */
static int split_words(const struct cg_node *n, struct cg_buf *argv,
		       struct cg_error *err)
{
	const char *p = n->str;
	struct cg_buf w = { 0 };

	for (;;) {
		bool in_word = false;

		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			break;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n') {
			char q = *p;

			in_word = true;
			if (q == '\'' || q == '"') {
				for (p++; *p && *p != q; p++) {
					if (q == '"' && *p == '\\' &&
					    (p[1] == '"' || p[1] == '\\'))
						p++;
					cg_buf_add(&w, p, 1);
				}
				if (!*p) {
					cg_buf_release(&w);
					return validate_error(
						n, "a quote is not closed", err);
				}
				p++;
				continue;
			}
			if (q == '\\' && p[1])
				p++;
			cg_buf_add(&w, p++, 1);
		}
		if (in_word) {
			char *word = w.len ? cg_buf_detach(&w, NULL)
					   : cg_xstrdup("");

			cg_buf_add(argv, &word, sizeof(word));
		}
		cg_buf_release(&w);
	}
	return 0;
}

static void free_argv(char **argv)
{
	size_t i;

	for (i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* validate: a command line, or a list of its words. */
static int parse_validate(struct want *w, const struct cg_node *n,
			  struct cg_error *err)
{
	struct cg_buf argv = { 0 }, text = { 0 };
	char *end = NULL;
	size_t i, count;

	if (n->kind == CG_NODE_SCALAR) {
		if (split_words(n, &argv, err) < 0)
			goto fail;
		cg_buf_addf(&text, "%s", n->str);
	} else if (n->kind == CG_NODE_SEQ) {
		for (i = 0; i < n->len; i++) {
			const struct cg_node *it = n->items[i];
			char *word;

			if (it->kind != CG_NODE_SCALAR) {
				validate_error(it, "each word of the list "
						   "must be a string", err);
				goto fail;
			}
			word = cg_xstrndup(it->str, it->len);
			cg_buf_add(&argv, &word, sizeof(word));
			cg_buf_addf(&text, "%s%s", i ? " " : "", it->str);
		}
	} else {
		validate_error(n, "must be a command line or a list of words",
			       err);
		goto fail;
	}
	count = argv.len / sizeof(char *);
	if (!count || !((char **)(void *)argv.data)[0][0]) {
		validate_error(n, "the command is empty", err);
		goto fail;
	}
	cg_buf_add(&argv, &end, sizeof(end));
	w->validate = (char **)(void *)cg_buf_detach(&argv, NULL);
	w->validate_text = cg_buf_detach(&text, NULL);
	return 0;
fail:
	count = argv.len / sizeof(char *);
	for (i = 0; i < count; i++)
		free(((char **)(void *)argv.data)[i]);
	cg_buf_release(&argv);
	cg_buf_release(&text);
	return CG_ERR;
}

static int file_parse(struct cg_resource *r, const struct cg_node *item,
		      const struct cg_node *value, const struct cg_parse_ctx *pc,
		      struct cg_error *err)
{
	static const char *const srckeys[] = { "content", "source", "template" };
	const struct cg_node *src = NULL, *n;
	struct want *w;
	const char *why, *path;
	size_t i;

	if (cg_node_string(value, "file", &path, err) < 0)
		return CG_ERR;
	if (!cg_path_is_clean(path, &why))
		return bad_path(value, "file path", why, err);
	cg_resource_set_id(r, "file", path);
	w = cg_xcalloc(1, sizeof(*w));
	r->desired = w;
	w->show_diff = true;
	if (fsmeta_parse(&w->meta, item, true, err) < 0)
		return CG_ERR;
	for (i = 0; i < CG_ARRAY_SIZE(srckeys); i++) {
		n = cg_map_get(item, srckeys[i]);
		if (!n)
			continue;
		if (src) {
			cg_error_set(err, CG_ERR,
				     "a file takes one of content, source and "
				     "template, not two");
			cg_error_where(err, "%s:%u", n->doc->name, n->line);
			return CG_ERR;
		}
		src = n;
		w->src = (unsigned char)(SRC_CONTENT + i);
	}
	if (src && w->meta.absent) {
		cg_error_set(err, CG_ERR, "'state: absent' takes no content");
		cg_error_where(err, "%s:%u", src->doc->name, src->line);
		return CG_ERR;
	}
	if (w->src == SRC_CONTENT) {
		if (src->kind != CG_NODE_SCALAR)
			return cg_node_string(src, "content", &path, err);
		w->value = cg_xstrndup(src->str, src->len);
		w->value_len = src->len;
	} else if (src) {
		const char *key = srckeys[w->src - SRC_CONTENT];
		const char *rel;

		if (cg_node_string(src, key, &rel, err) < 0)
			return CG_ERR;
		if (rel[0] == '/')
			return bad_path(src, key,
					"it must be relative to the policy "
					"tree (like files/motd)",
					err);
		if (check_policy_file(src, w->src == SRC_TEMPLATE, pc, err) < 0)
			return CG_ERR;
		w->value = cg_xstrdup(rel);
	}
	n = cg_map_get(item, "show_diff");
	if (n && cg_node_bool(n, "show_diff", &w->show_diff, err) < 0)
		return CG_ERR;
	n = cg_map_get(item, "validate");
	if (n) {
		if (!src)
			return validate_error(n, "needs content, source or "
						 "template: something new to "
						 "check", err);
		if (parse_validate(w, n, err) < 0)
			return CG_ERR;
	}
	return 0;
}

static void free_texts(struct texts *t)
{
	if (!t)
		return;
	/* The new text may hold a secret's plaintext. */
	if (t->new_text)
		explicit_bzero(t->new_text, t->new_len);
	free(t->old_text);
	free(t->new_text);
	free(t);
}

static void free_seen(struct seen *s)
{
	if (!s)
		return;
	free_texts(s->texts);
	fsmeta_why_free(s->why);
	free(s->parent_err);
	free(s->warns);
	free(s);
}

/* What the policy manages of the file, as it is. */
static void file_fingerprint(const struct cg_resource *r, unsigned char out[16])
{
	const struct want *w = r->desired;
	const struct seen *s = r->observed;
	struct cg_buf b = { 0 };

	cg_buf_addf(&b, "file\n%s\n%d\n", r->name, s->kind);
	if (s->kind == SEEN_FILE) {
		if (w->meta.has_mode)
			cg_buf_addf(&b, "mode %o\n", (unsigned)(s->mode & 07777));
		if (w->meta.owner)
			cg_buf_addf(&b, "uid %u\n", (unsigned)s->uid);
		if (w->meta.group)
			cg_buf_addf(&b, "gid %u\n", (unsigned)s->gid);
		if (w->src != SRC_NONE)
			cg_buf_add(&b, s->content, sizeof(s->content));
	}
	cg_hash128(b.data, b.len, out);
	cg_buf_release(&b);
}

static void file_forget(struct cg_resource *r)
{
	free_seen(r->observed);
	r->observed = NULL;
}

static void file_release(struct cg_resource *r)
{
	struct want *w = r->desired;
	struct seen *s = r->observed;

	if (w) {
		free(w->value);
		free_argv(w->validate);
		free(w->validate_text);
		fsmeta_release(&w->meta);
		free(w);
	}
	free_seen(s);
	r->desired = r->observed = NULL;
}

struct tvars {
	const struct cg_ctx *ctx;
	bool secret; /* a secret was rendered */
	struct cg_buf *warns; /* borrowed, or NULL: empty facts, a line each */
};

static void tv_empty_fact(void *cookie, const char *name, const char *where)
{
	struct tvars *t = cookie;
	char line[512];

	if (!t->warns)
		return;
	snprintf(line, sizeof(line), "fact '%s' is empty at %s\n", name, where);
	/* Once per place: a loop may use it a thousand times. */
	if (t->warns->data && strstr(t->warns->data, line))
		return;
	cg_buf_addstr(t->warns, line);
}

static int tv_reveal(void *cookie, const struct cg_node *n, const char **plain,
		     size_t *len, struct cg_error *err)
{
	struct tvars *t = cookie;

	t->secret = true;
	if (!t->ctx->reveal)
		return cg_error_set(err, CG_ERR, "secrets cannot be decrypted "
						 "here");
	return t->ctx->reveal(t->ctx, n, plain, len, err);
}

static const char *tv_lookup(void *cookie, const char *name)
{
	const struct tvars *t = cookie;

	return t->ctx->lookup(t->ctx, name);
}

static const struct cg_node *tv_lookup_node(void *cookie, const char *name)
{
	const struct tvars *t = cookie;

	return t->ctx->lookup_node ? t->ctx->lookup_node(t->ctx, name) : NULL;
}

static const char *const *tv_names(void *cookie)
{
	const struct tvars *t = cookie;

	return t->ctx->names ? t->ctx->names(t->ctx) : NULL;
}

/* A rendered content may hold a secret's plaintext: wipe it. */
static void release_hold(struct cg_buf *hold)
{
	if (hold->data)
		explicit_bzero(hold->data, hold->cap);
	cg_buf_release(hold);
}

/*
 * The wanted content, as memory (inline or rendered, held in hold) or as
 * an fd of a source file (*fd_out, to close).
 */
static int want_content(struct cg_ctx *ctx, const struct want *w,
			struct cg_content *c, struct cg_buf *hold, int *fd_out,
			bool *secret, struct cg_buf *warns,
			struct cg_error *err)
{
	int fd, rc;

	*fd_out = -1;
	*secret = false;
	c->fd = -1;
	c->data = "";
	c->len = 0;
	if (w->src == SRC_CONTENT) {
		c->data = w->value;
		c->len = w->value_len;
		return 0;
	}
	if (w->src == SRC_NONE)
		return 0;
	rc = cg_open_beneath(ctx->policy_fd, w->value, O_RDONLY | O_NONBLOCK,
			     &fd, err);
	if (rc < 0)
		return rc;
	if (w->src == SRC_SOURCE) {
		*fd_out = fd;
		c->fd = fd;
		return 0;
	} else {
		struct cg_buf text = { 0 };
		struct tvars t = { ctx, false, warns };
		struct cg_template_vars tv = { tv_lookup, tv_names, &t,
					       tv_lookup_node, false,
					       tv_reveal, tv_empty_fact };

		rc = cg_read_fd(fd, &text, TEMPLATE_MAX, err);
		close(fd);
		if (rc == 0)
			rc = cg_template_render(text.data ? text.data : "",
						text.len, w->value, &tv, hold,
						err);
		cg_buf_release(&text);
		*secret = t.secret;
		/* The engine names the resource's line; say the template's. */
		if (rc < 0 && err && err->where[0])
			cg_error_prefix(err, "%s", err->where);
		if (rc < 0)
			return rc;
		c->data = hold->data ? hold->data : "";
		c->len = hold->len;
		return 0;
	}
}

/* Read fd fully if it is at most max bytes; NULL otherwise. */
static char *slurp(int fd, size_t max, size_t *len_out)
{
	struct cg_buf b = { 0 };

	if (cg_read_fd(fd, &b, max, NULL) < 0) {
		cg_buf_release(&b);
		return NULL;
	}
	return cg_buf_detach(&b, len_out);
}

/*
 * slurp for a file that fstat said has size bytes: one read when that is
 * still true, the common case (no second read to see the end).
 */
static char *slurp_sized(int fd, uint64_t size, size_t max, size_t *len_out)
{
	struct cg_buf b = { 0 };
	ssize_t n;

	if (size > max)
		return NULL;
	cg_grow(&b.data, &b.cap, (size_t)size + 2, 1);
	do
		n = read(fd, b.data, (size_t)size + 1);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		cg_buf_release(&b);
		return NULL;
	}
	b.len = (size_t)n;
	b.data[b.len] = '\0';
	if ((uint64_t)n <= size)
		return cg_buf_detach(&b, len_out);
	/* It grew since: read the rest the slow way. */
	if (cg_read_fd(fd, &b, max, NULL) < 0) {
		cg_buf_release(&b);
		return NULL;
	}
	return cg_buf_detach(&b, len_out);
}

/* Compare the file (fd, of size bytes) with the wanted content, filling s. */
static int compare_content(struct seen *s, const struct want *w, int fd,
			   uint64_t size, const struct cg_content *c,
			   struct cg_error *err)
{
	char *want_mem = NULL, *have_mem = NULL;
	const char *wm;
	size_t want_len = c->len, have_len = 0;
	int rc = CG_ERR;

	if (c->fd >= 0) {
		struct stat sst;

		if (fstat(c->fd, &sst) < 0)
			return cg_error_sys(err, CG_ERR, "cannot stat source");
		want_len = (size_t)sst.st_size;
		if (want_len <= DIFF_MAX)
			want_mem = slurp(c->fd, DIFF_MAX, &want_len);
	}
	wm = want_mem ? want_mem : c->fd < 0 ? c->data : NULL;
	/*
	 * Same size: compare the bytes. Equal is the common case, and then
	 * no hash is needed at all.
	 */
	if (size == (uint64_t)want_len && wm) {
		have_mem = slurp_sized(fd, size, DIFF_MAX, &have_len);
		if (have_mem && have_len == want_len &&
		    memcmp(have_mem, wm, want_len) == 0) {
			cg_hash128(have_mem, have_len, s->content);
			rc = 0;
			goto out;
		}
	}
	if (wm)
		cg_sha256_buf(wm, want_len, s->want);
	else if (cg_sha256_fd(c->fd, s->want, err) < 0)
		goto out;
	s->want_ok = true;
	if (!have_mem && size <= DIFF_MAX)
		have_mem = slurp(fd, DIFF_MAX, &have_len);
	if (have_mem) {
		cg_sha256_buf(have_mem, have_len, s->have);
		cg_hash128(have_mem, have_len, s->content);
	} else if (cg_sha256_fd(fd, s->have, err) < 0) {
		goto out;
	} else {
		memcpy(s->content, s->have, sizeof(s->content));
	}
	s->content_differs = memcmp(s->have, s->want, sizeof(s->have)) != 0;
	if (s->content_differs && w->show_diff && have_mem && wm &&
	    cg_is_text(have_mem, have_len) && cg_is_text(wm, want_len)) {
		s->texts = cg_xcalloc(1, sizeof(*s->texts));
		s->texts->old_text = have_mem;
		s->texts->old_len = have_len;
		have_mem = NULL;
		s->texts->new_text = cg_xstrndup(wm, want_len);
		s->texts->new_len = want_len;
	}
	rc = 0;
out:
	free(want_mem);
	free(have_mem);
	return rc;
}

/* The wanted content as text for a diff against nothing, if small. */
static void keep_new_text(struct seen *s, const struct want *w,
			  const struct cg_content *c)
{
	char *mem = NULL;
	size_t len = c->len;

	if (c->fd >= 0) {
		mem = slurp(c->fd, DIFF_MAX, &len);
		if (!mem) {
			s->want_ok = cg_sha256_fd(c->fd, s->want, NULL) == 0;
			return;
		}
	}
	cg_sha256_buf(mem ? mem : c->data, len, s->want);
	s->want_ok = true;
	if (w->show_diff && len <= DIFF_MAX &&
	    cg_is_text(mem ? mem : c->data, len)) {
		s->texts = cg_xcalloc(1, sizeof(*s->texts));
		s->texts->new_text = mem ? mem : cg_xstrndup(c->data, len);
		s->texts->new_len = len;
		mem = NULL;
	}
	free(mem);
}

/* One line of what the check said: its stderr, then its stdout. */
static void check_output(const struct cg_exec_result *res, char *buf,
			 size_t size)
{
	const struct cg_buf *parts[2] = { &res->err, &res->out };
	size_t k, i, n = 0;
	bool blank = true;

	buf[0] = '\0';
	for (k = 0; k < 2; k++) {
		for (i = 0; i < parts[k]->len && n + 4 < size; i++) {
			char ch = parts[k]->data[i];

			if (ch == '\n' || ch == '\r' || ch == '\t') {
				if (!blank) {
					if (ch == '\n' && n + 4 < size) {
						buf[n++] = ';';
					}
					buf[n++] = ' ';
				}
				blank = true;
				continue;
			}
			if ((unsigned char)ch < 0x20 || ch == 0x7f)
				ch = '?';
			buf[n++] = ch;
			blank = false;
		}
		if (!blank && n + 4 < size) {
			buf[n++] = ';';
			buf[n++] = ' ';
			blank = true;
		}
	}
	while (n && (buf[n - 1] == ' ' || buf[n - 1] == ';'))
		n--;
	buf[n] = '\0';
}

/*
 * Run validate: on the new content, in the sandbox: the same in plan and
 * run, before anything is written. A failure fails the resource with
 * what the command said.
 */
static int validate_content(struct cg_ctx *ctx, const struct cg_resource *r,
			    const struct want *w, const struct cg_content *c,
			    struct cg_error *err)
{
	struct cg_exec_result res;
	struct cg_buf mem = { 0 }, argvb = { 0 };
	struct cg_exec x;
	char *env[6] = { NULL }, *real, out[768];
	const char *data = c->data;
	size_t len = c->len, i, nargs;
	int rc;

	if (c->fd >= 0) {
		/* The source was read through already. */
		if (lseek(c->fd, 0, SEEK_SET) < 0)
			return cg_error_sys(err, CG_ERR,
					    "cannot read the source again");
		rc = cg_read_fd(c->fd, &mem, VALIDATE_MAX, err);
		if (rc < 0) {
			cg_error_prefix(err, "cannot validate");
			goto out;
		}
		data = mem.data ? mem.data : "";
		len = mem.len;
	} else if (len > VALIDATE_MAX) {
		rc = cg_error_set(err, CG_ERR,
				  "the content is too large to validate "
				  "(more than %u bytes)",
				  VALIDATE_MAX);
		goto out;
	}
	for (nargs = 0; w->validate[nargs]; nargs++) {
		struct cg_buf a = { 0 };
		const char *p;
		char *word;

		for (p = w->validate[nargs]; *p; p++) {
			if (p[0] == '%' && p[1] == 's') {
				cg_buf_addf(&a, "%s", VALIDATE_PATH);
				p++;
			} else if (p[0] == '%' && p[1] == '%') {
				cg_buf_add(&a, "%", 1);
				p++;
			} else {
				cg_buf_add(&a, p, 1);
			}
		}
		word = a.len ? cg_buf_detach(&a, NULL) : cg_xstrdup("");
		cg_buf_add(&argvb, &word, sizeof(word));
	}
	{
		char *end = NULL;

		cg_buf_add(&argvb, &end, sizeof(end));
	}
	real = realpath(ctx->root->path, NULL);
	env[0] = cg_xstrdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
			    "/usr/bin:/sbin:/bin");
	env[1] = cg_xstrdup("LC_ALL=C");
	env[2] = cg_xstrdup("HOME=/");
	env[3] = cg_xasprintf("CONGRUENT_PATH=%s", r->name);
	env[4] = cg_xasprintf("CONGRUENT_ROOT=%s",
			      real ? real : ctx->root->path);
	free(real);
	cg_exec_init(&x, (const char *const *)(void *)argvb.data);
	x.envp = (const char *const *)env;
	x.out_max = 1u << 20;
	rc = cg_ctx_exec_confined(ctx, &x, data, len, &res, err);
	if (rc == 0 && res.status != 0) {
		check_output(&res, out, sizeof(out));
		rc = cg_error_set(err, CG_ERR,
				  "validate \"%s\" failed (exit %d)%s%s",
				  w->validate_text, res.status,
				  out[0] ? ": " : "", out);
		cg_error_hint(err, "%s was left as it is; fix the content "
				   "in the policy (the command read the new "
				   "content as %s)",
			      r->name, VALIDATE_PATH);
	} else if (rc < 0) {
		cg_error_prefix(err, "validate \"%s\"", w->validate_text);
		if (rc == CG_ENOTFOUND)
			cg_error_hint(err, "install the program, or give its "
					   "full path in validate:");
		rc = CG_ERR;
	}
	cg_exec_result_release(&res);
	for (i = 0; i < 5; i++)
		free(env[i]);
	for (i = 0; i < nargs; i++)
		free(((char **)(void *)argvb.data)[i]);
	cg_buf_release(&argvb);
out:
	cg_buf_release(&mem);
	return rc;
}

/* The file will be written anew: what of it a new content cannot keep. */
static void observe_replace(struct seen *s, int dirfd, const char *base,
			    int fd)
{
	struct statx stx;
	int own = -1;

	if (fd < 0)
		fd = own = openat(dirfd, base, O_RDONLY | O_NOFOLLOW |
						       O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0)
		s->fcaps = fgetxattr(fd, "security.capability", NULL, 0) >= 0;
	/* A bind-mounted file (kernel 5.8+ says so; older ones at rename). */
	if (statx(dirfd, base, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) ==
		    0 &&
	    (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT))
		s->mount_point = stx.stx_attributes & STATX_ATTR_MOUNT_ROOT;
	if (own >= 0)
		close(own);
}

static int observe_one(struct cg_ctx *ctx, struct cg_dircache *dc,
		       struct cg_resource *r, struct cg_error *err)
{
	struct want *w = r->desired;
	struct seen *s;
	struct stat st;
	const char *base;
	int dirfd, fd = -1, srcfd = -1, rc;
	struct cg_content c;
	struct cg_buf hold = { 0 };

	free_seen(r->observed);
	s = cg_xcalloc(1, sizeof(*s));
	r->observed = s;
	s->ids_ok = fsmeta_observe(&w->meta, ctx->root, &s->ids, &s->why);

	rc = cg_root_parent_cached(ctx->root, dc, r->name, &dirfd, &base, err);
	if (rc == CG_ENOTFOUND) {
		s->kind = SEEN_ABSENT;
		s->parent_missing = true;
		dirfd = -1;
		/* What apply would say: diff says it first (plan = run). */
		s->parent_err = fsmeta_parent_missing(
			r->name, "declare the directory (directory: ...) "
				 "before this file, or list it in requires:");
		cg_error_clear(err);
	} else if (rc < 0) {
		return rc;
	} else if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT) {
			rc = cg_error_sys(err, CG_ERR, "cannot stat %s", r->name);
			goto out;
		}
		s->kind = SEEN_ABSENT;
	} else {
		s->kind = S_ISREG(st.st_mode)	? SEEN_FILE
			  : S_ISLNK(st.st_mode) ? SEEN_LINK
			  : S_ISDIR(st.st_mode) ? SEEN_DIR
						: SEEN_OTHER;
		s->mode = st.st_mode;
		s->uid = st.st_uid;
		s->gid = st.st_gid;
		s->nlink = st.st_nlink > UINT32_MAX ? UINT32_MAX
						    : (uint32_t)st.st_nlink;
	}
	rc = 0;
	if (w->meta.absent || w->src == SRC_NONE)
		goto out;
	{
		struct cg_buf warns = { 0 };

		rc = want_content(ctx, w, &c, &hold, &srcfd, &s->secret,
				  &warns, err);
		s->warns = warns.len ? cg_buf_detach(&warns, NULL) : NULL;
		cg_buf_release(&warns);
	}
	if (rc < 0)
		goto out;
	if (s->kind != SEEN_FILE) {
		keep_new_text(s, w, &c);
	} else {
		/* O_NONBLOCK: a FIFO swapped in since the fstatat must not
		 * hang us. */
		fd = openat(dirfd, base,
			    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) {
			rc = cg_error_sys(err, CG_ERR, "cannot open %s",
					  r->name);
			goto out;
		}
		rc = compare_content(s, w, fd, (uint64_t)st.st_size, &c, err);
	}
	/* Only new content is checked: what is there already stays. */
	if (rc == 0 && w->validate &&
	    (s->kind != SEEN_FILE || s->content_differs))
		rc = validate_content(ctx, r, w, &c, err);
out:
	if (rc == 0 && s->kind == SEEN_FILE && !w->meta.absent &&
	    (s->content_differs || s->nlink > 1))
		observe_replace(s, dirfd, base, fd);
	if (fd >= 0)
		close(fd);
	if (srcfd >= 0)
		close(srcfd);
	release_hold(&hold);
	return rc;
}

static int file_observe(struct cg_ctx *ctx, struct cg_resource **res, size_t n,
			struct cg_error *err)
{
	struct cg_dircache dc = CG_DIRCACHE_INIT;
	size_t i;

	(void)err;
	for (i = 0; i < n; i++) {
		struct cg_error e;

		cg_error_clear(&e);
		if (observe_one(ctx, &dc, res[i], &e) < 0)
			cg_resource_fail(res[i], &e);
	}
	cg_dircache_release(&dc);
	return 0;
}

static const char *kind_name(enum kind k)
{
	switch (k) {
	case SEEN_LINK:
		return "a symlink";
	case SEEN_DIR:
		return "a directory";
	case SEEN_OTHER:
		return "a special file";
	default:
		return "a file";
	}
}

static void add_content_item(struct cg_change *c, struct seen *s,
			     bool from_old, const char *path)
{
	struct cg_change_item *it;
	char a[CG_SHA256_HEX + 8], b[CG_SHA256_HEX + 8];
	struct texts *t = s->texts;

	memcpy(a, "sha256:", 7);
	cg_hex(s->have, sizeof(s->have), a + 7);
	memcpy(b, "sha256:", 7);
	cg_hex(s->want, sizeof(s->want), b + 7);
	it = cg_change_add(c, "content", from_old ? a : NULL,
			   s->want_ok ? b : NULL);
	if (t && t->new_text) {
		struct cg_buf d = { 0 };
		char *lb = cg_xasprintf("%s (policy)", path);

		cg_diff_unified(t->old_text ? t->old_text : "",
				t->old_text ? t->old_len : 0, t->new_text,
				t->new_len, from_old ? path : "/dev/null", lb,
				3, &d);
		if (d.len)
			it->detail = cg_buf_detach(&d, NULL);
		cg_buf_release(&d);
		free(lb);
	}
	/* Nothing of it is shown: not its diff, not its hashes. */
	if (s->secret)
		cg_change_secret(it);
	/* The texts served the diff; do not keep them for the whole run. */
	free_texts(s->texts);
	s->texts = NULL;
}

/* How apply says an owner/group lookup failed (resolve_ids). */
#define OWNER_ERR "cannot set owner/group"

#define NOTE_IN_PLACE                                                        \
	"a mount point: the content is written in place, not atomically; "   \
	"the old content is kept in the backups"

/* What the new content will not be like the old file in (plan = run). */
static void note_replace(struct cg_change *c, const struct seen *s)
{
	if (s->mount_point)
		fsmeta_note(c, NOTE_IN_PLACE);
	if (s->fcaps)
		fsmeta_note(c, "its file capabilities (security.capability) go "
			       "with the old content");
}

/*
 * The ledger's words for what is there: a content hash only when the
 * content will change, as apply then keeps it in the backup store.
 */
static char *file_before(const struct seen *s)
{
	char extra[8 + CG_SHA256_HEX];

	switch (s->kind) {
	case SEEN_ABSENT:
		return fsmeta_before(NULL, 0, 0, 0, NULL);
	case SEEN_FILE:
		if (!s->want_ok || !s->content_differs)
			return fsmeta_before("file", s->mode, s->uid, s->gid,
					     NULL);
		memcpy(extra, "sha256=", 7);
		cg_hex(s->have, sizeof(s->have), extra + 7);
		return fsmeta_before("file", s->mode, s->uid, s->gid, extra);
	case SEEN_LINK:
		return fsmeta_before("symlink", s->mode, s->uid, s->gid, NULL);
	default:
		return NULL;
	}
}

static int file_compare(struct cg_ctx *ctx, struct cg_resource *r,
			struct cg_error *err);

static int file_diff(struct cg_ctx *ctx, struct cg_resource *r,
		     struct cg_error *err)
{
	struct seen *s = r->observed;
	struct cg_change *c = &r->change;
	int rc = file_compare(ctx, r, err);
	const char *w, *nl;

	if (rc == 0 && c->action != CG_ACTION_NONE)
		c->before = file_before(s);
	for (w = s->warns; rc == 0 && w && *w; w = nl + 1) {
		nl = strchr(w, '\n');
		cg_change_warn(c, "%.*s", (int)(nl - w), w);
	}
	return rc;
}

static int file_compare(struct cg_ctx *ctx, struct cg_resource *r,
			struct cg_error *err)
{
	const struct want *w = r->desired;
	struct seen *s = r->observed;
	struct cg_change *c = &r->change;
	struct stat st;

	if (w->meta.absent) {
		if (s->kind == SEEN_ABSENT)
			return 0;
		if (s->kind == SEEN_DIR || s->kind == SEEN_OTHER) {
			cg_error_set(err, CG_ERR,
				     "%s is %s, not a file; refusing to remove "
				     "it",
				     r->name, kind_name(s->kind));
			cg_error_hint(err, "remove it by hand, or manage it "
					   "with the matching resource type");
			return CG_ERR;
		}
		c->action = CG_ACTION_DELETE;
		cg_change_add(c, "type", s->kind == SEEN_LINK ? "symlink" : "file",
			      NULL);
		return 0;
	}
	switch (s->kind) {
	case SEEN_DIR:
	case SEEN_OTHER:
		cg_error_set(err, CG_ERR,
			     "%s is %s where the policy wants a file", r->name,
			     kind_name(s->kind));
		cg_error_hint(err, "move it away by hand; congruent does not "
				   "delete directories or devices to make room");
		return CG_ERR;
	case SEEN_ABSENT:
	case SEEN_LINK:
		c->action = s->kind == SEEN_ABSENT ? CG_ACTION_CREATE
						   : CG_ACTION_UPDATE;
		if (s->kind == SEEN_LINK)
			cg_change_add(c, "type", "symlink", "file");
		if (s->parent_missing &&
		    fsmeta_check_parent(s->parent_err, ctx, r, c, err) < 0)
			return CG_ERR;
		if (fsmeta_check(&w->meta, s->why, ctx, r, OWNER_ERR, c, err) <
		    0)
			return CG_ERR;
		if (w->src != SRC_NONE)
			add_content_item(c, s, false, r->name);
		fsmeta_diff_new(&w->meta, 0644, c);
		return 0;
	default:
		break;
	}
	if (w->src != SRC_NONE && s->content_differs)
		add_content_item(c, s, true, r->name);
	memset(&st, 0, sizeof(st));
	st.st_mode = s->mode;
	st.st_uid = s->uid;
	st.st_gid = s->gid;
	fsmeta_diff(&w->meta, s->ids_ok ? &s->ids : NULL, &st, ctx->root, c);
	if (c->n &&
	    fsmeta_check(&w->meta, s->why, ctx, r, OWNER_ERR, c, err) < 0)
		return CG_ERR;
	if (c->n) {
		c->action = CG_ACTION_UPDATE;
		if (s->nlink > 1)
			cg_change_note(c, "has %lu hard links; a new file will "
					  "replace this name only",
				       (unsigned long)s->nlink);
		if (s->nlink > 1 || (w->src != SRC_NONE && s->content_differs))
			note_replace(c, s);
	}
	return 0;
}

/* Resolve owner/group now: a package earlier in this run may add them. */
static int resolve_ids(struct cg_ctx *ctx, const struct want *w,
		       struct fsmeta_ids *ids, struct cg_error *err)
{
	int rc = fsmeta_resolve(&w->meta, ctx->root, ids, err);

	if (rc < 0)
		cg_error_prefix(err, OWNER_ERR);
	return rc;
}

/*
 * One resource of a batch being applied: what was done to it so far, and
 * what is left for the batch's syncs.
 */
struct pending {
	struct cg_resource *r;
	int dirfd;             /* owned, or -1 */
	enum {
		P_DONE,     /* nothing left: failed, or nothing to do */
		P_STAGED,   /* temporary written, not synced, not renamed */
		P_META,     /* owner/mode changed in place through fd */
		P_REMOVE,   /* to be removed once its backup is durable */
		P_UNLINKED, /* removed: its directory is to be synced */
		P_RENAMED,  /* in place: its directory is to be synced */
	} kind;
	int fd;                /* P_META: owned */
	struct cg_staged st;   /* P_STAGED */
	struct cg_replace_info how;
};

static void pending_release(struct pending *p)
{
	if (p->kind == P_STAGED)
		cg_fs_unstage(&p->st);
	if (p->fd >= 0)
		close(p->fd);
	if (p->dirfd >= 0)
		close(p->dirfd);
	p->fd = p->dirfd = -1;
	p->kind = P_DONE;
}

static int write_file(struct cg_ctx *ctx, struct pending *p, const char *base,
		      const struct stat *old, struct cg_error *err)
{
	struct cg_resource *r = p->r;
	const struct want *w = r->desired;
	struct fsmeta_ids ids;
	struct cg_content c;
	struct cg_buf hold = { 0 };
	mode_t mode;
	uid_t uid;
	gid_t gid;
	int srcfd = -1, oldfd = -1, rc, dirfd = p->dirfd;

	rc = resolve_ids(ctx, w, &ids, err);
	if (rc < 0)
		return rc;
	if (w->src == SRC_NONE && old) {
		/* Metadata only, but the name is a hard link or a symlink:
		 * copy the content into a file of its own. */
		oldfd = openat(dirfd, base,
			       O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (oldfd < 0 && S_ISREG(old->st_mode))
			return cg_error_sys(err, CG_ERR, "cannot open %s",
					    r->name);
		c.data = "";
		c.len = 0;
		c.fd = oldfd;
	} else {
		bool secret;

		rc = want_content(ctx, w, &c, &hold, &srcfd, &secret, NULL,
				  err);
		if (rc < 0) {
			release_hold(&hold);
			return rc;
		}
	}
	mode = w->meta.has_mode ? w->meta.mode
	       : old && S_ISREG(old->st_mode) ? old->st_mode & 07777
					      : 0644;
	uid = ids.has_uid ? ids.uid
	      : old && S_ISREG(old->st_mode) ? old->st_uid
					     : (uid_t)-1;
	gid = ids.has_gid ? ids.gid
	      : old && S_ISREG(old->st_mode) ? old->st_gid
					     : (gid_t)-1;
	if (oldfd < 0 && old && S_ISREG(old->st_mode))
		oldfd = openat(dirfd, base,
			       O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	rc = cg_fs_stage(dirfd, base, &c, mode, uid, gid, oldfd, &p->st,
			 &p->how, err);
	if (rc == 0)
		p->kind = P_STAGED;
	if (srcfd >= 0)
		close(srcfd);
	if (oldfd >= 0)
		close(oldfd);
	release_hold(&hold);
	return rc;
}

/* After the rename: what the change should say about how it went. */
static void note_written(struct pending *p)
{
	struct cg_resource *r = p->r;
	const struct seen *s = r->observed;

	/* Said already by diff unless the kernel did not tell observe. */
	if ((p->how.flags & CG_REPLACE_IN_PLACE) && !(s && s->mount_point))
		fsmeta_note(&r->change, NOTE_IN_PLACE);
	if (p->how.flags & CG_REPLACE_XATTR_LOST) {
		char note[sizeof(p->how.lost) + 128];

		snprintf(note, sizeof(note),
			 "extended attributes not kept: %s (%s)", p->how.lost,
			 strerror(p->how.lost_errno));
		fsmeta_note(&r->change, note);
	}
}

static bool has_item(const struct cg_change *c, const char *field)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->items[i].field, field) == 0)
			return true;
	return false;
}

/*
 * Everything of r's change that needs no sync of its own: back up what
 * goes, write the new content to a temporary (P_STAGED), change owner
 * and mode in place (P_META) or remove the file (P_UNLINKED). The
 * batch's syncs and renames follow (file_apply).
 */
static int prepare(struct cg_ctx *ctx, struct pending *p, struct cg_error *err)
{
	struct cg_resource *r = p->r;
	const struct want *w = r->desired;
	const char *base;
	struct stat st;
	int fd, rc;

	rc = cg_root_open_parent(ctx->root, r->name, 0, &p->dirfd, &base, NULL,
				 err);
	if (rc < 0) {
		p->dirfd = -1;
		if (rc == CG_ENOTFOUND && !w->meta.absent)
			cg_error_hint(err, "declare the directory (directory: "
					   "...) before this file, or list it "
					   "in requires:");
		return rc == CG_ENOTFOUND && w->meta.absent ? 0 : rc;
	}
	if (fstatat(p->dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return cg_error_sys(err, CG_ERR, "cannot stat %s",
					    r->name);
		return w->meta.absent ? 0 : write_file(ctx, p, base, NULL, err);
	}
	if (S_ISDIR(st.st_mode) || !(S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
		return cg_error_set(err, CG_ERR,
				    "%s is no longer a file or symlink; not "
				    "touching it",
				    r->name);
	/*
	 * Keep what is there before it goes: durable with the batch's
	 * temporaries (the store is deferred), in place before any rename.
	 */
	if (w->meta.absent || S_ISLNK(st.st_mode) ||
	    has_item(&r->change, "content") || st.st_nlink > 1) {
		struct cg_kept kept;

		rc = cg_store_keep(ctx->store, p->dirfd, base, r->name, &kept,
				   err);
		if (rc < 0) {
			cg_error_prefix(err, "not changing %s: backup failed",
					r->name);
			return rc;
		}
		if (kept.hash_only)
			cg_change_note(&r->change, "the old content is over "
						   "backup_max_mb: only its "
						   "hash was kept");
	}
	if (w->meta.absent) {
		p->kind = P_REMOVE;
		return 0;
	}
	/*
	 * A symlink is replaced, never written through. A hard-linked file
	 * gets a new inode, so the other names (which may be anything, like
	 * /etc/shadow linked into a user's directory) are left alone.
	 */
	if (S_ISLNK(st.st_mode) || has_item(&r->change, "content") ||
	    st.st_nlink > 1)
		return write_file(ctx, p, base, S_ISLNK(st.st_mode) ? NULL : &st,
				  err);
	fd = openat(p->dirfd, base,
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return cg_error_sys(err, CG_ERR, "cannot open %s", r->name);
	{
		struct fsmeta_ids ids;
		struct stat st2;

		if (fstat(fd, &st2) < 0 || st2.st_ino != st.st_ino ||
		    st2.st_dev != st.st_dev || !S_ISREG(st2.st_mode)) {
			rc = cg_error_set(err, CG_ERR,
					  "%s changed while being updated; "
					  "not touching it",
					  r->name);
		} else {
			rc = resolve_ids(ctx, w, &ids, err);
			if (rc == 0)
				rc = fsmeta_apply_fd(&w->meta, &ids, fd, &st2,
						     err);
		}
	}
	if (rc < 0) {
		close(fd);
		return rc;
	}
	p->fd = fd;
	p->kind = P_META;
	return 0;
}

/* Fail every resource of the batch not failed yet with err. */
static void fail_batch(struct pending *p, size_t n, const struct cg_error *err)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i].r->status != CG_STATUS_FAILED)
			cg_resource_fail(p[i].r, err);
}

/*
 * fsync each directory of the batch where a name was renamed or removed,
 * once however many names it holds.
 */
static int sync_dirs(struct pending *p, size_t n, struct cg_error *err)
{
	struct stat *seen = cg_xcalloc(n + 1, sizeof(*seen));
	size_t nseen = 0, i, j;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		struct stat st;

		if (p[i].kind != P_RENAMED && p[i].kind != P_UNLINKED)
			continue;
		if (fstat(p[i].dirfd, &st) < 0) {
			rc = cg_error_sys(err, CG_ERR, "cannot stat the "
							"directory of %s",
					  p[i].r->name);
			break;
		}
		for (j = 0; j < nseen; j++)
			if (seen[j].st_dev == st.st_dev &&
			    seen[j].st_ino == st.st_ino)
				break;
		if (j < nseen)
			continue;
		seen[nseen++] = st;
		rc = cg_fs_sync_dir(p[i].dirfd, p[i].r->name, err);
	}
	free(seen);
	return rc;
}

/*
 * At most this many resources share their syncs: each holds up to two
 * file descriptors until the batch is done.
 */
#define BATCH_MAX 128

/*
 * n resources at once, with their syncs shared: every temporary written
 * (and every owner or mode changed), one syncfs per file system, every
 * rename, then one fsync per directory touched. A resource is reported
 * (by the engine, once this returns) only after all of that: a failing
 * sync fails every resource of the batch, whose changes may not be on
 * disk. A temporary is complete before it is renamed and the rename is
 * the only step that changes a name: killed at any moment, each file is
 * old or new.
 */
static void apply_some(struct cg_ctx *ctx, struct cg_resource **res, size_t n)
{
	struct pending *p = cg_xcalloc(n, sizeof(*p));
	int *fds, *kept = NULL;
	struct cg_error e;
	size_t i, nfds = 0, nkept = 0;

	/* Backups share the batch's syncs (cg_store_settle). */
	if (ctx->store)
		cg_store_defer(ctx->store);
	for (i = 0; i < n; i++) {
		memset(&p[i], 0, sizeof(p[i]));
		p[i].r = res[i];
		p[i].dirfd = p[i].fd = -1;
		p[i].st.fd = -1;
		cg_error_clear(&e);
		if (prepare(ctx, &p[i], &e) < 0) {
			cg_resource_fail(res[i], &e);
			pending_release(&p[i]);
		}
	}
	if (ctx->store)
		nkept = cg_store_pending_fds(ctx->store, &kept);
	fds = cg_xcalloc(n + nkept + 1, sizeof(*fds));
	/* The backups first: syncfs sees the errors of every fd after it. */
	for (i = 0; i < nkept; i++)
		fds[nfds++] = kept[i];
	free(kept);
	for (i = 0; i < n; i++) {
		if (p[i].kind == P_STAGED)
			fds[nfds++] = p[i].st.fd;
		else if (p[i].kind == P_META)
			fds[nfds++] = p[i].fd;
	}
	cg_error_clear(&e);
	if (nfds && cg_fs_sync_many(fds, nfds, &e) < 0) {
		/* Nothing renamed: the staged files stay as they were. */
		cg_error_prefix(&e, "not changed: the new content could not "
				    "be made durable");
		fail_batch(p, n, &e);
		goto out;
	}
	cg_error_clear(&e);
	if (ctx->store && cg_store_settle(ctx->store, &e) < 0) {
		cg_error_prefix(&e, "not changed: backup failed");
		fail_batch(p, n, &e);
		goto out;
	}
	for (i = 0; i < n; i++) {
		const char *base;

		if (p[i].kind != P_REMOVE)
			continue;
		base = strrchr(p[i].r->name, '/') + 1;
		if (unlinkat(p[i].dirfd, base, 0) < 0) {
			cg_error_clear(&e);
			cg_error_sys(&e, CG_ERR, "cannot remove %s",
				     p[i].r->name);
			cg_resource_fail(p[i].r, &e);
			p[i].kind = P_DONE;
			continue;
		}
		p[i].kind = P_UNLINKED;
	}
	for (i = 0; i < n; i++) {
		if (p[i].kind != P_STAGED)
			continue;
		cg_error_clear(&e);
		if (cg_fs_commit(&p[i].st, &p[i].how, &e) < 0) {
			cg_resource_fail(p[i].r, &e);
			p[i].kind = P_DONE;
			continue;
		}
		p[i].kind = P_RENAMED;
		note_written(&p[i]);
	}
	cg_error_clear(&e);
	if (sync_dirs(p, n, &e) < 0) {
		cg_error_prefix(&e, "changed, but not durably");
		fail_batch(p, n, &e);
	}
out:
	if (ctx->store)
		cg_store_drop(ctx->store); /* settled, or given up */
	for (i = 0; i < n; i++)
		pending_release(&p[i]);
	free(fds);
	free(p);
}

static int file_apply(struct cg_ctx *ctx, struct cg_resource **res, size_t n,
		      struct cg_error *err)
{
	size_t i, k;

	(void)err;
	for (i = 0; i < n; i += k) {
		k = n - i < BATCH_MAX ? n - i : BATCH_MAX;
		apply_some(ctx, res + i, k);
	}
	return 0;
}

static bool file_confines(const struct cg_resource *r)
{
	const struct want *w = r->desired;

	return w && w->validate;
}

const struct cg_module cg_module_file = {
	.type = "file",
	.keys = file_keys,
	.parse = file_parse,
	.observe = file_observe,
	.diff = file_diff,
	.apply = file_apply,
	.release = file_release,
	.forget = file_forget,
	.fingerprint = file_fingerprint,
	.confines = file_confines,
	.observe_window = 256,
	.flags = CG_MODULE_BATCH_RUN,
	/*
	 * CAP_SYS_ADMIN: a new file keeps the old one's trusted.* and
	 * security.* attributes, which only it may read (trusted) and set.
	 */
	.caps = { CAP_CHOWN, CAP_FOWNER, CAP_DAC_OVERRIDE, CAP_FSETID,
		  CAP_SYS_ADMIN },
	.ncaps = 5,
	.revert = fsmeta_revert_file,
};
