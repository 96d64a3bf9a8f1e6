/* authkeys.c: the authorized_keys resource: a user's OpenSSH public keys. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cg/fs.h"
#include "cg/hash.h"
#include "cg/module.h"
#include "cg/sshsig.h"
#include "cg/store.h"
#include "cg/util.h"
#include "account.h"

#define KEYS_MAX (1u << 20) /* an authorized_keys larger is refused */

struct key {
	char *line;     /* owned: canonical: [options ]type base64[ comment] */
	char *blob;     /* owned: the base64 text, the key's identity */
	char *desc;     /* owned: "[options ]type SHA256:... comment" */
};

struct want {
	struct key *keys; /* owned */
	size_t n;
	bool exclusive;
};

struct seen {
	bool user_known;
	unsigned uid, gid;
	char *home;         /* owned: from passwd */
	char *path;         /* owned: HOME/.ssh/authorized_keys */
	bool home_missing;  /* the home directory is not there */
	bool ssh_exists, file_exists;
	struct stat ssh_st, st;
	struct cg_buf content; /* owned: the file's bytes */
	struct cg_error *err;  /* owned, or NULL: what makes it fail */
};

static const char *const authkeys_keys[] = {
	"keys", "exclusive", NULL,
};

static const char *const key_types[] = {
	"ssh-ed25519", "ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp256",
	"ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
	"sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
	"ssh-ed25519-cert-v01@openssh.com", "ssh-rsa-cert-v01@openssh.com",
	"ssh-dss-cert-v01@openssh.com",
	"ecdsa-sha2-nistp256-cert-v01@openssh.com",
	"ecdsa-sha2-nistp384-cert-v01@openssh.com",
	"ecdsa-sha2-nistp521-cert-v01@openssh.com",
	"sk-ssh-ed25519-cert-v01@openssh.com",
	"sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
	NULL,
};

static bool is_type(const char *s, size_t len)
{
	size_t i;

	for (i = 0; key_types[i]; i++)
		if (strlen(key_types[i]) == len &&
		    memcmp(key_types[i], s, len) == 0)
			return true;
	return false;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The end of the options field at p: the first blank outside quotes. */
static const char *options_end(const char *p)
{
	bool quoted = false;

	for (; *p; p++) {
		if (quoted && *p == '\\' && p[1])
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (!quoted && is_blank(*p))
			break;
	}
	return quoted ? NULL : p;
}

/*
 * Is b64 (len bytes) strict base64 of an SSH key blob whose first string
 * is type? Then its SHA-256 fingerprint goes into fp.
 */
static bool blob_ok(const char *b64, size_t len, const char *type,
		    size_t tlen, char fp[CG_SSHSIG_FP_SIZE])
{
	unsigned char *raw;
	size_t rlen, pad = 0;
	uint32_t n;
	bool ok = false;
	int got;

	if (len == 0 || len % 4 || len > 65536)
		return false;
	raw = cg_xmalloc(len);
	got = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len);
	if (got < 0)
		goto out;
	if (b64[len - 1] == '=')
		pad++;
	if (b64[len - 2] == '=')
		pad++;
	rlen = (size_t)got - pad;
	if (rlen < 4)
		goto out;
	n = (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 |
	    (uint32_t)raw[2] << 8 | raw[3];
	if (n != tlen || rlen < 4 + tlen || memcmp(raw + 4, type, tlen) != 0)
		goto out;
	cg_sshsig_fingerprint(fp, raw, rlen);
	ok = true;
out:
	free(raw);
	return ok;
}

/*
 * Parse one authorized_keys line (sshd(8), AUTHORIZED_KEYS FILE FORMAT):
 * [options] type base64 [comment]. false with *why set when it is not one.
 */
static bool parse_key(const char *text, struct key *out, const char **why)
{
	const char *p = text, *opt = NULL, *oend = NULL, *t, *tend, *b, *bend;
	const char *cm, *cend;
	char fp[CG_SSHSIG_FP_SIZE], type[64];
	struct cg_buf line = { 0 }, desc = { 0 };

	memset(out, 0, sizeof(*out));
	while (is_blank(*p))
		p++;
	if (!*p || *p == '#' || strchr(p, '\n') || strchr(p, '\r')) {
		*why = "not a key line";
		return false;
	}
	t = p;
	for (tend = t; *tend && !is_blank(*tend); tend++)
		;
	if (!is_type(t, (size_t)(tend - t))) {
		opt = p;
		oend = options_end(p);
		if (!oend || !*oend) {
			*why = "no known key type (ssh-ed25519, ssh-rsa, "
			       "ecdsa-sha2-nistp256, ...)";
			return false;
		}
		for (t = oend; is_blank(*t); t++)
			;
		for (tend = t; *tend && !is_blank(*tend); tend++)
			;
		if (!is_type(t, (size_t)(tend - t))) {
			*why = "no known key type (ssh-ed25519, ssh-rsa, "
			       "ecdsa-sha2-nistp256, ...)";
			return false;
		}
	}
	for (b = tend; is_blank(*b); b++)
		;
	for (bend = b; *bend && !is_blank(*bend); bend++)
		;
	snprintf(type, sizeof(type), "%.*s", (int)(tend - t), t);
	if (!blob_ok(b, (size_t)(bend - b), type, strlen(type), fp)) {
		*why = "the key is not valid base64 of a key of its type";
		return false;
	}
	for (cm = bend; is_blank(*cm); cm++)
		;
	for (cend = cm + strlen(cm); cend > cm && is_blank(cend[-1]); cend--)
		;
	if (opt) {
		cg_buf_add(&line, opt, (size_t)(oend - opt));
		cg_buf_addch(&line, ' ');
		cg_buf_add(&desc, opt, (size_t)(oend - opt));
		cg_buf_addch(&desc, ' ');
	}
	cg_buf_addf(&line, "%s %.*s", type, (int)(bend - b), b);
	cg_buf_addf(&desc, "%s %s", type, fp);
	if (cend > cm) {
		cg_buf_addf(&line, " %.*s", (int)(cend - cm), cm);
		cg_buf_addf(&desc, " %.*s", (int)(cend - cm), cm);
	}
	out->line = cg_buf_detach(&line, NULL);
	out->desc = cg_buf_detach(&desc, NULL);
	out->blob = cg_xstrndup(b, (size_t)(bend - b));
	return true;
}

static void key_release(struct key *k)
{
	free(k->line);
	free(k->blob);
	free(k->desc);
	memset(k, 0, sizeof(*k));
}

static int authkeys_parse(struct cg_resource *r, const struct cg_node *item,
			  const struct cg_node *value,
			  const struct cg_parse_ctx *pc, struct cg_error *err)
{
	const struct cg_node *n;
	const char *name, **v = NULL, *why;
	size_t count, i, j;
	struct want *w;
	char id[64];

	(void)pc;
	if (cg_node_string(value, "authorized_keys", &name, err) < 0)
		return CG_ERR;
	if (!account_name_ok(name)) {
		cg_error_set(err, CG_ERR, "invalid user name \"%s\"", name);
		cg_error_where(err, "%s:%u", value->doc->name, value->line);
		return CG_ERR;
	}
	cg_resource_set_id(r, "authorized_keys", name);
	w = cg_xcalloc(1, sizeof(*w));
	r->desired = w;
	snprintf(id, sizeof(id), "user:%s", name);
	cg_resource_order_after_if(r, id);
	n = cg_map_get(item, "exclusive");
	if (n && cg_node_bool(n, "exclusive", &w->exclusive, err) < 0)
		return CG_ERR;
	n = cg_map_get(item, "keys");
	if (!n) {
		cg_error_set(err, CG_ERR, "authorized_keys needs keys:");
		cg_error_where(err, "%s:%u", item->doc->name, item->line);
		cg_error_hint(err, "list OpenSSH public key lines, such as "
				   "the contents of id_ed25519.pub");
		return CG_ERR;
	}
	if (cg_node_strlist(n, "keys", &v, &count, err) < 0)
		return CG_ERR;
	w->keys = cg_xcalloc(count + 1, sizeof(*w->keys));
	for (i = 0; i < count; i++) {
		const struct cg_node *kn = n->kind == CG_NODE_SEQ ? n->items[i]
								  : n;

		if (!parse_key(v[i], &w->keys[w->n], &why)) {
			cg_error_set(err, CG_ERR, "key %zu is not an OpenSSH "
						  "public key line: %s",
				     i + 1, why);
			cg_error_where(err, "%s:%u", kn->doc->name, kn->line);
			cg_error_hint(err, "give it as ssh-keygen writes it: "
					   "[options] type base64 [comment]");
			free(v);
			return CG_ERR;
		}
		for (j = 0; j < w->n; j++)
			if (strcmp(w->keys[j].blob, w->keys[w->n].blob) == 0) {
				cg_error_set(err, CG_ERR,
					     "key %zu is listed twice", i + 1);
				cg_error_where(err, "%s:%u", kn->doc->name,
					       kn->line);
				key_release(&w->keys[w->n]);
				free(v);
				return CG_ERR;
			}
		w->n++;
	}
	free(v);
	return 0;
}

static void free_seen(struct seen *s)
{
	if (!s)
		return;
	free(s->home);
	free(s->path);
	cg_buf_release(&s->content);
	free(s->err);
	free(s);
}

static void authkeys_forget(struct cg_resource *r)
{
	free_seen(r->observed);
	r->observed = NULL;
}

static void authkeys_release(struct cg_resource *r)
{
	struct want *w = r->desired;
	size_t i;

	if (w) {
		for (i = 0; i < w->n; i++)
			key_release(&w->keys[i]);
		free(w->keys);
		free(w);
	}
	authkeys_forget(r);
	r->desired = NULL;
}

/* HOME/.ssh, or NULL when home is no clean absolute path. */
static char *ssh_dir(const char *home)
{
	char *p = strcmp(home, "/") == 0 ? cg_xstrdup("/.ssh")
					 : cg_xasprintf("%s/.ssh", home);
	const char *why;

	if (!cg_path_is_clean(p, &why)) {
		free(p);
		return NULL;
	}
	return p;
}

/*
 * Open the user's home (*homefd) and, when it is there, .ssh in it
 * (*sshfd, or -1 when missing), never following a symlink in the home:
 * the user owns it and could have planted one. Fills ssh_st, and st and
 * the content of authorized_keys when it exists (*oldfd open on it when
 * oldfd is not NULL). CG_ENOTFOUND: the home is missing.
 */
static int open_ssh(struct cg_ctx *ctx, struct seen *s, int *homefd,
		    int *sshfd, int *oldfd, struct cg_error *err)
{
	char *dir = ssh_dir(s->home);
	const char *base;
	int rc, fd;

	*homefd = *sshfd = -1;
	if (oldfd)
		*oldfd = -1;
	s->ssh_exists = s->file_exists = false;
	cg_buf_reset(&s->content);
	if (!dir)
		return cg_error_set(err, CG_ERR,
				    "the home of %s, \"%s\", is not a clean "
				    "absolute path",
				    s->path ? s->path : "the user", s->home);
	rc = cg_root_open_parent(ctx->root, dir, 0, homefd, &base, NULL, err);
	free(dir);
	if (rc < 0)
		return rc;
	if (fstatat(*homefd, ".ssh", &s->ssh_st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return cg_error_sys(err, CG_ERR, "cannot stat %s/.ssh",
				    s->home);
	}
	s->ssh_exists = true;
	if (!S_ISDIR(s->ssh_st.st_mode))
		return cg_error_set(err, CG_ERR,
				    "%s/.ssh is not a directory (%s); not "
				    "following it",
				    s->home,
				    S_ISLNK(s->ssh_st.st_mode) ? "a symlink"
							       : "a file");
	*sshfd = openat(*homefd, ".ssh",
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (*sshfd < 0)
		return cg_error_sys(err, CG_ERR, "cannot open %s/.ssh",
				    s->home);
	if (fstatat(*sshfd, "authorized_keys", &s->st, AT_SYMLINK_NOFOLLOW) <
	    0) {
		if (errno == ENOENT)
			return 0;
		return cg_error_sys(err, CG_ERR, "cannot stat %s", s->path);
	}
	s->file_exists = true;
	if (!S_ISREG(s->st.st_mode))
		return cg_error_set(err, CG_ERR,
				    "%s is not a regular file (%s); not "
				    "following it",
				    s->path,
				    S_ISLNK(s->st.st_mode) ? "a symlink"
							   : "special");
	/* A hard link could be to any file, /etc/shadow included. */
	if (s->st.st_nlink > 1)
		return cg_error_set(err, CG_ERR,
				    "%s has %lu hard links; not reading it",
				    s->path, (unsigned long)s->st.st_nlink);
	fd = openat(*sshfd, "authorized_keys",
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return cg_error_sys(err, CG_ERR, "cannot open %s", s->path);
	/* What was opened, not the name: it may have changed since. */
	if (fstat(fd, &s->st) < 0 || !S_ISREG(s->st.st_mode) ||
	    s->st.st_nlink > 1) {
		close(fd);
		return cg_error_set(err, CG_ERR,
				    "%s changed while it was opened (a hard "
				    "link or no file); not reading it",
				    s->path);
	}
	rc = cg_read_fd(fd, &s->content, KEYS_MAX, err);
	if (rc < 0 || !oldfd)
		close(fd);
	else
		*oldfd = fd;
	return rc;
}

static void observe_one(struct cg_ctx *ctx, const struct account_db *db,
			struct cg_resource *r)
{
	const struct account_user *u = account_user(db, r->name);
	struct seen *s = cg_xcalloc(1, sizeof(*s));
	struct cg_error e;
	int homefd, sshfd, rc;

	free_seen(r->observed);
	r->observed = s;
	if (!u)
		return;
	s->user_known = true;
	s->uid = u->uid;
	s->gid = u->gid;
	s->home = cg_xstrdup(u->home);
	s->path = cg_xasprintf("%s/.ssh/authorized_keys",
			       strcmp(u->home, "/") == 0 ? "" : u->home);
	cg_error_clear(&e);
	rc = open_ssh(ctx, s, &homefd, &sshfd, NULL, &e);
	if (rc == CG_ENOTFOUND) {
		s->home_missing = true;
	} else if (rc < 0) {
		/* What apply would run into: diff says it, in plan too. */
		s->err = cg_xmalloc(sizeof(*s->err));
		*s->err = e;
	}
	if (homefd >= 0)
		close(homefd);
	if (sshfd >= 0)
		close(sshfd);
}

static int authkeys_observe(struct cg_ctx *ctx, struct cg_resource **res,
			    size_t n, struct cg_error *err)
{
	const struct account_db *db;
	size_t i;

	if (account_db_get(ctx->root, &db, err) < 0)
		return CG_ERR;
	for (i = 0; i < n; i++)
		observe_one(ctx, db, res[i]);
	return 0;
}

/* The lines of the file as the policy wants it, joined. */
static char *new_content(const struct want *w, const char *old, size_t len,
			 struct cg_change *c)
{
	struct cg_buf out = { 0 };
	bool *placed = cg_xcalloc(w->n + 1, sizeof(*placed));
	const char *p = old, *end = old ? old + len : NULL, *nl;
	size_t i;

	while (p && p < end) {
		struct key k;
		const char *why;
		char *text;
		bool ok, mine = false;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		/* A line ending in CR LF (a file edited elsewhere) is one key. */
		text = cg_xstrndup(p, (size_t)(nl > p && nl[-1] == '\r'
						   ? nl - 1 - p
						   : nl - p));
		p = nl + 1;
		ok = parse_key(text, &k, &why);
		for (i = 0; ok && i < w->n; i++) {
			if (strcmp(k.blob, w->keys[i].blob) != 0)
				continue;
			mine = true;
			if (placed[i])
				break; /* a second copy goes */
			placed[i] = true;
			cg_buf_addf(&out, "%s\n", w->keys[i].line);
			if (c && strcmp(k.line, w->keys[i].line) != 0)
				cg_change_add(c, "key", k.desc,
					      w->keys[i].desc);
		}
		if (!mine && !w->exclusive) {
			cg_buf_addf(&out, "%s\n", text);
		} else if (!mine && c && text[0]) {
			cg_change_add(c, ok ? "key" : "line",
				      ok ? k.desc : text, NULL);
		}
		if (ok)
			key_release(&k);
		free(text);
	}
	for (i = 0; i < w->n; i++)
		if (!placed[i]) {
			cg_buf_addf(&out, "%s\n", w->keys[i].line);
			if (c)
				cg_change_add(c, "key", NULL, w->keys[i].desc);
		}
	free(placed);
	cg_buf_addstr(&out, "");
	return cg_buf_detach(&out, NULL);
}

static void meta_items(struct cg_change *c, const char *what,
		       const struct stat *st, mode_t mode, unsigned uid,
		       unsigned gid)
{
	char a[32], b[32];

	if ((st->st_mode & 07777) != mode) {
		snprintf(a, sizeof(a), "%04o", (unsigned)(st->st_mode & 07777));
		snprintf(b, sizeof(b), "%04o", (unsigned)mode);
		cg_change_add(c, strcmp(what, ".ssh") == 0 ? ".ssh mode"
							   : "mode", a, b);
	}
	if (st->st_uid != uid || st->st_gid != gid) {
		snprintf(a, sizeof(a), "%u:%u", (unsigned)st->st_uid,
			 (unsigned)st->st_gid);
		snprintf(b, sizeof(b), "%u:%u", uid, gid);
		cg_change_add(c, strcmp(what, ".ssh") == 0 ? ".ssh owner"
							   : "owner", a, b);
	}
}

/* The same words whether the user exists yet or not: plan = run. */
static int no_home(struct cg_error *err, const char *home, const char *user)
{
	cg_error_set(err, CG_ENOTFOUND, "home directory %s of %s does not exist",
		     home, user);
	cg_error_hint(err, "create_home: true on user: %s, or a directory: "
			   "resource",
		      user);
	return CG_ERR;
}

static int authkeys_compare(struct cg_ctx *ctx, struct cg_resource *r,
			    struct cg_error *err);

/*
 * The ledger's words: .ssh and the file as they were ("ssh=absent", or
 * "ssh=MODE:UID:GID file=absent|MODE:UID:GID"). Which keys congruent
 * adds is its own record, ledger.keys, written as it adds them.
 */
static int authkeys_diff(struct cg_ctx *ctx, struct cg_resource *r,
			 struct cg_error *err)
{
	const struct seen *s = r->observed;
	int rc = authkeys_compare(ctx, r, err);

	if (rc < 0 || r->change.action == CG_ACTION_NONE)
		return rc;
	if (!s->user_known || !s->ssh_exists)
		r->change.before = cg_xstrdup("ssh=absent");
	else if (!s->file_exists)
		r->change.before = cg_xasprintf(
			"ssh=%04o:%u:%u file=absent",
			(unsigned)(s->ssh_st.st_mode & 07777),
			(unsigned)s->ssh_st.st_uid, (unsigned)s->ssh_st.st_gid);
	else
		r->change.before = cg_xasprintf(
			"ssh=%04o:%u:%u file=%04o:%u:%u",
			(unsigned)(s->ssh_st.st_mode & 07777),
			(unsigned)s->ssh_st.st_uid, (unsigned)s->ssh_st.st_gid,
			(unsigned)(s->st.st_mode & 07777),
			(unsigned)s->st.st_uid, (unsigned)s->st.st_gid);
	return 0;
}

static int authkeys_compare(struct cg_ctx *ctx, struct cg_resource *r,
			    struct cg_error *err)
{
	const struct want *w = r->desired;
	const struct seen *s = r->observed;
	struct cg_change *c = &r->change;
	const char *home, *made;
	char id[64];
	char *text;

	if (!s->user_known) {
		snprintf(id, sizeof(id), "user:%s", r->name);
		home = account_earlier_item(ctx, r, id, "home");
		made = account_earlier_item(ctx, r, id, "create_home");
		if (!home) {
			cg_error_set(err, CG_ENOTFOUND,
				     "no user named '%s' in %s/etc/passwd",
				     r->name,
				     ctx->root->host ? "" : ctx->root->path);
			cg_error_hint(err, "declare user: %s before its keys",
				      r->name);
			return CG_ERR;
		}
		if (!made) {
			return no_home(err, home, r->name);
		}
		/* A new home: everything is new. */
		c->action = CG_ACTION_CREATE;
		cg_change_note(c, "user %s does not exist yet: %s, earlier, "
				  "creates it",
			       r->name, id);
		cg_change_add(c, ".ssh", NULL, "0700");
		free(new_content(w, NULL, 0, c));
		cg_change_add(c, "mode", NULL, "0600");
		return 0;
	}
	if (s->err) {
		*err = *s->err;
		cg_error_hint(err, "remove it by hand: the user may have put "
				   "it there");
		return CG_ERR;
	}
	if (s->home_missing) {
		return no_home(err, s->home, r->name);
	}
	if (!s->ssh_exists)
		cg_change_add(c, ".ssh", NULL, "0700");
	else
		meta_items(c, ".ssh", &s->ssh_st, 0700, s->uid, s->gid);
	text = new_content(w, s->file_exists ? s->content.data : NULL,
			   s->content.len, c);
	if (!s->file_exists) {
		c->action = CG_ACTION_CREATE;
		cg_change_add(c, "mode", NULL, "0600");
	} else {
		meta_items(c, "authorized_keys", &s->st, 0600, s->uid, s->gid);
		/* Only whitespace or order of lines may differ otherwise. */
		if (!c->n && (strlen(text) != s->content.len ||
			      memcmp(text, s->content.data, s->content.len)))
			cg_change_add(c, "content", "(as found)",
				      "(one key a line)");
		if (c->n)
			c->action = CG_ACTION_UPDATE;
	}
	free(text);
	return 0;
}

#define REC_KEYS "ledger.keys"

/* A key's short name in ledger.keys: 16 hex digits of its blob's hash. */
static void key_id(const char *blob, char out[17])
{
	unsigned char d[CG_SHA256_LEN];

	cg_sha256_buf(blob, strlen(blob), d);
	cg_hex(d, 8, out);
}

/* Is the key named id (key_id) in the space-separated list? */
static bool listed(const char *list, const char *id)
{
	size_t n = strlen(id);
	const char *p = list;

	while (p && (p = strstr(p, id))) {
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
			return true;
		p += n;
	}
	return false;
}

/*
 * Before it writes them: the policy's keys that the file lacks join
 * ledger.keys, what congruent added and revert takes away again.
 */
static int record_added(struct cg_ctx *ctx, const struct cg_resource *r,
			const struct want *w, const struct seen *s,
			struct cg_error *err)
{
	const char *old = ctx->record ? ctx->record(ctx, r, REC_KEYS) : NULL;
	struct cg_buf v = { 0 };
	const char *kv[2];
	char id[17];
	size_t i;
	bool more = false;
	int rc;

	cg_buf_addstr(&v, old ? old : "");
	for (i = 0; i < w->n; i++) {
		const char *p = s->file_exists ? s->content.data : NULL;

		/* In the file already (as any line): not ours to take. */
		if (p && strstr(p, w->keys[i].blob))
			continue;
		key_id(w->keys[i].blob, id);
		if (listed(v.data, id))
			continue;
		cg_buf_addf(&v, "%s%s", v.len ? " " : "", id);
		more = true;
	}
	rc = 0;
	if (more && ctx->record_set) {
		kv[0] = REC_KEYS;
		kv[1] = v.data;
		rc = ctx->record_set(ctx, r, kv, 1, err);
		if (rc < 0)
			cg_error_prefix(err, "not changed: the keys it adds "
					     "cannot be recorded");
	}
	cg_buf_release(&v);
	return rc;
}

static int apply_one(struct cg_ctx *ctx, struct cg_resource *r,
		     struct cg_error *err)
{
	const struct want *w = r->desired;
	struct seen *s = r->observed;
	struct cg_content c = { .fd = -1 };
	int homefd, sshfd, oldfd, rc;
	struct stat st;
	char *text = NULL;

	if (!s->user_known)
		return cg_error_set(err, CG_ENOTFOUND,
				    "no user named '%s' in %s/etc/passwd",
				    r->name,
				    ctx->root->host ? "" : ctx->root->path);
	rc = open_ssh(ctx, s, &homefd, &sshfd, &oldfd, err);
	if (rc < 0)
		goto out;
	if (sshfd < 0) {
		if (mkdirat(homefd, ".ssh", 0700) < 0) {
			rc = cg_error_sys(err, CG_ERR, "cannot create %s/.ssh",
					  s->home);
			goto out;
		}
		sshfd = openat(homefd, ".ssh",
			       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sshfd < 0) {
			rc = cg_error_sys(err, CG_ERR, "cannot open %s/.ssh",
					  s->home);
			goto out;
		}
	}
	/* Through the fd: whatever the name points at now is not followed. */
	if (fstat(sshfd, &st) < 0 ||
	    ((st.st_uid != s->uid || st.st_gid != s->gid) &&
	     fchown(sshfd, s->uid, s->gid) < 0) ||
	    ((st.st_mode & 07777) != 0700 && fchmod(sshfd, 0700) < 0)) {
		rc = cg_error_sys(err, CG_ERR, "cannot set owner and mode of "
					       "%s/.ssh",
				  s->home);
		goto out;
	}
	if (s->file_exists) {
		rc = cg_store_keep(ctx->store, sshfd, "authorized_keys",
				   s->path, NULL, err);
		if (rc < 0) {
			cg_error_prefix(err, "not changing %s: backup failed",
					s->path);
			goto out;
		}
	}
	rc = record_added(ctx, r, w, s, err);
	if (rc < 0)
		goto out;
	/* From what is there now, so that a key added meanwhile stays. */
	text = new_content(w, s->file_exists ? s->content.data : NULL,
			   s->content.len, NULL);
	c.data = text;
	c.len = strlen(text);
	rc = cg_fs_replace(sshfd, "authorized_keys", &c, 0600, s->uid, s->gid,
			   oldfd, NULL, err);
out:
	free(text);
	if (oldfd >= 0)
		close(oldfd);
	if (sshfd >= 0)
		close(sshfd);
	if (homefd >= 0)
		close(homefd);
	return rc;
}

static void authkeys_fingerprint(const struct cg_resource *r,
				 unsigned char out[16])
{
	const struct seen *s = r->observed;
	struct cg_buf b = { 0 };

	cg_buf_addf(&b, "authorized_keys\n%s\n%d %d\n", r->name, s->ssh_exists,
		    s->file_exists);
	if (s->ssh_exists)
		cg_buf_addf(&b, "%o %u %u\n", (unsigned)s->ssh_st.st_mode,
			    (unsigned)s->ssh_st.st_uid,
			    (unsigned)s->ssh_st.st_gid);
	if (s->file_exists) {
		cg_buf_addf(&b, "%o %u %u\n", (unsigned)s->st.st_mode,
			    (unsigned)s->st.st_uid, (unsigned)s->st.st_gid);
		cg_buf_add(&b, s->content.data, s->content.len);
	}
	cg_hash128(b.data, b.len, out);
	cg_buf_release(&b);
}

#define SAY(rv, ...) snprintf((rv)->what, sizeof((rv)->what), __VA_ARGS__)

/* ledger.before in authkeys_diff's words. */
struct kbefore {
	bool known, ssh_absent, file_absent;
	unsigned ssh_mode, ssh_uid, ssh_gid, mode, uid, gid;
};

static void parse_kbefore(const char *s, struct kbefore *b)
{
	memset(b, 0, sizeof(*b));
	if (!s || strcmp(s, "unknown") == 0)
		return;
	if (strcmp(s, "ssh=absent") == 0) {
		b->known = b->ssh_absent = b->file_absent = true;
		return;
	}
	if (sscanf(s, "ssh=%o:%u:%u file=%o:%u:%u", &b->ssh_mode, &b->ssh_uid,
		   &b->ssh_gid, &b->mode, &b->uid, &b->gid) == 6) {
		b->known = true;
		return;
	}
	if (sscanf(s, "ssh=%o:%u:%u file=absent", &b->ssh_mode, &b->ssh_uid,
		   &b->ssh_gid) == 3)
		b->known = b->file_absent = true;
}

/* The content without the lines of keys listed in added; *gone counts. */
static char *without(const char *data, size_t len, const char *added,
		     size_t *gone, bool *empty)
{
	struct cg_buf out = { 0 };
	const char *p = data, *end = data + len, *nl;

	*gone = 0;
	*empty = true;
	while (p && p < end) {
		struct key k;
		const char *why;
		char *text, id[17];
		bool drop = false;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		text = cg_xstrndup(p, (size_t)(nl - p));
		p = nl + 1;
		if (parse_key(text, &k, &why)) {
			key_id(k.blob, id);
			drop = added && listed(added, id);
			key_release(&k);
		}
		if (drop) {
			(*gone)++;
		} else {
			cg_buf_addf(&out, "%s\n", text);
			if (text[strspn(text, " \t\r")])
				*empty = false;
		}
		free(text);
	}
	cg_buf_addstr(&out, "");
	return cg_buf_detach(&out, NULL);
}

/* Is .ssh (sshfd) empty but for authorized_keys? */
static bool ssh_empty_but_keys(int sshfd)
{
	int fd = dup(sshfd);
	struct dirent *de;
	bool empty = true;
	DIR *d;

	if (fd < 0)
		return false;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return false;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, "authorized_keys"))
			empty = false;
	closedir(d);
	return empty;
}

/*
 * orphans: revert: the keys congruent added (ledger.keys) leave the file,
 * every other line stays; the file and .ssh go when congruent created
 * them and nothing else is left in them; mode and owner as before.
 */
static int authkeys_revert(struct cg_ctx *ctx, struct cg_revert *const *v,
			   size_t n, bool apply, struct cg_error *err)
{
	const struct account_db *db;
	size_t i;

	(void)err;
	for (i = 0; i < n; i++) {
		struct cg_revert *rv = v[i];
		const struct account_user *u;
		struct seen s;
		struct kbefore b;
		struct cg_error e;
		struct cg_content c = { .fd = -1 };
		const char *added;
		char *text = NULL;
		size_t gone = 0;
		bool empty = true, rm_file = false, rm_ssh = false, meta;
		int homefd = -1, sshfd = -1, oldfd = -1, rc;

		memset(&s, 0, sizeof(s));
		cg_error_clear(&e);
		parse_kbefore(rv->before, &b);
		if (!b.known) {
			rv->verdict = CG_REVERT_KEEP;
			SAY(rv, "keep: what was there before congruent is "
				"unknown; release it with congruent forget %s",
			    rv->id);
			continue;
		}
		if (account_db_get(ctx->root, &db, &e) < 0)
			goto fail;
		u = account_user(db, rv->name);
		if (!u) {
			rv->verdict = CG_REVERT_KEEP;
			SAY(rv, "keep: user %s is gone; its keys went with "
				"its home, or stay there",
			    rv->name);
			continue;
		}
		s.user_known = true;
		s.uid = u->uid;
		s.gid = u->gid;
		s.home = cg_xstrdup(u->home);
		s.path = cg_xasprintf("%s/.ssh/authorized_keys",
				      strcmp(u->home, "/") == 0 ? "" : u->home);
		rc = open_ssh(ctx, &s, &homefd, &sshfd, &oldfd, &e);
		if (rc == CG_ENOTFOUND) {
			rv->verdict = CG_REVERT_FORGET;
			SAY(rv, "nothing to revert: the home of %s is gone",
			    rv->name);
			goto next;
		}
		if (rc < 0)
			goto fail;
		added = ctx->ledger ? ctx->ledger(ctx, rv->id, REC_KEYS) : NULL;
		if (s.file_exists)
			text = without(s.content.data, s.content.len, added,
				       &gone, &empty);
		rm_file = s.file_exists && b.file_absent && empty;
		rm_ssh = b.ssh_absent && sshfd >= 0 &&
			 (rm_file || !s.file_exists) &&
			 ssh_empty_but_keys(sshfd);
		meta = s.file_exists && !b.file_absent && !rm_file &&
		       ((s.st.st_mode & 07777) != b.mode ||
			s.st.st_uid != b.uid || s.st.st_gid != b.gid);
		if (!gone && !rm_file && !rm_ssh && !meta) {
			rv->verdict = CG_REVERT_FORGET;
			SAY(rv, "nothing to revert: no key congruent added is "
				"left%s",
			    s.file_exists && b.file_absent
				    ? " (the file holds keys it did not add: "
				      "it stays)"
				    : "");
			goto next;
		}
		rv->verdict = CG_REVERT_CHANGE;
		rv->removes = rm_file;
		SAY(rv, "remove the %zu key%s congruent added%s%s%s", gone,
		    gone == 1 ? "" : "s",
		    rm_file ? ", and the file it created" : "",
		    rm_ssh ? ", and the .ssh it created" : "",
		    meta ? "; put back the file's mode and owner" : "");
		if (!apply)
			goto next;
		/* Never lose data: the file as it is goes to the backups. */
		if (s.file_exists &&
		    cg_store_keep(ctx->store, sshfd, "authorized_keys", s.path,
				  NULL, &e) < 0)
			goto fail;
		if (rm_file) {
			if (unlinkat(sshfd, "authorized_keys", 0) < 0) {
				cg_error_sys(&e, CG_ERR, "cannot remove %s",
					     s.path);
				goto fail;
			}
		} else if (s.file_exists) {
			c.data = text;
			c.len = strlen(text);
			if (cg_fs_replace(sshfd, "authorized_keys", &c,
					  b.file_absent ? s.st.st_mode & 07777
							: b.mode,
					  b.file_absent ? s.st.st_uid : b.uid,
					  b.file_absent ? s.st.st_gid : b.gid,
					  oldfd, NULL, &e) < 0)
				goto fail;
		}
		if (cg_fs_sync_dir(sshfd, s.path, &e) < 0)
			goto fail;
		if (rm_ssh) {
			if (unlinkat(homefd, ".ssh", AT_REMOVEDIR) < 0) {
				cg_error_sys(&e, CG_ERR, "cannot remove %s/.ssh",
					     s.home);
				goto fail;
			}
			if (cg_fs_sync_dir(homefd, s.home, &e) < 0)
				goto fail;
		}
		goto next;
fail:
		if (rv->verdict == CG_REVERT_KEEP) {
			rv->verdict = CG_REVERT_CHANGE;
			SAY(rv, "cannot look at its keys");
		}
		rv->failed = true;
		rv->err = e;
next:
		free(text);
		free(s.home);
		free(s.path);
		cg_buf_release(&s.content);
		if (oldfd >= 0)
			close(oldfd);
		if (sshfd >= 0)
			close(sshfd);
		if (homefd >= 0)
			close(homefd);
	}
	return 0;
}

/* HOME/.ssh and the file in it, for a user the account database has. */
static void authkeys_paths(struct cg_ctx *ctx, const struct cg_resource *r,
			   void (*add)(void *arg, const char *path), void *arg)
{
	const struct account_db *db;
	const struct account_user *u;
	char *dir;

	if (account_db_get(ctx->root, &db, NULL) < 0 ||
	    !(u = account_user(db, r->name)) || !(dir = ssh_dir(u->home)))
		return;
	add(arg, dir);
	free(dir);
	dir = cg_xasprintf("%s/.ssh/authorized_keys",
			   strcmp(u->home, "/") == 0 ? "" : u->home);
	add(arg, dir);
	free(dir);
}

const struct cg_module cg_module_authorized_keys = {
	.type = "authorized_keys",
	.keys = authkeys_keys,
	.parse = authkeys_parse,
	.observe = authkeys_observe,
	.diff = authkeys_diff,
	.revert = authkeys_revert,
	.paths = authkeys_paths,
	.apply_one = apply_one,
	.release = authkeys_release,
	.forget = authkeys_forget,
	.fingerprint = authkeys_fingerprint,
	.observe_window = 64,
	.caps = { CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH,
		  CAP_FOWNER },
	.ncaps = 4,
};
