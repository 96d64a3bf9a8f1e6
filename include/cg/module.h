/* module.h: the interface between the engine and a resource type. */
#ifndef CG_MODULE_H
#define CG_MODULE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/capability.h>
#include <sys/types.h>

#include "cg/error.h"
#include "cg/node.h"
#include "cg/resource.h"

struct cg_buf;
struct cg_revert;
struct cg_root;
struct cg_store;
struct cg_template_vars;

/* What the agent gives a module while parsing the policy. */
struct cg_parse_ctx {
	int policy_fd;          /* O_PATH directory fd of the policy tree */
	const char *policy_dir; /* for messages */
	/*
	 * true for `congruent check`: validate all that can be without a
	 * host (template variable names exist somewhere in the policy, ...).
	 */
	bool checking;
	/*
	 * checking templates: the vars of the i-th class (0 first) whose
	 * roles include the role being parsed (site vars alone when no
	 * class does), with facts as placeholders; false past the last.
	 * *where names the class ("site.yaml:7"). A template rendered with
	 * each renders as on every host of the class.
	 */
	bool (*class_vars)(const struct cg_parse_ctx *pc, size_t i,
			   struct cg_template_vars *out, const char **where);
	/* Report a problem found by validate (where and resource set). */
	void (*report)(const struct cg_parse_ctx *pc, const struct cg_error *err);
	/* The same for something check should say but that is no error. */
	void (*warn)(const struct cg_parse_ctx *pc, const struct cg_error *err);
	void *agent; /* private to the agent */
};

/* What the engine gives a module while observing and applying. */
struct cg_ctx {
	struct cg_root *root;   /* where resources live: --root, or "/" */
	int policy_fd;          /* O_PATH directory fd of the policy tree */
	struct cg_store *store; /* backups of what apply overwrites */
	const char *state_dir;
	const char *netns;      /* --netns NAME, or NULL */
	/*
	 * The deadline of each helper program a module runs (agent config
	 * helper_timeout), in ms: cg_ctx_exec() applies it. 0: the default.
	 */
	unsigned helper_timeout_ms;
	/*
	 * A directory where a module may keep what it derived and can derive
	 * again (iptables' canonical rules), to be faster next time; NULL
	 * when nothing may be written (plan).
	 */
	const char *cache_dir;
	/*
	 * Where run keeps that cache, also in plan: plan may read it (it
	 * is keyed by all it depends on, so it gives what deriving gives),
	 * never write it. NULL: none.
	 */
	const char *cache_read_dir;
	/*
	 * A template variable as a string: a scalar var of this host, else
	 * a fact (NULL for a var that is a list or map).
	 */
	const char *(*lookup)(const struct cg_ctx *ctx, const char *name);
	/* All names lookup knows (NULL-terminated), for suggestions. */
	const char *const *(*names)(const struct cg_ctx *ctx);
	/* A var as a YAML node (a list, a map, ...), or NULL; may be NULL. */
	const struct cg_node *(*lookup_node)(const struct cg_ctx *ctx,
					     const char *name);
	/*
	 * The plaintext of a var that is a secret (cg_node_is_secret),
	 * decrypted in memory with this host's key and kept by the agent
	 * until the run ends; for cg_template_vars.reveal. A module that
	 * renders one marks what it shows of the result secret
	 * (cg_change_item.secret). Fails (err says why, with a hint) when
	 * this host is not a recipient. May be NULL: no secret decrypts.
	 */
	int (*reveal)(const struct cg_ctx *ctx, const struct cg_node *n,
		      const char **plain, size_t *len, struct cg_error *err);
	void *lookup_data; /* private to lookup, names and reveal */
	/*
	 * Was resource id changed earlier in this run: repaired, or in a
	 * dry-run drifted (so that `plan` shows what a change would bring,
	 * like a restart)?
	 */
	bool (*changed)(const struct cg_ctx *ctx, const char *id);
	/*
	 * The i-th resource (0 first) before r in the apply order, or NULL
	 * past r: what may change the host before r's turn (a package that
	 * ships r's unit). Read only its id, type, status and change.
	 */
	const struct cg_resource *(*earlier)(const struct cg_ctx *ctx,
					     const struct cg_resource *r,
					     size_t i);
	/*
	 * Outcomes kept between runs (STATE/records): a few key/value
	 * strings per resource, read at the start of the run, so that plan
	 * sees them too. record() gives r's value of key, or NULL. Keys
	 * are [a-z0-9_.-], at most 32 bytes; values at most 4096 bytes.
	 */
	const char *(*record)(const struct cg_ctx *ctx,
			      const struct cg_resource *r, const char *key);
	/*
	 * Set n keys of r's records at once (kv: n pairs key, value; a NULL
	 * value removes the key), durably on disk before it returns, so
	 * before the run reports anything about it. Fails in plan, which
	 * writes nothing (apply is never called there anyway).
	 */
	int (*record_set)(const struct cg_ctx *ctx, const struct cg_resource *r,
			  const char *const *kv, size_t n,
			  struct cg_error *err);
	void *records; /* private to the agent: its struct cg_state */
	/*
	 * Will a resource before r in the order have made id exist by r's
	 * turn? The id of the first such resource that changed (repaired,
	 * or in a dry-run drifted) whose id is id, or lies under it
	 * ("directory:/a/b" for "directory:/a", a directory made with its
	 * parents), or is of the type when id is "TYPE:" ("package:", which
	 * may ship any file, user or group); NULL when none. For diff(), to
	 * tell what fails in run from what an earlier resource makes work:
	 * the first is a failure in plan too, the second a note. A user
	 * or group resource type answers for "user:NAME" and "group:NAME".
	 */
	const char *(*made_before)(const struct cg_ctx *ctx,
				   const struct cg_resource *r,
				   const char *id);
	/*
	 * The i-th resource (0 first, in no particular order) that this
	 * host's policy declares, or NULL past the last: what else the
	 * policy manages (a directory's purge: keeps what other resources
	 * declare under it). Read only its id, type and name.
	 */
	const struct cg_resource *(*declared)(const struct cg_ctx *ctx,
					      size_t i);
	/*
	 * The paths (absolute, as under the root) that the declared
	 * resource d writes besides its name (its module's paths hook):
	 * add(arg, path) for each; none without the hook. A directory's
	 * purge: keeps them and what is below them.
	 */
	void (*declared_paths)(struct cg_ctx *ctx, const struct cg_resource *d,
			       void (*add)(void *arg, const char *path),
			       void *arg);
	void *agent; /* private to the engine */
	/*
	 * Private to the agent, for a run's live output: the engine calls
	 * final once per resource as its outcome becomes final, and
	 * working(first, n, what) before it observes or applies n resources
	 * starting with first ("observing", "applying"), then working(NULL,
	 * 0, NULL) when that is done. NULL: not called. Modules never use
	 * them.
	 */
	void (*final)(const struct cg_ctx *ctx, const struct cg_resource *r);
	void (*working)(const struct cg_ctx *ctx,
			const struct cg_resource *first, size_t n,
			const char *what);
	void *output; /* private to final and working */
	/*
	 * The firewall guard (agent config firewall:): a firewall change
	 * is undone unless confirmed within guard_seconds (0: no guard);
	 * it is confirmed when every canary passes, in netns.
	 * management_port: a TCP port INPUT must keep allowing if it did
	 * (0: none).
	 */
	unsigned guard_seconds;
	unsigned management_port;
	const struct cg_canary *canaries; /* borrowed */
	size_t ncanaries;
	/*
	 * While orphans are reverted (struct cg_revert): the revert of id
	 * decided earlier in this pass (in plan: what would be done), or
	 * NULL when none came before. A directory is empty once the files
	 * in it that are reverted before it are removed. NULL outside it.
	 */
	const struct cg_revert *(*reverted)(const struct cg_ctx *ctx,
					    const char *id);
	/* The same pass: does this host's policy declare id? */
	bool (*declares)(const struct cg_ctx *ctx, const char *id);
	/*
	 * The same pass: an orphan's ledger record key (a module's own,
	 * such as ledger.keys, that it set with record_set while the
	 * resource was managed), or NULL.
	 */
	const char *(*ledger)(const struct cg_ctx *ctx, const char *id,
			      const char *key);
	/*
	 * revert_packages: true in site.yaml: a revert may remove the
	 * packages congruent installed (otherwise they are kept).
	 */
	bool revert_packages;
};

/* What a module's revert decides for an orphan. */
enum cg_revert_verdict {
	CG_REVERT_KEEP,   /* left as it is, and in the ledger: what says why */
	CG_REVERT_CHANGE, /* put back as it was before congruent */
	CG_REVERT_FORGET, /* nothing to put back: it leaves the ledger */
};

/*
 * An orphan handed to its module's revert (see struct cg_module): a
 * resource in the ledger that this host's policy no longer has.
 */
struct cg_revert {
	const char *id;     /* borrowed: "file:/etc/app.conf" */
	const char *name;   /* borrowed: id after "TYPE:" */
	const char *before; /* borrowed: ledger.before, in the module's words,
			     * or "unknown" */
	const char *since;  /* borrowed: ledger.since, the first commit */
	/* Filled by revert: */
	enum cg_revert_verdict verdict;
	/*
	 * CHANGE makes the resource absent (a file removed): a directory
	 * above it may be empty after it.
	 */
	bool removes;
	/* One line: "remove (created by congruent)", "keep: why". */
	char what[512];
	/* apply: the change failed (err says why); it stays in the ledger. */
	bool failed;
	struct cg_error err;
};

/*
 * A check that the host can still be reached after a firewall change:
 * a TCP connect to host:port, or a program (argv) that exits 0.
 */
struct cg_canary {
	const char *host, *port;  /* borrowed, or NULL with argv */
	const char *const *argv;  /* borrowed, NULL-terminated, or NULL */
	const char *why;          /* borrowed: "the policy git server" */
};

enum {
	/*
	 * apply() takes every pending resource of its type at once (one apt
	 * transaction, one iptables-restore per table): the engine hands it
	 * all changed resources of the type whose requirements are met, at
	 * the place of the first of them in the order.
	 */
	CG_MODULE_BATCH = 1u << 0,
	/*
	 * apply() runs code nobody can bound (package maintainer scripts):
	 * `run` keeps every capability while it works. caps then lists what
	 * the module itself is known to need, a floor.
	 */
	CG_MODULE_ALL_CAPS = 1u << 1,
	/*
	 * apply() reads the state back itself, to verify and to retry on
	 * fresh state (iptables, where another program may change a table
	 * meanwhile), and leaves each r->observed as it read it after the
	 * change: the engine then verifies by diff() alone, without a second
	 * observe().
	 */
	CG_MODULE_VERIFIES = 1u << 2,
	/*
	 * apply() takes, with the resource at hand, the resources of its
	 * type that follow it directly in the order (nothing of another type
	 * in between, none requiring or ordered after one of them), observed
	 * already and needing a change: files, which then share their syncs.
	 * Unlike CG_MODULE_BATCH the order is kept as it is.
	 */
	CG_MODULE_BATCH_RUN = 1u << 3,
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
	 * return fails all n with err. Everything that needs a privilege, a
	 * helper program or a scratch namespace happens here (iptables-save,
	 * the canonical round-trip, reading root-only files), never in
	 * diff(). It changes nothing: plan calls it too.
	 */
	int (*observe)(struct cg_ctx *ctx, struct cg_resource **res, size_t n,
		       struct cg_error *err);

	/*
	 * Fill r->change (empty on entry) from desired and observed. Only
	 * computes: for plan it runs in a sandbox without capabilities, as
	 * uid 65534, with every mount read-only and nodev and no network.
	 * What it needs from the host, observe() put into r->observed.
	 */
	int (*diff)(struct cg_ctx *ctx, struct cg_resource *r,
		    struct cg_error *err);

	/*
	 * Make the change in each r->change. Per-resource failures via
	 * cg_resource_fail(); a negative return fails all n with err. The
	 * engine re-observes afterwards to verify.
	 */
	int (*apply)(struct cg_ctx *ctx, struct cg_resource **res, size_t n,
		     struct cg_error *err);

	/*
	 * Instead of apply, for a module whose change is made resource by
	 * resource: the engine calls it for each of them and fails the
	 * resource with err when it returns < 0. Set one of the two.
	 */
	int (*apply_one)(struct cg_ctx *ctx, struct cg_resource *r,
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

	unsigned flags; /* CG_MODULE_* */
	/*
	 * Optional, NULL-terminated: record keys of this module's that say
	 * what congruent owns of a resource, like the ledger.* keys (the
	 * iptables rules congruent added: owned, owned.1, ...). Forgetting
	 * the resource (congruent forget, orphans: forget, a revert done)
	 * drops them with the ledger, so that it coming back later does not
	 * take what is there for congruent's.
	 */
	const char *const *ledger_keys;
	/*
	 * The capabilities observe() and apply() need, and the helper
	 * programs they run (which get them as ambient capabilities): `run`
	 * keeps only the union over the modules that have resources in the
	 * policy and drops every other, bounding set included, before the
	 * first observe(). plan observes with them too, then diffs with none
	 * in a read-only sandbox: diff() only computes, from desired and
	 * observed (see the comment of diff above).
	 * systemd authorises by uid, not capability: systemctl needs none.
	 */
	cap_value_t caps[16];
	size_t ncaps;
	/*
	 * Optional: CG_MODULE_ALL_CAPS decided for this host, when only some
	 * hosts need it (services under sysvinit, whose daemons are started
	 * as our children and keep the bounding set we leave them).
	 */
	bool (*all_caps)(const struct cg_ctx *ctx);
	/*
	 * Optional: does observe() run a program for r in the sandbox
	 * (cg_ctx_exec_confined, a file's validate:)? run then keeps what
	 * building the sandbox needs, for the agent itself only.
	 */
	bool (*confines)(const struct cg_resource *r);

	/*
	 * Optional: orphans of this type, to put back as they were before
	 * congruent (orphans: revert). For each of v[0..n) decide from
	 * v[i]->before and what is there now (reading only): verdict and
	 * what; then, with apply, make each CHANGE (content removed or
	 * replaced goes to ctx->store first), setting failed and err for
	 * one that did not work. plan calls it without apply, run with:
	 * the decision is the same code, so plan shows what run does. A
	 * negative return fails all n with err. Never removes what
	 * congruent did not create or change. Without it, orphans of the
	 * type are kept, saying so.
	 */
	int (*revert)(struct cg_ctx *ctx, struct cg_revert *const *v, size_t n,
		      bool apply, struct cg_error *err);

	/*
	 * Optional: the files and directories r writes that its name does
	 * not name (authorized_keys: USER writes HOME/.ssh/authorized_keys),
	 * absolute as under the root, each passed to add(arg, path). From
	 * r->desired and what reading the host tells (the account
	 * database), never from r->observed, which may not be there yet:
	 * another resource asks (a directory's purge: keeps them). Changes
	 * nothing.
	 */
	void (*paths)(struct cg_ctx *ctx, const struct cg_resource *r,
		      void (*add)(void *arg, const char *path), void *arg);
};

struct cg_exec;
struct cg_exec_result;

/*
 * Run a helper program (apt-get, systemctl, iptables-restore) for a
 * module: cg_exec_run() with the agent's deadline for helpers
 * (ctx->helper_timeout_ms, from helper_timeout in the agent config) in
 * place of x->timeout_ms. One that hangs is killed with everything it
 * started in its process group; CG_ETIMEOUT then, and err says which
 * program, after how long, and what to do. Fail the resources it was
 * for with err and return: the engine goes on with the others.
 */
int cg_ctx_exec(const struct cg_ctx *ctx, const struct cg_exec *x,
		struct cg_exec_result *res, struct cg_error *err);

/*
 * cg_ctx_exec in a sandbox, the one plan diffs in (cg_sandbox_enter:
 * every mount read-only and nodev, no network, no capabilities, uid
 * 65534 when the agent is root), entered by a child process made for
 * this one program, whose working directory is "/". The in_len bytes at
 * in are its stdin, as an in-memory file (a sealed memfd) that
 * /proc/self/fd/0 also names; x->in and x->in_fd are ignored. plan and
 * run both check through it, so that a check (validate:) gives the same
 * answer in both and can change nothing in either.
 */
int cg_ctx_exec_confined(const struct cg_ctx *ctx, const struct cg_exec *x,
			 const void *in, size_t in_len,
			 struct cg_exec_result *res, struct cg_error *err);

/*
 * A dead-man (agent/guard.c): a process of the agent's, in its own
 * session, that outlives the agent and runs what it holds (the undo of
 * a change) when guard_seconds pass or the agent dies before it
 * confirms. Armed before the change, so that no moment of the change
 * is unguarded; it holds no lock.
 */
struct cg_guard {
	pid_t pid;        /* the watcher, or -1 */
	int fd;           /* our end of its pipe, or -1 */
	unsigned seconds;
	bool undone;      /* it ran what it held, and all of it succeeded */
};

/* A program the guard runs, in ctx->netns: the first input it takes. */
struct cg_guard_undo {
	const char *const *argv; /* NULL-terminated */
	const char *in[2];
	size_t in_len[2];
	size_t nin;
};

/* Start the watcher for ctx (holding nothing yet). */
int cg_guard_arm(const struct cg_ctx *ctx, unsigned seconds,
		 struct cg_guard *g, struct cg_error *err);
/* Replace what it holds by u[0..n): what undoes the change so far. */
int cg_guard_hold(struct cg_guard *g, const struct cg_guard_undo *u, size_t n,
		  struct cg_error *err);
/*
 * Confirm: the watcher ends without running anything. CG_ERR when it was
 * too late (it ran what it held: g->undone says whether all of it
 * worked), err saying so.
 */
int cg_guard_confirm(struct cg_guard *g, struct cg_error *err);
/* Have it run what it holds now, and wait: 0 when all of it worked. */
int cg_guard_fire(struct cg_guard *g, struct cg_error *err);

/*
 * For parse: the resource ids listed under key of item (restart_on:,
 * refresh_on:), each TYPE:NAME of a known type, each once, into *out
 * (NULL-terminated, the caller's; NULL and 0 when key is absent), and r
 * ordered (softly) after each. example is a TYPE:NAME for the hint.
 * Errors name key's line.
 */
int cg_parse_watch_list(struct cg_resource *r, const struct cg_node *item,
			const char *key, const char *example, char ***out,
			size_t *n_out, struct cg_error *err);

/* The NULL-terminated table of all modules (agent/modules.c). */
extern const struct cg_module *const cg_modules[];

/* The module for a type name, or NULL. */
const struct cg_module *cg_module_find(const char *type);

#endif
