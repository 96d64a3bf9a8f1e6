/* service.h: the service resource's parts: the generic module, its init
 * system backends, and the start-order graph they share. */
#ifndef CG_MODULES_SERVICE_H
#define CG_MODULES_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "cg/error.h"
#include "cg/module.h"
#include "cg/resource.h"
#include "cg/util.h"

#define SVC_UNSET (-1) /* a key the policy does not give: not managed */

/* The highest rc start number, and the stop number is 100 - start. */
#define SVC_NUMBER_MAX 99

/* What the policy says about a service (r->desired). */
struct svc_want {
	signed char enabled; /* 1, 0 or SVC_UNSET */
	signed char running;
	signed char masked;
	bool reload;         /* restart_on reloads instead of restarting */
	char **after;        /* owned: names ("postgresql", "foo.target") */
	size_t nafter;
	char **before;       /* owned: names */
	size_t nbefore;
	char **restart_on;   /* owned: resource ids */
	size_t nrestart_on;

	/*
	 * The service's place in the start order of all managed services,
	 * found at the first observation of the run (the only one that
	 * sees them all), so that every later look agrees with it.
	 */
	bool placed;
	unsigned level;  /* 1-based: 1 starts first; 0 when unknown */
	unsigned number; /* sysvinit: the S number; 0: none (see conflict) */
	char *conflict;  /* owned: why no rc number fits, or NULL */

	/* Started, restarted or reloaded in this run: no more restarts. */
	bool acted;
};

struct svc_backend;

/* What the backend saw of a service (r->observed). */
struct svc_seen {
	const struct svc_backend *be; /* borrowed: who looked */
	bool offline;   /* --root: nothing runs; running is unknown */
	bool present;   /* the unit file or init script exists */
	char state[32]; /* as the init system says: "enabled", "static" */
	bool enabled;
	bool masked;
	bool running;   /* live only */
	bool can_reload;
	bool stale;     /* systemd: unit files changed since the last load */
	char *order_have; /* owned: drop-in content or rc links; NULL: none */
	char *order_want; /* owned: the same as the policy wants it */
	/* owned: per name of after then before: on this host? */
	bool *dep_present;
	/* owned: per name of after then before: its rc S number, or 0 */
	unsigned *dep_number;
	char start_levels[10]; /* sysvinit: "2345", from the LSB header */
	char stop_levels[10];  /* sysvinit: "016" */
};

/* Free a struct svc_seen. Accepts NULL. */
void svc_seen_free(struct svc_seen *s);

/* One backend run: what observe and apply share. */
struct svc_run {
	struct cg_ctx *ctx;
	const struct svc_backend *be;
	bool offline;     /* --root: an image; only files and links change */
	const char *root; /* ctx->root's path, for systemctl --root */
};

/* What the generic part asks apply to do to one service. */
struct svc_todo {
	bool order;        /* write order_want (drop-in or rc links) */
	signed char mask;  /* 1 mask, 0 unmask, SVC_UNSET nothing */
	signed char enable;
	signed char run;   /* 1 start, 0 stop */
	signed char bounce; /* 1 restart, 2 reload, 0 nothing */
	bool reread;       /* systemd: its unit files changed on disk */
	/*
	 * A restart or reload that failed in an earlier run is pending
	 * (STATE records, SVC_REC_*): bounce retries it; drop forgets it
	 * (the service is not running, and is not to be started).
	 */
	bool pending;
	bool drop;
};

/* The STATE record keys of a pending restart or reload. */
#define SVC_REC_REFRESH "refresh"             /* "restart" or "reload" */
#define SVC_REC_SINCE "refresh.since"         /* the first failure, UTC */
#define SVC_REC_ERROR "refresh.error"         /* the last failure's message */

/* An init system: a const table of these, chosen from the host. */
struct svc_backend {
	const char *name;     /* "systemd", "sysvinit": as the init fact */
	bool has_mask;
	bool numbers;         /* start order as rc numbers (not edges) */
	const char *order_field; /* the change item: "order", "rc links" */
	/* printf format with the name: no unit or script on this host */
	const char *missing;
	const char *heading;  /* of the boot order section in plan */

	/*
	 * Fill each r->observed (a struct svc_seen, replacing any), except
	 * order_want: presence, enablement, running (live only), the order
	 * as it is, and whether each name of after/before is on the host.
	 * A resource that cannot be observed: cg_resource_fail(); negative
	 * return fails all.
	 */
	int (*observe)(const struct svc_run *run, struct cg_resource **res,
		       size_t n, struct cg_error *err);
	/* The order as the policy wants it for r (after placement), or NULL. */
	char *(*order_want)(const struct svc_run *run,
			    const struct cg_resource *r);
	/* Short text of an order string for a change item's from/to. */
	char *(*order_show)(const char *order);
	/*
	 * Carry out todo[i] for res[i], res in start order. Failures per
	 * resource via cg_resource_fail(); each started, restarted or
	 * reloaded service gets want->acted.
	 */
	int (*apply)(const struct svc_run *run, struct cg_resource **res,
		     const struct svc_todo *todo, size_t n,
		     struct cg_error *err);
};

extern const struct svc_backend svc_backend_systemd;
extern const struct svc_backend svc_backend_sysv;

/* Is name a service name we accept (letters, digits, "_.@:-")? */
bool svc_name_ok(const char *name);

/*
 * The systemd unit of a name: "postgresql" -> "postgresql.service";
 * names with a unit suffix ("network-online.target") stay. Into buf.
 */
void svc_unit_name(const char *name, char *buf, size_t size);

/* Does name end in a systemd unit type suffix (".target", ...)? */
bool svc_has_unit_suffix(const char *name);

/*
 * Append up to max_lines lines of text (a program's output), each
 * indented, to out, keeping out under size bytes: for error messages.
 */
void svc_add_lines(char *out, size_t size, const char *text,
		   size_t max_lines);

/* --- the start-order graph ------------------------------------------- */

struct svc_gnode {
	const char *name;  /* borrowed */
	const char *id;    /* borrowed: the resource's id; NULL: not managed */
	const char *where; /* borrowed: its declaration; NULL: not managed */
	bool active;   /* takes part: managed, or present on this host */
	unsigned fixed; /* not managed (sysvinit): its S number now, or 0 */
	/* results */
	unsigned level;
	unsigned number;
	bool conflict;
};

/* from starts before to, as owner's after: or before: says. */
struct svc_gedge {
	size_t from, to;
	size_t owner;
	bool via_before;
};

struct svc_graph {
	struct svc_gnode *node; /* owned */
	size_t n, cap;
	struct svc_gedge *edge; /* owned */
	size_t nedge, ecap;
};

/* The node for name (as parse keeps names: no ".service"), added if new. */
size_t svc_graph_node(struct svc_graph *g, const char *name);
void svc_graph_edge(struct svc_graph *g, size_t from, size_t to,
		    size_t owner, bool via_before);

/*
 * Build the graph of the services res (their names first, in order, then
 * every other name their after/before give) and its edges.
 */
void svc_graph_build(struct svc_graph *g, const struct cg_resource *const *res,
		     size_t n);

/*
 * Find a cycle among all nodes (active or not). Returns false if there is
 * none; else describes it in msg ("a before b before a: service:b after a
 * (roles/x.yaml:3), ...") and sets *owner to the node that declared its
 * first edge.
 */
bool svc_graph_cycle(const struct svc_graph *g, struct cg_buf *msg,
		     size_t *owner);

/*
 * Levels of the active nodes: 1 for those with no active node before
 * them, else one more than the highest before them. Edges touching an
 * inactive node are ignored. The graph must have no cycle among active
 * nodes (those nodes are left at level 0).
 */
void svc_graph_levels(struct svc_graph *g);

/*
 * rc start numbers (after svc_graph_levels) for active managed nodes:
 * spread over 1..99 by level (10, 20, ... while there are at most 9
 * levels), never out of order with each other, and between the fixed
 * numbers of active nodes that are not managed. A node that cannot fit
 * between those gets conflict and number 0.
 */
void svc_graph_number(struct svc_graph *g);

void svc_graph_release(struct svc_graph *g);

#endif
