/* resource.h: a managed resource, what differs about it, and its outcome. */
#ifndef CG_RESOURCE_H
#define CG_RESOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cg/error.h"

struct cg_module;

/* The outcome words of a run, as reports and `plan` use them. */
enum cg_status {
	CG_STATUS_PENDING,  /* not evaluated (yet) */
	CG_STATUS_OK,       /* matched the policy: kept */
	CG_STATUS_DRIFTED,  /* differs from the policy (plan) */
	CG_STATUS_REPAIRED, /* differed, and was changed (run) */
	CG_STATUS_FAILED,   /* could not be observed, changed or verified */
	CG_STATUS_SKIPPED,  /* something it requires failed or was skipped */
};

enum cg_action {
	CG_ACTION_NONE,
	CG_ACTION_CREATE,
	CG_ACTION_UPDATE,
	CG_ACTION_DELETE,
};

/* One thing that differs: "mode 0600 -> 0644". */
struct cg_change_item {
	const char *field; /* borrowed, static: "content", "mode", "rule" */
	char *from;        /* owned; NULL when there is nothing (absent) */
	char *to;          /* owned; NULL when there will be nothing */
	/*
	 * owned, optional: lines for people (a unified diff). Shown by
	 * `plan`, never written into reports, which carry from/to only (for
	 * file content those are hashes). A detail of one line (no '\n') is
	 * shown instead of the field/from/to line: it says the same, better
	 * ("+ [3] -A INPUT -p tcp ..." for a rule).
	 */
	char *detail;
	/*
	 * The value was rendered from a secret: from and to are "(secret)"
	 * and there is no detail, so that output, logs, reports and JSON
	 * never show it (cg_change_secret sets all three).
	 */
	bool secret;
};

/*
 * Something found inside a managed resource that the policy does not name
 * and that was left as it is: a rule added by hand to a managed chain
 * (purge off), or one of Docker's. Not drift; reports list them, so that
 * an operator sees what else lives there.
 */
struct cg_unmanaged {
	const char *kind; /* borrowed, static: "rule" */
	char *item;       /* owned: "-A INPUT -s 192.0.2.7/32 -j DROP" */
	char *owner;      /* owned, or NULL when unknown: "docker" */
	uint32_t pos;     /* its place (a rule's in its chain, 1-based); 0: none */
};

/*
 * Embedded in every resource, so kept small: the arrays grow by powers of
 * two with no capacity field (cg_change_add, cg_change_unmanaged).
 */
struct cg_change {
	struct cg_change_item *items; /* owned */
	char *note; /* owned, optional: one line of context */
	/* owned: filled by diff like items, also when nothing differs */
	struct cg_unmanaged *unmanaged;
	/*
	 * owned, optional: what is there now, before the change, in the
	 * module's words ("absent", "file mode=0644 uid=0 gid=0
	 * sha256=HEX"), filled by diff. The first time congruent changes a
	 * resource, the engine writes it into the ledger (STATE/records,
	 * key ledger.before) before apply runs: what revert puts back.
	 * NULL: "unknown".
	 */
	char *before;
	/*
	 * owned: what is wrong though nothing differs, filled by diff: a
	 * managed rule that can never match. Shown by plan and run, kept in
	 * reports; not drift, no effect on the exit status.
	 */
	char **warnings;
	uint32_t n, nunmanaged, nwarnings;
	enum cg_action action;
};

/* Append an item; from and to are copied (either may be NULL). */
struct cg_change_item *cg_change_add(struct cg_change *c, const char *field,
				     const char *from, const char *to);
/*
 * Record an unmanaged item; item and owner (may be NULL) are copied. The
 * caller may set its pos.
 */
struct cg_unmanaged *cg_change_unmanaged(struct cg_change *c, const char *kind,
			 const char *item, const char *owner);
/* Make it a secret: from and to become "(secret)", no detail. */
void cg_change_secret(struct cg_change_item *it);
/* Append a warning (see warnings) from a format. */
void cg_change_warn(struct cg_change *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Set c->note (replacing any) from a format. */
void cg_change_note(struct cg_change *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cg_change_release(struct cg_change *c);

struct cg_resource {
	const struct cg_module *mod; /* borrowed */
	char *id;                    /* owned: "file:/etc/motd" */
	const char *name;            /* borrowed: id after "TYPE:" */
	char *where;                 /* owned: "roles/base.yaml:3" */

	char **requires;             /* owned: ids named by requires: */
	/*
	 * owned: ids that must come earlier in the order, without the
	 * skipping requires brings (a module's parse adds them: a service
	 * after the files it restarts on). cg_resource_order_after() adds.
	 */
	char **orders;
	size_t *deps;                /* owned: indexes: requires, then orders */

	void *desired;               /* owned by mod (mod->release) */
	void *observed;              /* owned by mod (mod->release) */
	struct cg_error *err;        /* owned: why it failed or was skipped */
	struct cg_change change;     /* what differs, from mod->diff */
	uint64_t ns;                 /* time spent on it (observe excluded) */
	unsigned char digest[16];    /* of the observed state: fingerprint */

	/* Counts are 32 bits: a policy has fewer than 4e9 resources, and
	 * this struct exists once per resource. */
	uint32_t decl;               /* declaration index: order tie-break */
	uint32_t nrequires;
	uint32_t norders;
	uint32_t ndeps;
	uint32_t nhard;              /* deps[0..nhard) come from requires */
	enum cg_status status;
	/*
	 * audit: true (a key every resource takes): the engine never
	 * applies it; what differs is reported as drifted, in run as in
	 * plan, and does not count as a change for the resources after it.
	 */
	bool audit;
};

/* Order r after the resource with this id (copied); see orders. */
void cg_resource_order_after(struct cg_resource *r, const char *id);
/*
 * The same, when a resource with this id is declared for the host; none
 * is no error (a user after the group: resource of its group, if any).
 */
void cg_resource_order_after_if(struct cg_resource *r, const char *id);

/* Set id to "type:name" and name to point into it. */
/*
 * Keep id and where in one allocation (a policy of 10,000 resources
 * saves a malloc each); after it neither may be replaced.
 */
void cg_resource_pack(struct cg_resource *r);
void cg_resource_set_id(struct cg_resource *r, const char *type,
			const char *name);

/*
 * Mark r failed with a copy of err (whose resource field is filled with
 * r's id). Returns CG_ERR.
 */
int cg_resource_fail(struct cg_resource *r, const struct cg_error *err);

/* Mark r failed with a message (and an optional hint, may be NULL). */
int cg_resource_failf(struct cg_resource *r, const char *hint,
		      const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

bool cg_resource_is_failed(const struct cg_resource *r);

/* Free everything r owns (via its module for desired/observed). */
void cg_resource_release(struct cg_resource *r);

const char *cg_status_name(enum cg_status s);
const char *cg_action_name(enum cg_action a);

#endif
