/* agent.h: what the parts of the agent share; modules never include it. */
#ifndef CG_AGENT_H
#define CG_AGENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "cg/error.h"
#include "cg/fs.h"
#include "cg/module.h"
#include "cg/resource.h"
#include "cg/util.h"

/* --- kv.c: small string maps ---------------------------------------- */

/* An ordered list of key/value strings (vars, facts). */
struct cg_kvs {
	char **keys; /* owned */
	char **vals; /* owned */
	size_t n, cap;
};

/* Set key to value (copies), replacing an existing value. */
void cg_kvs_set(struct cg_kvs *kv, const char *key, const char *value);
const char *cg_kvs_get(const struct cg_kvs *kv, const char *key);
void cg_kvs_release(struct cg_kvs *kv);

/*
 * Vars: names to YAML nodes (strings, numbers, booleans, lists, maps), in
 * the order first set. Keys and nodes are borrowed from the documents
 * they came from, which must outlive this.
 */
struct cg_vars {
	const char **keys;           /* owned array, borrowed strings */
	const struct cg_node **vals; /* owned array, borrowed nodes */
	size_t n, cap;
};

/* Set key to val, replacing an existing value. */
void cg_vars_set(struct cg_vars *v, const char *key,
		 const struct cg_node *val);
const struct cg_node *cg_vars_get(const struct cg_vars *v, const char *key);
/* Set every var of from in to (from's override to's). */
void cg_vars_copy(struct cg_vars *to, const struct cg_vars *from);
void cg_vars_release(struct cg_vars *v);

/* A hash index from string to size_t, for ids. Keys are borrowed. */
struct cg_index {
	const char **keys;
	size_t *vals;
	size_t cap, n;
};

/* Insert key; if present, leave it and return false with *old set. */
bool cg_index_put(struct cg_index *ix, const char *key, size_t val,
		  size_t *old);
bool cg_index_get(const struct cg_index *ix, const char *key, size_t *out);
void cg_index_release(struct cg_index *ix);

/* --- diag.c: the errors of a whole policy, all reported at once ------ */

struct cg_diag {
	struct cg_error *errs; /* owned */
	size_t n, cap;
	struct cg_error *warns; /* owned */
	size_t nwarn, capwarn;
};

#define CG_DIAG_MAX 100 /* more than this many are counted, not kept */

void cg_diag_add(struct cg_diag *d, const struct cg_error *err);
void cg_diag_warn(struct cg_diag *d, const struct cg_error *err);
void cg_diag_release(struct cg_diag *d);

/* --- facts.c -------------------------------------------------------- */

#define CG_FACTS_MAX_PROBLEMS 8

struct cg_facts {
	struct cg_kvs kv;
	struct cg_root *root; /* borrowed */
	bool fqdn_done;       /* fqdn and domain are looked up on first use */
	/*
	 * What was wrong with the custom facts files (facts.d): each bad
	 * file gives none of its facts; the first few are kept.
	 */
	struct cg_error problems[CG_FACTS_MAX_PROBLEMS];
	size_t nproblems;
};

/* Custom facts are named this, then their key in the file. */
#define CG_FACT_CUSTOM_PREFIX "custom_"

/* The names of all facts, NULL-terminated, in display order. */
extern const char *const cg_fact_names[];

int cg_facts_gather(struct cg_facts *f, struct cg_root *root,
		    const char *hostname, struct cg_error *err);
/*
 * The value of a fact, or NULL for a name that is not a fact. A custom
 * fact (custom_NAME) that this host does not define is "".
 */
const char *cg_facts_get(struct cg_facts *f, const char *name);
/* Is name a fact's: one of cg_fact_names, or custom_NAME? */
bool cg_fact_is_name(const char *name);
/*
 * factsd.c: read the files NAME.yaml of ROOT/etc/congruent/facts.d (static maps, in
 * name order, a later file overriding) into f as custom_KEY facts;
 * a bad file gives none of its facts and a problem in f.
 */
void cg_facts_read_custom(struct cg_facts *f, struct cg_root *root);
void cg_facts_release(struct cg_facts *f);

/* --- policy.c: site.yaml and roles to resources --------------------- */

struct cg_policy {
	char *dir;            /* owned: as given, for messages */
	int fd;               /* owned: O_PATH of the tree */
	char *commit;         /* owned: the git commit, or NULL */
	char **roles;         /* owned: this host's roles, in order */
	size_t nroles;
	char *class_where;    /* owned: "site.yaml:3", the class that matched */
	/*
	 * this host's vars: hierarchy data (most specific first, maps
	 * merged deeply) over the class's over site's
	 */
	struct cg_vars vars;
	struct cg_doc *site;  /* owned: site.yaml, where vars' nodes live */
	struct cg_doc **data; /* owned: the hierarchy's data files read */
	size_t ndata;
	struct cg_node **merged; /* owned: maps made by merging, each with
				  * its items array */
	size_t nmerged;
	struct cg_resource *res; /* owned: in declaration order */
	size_t n, cap;
	size_t *order;        /* owned: indexes of res in apply order */
	struct cg_index ids;  /* id -> index in res */
	/* orphans: forget (site.yaml, or the class): drop them from the ledger */
	bool orphans_forget;
	/* mode: audit (site.yaml, or the class): run changes nothing, as plan */
	bool audit_mode;
	/* orphans: revert: put them back as they were before congruent */
	bool orphans_revert;
	/* revert_packages: true (site.yaml): that may remove packages */
	bool revert_packages;
	/* bits of cg_modules indexes: orphans to revert (caps are kept) */
	uint32_t revert_types;
	const char **names;   /* owned array: vars then facts, for hints */
};

/*
 * Load the policy tree at dir for the host the facts describe (its
 * hostname fact picks the class): roles, vars, resources, in apply order.
 * All problems found are added to diag; returns CG_ERR if there was any.
 */
int cg_policy_load(struct cg_policy *p, const char *dir, struct cg_facts *facts,
		   struct cg_diag *diag);

/*
 * Validate the whole tree for any host: every class, every role file,
 * every resource, the requires: graph, templates. For `congruent check`.
 */
int cg_policy_check(const char *dir, struct cg_diag *diag);

/*
 * Keep only the resources of mod's type, in their order (`run --only
 * iptables`, the firewall at boot). A requires: on a resource left out is
 * dropped: the full runs that made the last policy good enforced it.
 */
void cg_policy_only(struct cg_policy *p, const struct cg_module *mod);
/*
 * Leave out the resources of mod's type (`run --skip iptables` building
 * an image); a requires: on one of them is dropped, as with only.
 */
void cg_policy_skip(struct cg_policy *p, const struct cg_module *mod);

void cg_policy_release(struct cg_policy *p);

/* --- order.c -------------------------------------------------------- */

/*
 * Sort res into one total order: declaration order, moved only where
 * requires: says so (a stable topological sort). A cycle is reported in
 * full to diag. *order_out holds n indexes.
 */
int cg_order(struct cg_resource *res, size_t n, size_t **order_out,
	     struct cg_diag *diag);

/* --- engine.c ------------------------------------------------------- */

struct cg_counts {
	size_t ok, drifted, repaired, failed, skipped;
	/* Unmanaged items nobody known owns (an operator's hand rule). */
	size_t extra;
	size_t warnings; /* change.warnings, all resources */
};

/*
 * Set (to the signal number) by the agent's SIGTERM/SIGINT handler: the
 * engine finishes the resource at hand, then skips the rest, saying why.
 */
extern volatile sig_atomic_t cg_stop_signal;

/*
 * Observe every resource (one batch per module), diff, and unless dry_run
 * apply and verify, in p->order. Outcomes are left in each resource.
 * The same as cg_engine_new + cg_engine_finish + cg_engine_free.
 */
void cg_engine_run(struct cg_policy *p, struct cg_ctx *ctx, bool dry_run,
		   struct cg_counts *counts);

/*
 * The engine in steps, for plan (readonly.c), which observes everything
 * while it may still read what needs privileges, then diffs in a sandbox.
 * new sets ctx->changed and ctx->agent (free unsets them).
 */
struct cg_engine;
struct cg_engine *cg_engine_new(struct cg_policy *p, struct cg_ctx *ctx);
/*
 * Observe every resource now (in each module's windows, in order), rather
 * than just before its turn: finish then calls no module's observe() for
 * a dry run. Holds every observation until finish.
 */
void cg_engine_observe_all(struct cg_engine *e);
/* Diff, and unless dry_run apply and verify, in order; then count. */
void cg_engine_finish(struct cg_engine *e, bool dry_run,
		      struct cg_counts *counts);
void cg_engine_free(struct cg_engine *e);
/* Count the outcomes left in p's resources. */
void cg_engine_count(const struct cg_policy *p, struct cg_counts *counts);

/*
 * The host's fingerprint: SHA-256 over every resource's id and digest of
 * its observed state, in apply order (hex). Two hosts with the same policy
 * have the same fingerprint exactly when their managed state is the same.
 */
void cg_engine_fingerprint(const struct cg_policy *p, char out[65]);

/* The exit status DESIGN.md gives for these outcomes. */
int cg_exit_status(const struct cg_counts *c, bool refused);

/* --- output.c: what plan and run print, and reports ----------------- */

struct cg_source;

struct cg_run_info {
	const char *command;  /* "plan" or "run" */
	const char *host;
	const char *policy;   /* dir or URL */
	const char *commit;   /* or NULL */
	const struct cg_source *source; /* the git source step, or NULL */
	int64_t started;      /* seconds since the epoch */
	uint64_t duration_ns;
	int exit_status;
	int stopped;          /* the signal that stopped the run early, or 0 */
	bool live;            /* resources were printed as they came */
	const char *change;   /* "rollout", "drift" or NULL: cg_report_change */
	bool audit;           /* a run in mode: audit: it changed nothing */
	bool verbose;
	bool color;
	/* borrowed, or NULL (--only: not computed): the ledger's orphans */
	const struct cg_orphans *orphans;
	/* borrowed, or NULL: its problems (bad custom facts files) */
	const struct cg_facts *facts;
};

/*
 * The whole text report at the end; for a live run (info->live) only what
 * cg_live_final did not print as it went: the module summaries and the
 * summary line.
 */
void cg_output_text(const struct cg_policy *p, const struct cg_run_info *info,
		    const struct cg_counts *c, FILE *out);

/*
 * A run's live output: each resource's outcome is logged and (with out)
 * printed as it becomes final, the heading before the first; a step that
 * takes more than 3 s says so on stderr. Install with ctx->final =
 * cg_live_final, ctx->working = cg_live_working, ctx->output = lv.
 */
struct cg_live {
	const struct cg_policy *p;     /* borrowed */
	const struct cg_run_info *info; /* borrowed: heading, colour */
	FILE *out;                     /* borrowed, or NULL: log only */
	bool headed;                   /* the heading was printed */
};

void cg_live_start(struct cg_live *lv, const struct cg_policy *p,
		   const struct cg_run_info *info, FILE *out);
void cg_live_final(const struct cg_ctx *ctx, const struct cg_resource *r);
void cg_live_working(const struct cg_ctx *ctx, const struct cg_resource *first,
		     size_t n, const char *what);
/* details: include display-only diffs (never in reports). */
void cg_output_json(const struct cg_policy *p, const struct cg_run_info *info,
		    const struct cg_counts *c, bool details, bool pretty,
		    FILE *out);
/*
 * The JSON document of a command that found errors before it had a result
 * (check; plan or run with a bad policy or config): every error in d, then
 * err if it says anything, as {file, line, column, resource, message,
 * hint}. doc/schema/problems.schema.json.
 */
void cg_output_problems_json(const char *command, const char *policy,
			     const struct cg_diag *d,
			     const struct cg_error *err, int exit_status,
			     FILE *out);
/* Print an error the way every command does: where: resource: msg + hint. */
void cg_print_error(FILE *out, const struct cg_error *err, bool color);

/* --- usage.c: what each command takes ------------------------------ */

/* The usage text of a command (synopsis, then what it does), or NULL. */
const char *cg_usage_text(const char *cmd);
/* "usage: congruent CMD ..." for -h/--help and `help CMD`. */
void cg_usage_print(const char *cmd, FILE *out);

/* --- log.c: what a run changed, to stderr and syslog ----------------- */

/*
 * From now on, log to syslog too (as "congruent", LOG_DAEMON, with the
 * pid), unless stderr is the journal already (JOURNAL_STREAM): then each
 * line goes there once, with its priority. run calls it; plan does not.
 */
void cg_log_open(void);
void cg_log_close(void);

/* "congruent: ..." on stderr, and to syslog once cg_log_open was called. */
void cg_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* To syslog (only: cg_print_error printed it) once cg_log_open was called. */
void cg_log_error(const struct cg_error *err);

/*
 * A line for r when it was repaired, failed or was skipped: the engine of
 * a run calls it as each outcome becomes final, so that what was done is
 * in the log even if the run is killed a moment later.
 */
void cg_log_resource(const struct cg_resource *r);

/*
 * The summary line of a run (and why it stopped early); nothing for a
 * run that changed nothing, unless verbose.
 */
void cg_log_run(const struct cg_run_info *info, const struct cg_counts *c);

/* Is fd the stream into the journal that JOURNAL_STREAM names? */
bool cg_fd_is_journal(int fd);

/* "<3>" for prio 3 when out is stderr and stderr is the journal; or "". */
const char *cg_log_level(FILE *out, int prio);

/* --- lock.c --------------------------------------------------------- */

/*
 * Take STATE/lock with flock(2), writing our pid into it. CG_ELOCKED when
 * another process holds it (err names the pid). The lock goes with the
 * process, so one that died leaves nothing stale behind.
 */
int cg_lock_take(const char *state_dir, int *fd_out, struct cg_error *err);
void cg_lock_release(int fd);
/*
 * In a child forked without exec (a git fetch or push, plan's sandbox),
 * first thing: let go of the run's lock, die with parent (SIGKILL), and
 * with timeout_s > 0 die by SIGALRM after that long even if the parent
 * is gone, so that no child outlives its run or holds its lock.
 */
void cg_child_of_run(pid_t parent, unsigned timeout_s);

/*
 * Temporaries left by a killed run (leftover.c). cg_leftover_begin, under
 * the lock, before a run changes anything: if the previous run left its
 * record STATE/temporaries (it did not end), remove each temporary entry
 * it made that is still exactly the one it made (same directory inode,
 * same name, same inode), *removed_out of them; then start this run's
 * record, which cg_fs_temp_made appends to. cg_leftover_end, however the
 * run ends: remove the record (it was this run's and every temporary is
 * gone). On error the run goes on without a record.
 */
int cg_leftover_begin(const char *state_dir, size_t *removed_out,
		      struct cg_error *err);
void cg_leftover_end(void);

/* --- caps.c: least privilege ---------------------------------------- */

/* Capability sets are bit masks: bit N is capability N (CAP_CHOWN = 0). */
#define CG_CAPS_ALL (~UINT64_C(0))

/* The process's privileges as /proc/PID/status shows them. */
struct cg_caps_state {
	uint64_t inh, prm, eff, bnd, amb;
	bool no_new_privs;
};

/*
 * The union of the capabilities that the modules of p's resources declare
 * (CG_CAPS_ALL if one of them has CG_MODULE_ALL_CAPS).
 */
uint64_t cg_caps_for_policy(const struct cg_policy *p,
			    const struct cg_ctx *ctx);

/*
 * Keep only the capabilities in keep and self, as far as we hold them:
 * keep for this process and, as its ambient and inheritable sets, for the
 * helper programs it runs; self for this process only. Every other is
 * dropped from every set, the bounding set too; SECBIT_NOROOT is set and
 * locked, so that an execve as uid 0 gives nothing back, and no_new_privs
 * is set. With uid other than (uid_t)-1, also switch to that uid, gid =
 * uid and no supplementary groups, holding nothing. Then read
 * /proc/self/status and fail closed (CG_ERR) if the kernel does not show
 * exactly that.
 */
int cg_caps_limit(uint64_t keep, uint64_t self, uid_t uid,
		  struct cg_error *err);

/*
 * cg_engine_run with least privilege: keep only the capabilities of p's
 * modules (cg_caps_for_policy), then run; for a dry run (plan), observe
 * with them and diff in the read-only sandbox (cg_plan_readonly). CG_ERR
 * when privileges could not be limited as asked: nothing was done then.
 */
int cg_engine_run_confined(struct cg_policy *p, struct cg_ctx *ctx,
			   bool dry_run, bool verbose, struct cg_counts *counts,
			   struct cg_error *err);

/* Read the privileges of process pid (0: this one). */
int cg_caps_read(int pid, struct cg_caps_state *out, struct cg_error *err);
/*
 * From now on cg_caps_read reads PROC/... through fd, an open /proc, not
 * by path: for a process chrooted where /proc is not (fd stays open).
 */
void cg_caps_proc_at(int fd);

/* "cap_chown,cap_fowner", or "none", into buf. */
void cg_caps_names(uint64_t set, char *buf, size_t size);

/* --- readonly.c: plan's read-only phase ----------------------------- */

/*
 * plan: observe every resource here (with the privileges reading needs:
 * the firewall, root-only files), then diff in a child inside the
 * sandbox of cg_sandbox_enter, which sends the outcomes back into p's
 * resources. counts as cg_engine_run's. summary says what the sandbox
 * was (for -v). CG_ERR if the sandbox could not be made: nothing is
 * planned then, and nothing was written.
 */
int cg_plan_readonly(struct cg_policy *p, struct cg_ctx *ctx,
		     struct cg_counts *counts, char *summary, size_t size,
		     struct cg_error *err);

/* The capabilities cg_sandbox_enter needs (the first phase keeps them). */
uint64_t cg_sandbox_caps(void);

/*
 * Enter the sandbox, for good: private mount, network and IPC namespaces
 * (a user namespace too when not privileged) with every mount read-only
 * and nodev; as root, switch to uid/gid 65534 (systemd and D-Bus
 * authorise by uid); drop every capability, bounding set included, with
 * SECBIT_NOROOT and no_new_privs (cg_caps_limit). Directory fds opened
 * before (which lead to the host's mounts) are opened again inside, every
 * other fd but 0, 1, 2 and keep_fd is closed. Each step is verified.
 */
int cg_sandbox_enter(int keep_fd, char *summary, size_t size,
		     struct cg_error *err);
/* The same, then chroot(2) into root (NULL: none) once the mounts are
 * read-only and before the capabilities go (an exec guard under --root). */
int cg_sandbox_enter_in(int keep_fd, const char *root, char *summary,
			size_t size, struct cg_error *err);

/* Make every mount read-only (walk: one remount each, as on old kernels). */
int cg_sandbox_remount(bool walk, struct cg_error *err);
/* Are all mounts in /proc/self/mountinfo read-only and nodev? */
int cg_sandbox_check_mounts(unsigned *count, struct cg_error *err);

/* --- config.c: /etc/congruent/agent.yaml ---------------------------- */

#define CG_DEFAULT_CONFIG "/etc/congruent/agent.yaml"
#define CG_DEFAULT_STATE_DIR "/var/lib/congruent"
#define CG_DEFAULT_HELPER_TIMEOUT 600 /* seconds */

struct cg_config {
	char *path;            /* owned: the file read, or NULL */
	char *source_url;      /* owned */
	char *source_branch;   /* owned; default "main" */
	bool require_signed;
	/* verify: every_commit: each new commit, not only the tip, is signed */
	bool verify_every_commit;
	char *verify_from;     /* owned: with it, the first run's trust root */
	char *allowed_signers; /* owned */
	char *ca_file;         /* owned */
	char *ssh_key;         /* owned: private key for ssh:// */
	char *known_hosts;     /* owned: host keys accepted for ssh:// */
	unsigned timeout;      /* seconds; default 60 */
	unsigned helper_timeout; /* seconds per helper program (apt, ...) */
	unsigned backup_max_mb;  /* larger old contents: hash only kept */
	char *state_dir;       /* owned; default CG_DEFAULT_STATE_DIR */
	char *reports_url;     /* owned */
	char *reports_prefix;  /* owned; default "hosts/" */
	char *reports_signing_key; /* owned: OpenSSH ed25519 key, or NULL:
				    * STATE/report-key, made on first use */
	unsigned reports_heartbeat;    /* seconds; 0: commit every run */
	unsigned reports_timeout;      /* seconds; default 60 */
	unsigned reports_queue_max;    /* undelivered reports kept; 500 */
	unsigned reports_queue_max_mb; /* and their size; 64 MiB */
	unsigned reports_shards;       /* repositories "{shard}" spreads over; 1 */
	/* firewall: the guard of firewall changes (see struct cg_ctx) */
	unsigned guard_seconds;      /* default 30; 0: no guard */
	unsigned management_port;    /* default 22; 0: not checked */
	bool canaries_set;           /* canaries: given (even empty) */
	struct cg_config_canary *canaries; /* owned */
	size_t ncanaries;
};

/* A canary of the agent config: host and port, or argv. All owned. */
struct cg_config_canary {
	char *host, *port;
	char **argv; /* NULL-terminated, or NULL */
	char *why;   /* "canary at agent.yaml:7", "the policy git server" */
	int server;  /* 0: listed; 1: the default of source:, 2: of reports: */
};

/*
 * The canaries to run: those the config lists, else a TCP connect to
 * the policy git server and to the reports server, when they are network
 * URLs, when this run talks to it (pulling, reporting): a boot-time run
 * with --no-pull --no-report, before the network is up, has none of those.
 * *out (n of them) borrows from c; free the array only.
 */
void cg_config_canaries(const struct cg_config *c, bool pulling,
			bool reporting, struct cg_canary **out, size_t *n);

#define CG_REPORTS_HEARTBEAT 14400 /* 4 hours */

/*
 * Read the agent config at path. When path is the default and does not
 * exist, the defaults are used (a --policy run needs no config).
 */
int cg_config_load(struct cg_config *c, const char *path, bool explicit_path,
		   struct cg_error *err);
void cg_config_release(struct cg_config *c);

/* --- source.c: the policy from git --------------------------------- */

struct cg_source {
	char *dir;             /* owned: the policy tree to enforce */
	char *commit;          /* owned: its commit id */
	bool stale;            /* the fetch failed: the last good is used */
	bool refused;          /* a new commit was refused (exit bit 4) */
	char refused_commit[48];
	/*
	 * Why refused, as a word for fleet: "unsigned", "unknown signer",
	 * "bad signature", "rollback", "check failed", "bad tree", "no
	 * branch".
	 */
	char refusal[24];
	struct cg_error why;   /* why stale or refused */
	int64_t good_time;     /* when the last good commit was applied */
	int64_t fetched_time;  /* last successful fetch, or 0 */
	unsigned objects;      /* fetched this time */
	size_t bytes;
	char signer[600];      /* who signed commit, when checked */
};

/*
 * First thing in a git child (fetch, push): drop every capability, set up
 * libgit2 and the CAs for url. -1 with msg filled when it cannot.
 */
int cg_git_child_begin(const struct cg_config *c, const char *url, char *msg,
		       size_t size);
/* libgit2 set up once. */
void cg_git_setup(const struct cg_config *c);
/* For an https:// url: the CA locations (ca_file, or the system's). */
void cg_git_set_ca(const struct cg_config *c, const char *url);
/*
 * Callbacks for a libgit2 remote: ssh authentication with ssh_key, ssh
 * host keys checked against known_hosts (refused without one), TLS left
 * to libgit2 and the CAs. *payload_out is the caller's to free; after a
 * failure, cg_git_auth_why(payload) says what the callbacks refused.
 */
struct git_remote_callbacks;
void cg_git_auth_callbacks(struct git_remote_callbacks *cb, const char *url,
			   const char *ssh_key, const char *known_hosts,
			   void **payload_out);
const char *cg_git_auth_why(void *payload);
/* err from libgit2's last error, after a "what failed" prefix. */
int cg_git_error(struct cg_error *err, const char *fmt, const char *arg);
/*
 * Run fn in a child process killed after timeout_s seconds (libgit2 has
 * no time-out of its own); fn writes one line for the parent into msg.
 * A failing fn's line becomes err's message.
 */
int cg_git_in_child(unsigned timeout_s,
		    int (*fn)(void *arg, char *msg, size_t size), void *arg,
		    char *msg, size_t size, struct cg_error *err);

/*
 * Fetch the configured branch (unless !pull) and pick the commit to
 * enforce: the new tip if it is signed as required, descends from the
 * last good commit (unless allow_rollback) and its policy passes check;
 * else the last good commit, with src->refused or src->stale and
 * src->why saying why. Fails only when there is no good commit at all.
 */
int cg_source_prepare(const struct cg_config *c, const char *state_dir,
		      bool pull, bool allow_rollback, struct cg_source *src,
		      struct cg_error *err);
/* The commit's policy was fully evaluated: it is the last good one now. */
int cg_source_mark_good(const char *state_dir, const struct cg_source *src,
			struct cg_error *err);
void cg_source_release(struct cg_source *src);

/* --- report.c: reports queued in STATE, pushed to the central repository */

/*
 * The state a report describes, without what changes on every run (time,
 * durations, fetch counts): host, policy commit, exit status, the
 * fingerprint, and every resource's status and what differed. Two reports
 * with the same digest say the same thing (hex SHA-256 into out).
 */
void cg_report_digest(const struct cg_policy *p, const struct cg_run_info *info,
		      char out[65]);

struct cg_report_status {
	bool queued;          /* this run's report went into the queue */
	unsigned pending;     /* reports in the queue, after this run */
	size_t pending_bytes;
	unsigned dropped;     /* dropped when the queue was full, this run */
	unsigned delivered;   /* reports taken out of the queue by the push */
	unsigned commits;     /* commits the push made */
	char tip[48];         /* the host's ref after the push */
};

/*
 * Put this run's report into STATE/reports/queue, unless it says the same
 * as the last one queued or delivered and that one is younger than
 * reports.heartbeat. When the queue is over reports.queue_max reports or
 * queue_max_mb, the oldest are dropped (st->dropped; the count goes with
 * the next commit).
 */
int cg_report_queue(const struct cg_config *c, const char *state_dir,
		    const struct cg_policy *p, const struct cg_run_info *info,
		    const struct cg_counts *counts, struct cg_report_status *st,
		    struct cg_error *err);

/*
 * Deliver the queue, oldest first, as commits on refs/heads/PREFIX+host
 * of reports.url, in a child with reports.timeout as its deadline and no
 * capabilities, each commit signed with the report key
 * (cg_report_signing_key). Nothing queued: nothing to do. On failure the
 * queue is left for the next run.
 */
struct cg_reportkey;
/*
 * The key that signs this host's report commits: reports.signing_key, or
 * STATE/report.key, made on first use when create (plan, which writes
 * nothing, only reads one). *path_out (may be NULL) is the caller's to
 * free.
 */
int cg_report_signing_key(const struct cg_config *c, const char *state_dir,
			  bool create, struct cg_reportkey *out,
			  char **path_out, struct cg_error *err);
int cg_report_push(const struct cg_config *c, const char *state_dir,
		   const char *host, struct cg_report_status *st,
		   struct cg_error *err);

/*
 * plan's report, pushed at once as one commit on PREFIX+host (subject
 * "plan HOST: ..."), with cg_report_push's child, deadline and
 * heartbeat rule; never through the queue: the commit is made in a
 * scratch repository under TMPDIR that is removed after. Not pushed
 * while reports of runs wait in state_dir's queue (they come first).
 * Once pushed, STATE/reports/last, if there, is set to its digest (the
 * only write). A failure is the caller's to print; nothing waits.
 */
int cg_report_push_now(const struct cg_config *c, const char *state_dir,
		       const struct cg_policy *p,
		       const struct cg_run_info *info,
		       const struct cg_counts *counts,
		       struct cg_report_status *st, struct cg_error *err);

/*
 * The state word of a report, the worst that applies: "failed",
 * "refused", "stale source", "repaired", "drifted" or "congruent";
 * count is ok, drifted, repaired, failed, skipped. The commit subject and
 * fleet both use it, so the two never disagree.
 */
const char *cg_report_state(int64_t exit_status, const int64_t count[5],
			    bool refused, bool stale_source, bool rollout);

/*
 * Why this run changed (or, for plan, would change) something: "rollout"
 * when its policy commit differs from the one of the last run
 * (STATE/reports/last-run.json; none: the first run), "drift" when it is
 * the same commit (the host drifted from a policy it had reached), NULL
 * when nothing changed. Per run, not per resource: on a new commit, a
 * resource that also drifted counts as rolled out.
 */
const char *cg_report_change(const char *state_dir, const char *commit,
			     const struct cg_counts *c);

/* Is PREFIX+host a valid branch name? err says why not. */
int cg_report_ref(const char *prefix, const char *host, char *out, size_t size,
		  struct cg_error *err);

/*
 * The value of a "Key: value" line of a report commit's message (the
 * Congruent-State and Congruent-Dropped trailers) into out, truncated.
 */
/*
 * Sharded reports repositories: url with "{shard}" replaced by shard, in
 * decimal, zero-padded to the width of shards - 1 ("007" of 256). A url
 * without "{shard}" is copied as it is.
 */
void cg_report_shard_url(const char *url, unsigned shards, unsigned shard,
			 char *out, size_t size);
/* host's shard: the first 4 bytes of SHA-256 of its name, mod shards. */
unsigned cg_report_shard_of(const char *host, unsigned shards);
bool cg_report_trailer(const char *msg, const char *key, char *out,
		       size_t size);

/* --- fleet.c: congruent fleet ---------------------------------------- */

int cg_cmd_fleet_main(int argc, char **argv);

/* --- state.c: outcomes kept between runs (STATE/records) ---------- */

/*
 * What a run could not finish (a failed reload) and, later, what
 * congruent owns: per resource id a few key/value strings, in one file,
 * STATE/records, read once at the start of a run and written whole,
 * atomically and durably, on every change (cg_write_file_atomic). The
 * format (README "STATE"): the line "congruent-records 1", then one line
 * per record, "ID<TAB>KEY<TAB>VALUE", sorted by id and key; in ID and
 * VALUE a backslash, tab and newline are written \\, \t and \n. KEY is
 * [a-z0-9_.-]. Bounded as below; a file out of bounds is refused whole.
 */
#define CG_STATE_FILE "records"
#define CG_STATE_BYTES_MAX (8u << 20)
#define CG_STATE_RECORDS_MAX 100000u
#define CG_STATE_KEYS_MAX 16u    /* per id */
#define CG_STATE_ID_MAX 1024u
#define CG_STATE_KEY_MAX 32u
#define CG_STATE_VALUE_MAX 4096u

struct cg_state_rec {
	char *id;  /* owned */
	char *key; /* owned */
	char *val; /* owned */
};

struct cg_state {
	char *path;             /* owned: STATE/records */
	bool writable;          /* false for plan and `state`: set refuses */
	struct cg_state_rec *v; /* owned: sorted by id, then key */
	size_t n, cap;
	/*
	 * owned: the file as read. Records read from it point into it
	 * (unescaped in place: one block, not three strings a record);
	 * records set later own their strings.
	 */
	char *text;
	size_t text_len;
	size_t disk_bytes;      /* the file's size as last read or written */
	bool tail;              /* the file has appended lines: not sorted */
};

/* Read STATE/records (none yet: no records). err names file:line. */
int cg_state_load(struct cg_state *st, const char *state_dir, bool writable,
		  struct cg_error *err);
/* Parse text as a records file (where names it in errors), into a zeroed st. */
int cg_state_parse(struct cg_state *st, const char *text, size_t len,
		   const char *where, struct cg_error *err);
/* The records as the file holds them. */
void cg_state_format(const struct cg_state *st, struct cg_buf *out);
/* The value of key for id, or NULL. Accepts NULL st. */
const char *cg_state_get(const struct cg_state *st, const char *id,
			 const char *key);
/*
 * Set n keys of id at once: kv holds n pairs key, value; a NULL value
 * removes the key. Written to disk before it returns; on failure memory
 * and file are left as they were.
 */
int cg_state_set(struct cg_state *st, const char *id, const char *const *kv,
		 size_t n, struct cg_error *err);
/* One key of one id for cg_state_set_all (val NULL: remove the key). */
struct cg_state_put {
	const char *id, *key, *val; /* borrowed */
};
/*
 * Set keys of several ids at once: one durable write of the file. When
 * every put has a value, the lines are appended to the file and fsynced
 * (no rewrite of what is there, no rename): a later line for an id and
 * key replaces an earlier one. A removal rewrites the file whole.
 */
int cg_state_set_all(struct cg_state *st, const struct cg_state_put *v,
		     size_t n, struct cg_error *err);
/* Rewrite the file whole and sorted if lines were appended to it. */
int cg_state_compact(struct cg_state *st, struct cg_error *err);
bool cg_state_key_ok(const char *key);
void cg_state_release(struct cg_state *st);

/*
 * The ledger: what congruent owns, as records of each resource id it has
 * managed on this host. ledger.since: the policy commit that first
 * managed it ("local" for --policy). ledger.before: what was there
 * before congruent first changed it, in its module's words (struct
 * cg_change before), or "unknown" (it was congruent when first seen, or
 * STATE predates the ledger): revert then keeps it.
 */
#define CG_LEDGER_SINCE "ledger.since"
#define CG_LEDGER_BEFORE "ledger.before"
#define CG_LEDGER_UNKNOWN "unknown"
/* ledger.orphan: the commit of the first run that found it an orphan. */
#define CG_LEDGER_ORPHAN "ledger.orphan"

/* --- ledger.c: orphans ---------------------------------------------- */

/* A resource in the ledger that this host's policy no longer has. */
struct cg_orphan {
	char *id;     /* owned */
	char *since;  /* owned: ledger.since */
	char *before; /* owned: ledger.before, "unknown" when none */
	bool forgotten; /* orphans: forget: dropped from the ledger (plan: would be) */
	/*
	 * orphans: revert (cg_revert_orphans): what revert does (plan: would
	 * do), one line, or NULL when not reverted; status: drifted (plan)
	 * or repaired when it is put back, ok when kept or only forgotten,
	 * failed (err says why) when putting it back failed.
	 */
	char *revert;   /* owned */
	enum cg_status status;
	struct cg_error *err; /* owned, or NULL */
};

struct cg_orphans {
	struct cg_orphan *v; /* owned: sorted by id */
	size_t n, cap;
};

/*
 * The ids in the ledger of st that are not in p (all of them when p is
 * NULL): the engine's "ledger ids minus this host's policy ids".
 */
void cg_ledger_orphans(const struct cg_state *st, const struct cg_policy *p,
		       struct cg_orphans *out);
/* Drop n ids from the ledger, in one write (other records stay). */
int cg_ledger_forget(struct cg_state *st, const char *const *ids, size_t n,
		     struct cg_error *err);
/*
 * Mark the orphans o in st (ledger.orphan = since, kept from the first
 * run that found it) and unmark what p has again; one write, if any.
 */
int cg_ledger_mark_orphans(struct cg_state *st, const struct cg_policy *p,
			   const struct cg_orphans *o, const char *since,
			   struct cg_error *err);
void cg_orphans_release(struct cg_orphans *o);

/* --- revert.c: orphans: revert --------------------------------------- */

/*
 * Hand the orphans o to their modules' revert (struct cg_module), each
 * module once, deepest names first (a file before its directory), with
 * apply unless dry_run; fill each orphan's revert, status and err. In a
 * run, what was put back or has nothing to put back leaves the ledger
 * st, in one write; what failed or was kept stays. Counts what it did
 * into c (drifted or repaired, failed).
 */
void cg_revert_orphans(struct cg_ctx *ctx, struct cg_state *st,
		       const struct cg_policy *p, struct cg_orphans *o,
		       bool dry_run, struct cg_counts *c);
/* The module types of the orphans o that have a revert, as bits of
 * cg_modules indexes: run keeps their capabilities too. */
uint32_t cg_revert_types(const struct cg_orphans *o);

/* `congruent state`: the records as text (by id) or JSON. */
void cg_state_print(const struct cg_state *st, bool json, FILE *out);

/* --- restore.c ------------------------------------------------------ */

int cg_cmd_restore_main(int argc, char **argv);

/* --- secret.c: values encrypted to host keys ------------------------ */

/* A var's value that is a secret starts with this (check knows it). */
#define CG_SECRET_PREFIX "cg-secret:v1:" /* CG_TEMPLATE_SECRET_PREFIX */
/* A host key's public half, as `congruent key show` prints it. */
#define CG_KEY_PREFIX "cg-x25519:"

struct cg_hostkey;

bool cg_secret_is(const char *s);
/* Is s a well-formed secret (layout only: nothing is decrypted)? */
int cg_secret_check(const char *s, struct cg_error *err);
/* Encrypt len bytes to nto public keys ("cg-x25519:..."): *out, a line. */
int cg_secret_encrypt(const char *const *to, size_t nto, const void *plain,
		      size_t len, char **out, struct cg_error *err);
/*
 * Decrypt s with k into out (cleanse it after use). CG_ENOTFOUND when k
 * is not one of its recipients; CG_ERR when it is malformed or damaged.
 */
int cg_secret_decrypt(const struct cg_hostkey *k, const char *s,
		      struct cg_buf *out, struct cg_error *err);
/* STATE/host.key: where the host's private key lives (caller's string). */
char *cg_hostkey_path(const char *state_dir);
int cg_hostkey_load(struct cg_hostkey **out, const char *path,
		    struct cg_error *err);
/* "cg-x25519:BASE64", the caller's. */
char *cg_hostkey_public(const struct cg_hostkey *k);
void cg_hostkey_free(struct cg_hostkey *k);

/*
 * The secrets one run decrypted, each once, kept in memory until
 * release wipes them. The key is read on first use, from key_path.
 */
struct cg_secrets {
	char *key_path; /* owned */
	struct cg_hostkey *key;
	int key_rc;
	struct cg_error key_err;
	struct plain *v;
	size_t n, cap;
};

/* For cg_ctx.reveal: n's plaintext, owned by s; err names n's file:line. */
int cg_secrets_reveal(struct cg_secrets *s, const struct cg_node *n,
		      const char **plain, size_t *len, struct cg_error *err);
void cg_secrets_release(struct cg_secrets *s);

int cg_cmd_key_main(int argc, char **argv);
int cg_cmd_secret_main(int argc, char **argv);

#endif
