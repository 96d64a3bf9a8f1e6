/* fsmeta.c: mode, owner and group of files, directories and symlinks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cg/util.h"
#include "fsmeta.h"

void fsmeta_mode_str(mode_t mode, char buf[8])
{
	snprintf(buf, 8, "%04o", (unsigned)(mode & 07777));
}

int fsmeta_parse_mode(const struct cg_node *n, const char *key, mode_t *out,
		      struct cg_error *err)
{
	const char *s;
	size_t len, i;
	unsigned v = 0;

	if (cg_node_string(n, key, &s, err) < 0)
		return CG_ERR;
	len = strlen(s);
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '7')
			break;
		v = v * 8 + (unsigned)(s[i] - '0');
	}
	if (i != len || len < 3 || len > 4 || v > 07777) {
		cg_error_set(err, CG_ERR,
			     "'%s' must be 3 or 4 octal digits like \"0644\", "
			     "not \"%s\"",
			     key, s);
		cg_error_where(err, "%s:%u", n->doc->name, n->line);
		cg_error_hint(err, "write it quoted, e.g. %s: \"0640\"", key);
		return CG_ERR;
	}
	*out = (mode_t)v;
	return 0;
}

static int parse_id(const struct cg_node *item, const char *key,
		    const char **out, struct cg_error *err)
{
	const struct cg_node *n = cg_map_get(item, key);
	const char *s;

	*out = NULL;
	if (!n)
		return 0;
	if (cg_node_string(n, key, &s, err) < 0)
		return CG_ERR;
	if (!s[0] || strchr(s, ':') || strchr(s, '\n')) {
		cg_error_set(err, CG_ERR, "'%s' must be a %s name or number, "
					  "not \"%s\"",
			     key, strcmp(key, "owner") == 0 ? "user" : "group",
			     s);
		cg_error_where(err, "%s:%u", n->doc->name, n->line);
		return CG_ERR;
	}
	*out = s;
	return 0;
}

int fsmeta_parse(struct fsmeta *m, const struct cg_node *item, bool allow_mode,
		 struct cg_error *err)
{
	const struct cg_node *n;
	const char *s;

	memset(m, 0, sizeof(*m));
	n = cg_map_get(item, "mode");
	if (n && allow_mode) {
		if (fsmeta_parse_mode(n, "mode", &m->mode, err) < 0)
			return CG_ERR;
		m->has_mode = true;
	}
	if (parse_id(item, "owner", &m->owner, err) < 0 ||
	    parse_id(item, "group", &m->group, err) < 0)
		return CG_ERR;
	if (m->owner)
		m->owner = cg_intern(m->owner);
	if (m->group)
		m->group = cg_intern(m->group);
	n = cg_map_get(item, "state");
	if (n) {
		if (cg_node_string(n, "state", &s, err) < 0)
			return CG_ERR;
		if (strcmp(s, "absent") == 0) {
			m->absent = true;
		} else if (strcmp(s, "present") != 0) {
			cg_error_set(err, CG_ERR,
				     "'state' must be present or absent, not "
				     "\"%s\"",
				     s);
			cg_error_where(err, "%s:%u", n->doc->name, n->line);
			return CG_ERR;
		}
	}
	return 0;
}

void fsmeta_release(struct fsmeta *m)
{
	memset(m, 0, sizeof(*m));
}

int fsmeta_resolve(const struct fsmeta *m, struct cg_root *root,
		   struct fsmeta_ids *ids, struct cg_error *err)
{
	memset(ids, 0, sizeof(*ids));
	if (m->owner) {
		if (cg_root_uid(root, m->owner, &ids->uid, err) < 0)
			return CG_ERR;
		ids->has_uid = true;
	}
	if (m->group) {
		if (cg_root_gid(root, m->group, &ids->gid, err) < 0)
			return CG_ERR;
		ids->has_gid = true;
	}
	return 0;
}

bool fsmeta_observe(const struct fsmeta *m, struct cg_root *root,
		    struct fsmeta_ids *ids, struct fsmeta_why **why_out)
{
	struct fsmeta_why why;

	memset(ids, 0, sizeof(*ids));
	memset(&why, 0, sizeof(why));
	*why_out = NULL;
	if (m->owner) {
		if (cg_root_uid(root, m->owner, &ids->uid, &why.owner) < 0)
			why.owner_unknown = true;
		else
			ids->has_uid = true;
	}
	if (m->group) {
		if (cg_root_gid(root, m->group, &ids->gid, &why.group) < 0)
			why.group_unknown = true;
		else
			ids->has_gid = true;
	}
	if (!why.owner_unknown && !why.group_unknown)
		return true;
	*why_out = cg_xmalloc(sizeof(why));
	**why_out = why;
	return false;
}

void fsmeta_why_free(struct fsmeta_why *why)
{
	free(why);
}

void fsmeta_note(struct cg_change *c, const char *text)
{
	char *old;

	if (!c->note) {
		cg_change_note(c, "%s", text);
		return;
	}
	old = cg_xstrdup(c->note);
	cg_change_note(c, "%s; %s", old, text);
	free(old);
}

/* Is name (of kind "user" or "group") made before r? Then note it. */
static bool made_earlier(const struct cg_ctx *ctx, const struct cg_resource *r,
			 const char *kind, const char *key, const char *name,
			 struct cg_change *c)
{
	char id[512], note[768];
	const char *by = NULL;
	bool maybe = false;

	if (ctx && ctx->made_before) {
		snprintf(id, sizeof(id), "%s:%s", kind, name);
		by = ctx->made_before(ctx, r, id);
		if (!by && strcmp(kind, "group") == 0) {
			/* useradd makes a group named like the user. */
			snprintf(id, sizeof(id), "user:%s", name);
			by = ctx->made_before(ctx, r, id);
			maybe = by != NULL;
		}
		if (!by) {
			by = ctx->made_before(ctx, r, "package:");
			maybe = by != NULL;
		}
	}
	if (!by)
		return false;
	snprintf(note, sizeof(note), "%s %s does not exist yet: %s, earlier, %s",
		 key, name, by, maybe ? "may create it" : "creates it");
	fsmeta_note(c, note);
	return true;
}

static int fail_as(const struct cg_error *why, const char *prefix,
		   struct cg_error *err)
{
	if (err) {
		*err = *why;
		if (prefix)
			cg_error_prefix(err, "%s", prefix);
	}
	return CG_ERR;
}

int fsmeta_check(const struct fsmeta *m, const struct fsmeta_why *why,
		 const struct cg_ctx *ctx, const struct cg_resource *r,
		 const char *prefix, struct cg_change *c,
		 struct cg_error *err)
{
	if (!why)
		return 0;
	if (why->owner_unknown &&
	    !made_earlier(ctx, r, "user", "owner", m->owner, c))
		return fail_as(&why->owner, prefix, err);
	if (why->group_unknown &&
	    !made_earlier(ctx, r, "group", "group", m->group, c))
		return fail_as(&why->group, prefix, err);
	return 0;
}

struct cg_error *fsmeta_parent_missing(const char *path, const char *hint)
{
	struct cg_error *e = cg_xmalloc(sizeof(*e));
	const char *slash = strrchr(path, '/');

	cg_error_set(e, CG_ENOTFOUND, "directory %.*s does not exist",
		     slash ? (int)(slash - path) : 0, path);
	cg_error_hint(e, "%s", hint);
	return e;
}

/* A user earlier in the order whose home dir is made (create_home). */
static const char *home_made_before(const struct cg_ctx *ctx,
				    const struct cg_resource *r,
				    const char *dir)
{
	const struct cg_resource *d;
	size_t i;
	uint32_t j;

	if (!ctx->earlier)
		return NULL;
	for (i = 0; (d = ctx->earlier(ctx, r, i)); i++) {
		if (strncmp(d->id, "user:", 5) != 0 ||
		    (d->status != CG_STATUS_REPAIRED &&
		     d->status != CG_STATUS_DRIFTED))
			continue;
		for (j = 0; j < d->change.n; j++)
			if (strcmp(d->change.items[j].field, "create_home") ==
				    0 &&
			    d->change.items[j].to &&
			    strcmp(d->change.items[j].to, dir) == 0)
				return d->id;
	}
	return NULL;
}

int fsmeta_check_parent(const struct cg_error *parent_err,
			const struct cg_ctx *ctx, const struct cg_resource *r,
			struct cg_change *c, struct cg_error *err)
{
	const char *slash = strrchr(r->name, '/'), *by = NULL;
	char id[4096 + 16], note[4096 + 64];

	if (!parent_err)
		return 0;
	if (ctx && ctx->made_before && slash && slash > r->name) {
		/* Any directory at or below the parent makes the parent. */
		snprintf(id, sizeof(id), "directory:%.*s",
			 (int)(slash - r->name), r->name);
		by = ctx->made_before(ctx, r, id);
		if (!by)
			by = home_made_before(ctx, r, id + 10);
		if (!by)
			by = ctx->made_before(ctx, r, "package:");
	}
	if (!by)
		return fail_as(parent_err, NULL, err);
	snprintf(note, sizeof(note),
		 "its directory does not exist yet: %s, earlier, %s", by,
		 strncmp(by, "package:", 8) == 0 ? "may create it"
						 : "creates it");
	fsmeta_note(c, note);
	return 0;
}

bool fsmeta_differs(const struct fsmeta *m, const struct fsmeta_ids *ids,
		    const struct stat *st)
{
	if (m->has_mode && (st->st_mode & 07777) != m->mode)
		return true;
	if (m->owner && (!ids || !ids->has_uid || ids->uid != st->st_uid))
		return true;
	if (m->group && (!ids || !ids->has_gid || ids->gid != st->st_gid))
		return true;
	return false;
}

void fsmeta_diff(const struct fsmeta *m, const struct fsmeta_ids *ids,
		 const struct stat *st, struct cg_root *root,
		 struct cg_change *c)
{
	char a[64], b[64];

	if (m->has_mode && (st->st_mode & 07777) != m->mode) {
		fsmeta_mode_str(st->st_mode, a);
		fsmeta_mode_str(m->mode, b);
		cg_change_add(c, "mode", a, b);
	}
	if (m->owner && (!ids || !ids->has_uid || ids->uid != st->st_uid)) {
		cg_root_user_name(root, st->st_uid, a, sizeof(a));
		cg_change_add(c, "owner", a, m->owner);
	}
	if (m->group && (!ids || !ids->has_gid || ids->gid != st->st_gid)) {
		cg_root_group_name(root, st->st_gid, a, sizeof(a));
		cg_change_add(c, "group", a, m->group);
	}
	(void)b;
}

void fsmeta_diff_new(const struct fsmeta *m, mode_t default_mode,
		     struct cg_change *c)
{
	char b[8];

	fsmeta_mode_str(m->has_mode ? m->mode : default_mode, b);
	cg_change_add(c, "mode", NULL, b);
	if (m->owner)
		cg_change_add(c, "owner", NULL, m->owner);
	if (m->group)
		cg_change_add(c, "group", NULL, m->group);
}

int fsmeta_apply_fd(const struct fsmeta *m, const struct fsmeta_ids *ids,
		    int fd, const struct stat *st, struct cg_error *err)
{
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;

	if (ids->has_uid && ids->uid != st->st_uid)
		uid = ids->uid;
	if (ids->has_gid && ids->gid != st->st_gid)
		gid = ids->gid;
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) < 0)
		return cg_error_sys(err, CG_ERR, "cannot change owner");
	/*
	 * chown may have cleared setuid/setgid bits, so set the mode after
	 * it, and whenever the owner changed.
	 */
	if (m->has_mode &&
	    ((st->st_mode & 07777) != m->mode || uid != (uid_t)-1 ||
	     gid != (gid_t)-1) &&
	    fchmod(fd, m->mode) < 0)
		return cg_error_sys(err, CG_ERR, "cannot change mode");
	return 0;
}

char *fsmeta_before(const char *kind, mode_t mode, uid_t uid, gid_t gid,
		    const char *extra)
{
	char m[8];

	if (!kind)
		return cg_xstrdup("absent");
	fsmeta_mode_str(mode & 07777, m);
	return cg_xasprintf("%s mode=%s uid=%u gid=%u%s%s", kind, m,
			    (unsigned)uid, (unsigned)gid, extra ? " " : "",
			    extra ? extra : "");
}
