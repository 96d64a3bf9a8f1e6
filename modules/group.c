/* group.c: the group resource: a local group with a gid, or none. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg/module.h"
#include "cg/util.h"
#include "account.h"

struct want {
	bool absent, system, has_gid;
	unsigned gid;
};

struct seen {
	bool exists;
	unsigned gid;
	char *gid_owner;  /* owned: the other group with the wanted gid */
	char **primary_of; /* owned, NULL-ended: users whose primary group it is */
};

static const char *const group_keys[] = {
	"gid", "system", "state", NULL,
};

static int bad(struct cg_error *err, const struct cg_node *n, const char *hint,
	       const char *msg)
{
	cg_error_set(err, CG_ERR, "%s", msg);
	cg_error_where(err, "%s:%u", n->doc->name, n->line);
	if (hint)
		cg_error_hint(err, "%s", hint);
	return CG_ERR;
}

static int group_parse(struct cg_resource *r, const struct cg_node *item,
		       const struct cg_node *value,
		       const struct cg_parse_ctx *pc, struct cg_error *err)
{
	const struct cg_node *n;
	const char *name, *s;
	unsigned long v;
	struct want *w;

	(void)pc;
	if (cg_node_string(value, "group", &name, err) < 0)
		return CG_ERR;
	if (!account_name_ok(name))
		return bad(err, value,
			   "lower-case letters, digits, '_', '-' and '.', "
			   "starting with a letter or '_', at most 32",
			   "invalid group name");
	cg_resource_set_id(r, "group", name);
	w = cg_xcalloc(1, sizeof(*w));
	r->desired = w;
	n = cg_map_get(item, "gid");
	if (n) {
		if (cg_node_uint(n, "gid", 4294967294ul, &v, err) < 0)
			return CG_ERR;
		w->gid = (unsigned)v;
		w->has_gid = true;
	}
	n = cg_map_get(item, "system");
	if (n && cg_node_bool(n, "system", &w->system, err) < 0)
		return CG_ERR;
	n = cg_map_get(item, "state");
	if (n) {
		if (cg_node_string(n, "state", &s, err) < 0)
			return CG_ERR;
		if (strcmp(s, "absent") == 0)
			w->absent = true;
		else if (strcmp(s, "present") != 0)
			return bad(err, n, NULL,
				   "'state' must be present or absent");
	}
	if (w->absent && (w->has_gid || w->system))
		return bad(err, item, "remove gid: and system:",
			   "'state: absent' takes no gid or system");
	return 0;
}

static void free_seen(struct seen *s)
{
	if (!s)
		return;
	size_t i;

	free(s->gid_owner);
	for (i = 0; s->primary_of && s->primary_of[i]; i++)
		free(s->primary_of[i]);
	free(s->primary_of);
	free(s);
}

static void group_forget(struct cg_resource *r)
{
	free_seen(r->observed);
	r->observed = NULL;
}

static void group_release(struct cg_resource *r)
{
	free(r->desired);
	group_forget(r);
	r->desired = NULL;
}

static int group_observe(struct cg_ctx *ctx, struct cg_resource **res,
			 size_t n, struct cg_error *err)
{
	const struct account_db *db;
	size_t i, j;

	/* One read of the account files for all groups. */
	if (account_db_get(ctx->root, &db, err) < 0)
		return CG_ERR;
	for (i = 0; i < n; i++) {
		struct cg_resource *r = res[i];
		const struct want *w = r->desired;
		const struct account_group *g = account_group(db, r->name);
		const struct account_group *o;
		struct seen *s = cg_xcalloc(1, sizeof(*s));

		free_seen(r->observed);
		r->observed = s;
		s->primary_of = cg_xcalloc(db->nusers + 1,
					   sizeof(*s->primary_of));
		if (g) {
			size_t k = 0;

			s->exists = true;
			s->gid = g->gid;
			for (j = 0; j < db->nusers; j++)
				if (db->users[j].gid == g->gid)
					s->primary_of[k++] =
						cg_xstrdup(db->users[j].name);
		}
		if (w->has_gid) {
			o = account_group_by_gid(db, w->gid);
			if (o && strcmp(o->name, r->name) != 0)
				s->gid_owner = cg_xstrdup(o->name);
		}
	}
	return 0;
}

static int group_diff(struct cg_ctx *ctx, struct cg_resource *r,
		      struct cg_error *err)
{
	const struct want *w = r->desired;
	const struct seen *s = r->observed;
	struct cg_change *c = &r->change;
	char a[16], b[16];
	size_t i;

	if (w->absent) {
		if (!s->exists)
			return 0;
		for (i = 0; s->primary_of[i]; i++) {
			if (account_gives_up(ctx, r, "user", s->primary_of[i],
					     "group"))
				continue;
			cg_error_set(err, CG_ERR,
				     "group %s is the primary group of user "
				     "%s; groupdel would refuse",
				     r->name, s->primary_of[i]);
			cg_error_hint(err, "remove the user first, or give it "
					   "another group:");
			return CG_ERR;
		}
		snprintf(a, sizeof(a), "%u", s->gid);
		c->action = CG_ACTION_DELETE;
		cg_change_add(c, "gid", a, NULL);
		return 0;
	}
	if (w->has_gid && (!s->exists || s->gid != w->gid) && s->gid_owner &&
	    !account_gives_up(ctx, r, "group", s->gid_owner, "gid")) {
		cg_error_set(err, CG_ERR, "gid %u is already group %s's",
			     w->gid, s->gid_owner);
		cg_error_hint(err, "choose another gid:, or leave it out to "
				   "get a free one");
		return CG_ERR;
	}
	snprintf(b, sizeof(b), "%u", w->gid);
	if (!s->exists) {
		c->action = CG_ACTION_CREATE;
		cg_change_add(c, "gid", NULL, w->has_gid ? b : "(next free)");
		if (w->system)
			cg_change_add(c, "system", NULL, "true");
	} else if (w->has_gid && s->gid != w->gid) {
		snprintf(a, sizeof(a), "%u", s->gid);
		c->action = CG_ACTION_UPDATE;
		cg_change_add(c, "gid", a, b);
	}
	/* The ledger's words: "absent", or the gid before. */
	if (c->action != CG_ACTION_NONE)
		c->before = s->exists ? cg_xasprintf("group gid=%u", s->gid)
				      : cg_xstrdup("absent");
	return 0;
}

static int apply_one(struct cg_ctx *ctx, struct cg_resource *r,
		     struct cg_error *err)
{
	const struct want *w = r->desired;
	const char *argv[8];
	char gid[16];
	size_t n = 0;

	snprintf(gid, sizeof(gid), "%u", w->gid);
	switch (r->change.action) {
	case CG_ACTION_CREATE:
		argv[n++] = "groupadd";
		if (w->has_gid) {
			argv[n++] = "-g";
			argv[n++] = gid;
		}
		if (w->system)
			argv[n++] = "-r";
		break;
	case CG_ACTION_UPDATE:
		argv[n++] = "groupmod";
		argv[n++] = "-g";
		argv[n++] = gid;
		break;
	case CG_ACTION_DELETE:
		argv[n++] = "groupdel";
		break;
	default:
		return 0;
	}
	argv[n++] = "--";
	argv[n++] = r->name;
	argv[n] = NULL;
	return account_run(ctx, argv, NULL, false, err);
}

static void group_fingerprint(const struct cg_resource *r,
			      unsigned char out[16])
{
	const struct seen *s = r->observed;
	char buf[128];
	int len;

	len = snprintf(buf, sizeof(buf), "group\n%s\n%d %u\n", r->name,
		       s->exists, s->exists ? s->gid : 0);
	cg_hash128(buf, (size_t)len, out);
}

static bool wanted_gid(const struct cg_resource *r, unsigned *out)
{
	const struct want *w = r->desired;

	*out = w->gid;
	return !w->absent && w->has_gid;
}

static void group_validate(struct cg_resource *const *res, size_t n,
			   const struct cg_parse_ctx *pc)
{
	account_validate_ids(res, n, pc, "gid", wanted_gid);
}

#define SAY(rv, ...) snprintf((rv)->what, sizeof((rv)->what), __VA_ARGS__)

/*
 * orphans: revert: a group congruent created is removed (groupdel),
 * unless it is a user's primary group (a user reverted away before it
 * does not count); one whose gid it changed gets it back (groupmod).
 */
static int group_revert(struct cg_ctx *ctx, struct cg_revert *const *v,
			size_t n, bool apply, struct cg_error *err)
{
	const struct account_db *db;
	size_t i, j;

	(void)err;
	for (i = 0; i < n; i++) {
		struct cg_revert *rv = v[i];
		const struct account_group *g;
		const char *argv[8];
		char gid[16], id[64];
		const char *user = NULL;
		unsigned old = 0;
		struct cg_error e;
		size_t k = 0;

		cg_error_clear(&e);
		if (account_db_get(ctx->root, &db, &e) < 0) {
			rv->verdict = CG_REVERT_CHANGE;
			rv->failed = true;
			rv->err = e;
			SAY(rv, "cannot read the account files");
			continue;
		}
		g = account_group(db, rv->name);
		if (!rv->before || (strcmp(rv->before, "absent") != 0 &&
				    sscanf(rv->before, "group gid=%u", &old) !=
					    1)) {
			rv->verdict = CG_REVERT_KEEP;
			SAY(rv, "keep: what was there before congruent is "
				"unknown; release it with congruent forget %s",
			    rv->id);
			continue;
		}
		if (strcmp(rv->before, "absent") == 0) {
			if (!g) {
				rv->verdict = CG_REVERT_FORGET;
				SAY(rv, "nothing to revert: already absent, "
					"as before congruent");
				continue;
			}
			for (j = 0; j < db->nusers && !user; j++) {
				const struct cg_revert *x;

				if (db->users[j].gid != g->gid)
					continue;
				snprintf(id, sizeof(id), "user:%s",
					 db->users[j].name);
				x = ctx->reverted ? ctx->reverted(ctx, id)
						  : NULL;
				if (!x || !x->removes || x->failed)
					user = db->users[j].name;
			}
			if (user) {
				rv->verdict = CG_REVERT_KEEP;
				SAY(rv, "keep: it is the primary group of user "
					"%s",
				    user);
				continue;
			}
			rv->verdict = CG_REVERT_CHANGE;
			rv->removes = true;
			SAY(rv, "remove the group (created by congruent at %s)",
			    rv->since);
			argv[k++] = "groupdel";
		} else if (!g) {
			rv->verdict = CG_REVERT_KEEP;
			SAY(rv, "keep: the group is gone; congruent does not "
				"make it again to revert");
			continue;
		} else if (g->gid == old) {
			rv->verdict = CG_REVERT_FORGET;
			SAY(rv, "nothing to revert: gid already %u, as before "
				"congruent",
			    old);
			continue;
		} else {
			rv->verdict = CG_REVERT_CHANGE;
			SAY(rv, "put back gid %u, as before congruent", old);
			snprintf(gid, sizeof(gid), "%u", old);
			argv[k++] = "groupmod";
			argv[k++] = "-g";
			argv[k++] = gid;
		}
		if (!apply)
			continue;
		argv[k++] = "--";
		argv[k++] = rv->name;
		argv[k] = NULL;
		if (account_run(ctx, argv, NULL, false, &e) < 0) {
			rv->failed = true;
			rv->err = e;
		}
	}
	return 0;
}

/* The account files groupadd and groupmod rewrite. */
static void group_paths(struct cg_ctx *ctx, const struct cg_resource *r,
			void (*add)(void *arg, const char *path), void *arg)
{
	(void)ctx;
	(void)r;
	add(arg, "/etc/group");
	add(arg, "/etc/gshadow");
	/* The backups the shadow tools leave. */
	add(arg, "/etc/group-");
	add(arg, "/etc/gshadow-");
}

const struct cg_module cg_module_group = {
	.type = "group",
	.paths = group_paths,
	.keys = group_keys,
	.parse = group_parse,
	.observe = group_observe,
	.diff = group_diff,
	.revert = group_revert,
	.apply_one = apply_one,
	.release = group_release,
	.validate = group_validate,
	.forget = group_forget,
	.fingerprint = group_fingerprint,
	.observe_window = 0,
	/* groupadd and friends write /etc/group and gshadow (0640). */
	.caps = { CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_AUDIT_WRITE },
	.ncaps = 4,
};
