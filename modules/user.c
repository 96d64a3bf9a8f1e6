/* user.c: the user resource: a local account, through the shadow tools. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg/module.h"
#include "cg/util.h"
#include "account.h"

#define SECRET "(secret)"

struct want {
	bool absent, remove_home, system, create_home, groups_exclusive;
	bool has_uid, has_groups, has_home;
	unsigned uid;
	char *group;    /* owned, or NULL: useradd's default */
	char **groups;  /* owned, NULL-terminated: supplementary */
	char *home;     /* owned: given, or /home/NAME */
	char *shell;    /* owned, or NULL: keep */
	char *comment;  /* owned, or NULL: keep */
	char *password; /* owned, or NULL: keep; a crypt hash */
};

/* What diff needs to know of a name of a group in the root. */
struct gref {
	bool known;
	unsigned gid;
	char name[33]; /* when known: its name, for the tools */
};

struct seen {
	bool exists;
	bool home_exists;
	unsigned home_uid; /* the owner of the home directory */
	long busy_pid;     /* a process of the user (host only), or 0 */
	unsigned uid, gid;
	char *gecos, *home, *shell, *hash; /* owned */
	char *gid_name;     /* owned: the name of gid, or its number */
	char **member_of;   /* owned, NULL-terminated: supplementary groups */
	char *uid_owner;    /* owned: another user with the wanted uid */
	struct gref group;  /* the wanted primary group */
	struct gref own;    /* a group named like the user */
	struct gref *groups; /* owned: per wanted supplementary group */
};

static const char *const user_keys[] = {
	"uid", "group", "groups", "groups_exclusive", "home", "create_home",
	"shell", "comment", "system", "password", "state", "remove_home",
	NULL,
};

static int bad(struct cg_error *err, const struct cg_node *n, const char *hint,
	       const char *fmt, const char *arg)
{
	cg_error_set(err, CG_ERR, fmt, arg);
	cg_error_where(err, "%s:%u", n->doc->name, n->line);
	if (hint)
		cg_error_hint(err, "%s", hint);
	return CG_ERR;
}

/* A field of passwd: no ':' and no newline. */
static int get_field(const struct cg_node *item, const char *key, bool path,
		     char **out, struct cg_error *err)
{
	const struct cg_node *n = cg_map_get(item, key);
	const char *s;

	if (!n)
		return 0;
	if (cg_node_string(n, key, &s, err) < 0)
		return CG_ERR;
	if (strchr(s, ':') || strchr(s, '\n'))
		return bad(err, n, NULL, "'%s' may not hold ':' or a newline",
			   key);
	if (path && s[0] != '/')
		return bad(err, n, NULL, "'%s' must be an absolute path", key);
	*out = cg_xstrdup(s);
	return 0;
}

/*
 * A crypt(3) hash as shadow holds it: "$id$...", optionally locked with
 * leading '!', or "!" / "*" alone. Anything else is most likely a clear
 * text password, which must never be stored.
 */
static bool hash_ok(const char *s)
{
	const char *p;

	while (*s == '!')
		s++;
	if (!*s || strcmp(s, "*") == 0)
		return true;
	if (s[0] != '$' || strlen(s) < 8)
		return false;
	for (p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("$./=,+-", *p)))
			return false;
	return true;
}

static bool is_number(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return i > 0 && i <= 10;
}

static int get_bool(const struct cg_node *item, const char *key, bool *out,
		    struct cg_error *err)
{
	const struct cg_node *n = cg_map_get(item, key);

	return n ? cg_node_bool(n, key, out, err) : 0;
}

static int user_parse(struct cg_resource *r, const struct cg_node *item,
		      const struct cg_node *value, const struct cg_parse_ctx *pc,
		      struct cg_error *err)
{
	const struct cg_node *n;
	const char *name, *s, **v = NULL;
	unsigned long uid;
	size_t count, i;
	struct want *w;
	char id[64];

	(void)pc;
	if (cg_node_string(value, "user", &name, err) < 0)
		return CG_ERR;
	if (!account_name_ok(name))
		return bad(err, value,
			   "lower-case letters, digits, '_', '-' and '.', "
			   "starting with a letter or '_', at most 32",
			   "invalid user name \"%s\"", name);
	cg_resource_set_id(r, "user", name);
	w = cg_xcalloc(1, sizeof(*w));
	r->desired = w;
	n = cg_map_get(item, "state");
	if (n) {
		if (cg_node_string(n, "state", &s, err) < 0)
			return CG_ERR;
		if (strcmp(s, "absent") == 0)
			w->absent = true;
		else if (strcmp(s, "present") != 0)
			return bad(err, n, NULL,
				   "'state' must be present or absent, not "
				   "\"%s\"",
				   s);
	}
	if (get_bool(item, "remove_home", &w->remove_home, err) < 0)
		return CG_ERR;
	if (w->absent) {
		for (i = 0; user_keys[i]; i++)
			if (strcmp(user_keys[i], "state") != 0 &&
			    strcmp(user_keys[i], "remove_home") != 0 &&
			    cg_map_get(item, user_keys[i]))
				return bad(err, cg_map_get(item, user_keys[i]),
					   "state: absent takes remove_home: "
					   "only",
					   "'%s' makes no sense with state: "
					   "absent",
					   user_keys[i]);
		return 0;
	}
	if ((n = cg_map_get(item, "remove_home")))
		return bad(err, n, NULL, "'%s' goes with state: absent only",
			   "remove_home");
	n = cg_map_get(item, "uid");
	if (n) {
		if (cg_node_uint(n, "uid", 4294967294ul, &uid, err) < 0)
			return CG_ERR;
		w->uid = (unsigned)uid;
		w->has_uid = true;
	}
	if (get_bool(item, "system", &w->system, err) < 0)
		return CG_ERR;
	w->create_home = !w->system;
	if (get_bool(item, "create_home", &w->create_home, err) < 0 ||
	    get_bool(item, "groups_exclusive", &w->groups_exclusive, err) < 0)
		return CG_ERR;
	n = cg_map_get(item, "group");
	if (n) {
		if (cg_node_string(n, "group", &s, err) < 0)
			return CG_ERR;
		if (!account_name_ok(s) && !is_number(s))
			return bad(err, n, NULL,
				   "'group' must be a group name or number, not "
				   "\"%s\"",
				   s);
		w->group = cg_xstrdup(s);
		snprintf(id, sizeof(id), "group:%s", s);
		cg_resource_order_after_if(r, id);
	}
	if (!w->group) {
		/* A group: of its own name is joined: it must come first. */
		snprintf(id, sizeof(id), "group:%s", name);
		cg_resource_order_after_if(r, id);
	}
	n = cg_map_get(item, "groups");
	w->groups = cg_xcalloc(1, sizeof(*w->groups));
	if (n) {
		if (cg_node_strlist(n, "groups", &v, &count, err) < 0)
			return CG_ERR;
		w->has_groups = true;
		w->groups = cg_xrealloc(w->groups,
					(count + 1) * sizeof(*w->groups));
		for (i = 0; i < count; i++) {
			w->groups[i] = NULL;
			if (!account_name_ok(v[i])) {
				bad(err, n->kind == CG_NODE_SEQ ? n->items[i] : n,
				    "list groups by name: membership is by name "
				    "in /etc/group",
				    "invalid group name \"%s\"", v[i]);
				free(v);
				return CG_ERR;
			}
			w->groups[i] = cg_xstrdup(v[i]);
			snprintf(id, sizeof(id), "group:%s", v[i]);
			cg_resource_order_after_if(r, id);
		}
		w->groups[count] = NULL;
		free(v);
	} else if ((n = cg_map_get(item, "groups_exclusive"))) {
		return bad(err, n, "add groups: [...] (an empty list for none)",
			   "'%s' needs groups:", "groups_exclusive");
	}
	if (get_field(item, "home", true, &w->home, err) < 0 ||
	    get_field(item, "shell", true, &w->shell, err) < 0 ||
	    get_field(item, "comment", false, &w->comment, err) < 0 ||
	    get_field(item, "password", false, &w->password, err) < 0)
		return CG_ERR;
	w->has_home = w->home != NULL;
	if (!w->home)
		w->home = cg_xasprintf("/home/%s", name);
	if (w->password && !hash_ok(w->password))
		/* Never echo it: it may be a clear text password. */
		return bad(err, cg_map_get(item, "password"),
			   "give a crypt(3) hash, such as from "
			   "'mkpasswd -m yescrypt' or 'openssl passwd -6'",
			   "'password' is not a crypt hash%s", "");
	return 0;
}

static void free_strv(char **v)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

static void free_seen(struct seen *s)
{
	if (!s)
		return;
	free(s->gecos);
	free(s->home);
	free(s->shell);
	if (s->hash)
		memset(s->hash, 0, strlen(s->hash));
	free(s->hash);
	free(s->gid_name);
	free_strv(s->member_of);
	free(s->uid_owner);
	free(s->groups);
	free(s);
}

static void user_forget(struct cg_resource *r)
{
	free_seen(r->observed);
	r->observed = NULL;
}

static void user_release(struct cg_resource *r)
{
	struct want *w = r->desired;

	if (w) {
		free(w->group);
		free_strv(w->groups);
		free(w->home);
		free(w->shell);
		free(w->comment);
		if (w->password)
			memset(w->password, 0, strlen(w->password));
		free(w->password);
		free(w);
	}
	user_forget(r);
	r->desired = NULL;
}

static void gref_of(const struct account_db *db, const char *name,
		    struct gref *out)
{
	const struct account_group *g = account_group(db, name);

	memset(out, 0, sizeof(*out));
	/* A number names a group only if one has it: else the tools fail. */
	if (!g && is_number(name))
		g = account_group_by_gid(db, (unsigned)strtoul(name, NULL, 10));
	if (g && strlen(g->name) < sizeof(out->name)) {
		out->known = true;
		out->gid = g->gid;
		snprintf(out->name, sizeof(out->name), "%s", g->name);
	}
}

/*
 * A process running as uid, or 0: on the host, userdel and usermod -u
 * refuse to change a user that has one (under --prefix they do not look).
 */
static long busy_pid(unsigned uid)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	long found = 0;

	if (!d)
		return 0;
	while (!found && (de = readdir(d))) {
		char path[300], line[256];
		unsigned real, eff;
		FILE *f;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/status", de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "Uid: %u %u", &real, &eff) == 2) {
				if (real == uid || eff == uid)
					found = strtol(de->d_name, NULL, 10);
				break;
			}
		fclose(f);
	}
	closedir(d);
	return found;
}

static void observe_one(struct cg_ctx *ctx, const struct account_db *db,
			struct cg_resource *r)
{
	const struct want *w = r->desired;
	const struct account_user *u = account_user(db, r->name), *o;
	const struct account_group *g;
	struct seen *s = cg_xcalloc(1, sizeof(*s));
	size_t i, n = 0, cap = 0;

	free_seen(r->observed);
	r->observed = s;
	if (u) {
		s->exists = true;
		s->uid = u->uid;
		s->gid = u->gid;
		s->gecos = cg_xstrdup(u->gecos);
		s->home = cg_xstrdup(u->home);
		s->shell = cg_xstrdup(u->shell);
		s->hash = u->hash ? cg_xstrdup(u->hash) : NULL;
		g = account_group_by_gid(db, u->gid);
		s->gid_name = g ? cg_xstrdup(g->name)
				: cg_xasprintf("%u", u->gid);
	}
	cg_grow(&s->member_of, &cap, 1, sizeof(*s->member_of));
	for (i = 0; i < db->ngroups; i++) {
		if (!account_group_has(&db->groups[i], r->name))
			continue;
		cg_grow(&s->member_of, &cap, n + 2, sizeof(*s->member_of));
		s->member_of[n++] = cg_xstrdup(db->groups[i].name);
	}
	s->member_of[n] = NULL;
	if (w->has_uid) {
		o = account_user_by_uid(db, w->uid);
		if (o && strcmp(o->name, r->name) != 0)
			s->uid_owner = cg_xstrdup(o->name);
	}
	if (u && ctx->root->host &&
	    (w->absent || (w->has_uid && w->uid != u->uid)))
		s->busy_pid = busy_pid(u->uid);
	if (w->group)
		gref_of(db, w->group, &s->group);
	gref_of(db, r->name, &s->own);
	for (n = 0; w->groups && w->groups[n]; n++)
		;
	s->groups = cg_xcalloc(n + 1, sizeof(*s->groups));
	for (i = 0; i < n; i++)
		gref_of(db, w->groups[i], &s->groups[i]);
	/* Only whether it is there: userdel -r fails on a missing home. */
	if (u && u->home[0] == '/') {
		const char *base;
		struct stat st;
		int dirfd;

		if (cg_root_open_parent(ctx->root, u->home, 0, &dirfd, &base,
					NULL, NULL) == 0) {
			s->home_exists = fstatat(dirfd, base, &st,
						 AT_SYMLINK_NOFOLLOW) == 0 &&
					 S_ISDIR(st.st_mode);
			s->home_uid = (unsigned)st.st_uid;
			close(dirfd);
		}
	}
}

static int user_observe(struct cg_ctx *ctx, struct cg_resource **res, size_t n,
			struct cg_error *err)
{
	const struct account_db *db;
	size_t i;

	/* One read of the account files for all users. */
	if (account_db_get(ctx->root, &db, err) < 0)
		return CG_ERR;
	for (i = 0; i < n; i++)
		observe_one(ctx, db, res[i]);
	return 0;
}

static bool in_list(char *const *v, const char *s)
{
	size_t i;

	for (i = 0; v && v[i]; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* A group name the root lacks: an error unless a resource makes it. */
static int check_group(const struct cg_ctx *ctx, const struct cg_resource *r,
		       const char *name, const struct gref *g,
		       struct cg_error *err)
{
	char id[64];
	const char *by = NULL;

	if (g->known)
		return 0;
	snprintf(id, sizeof(id), "group:%s", name);
	if (ctx && ctx->made_before)
		by = ctx->made_before(ctx, r, id);
	if (by)
		return 0;
	if (is_number(name)) {
		cg_error_set(err, CG_ENOTFOUND,
			     "no group with gid %s in %s/etc/group", name,
			     ctx->root->host ? "" : ctx->root->path);
		cg_error_hint(err, "name the group instead when a group: "
				   "resource makes it (gid: %s)",
			      name);
		return CG_ERR;
	}
	cg_error_set(err, CG_ENOTFOUND, "no group named '%s' in %s/etc/group",
		     name, ctx->root->host ? "" : ctx->root->path);
	cg_error_hint(err, "declare group: %s before the user", name);
	return CG_ERR;
}

/* "a,b,c" of a NULL-terminated list, into b (reset first). */
static const char *joined(struct cg_buf *b, char *const *v)
{
	size_t i;

	cg_buf_reset(b);
	cg_buf_addstr(b, "");
	for (i = 0; v && v[i]; i++)
		cg_buf_addf(b, "%s%s", i ? "," : "", v[i]);
	return b->data;
}

/* The supplementary groups the user will have: wanted, plus kept ones. */
static char **groups_after(const struct want *w, const struct seen *s)
{
	char **v = NULL;
	size_t n = 0, cap = 0, i;

	cg_grow(&v, &cap, 1, sizeof(*v));
	v[0] = NULL;
	if (!w->groups_exclusive)
		for (i = 0; s->member_of[i]; i++) {
			cg_grow(&v, &cap, n + 2, sizeof(*v));
			v[n++] = cg_xstrdup(s->member_of[i]);
			v[n] = NULL;
		}
	for (i = 0; w->groups[i]; i++) {
		if (in_list(v, w->groups[i]))
			continue;
		cg_grow(&v, &cap, n + 2, sizeof(*v));
		v[n++] = cg_xstrdup(w->groups[i]);
		v[n] = NULL;
	}
	return v;
}

static bool same_set(char *const *a, char *const *b)
{
	size_t i;

	for (i = 0; a[i]; i++)
		if (!in_list(b, a[i]))
			return false;
	for (i = 0; b[i]; i++)
		if (!in_list(a, b[i]))
			return false;
	return true;
}

/*
 * The ledger's words: "absent" (with " own_group=GID" when a group named
 * like the user was there already: userdel may take it, revert puts it
 * back), or the account's uid, primary gid, supplementary groups
 * ("-": none), shell, home and, last as it may hold blanks, comment.
 */
static char *user_before(const struct seen *s, struct cg_buf *b)
{
	if (!s->exists)
		return s->own.known ? cg_xasprintf("absent own_group=%u",
						   s->own.gid)
				    : cg_xstrdup("absent");
	joined(b, s->member_of);
	return cg_xasprintf("user uid=%u gid=%u groups=%s shell=%s home=%s "
			    "comment=%s",
			    s->uid, s->gid, b->data[0] ? b->data : "-",
			    s->shell, s->home, s->gecos);
}

static int user_diff(struct cg_ctx *ctx, struct cg_resource *r,
		     struct cg_error *err)
{
	const struct want *w = r->desired;
	const struct seen *s = r->observed;
	struct cg_change *c = &r->change;
	struct cg_buf b1 = { 0 }, b2 = { 0 };
	char a[16], b[16];
	size_t i;
	char **after;

	if (s->busy_pid) {
		cg_error_set(err, CG_ERR,
			     "user %s is used by process %ld; %s would refuse",
			     r->name, s->busy_pid,
			     w->absent ? "userdel" : "usermod -u");
		cg_error_hint(err, "stop the user's processes first");
		return CG_ERR;
	}
	if (w->absent) {
		if (!s->exists)
			return 0;
		if (w->remove_home && s->home_exists &&
		    s->home_uid != s->uid) {
			/* userdel -r would remove the account, not the home. */
			cg_error_set(err, CG_ERR,
				     "home directory %s is not owned by %s; "
				     "userdel -r would not remove it",
				     s->home, r->name);
			cg_error_hint(err, "remove it by hand, or drop "
					   "remove_home: to keep it");
			return CG_ERR;
		}
		c->action = CG_ACTION_DELETE;
		snprintf(a, sizeof(a), "%u", s->uid);
		cg_change_add(c, "uid", a, NULL);
		if (w->remove_home && s->home_exists)
			cg_change_add(c, "home", s->home, NULL);
		return 0;
	}
	if (w->has_uid && s->uid_owner && (!s->exists || s->uid != w->uid) &&
	    !account_gives_up(ctx, r, "user", s->uid_owner, "uid")) {
		cg_error_set(err, CG_ERR, "uid %u is already user %s's", w->uid,
			     s->uid_owner);
		cg_error_hint(err, "choose another uid:, or leave it out to "
				   "get a free one");
		return CG_ERR;
	}
	if (w->group && check_group(ctx, r, w->group, &s->group, err) < 0)
		return CG_ERR;
	for (i = 0; w->groups[i]; i++)
		if (check_group(ctx, r, w->groups[i], &s->groups[i], err) < 0)
			return CG_ERR;
	snprintf(b, sizeof(b), "%u", w->uid);
	if (!s->exists) {
		c->action = CG_ACTION_CREATE;
		cg_change_add(c, "uid", NULL, w->has_uid ? b : "(next free)");
		cg_change_add(c, "group", NULL,
			      w->group ? w->group : r->name);
		if (w->groups[0])
			cg_change_add(c, "groups", NULL,
				      joined(&b1, w->groups));
		cg_change_add(c, "home", NULL, w->home);
		if (w->create_home)
			cg_change_add(c, "create_home", NULL, w->home);
		if (w->shell)
			cg_change_add(c, "shell", NULL, w->shell);
		if (w->comment)
			cg_change_add(c, "comment", NULL, w->comment);
		if (w->password)
			cg_change_add(c, "password", NULL, SECRET);
		if (w->system)
			cg_change_add(c, "system", NULL, "true");
		goto out;
	}
	if (w->has_uid && s->uid != w->uid) {
		snprintf(a, sizeof(a), "%u", s->uid);
		cg_change_add(c, "uid", a, b);
	}
	if (w->group && (!s->group.known || s->group.gid != s->gid))
		cg_change_add(c, "group", s->gid_name, w->group);
	if (w->has_groups) {
		after = groups_after(w, s);
		if (!same_set(after, s->member_of))
			cg_change_add(c, "groups", joined(&b1, s->member_of),
				      joined(&b2, after));
		free_strv(after);
	}
	if (w->has_home && strcmp(s->home, w->home) != 0)
		cg_change_add(c, "home", s->home, w->home);
	if (w->shell && strcmp(s->shell, w->shell) != 0)
		cg_change_add(c, "shell", s->shell, w->shell);
	if (w->comment && strcmp(s->gecos, w->comment) != 0)
		cg_change_add(c, "comment", s->gecos, w->comment);
	if (w->password && (!s->hash || strcmp(s->hash, w->password) != 0))
		cg_change_add(c, "password", SECRET, SECRET);
	if (c->n)
		c->action = CG_ACTION_UPDATE;
out:
	if (c->action != CG_ACTION_NONE)
		c->before = user_before(s, &b1);
	cg_buf_release(&b1);
	cg_buf_release(&b2);
	return 0;
}

static bool changes(const struct cg_resource *r, const char *field)
{
	uint32_t i;

	for (i = 0; i < r->change.n; i++)
		if (strcmp(r->change.items[i].field, field) == 0)
			return true;
	return false;
}

static int set_password(struct cg_ctx *ctx, struct cg_resource *r,
			struct cg_error *err)
{
	const struct want *w = r->desired;
	const char *argv[] = { "chpasswd", "-e", NULL };
	char *in;
	int rc;

	/* On stdin, never in argv, which every user may read in /proc. */
	in = cg_xasprintf("%s:%s\n", r->name, w->password);
	rc = account_run(ctx, argv, in, true, err);
	memset(in, 0, strlen(in));
	free(in);
	return rc;
}

static int apply_one(struct cg_ctx *ctx, struct cg_resource *r,
		     struct cg_error *err)
{
	const struct want *w = r->desired;
	const struct seen *s = r->observed;
	const char *argv[32];
	struct cg_buf gl = { 0 };
	char uid[16];
	size_t n = 0;
	char **after = NULL;
	int rc;

	snprintf(uid, sizeof(uid), "%u", w->uid);
	switch (r->change.action) {
	case CG_ACTION_DELETE:
		argv[n++] = "userdel";
		if (w->remove_home && s->home_exists)
			argv[n++] = "-r";
		break;
	case CG_ACTION_CREATE:
		argv[n++] = "useradd";
		if (w->has_uid) {
			argv[n++] = "-u";
			argv[n++] = uid;
		}
		if (w->group || s->own.known) {
			/* A group named like the user is joined, not made. */
			argv[n++] = "-g";
			argv[n++] = !w->group	       ? r->name
				    : s->group.known ? s->group.name
						     : w->group;
		}
		if (w->groups[0]) {
			argv[n++] = "-G";
			argv[n++] = joined(&gl, w->groups);
		}
		argv[n++] = "-d";
		argv[n++] = w->home;
		argv[n++] = w->create_home ? "-m" : "-M";
		if (w->shell) {
			argv[n++] = "-s";
			argv[n++] = w->shell;
		}
		if (w->comment) {
			argv[n++] = "-c";
			argv[n++] = w->comment;
		}
		if (w->system)
			argv[n++] = "-r";
		break;
	case CG_ACTION_UPDATE:
		argv[n++] = "usermod";
		if (changes(r, "uid")) {
			argv[n++] = "-u";
			argv[n++] = uid;
		}
		if (changes(r, "group")) {
			argv[n++] = "-g";
			argv[n++] = s->group.known ? s->group.name : w->group;
		}
		if (changes(r, "groups")) {
			after = groups_after(w, s);
			argv[n++] = "-G";
			argv[n++] = joined(&gl, after);
		}
		if (changes(r, "home")) {
			argv[n++] = "-d";
			argv[n++] = w->home;
		}
		if (changes(r, "shell")) {
			argv[n++] = "-s";
			argv[n++] = w->shell;
		}
		if (changes(r, "comment")) {
			argv[n++] = "-c";
			argv[n++] = w->comment;
		}
		break;
	default:
		return 0;
	}
	argv[n++] = "--";
	argv[n++] = r->name;
	argv[n] = NULL;
	rc = 0;
	/* usermod with nothing but the name: only the password changes. */
	/*
	 * usermod --prefix looks -g up in the host's /etc/group (shadow
	 * 4.13): change a primary group with --root, chrooted into the image.
	 */
	if (r->change.action != CG_ACTION_UPDATE || n > 3)
		rc = account_run(ctx, argv, NULL,
				 r->change.action == CG_ACTION_UPDATE &&
					 changes(r, "group"),
				 err);
	if (rc == 0 && w->password && r->change.action != CG_ACTION_DELETE &&
	    changes(r, "password"))
		rc = set_password(ctx, r, err);
	free_strv(after);
	cg_buf_release(&gl);
	return rc;
}

static void user_fingerprint(const struct cg_resource *r,
			     unsigned char out[16])
{
	const struct want *w = r->desired;
	const struct seen *s = r->observed;
	struct cg_buf b = { 0 };
	unsigned char h[16];
	size_t i;

	cg_buf_addf(&b, "user\n%s\n%d\n", r->name, s->exists);
	if (s->exists) {
		cg_buf_addf(&b, "%u:%u:%s:%s:%s\n", s->uid, s->gid, s->gecos,
			    s->home, s->shell);
		if (w->has_groups)
			for (i = 0; s->member_of[i]; i++)
				cg_buf_addf(&b, "member %s\n", s->member_of[i]);
		if (w->password && s->hash) {
			/* A digest of the hash, never the hash. */
			cg_hash128(s->hash, strlen(s->hash), h);
			cg_buf_add(&b, h, sizeof(h));
		}
	}
	cg_hash128(b.data, b.len, out);
	cg_buf_release(&b);
}

static bool wanted_uid(const struct cg_resource *r, unsigned *out)
{
	const struct want *w = r->desired;

	*out = w->uid;
	return !w->absent && w->has_uid;
}

static void user_validate(struct cg_resource *const *res, size_t n,
			  const struct cg_parse_ctx *pc)
{
	account_validate_ids(res, n, pc, "uid", wanted_uid);
}

/* ledger.before in user_before's words. */
struct ubefore {
	bool known, absent, own_group;
	unsigned uid, gid, own_gid;
	char groups[1024], shell[256], home[1024];
	const char *comment; /* borrowed, or NULL */
};

static void parse_ubefore(const char *s, struct ubefore *b)
{
	const char *p;

	memset(b, 0, sizeof(*b));
	if (!s || strcmp(s, "unknown") == 0)
		return;
	if (strncmp(s, "absent", 6) == 0) {
		b->known = b->absent = true;
		p = strstr(s, " own_group=");
		if (p && sscanf(p, " own_group=%u", &b->own_gid) == 1)
			b->own_group = true;
		return;
	}
	if (sscanf(s, "user uid=%u gid=%u groups=%1023s shell=%255s home=%1023s",
		   &b->uid, &b->gid, b->groups, b->shell, b->home) != 5)
		return;
	p = strstr(s, " comment=");
	b->comment = p ? p + 9 : NULL;
	if (strcmp(b->groups, "-") == 0)
		b->groups[0] = '\0';
	b->known = true;
}

/* The supplementary groups of name now, "a,b" in /etc/group's order. */
static void groups_now(const struct account_db *db, const char *name,
		       struct cg_buf *out)
{
	size_t i;

	cg_buf_reset(out);
	cg_buf_addstr(out, "");
	for (i = 0; i < db->ngroups; i++)
		if (account_group_has(&db->groups[i], name))
			cg_buf_addf(out, "%s%s", out->len ? "," : "",
				    db->groups[i].name);
}

/* Are the comma lists a and b the same set? */
static bool same_list(const char *a, const char *b)
{
	char *x = cg_xstrdup(a), *y = cg_xstrdup(b), *t, *save = NULL;
	char **vx = NULL, **vy = NULL;
	size_t nx = 0, ny = 0, cx = 0, cy = 0;
	bool same;

	cg_grow(&vx, &cx, 1, sizeof(*vx));
	cg_grow(&vy, &cy, 1, sizeof(*vy));
	for (t = strtok_r(x, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		cg_grow(&vx, &cx, nx + 2, sizeof(*vx));
		vx[nx++] = t;
	}
	vx[nx] = NULL;
	for (t = strtok_r(y, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		cg_grow(&vy, &cy, ny + 2, sizeof(*vy));
		vy[ny++] = t;
	}
	vy[ny] = NULL;
	same = same_set(vx, vy);
	free(vx);
	free(vy);
	free(x);
	free(y);
	return same;
}

#define SAY(rv, ...) snprintf((rv)->what, sizeof((rv)->what), __VA_ARGS__)

/*
 * orphans: revert: a user congruent created is removed (userdel, its
 * home left: it may hold data), one it changed gets back its uid, group,
 * groups, shell, home and comment (usermod).
 */
static int user_revert(struct cg_ctx *ctx, struct cg_revert *const *v,
		       size_t n, bool apply, struct cg_error *err)
{
	const struct account_db *db;
	struct cg_buf now = { 0 };
	size_t i;

	(void)err;
	for (i = 0; i < n; i++) {
		struct cg_revert *rv = v[i];
		const struct account_user *u;
		struct ubefore b;
		const char *argv[24];
		char uid[16], gid[16];
		size_t k = 0;
		bool g_changes = false;
		struct cg_error e;

		cg_error_clear(&e);
		if (account_db_get(ctx->root, &db, &e) < 0) {
			rv->verdict = CG_REVERT_CHANGE;
			rv->failed = true;
			rv->err = e;
			SAY(rv, "cannot read the account files");
			continue;
		}
		parse_ubefore(rv->before, &b);
		u = account_user(db, rv->name);
		if (!b.known) {
			rv->verdict = CG_REVERT_KEEP;
			SAY(rv, "keep: what was there before congruent is "
				"unknown; release it with congruent forget %s",
			    rv->id);
			continue;
		}
		if (b.absent && !u) {
			rv->verdict = CG_REVERT_FORGET;
			SAY(rv, "nothing to revert: already absent, as before "
				"congruent");
			continue;
		}
		if (b.absent) {
			long pid = ctx->root->host ? busy_pid(u->uid) : 0;

			rv->verdict = CG_REVERT_CHANGE;
			rv->removes = true;
			SAY(rv, "remove the user (created by congruent at %.60s)%s%.300s%s",
			    rv->since, u->home[0] ? "; its home " : "",
			    u->home[0] ? u->home : "",
			    u->home[0] ? " stays if it is there" : "");
			if (pid) {
				rv->failed = true;
				cg_error_set(&rv->err, CG_ERR,
					     "user %s is used by process %ld; "
					     "userdel would refuse",
					     rv->name, pid);
				cg_error_hint(&rv->err, "stop the user's "
							"processes first");
				continue;
			}
			if (!apply)
				continue;
			argv[k++] = "userdel";
			argv[k++] = "--";
			argv[k++] = rv->name;
			argv[k] = NULL;
			if (account_run(ctx, argv, NULL, false, &e) < 0) {
				rv->failed = true;
				rv->err = e;
				continue;
			}
			/* userdel takes a group named like the user: not ours. */
			if (b.own_group && account_db_get(ctx->root, &db, &e) ==
						   0 &&
			    !account_group(db, rv->name)) {
				const char *ga[] = { "groupadd", "-g", gid, "--",
						     rv->name, NULL };

				snprintf(gid, sizeof(gid), "%u", b.own_gid);
				if (account_run(ctx, ga, NULL, false, &e) < 0) {
					rv->failed = true;
					rv->err = e;
				}
			}
			continue;
		}
		if (!u) {
			rv->verdict = CG_REVERT_KEEP;
			SAY(rv, "keep: the user is gone; congruent does not "
				"make it again to revert");
			continue;
		}
		snprintf(uid, sizeof(uid), "%u", b.uid);
		snprintf(gid, sizeof(gid), "%u", b.gid);
		groups_now(db, rv->name, &now);
		argv[k++] = "usermod";
		if (u->uid != b.uid) {
			argv[k++] = "-u";
			argv[k++] = uid;
		}
		if (u->gid != b.gid) {
			argv[k++] = "-g";
			argv[k++] = gid;
			g_changes = true;
		}
		if (!same_list(now.data, b.groups)) {
			argv[k++] = "-G";
			argv[k++] = b.groups;
		}
		if (strcmp(u->shell, b.shell) != 0) {
			argv[k++] = "-s";
			argv[k++] = b.shell;
		}
		if (strcmp(u->home, b.home) != 0) {
			argv[k++] = "-d";
			argv[k++] = b.home;
		}
		if (b.comment && strcmp(u->gecos, b.comment) != 0) {
			argv[k++] = "-c";
			argv[k++] = b.comment;
		}
		if (k == 1) {
			rv->verdict = CG_REVERT_FORGET;
			SAY(rv, "nothing to revert: already as before "
				"congruent");
			continue;
		}
		rv->verdict = CG_REVERT_CHANGE;
		SAY(rv, "put back uid %u, group %u, groups %.160s, shell %.100s, "
			"home %.160s as before congruent",
		    b.uid, b.gid, b.groups[0] ? b.groups : "(none)", b.shell,
		    b.home);
		if (!apply)
			continue;
		argv[k++] = "--";
		argv[k++] = rv->name;
		argv[k] = NULL;
		if (account_run(ctx, argv, NULL, g_changes, &e) < 0) {
			rv->failed = true;
			rv->err = e;
		}
	}
	cg_buf_release(&now);
	return 0;
}

/*
 * The account files useradd and usermod rewrite, and the home directory
 * useradd makes (with what it copies into it).
 */
static void user_paths(struct cg_ctx *ctx, const struct cg_resource *r,
		       void (*add)(void *arg, const char *path), void *arg)
{
	/* With the backups the shadow tools leave (NAME-). */
	static const char *const db[] = {
		"/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow",
		"/etc/passwd-", "/etc/shadow-", "/etc/group-", "/etc/gshadow-",
	};
	const struct want *w = r->desired;
	size_t i;

	(void)ctx;
	for (i = 0; i < sizeof(db) / sizeof(db[0]); i++)
		add(arg, db[i]);
	if (!w->absent && w->create_home && w->home[0] == '/')
		add(arg, w->home);
}

const struct cg_module cg_module_user = {
	.type = "user",
	.paths = user_paths,
	.keys = user_keys,
	.parse = user_parse,
	.observe = user_observe,
	.diff = user_diff,
	.revert = user_revert,
	.apply_one = apply_one,
	.release = user_release,
	.validate = user_validate,
	.forget = user_forget,
	.fingerprint = user_fingerprint,
	.observe_window = 0,
	/*
	 * Reading shadow, writing the account files, making the home from
	 * /etc/skel owned by the user, removing it with userdel -r, and
	 * userdel's look at the user's processes, chpasswd --root.
	 */
	.caps = { CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH,
		  CAP_FOWNER, CAP_FSETID, CAP_AUDIT_WRITE, CAP_SYS_PTRACE,
		  CAP_SYS_CHROOT },
	.ncaps = 8,
};
