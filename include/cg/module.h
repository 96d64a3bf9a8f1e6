/* module.h: the interface between the engine and a resource type. */
#ifndef CG_MODULE_H
#define CG_MODULE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/capability.h>

#include "cg/error.h"
#include "cg/node.h"
#include "cg/resource.h"

struct cg_buf;
struct cg_root;
struct cg_store;

/* What the agent gives a module while parsing the policy. */
struct cg_parse_ctx {
	int policy_fd;          /* O_PATH directory fd of the policy tree */
	const char *policy_dir; /* for messages */
	/*
	 * true for `congruent check`: validate all that can be without a
	 * host (template variable names exist somewhere in the policy, ...).
	 */
	bool checking;
	/* Is name a var of the policy or a fact? (for checking templates) */
	bool (*known_name)(const struct cg_parse_ctx *pc, const char *name);
	/* All such names, NULL-terminated, for "did you mean" hints. */
	const char *const *(*names)(const struct cg_parse_ctx *pc);
	/* Report a problem found by validate (where and resource set). */
	void (*report)(const struct cg_parse_ctx *pc, const struct cg_error *err);
	void *agent; /* private to the agent */
};

/* What the engine gives a module while observing and applying. */
struct cg_ctx {
	struct cg_root *root;   /* where resources live: --root, or "/" */
	int policy_fd;          /* O_PATH directory fd of the policy tree */
	struct cg_store *store; /* backups of what apply overwrites */
	const char *state_dir;
	const char *netns;      /* --netns NAME, or NULL */
	/* A template variable: vars of this host first, then facts. */
	const char *(*lookup)(const struct cg_ctx *ctx, const char *name);
	/* All names lookup knows (NULL-terminated), for suggestions. */
	const char *const *(*names)(const struct cg_ctx *ctx);
	void *lookup_data; /* private to lookup and names */
	/*
	 * Was resource id changed earlier in this run: repaired, or in a
	 * dry-run drifted (so that `plan` shows what a change would bring,
	 * like a restart)?
	 */
	bool (*changed)(const struct cg_ctx *ctx, const char *id);
	void *agent; /* private to the engine */
};

enum {
	/*
	 * apply() takes every pending resource of its type at once (one apt
	 * transaction, one iptables-restore per table): the engine hands it
	 * all changed resources of the type whose requirements are met, at
	 * the place of the first of them in the order.
	 */
	CG_MODULE_BATCH = 1u << 0,
};

/*
 * A resource type is data: this table of functions, listed in
 * agent/modules.c. Modules never print; they fill errors and changes and
 * the engine reports. Dry-run is the engine not calling apply().
 */
struct cg_module {
	const char *type; /* "file": the key naming the resource in YAML */
	/* Attribute keys besides the type key and common keys; NULL-ended. */
	const char *const *keys;

	/*
	 * Build r->desired (and r->id via cg_resource_set_id) from the YAML
	 * map item, whose type key holds value. Errors name the node's line.
	 */
	int (*parse)(struct cg_resource *r, const struct cg_node *item,
		     const struct cg_node *value, const struct cg_parse_ctx *pc,
		     struct cg_error *err);

	/*
	 * Read the actual state of n resources at once into each
	 * r->observed (replacing any earlier observation). A resource that
	 * cannot be observed is marked with cg_resource_fail(); a negative
	 * return fails all n with err.
	 */
	int (*observe)(struct cg_ctx *ctx, struct cg_resource **res, size_t n,
		       struct cg_error *err);

	/* Fill r->change (empty on entry) from desired and observed. */
	int (*diff)(struct cg_ctx *ctx, struct cg_resource *r,
		    struct cg_error *err);

	/*
	 * Make the change in each r->change. Per-resource failures via
	 * cg_resource_fail(); a negative return fails all n with err. The
	 * engine re-observes afterwards to verify.
	 */
	int (*apply)(struct cg_ctx *ctx, struct cg_resource **res, size_t n,
		     struct cg_error *err);

	/* Free r->desired and r->observed. */
	void (*release)(struct cg_resource *r);

	/*
	 * Optional: look at all resources of this type together, once each
	 * was parsed and the ids are known (by check, and before every run):
	 * what no single resource can tell, like a start-order cycle among
	 * services. Each problem goes to pc->report.
	 */
	void (*validate)(struct cg_resource *const *res, size_t n,
			 const struct cg_parse_ctx *pc);

	/*
	 * Optional: free r->observed once r's outcome is final, so that a
	 * run over many resources does not hold all their observations.
	 */
	void (*forget)(struct cg_resource *r);

	/*
	 * Digest r's observed state in canonical form into out: what the
	 * policy manages of it (a file's type, mode, owner and content; a
	 * chain's rules), never what is incidental (timestamps, counters).
	 * Two hosts have the same digest exactly when that state is the
	 * same. Called once r's outcome is final (after verification for a
	 * change), before forget. cg_hash128 is the usual tool. Without it,
	 * the engine digests r's id and status only.
	 */
	void (*fingerprint)(const struct cg_resource *r, unsigned char out[16]);

	/*
	 * Optional: append to out a section for `plan` (and `run -v`) about
	 * all resources of this type together, once their outcomes are
	 * final: what no single resource's change shows, like the boot
	 * order of services. Whole lines, the first one a heading; res in
	 * apply order. Reads desired and observed (do not forget them).
	 */
	void (*summary)(const struct cg_resource *const *res, size_t n,
			struct cg_buf *out);

	/*
	 * Resources per observe() call, in order: 0 for all at once (a
	 * module that reads one global state, like the package database),
	 * N for modules whose observe is per resource anyway (files), which
	 * bounds memory and looks at each resource just before its turn.
	 */
	size_t observe_window;

	unsigned flags;      /* CG_MODULE_* */
	cap_value_t caps[8]; /* capabilities apply() needs */
	size_t ncaps;
};

/* The NULL-terminated table of all modules (agent/modules.c). */
extern const struct cg_module *const cg_modules[];

/* The module for a type name, or NULL. */
const struct cg_module *cg_module_find(const char *type);

#endif
