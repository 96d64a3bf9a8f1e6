/* iptables.h: the parts of the iptables module, shared by its files and tests. */
#ifndef CG_MODULES_IPTABLES_H
#define CG_MODULES_IPTABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cg/error.h"
#include "cg/exec.h"
#include "cg/util.h"

enum ipt_family {
	IPT_IPV4,
	IPT_IPV6,
};

const char *ipt_family_name(enum ipt_family f); /* "ipv4", "ipv6" */

/* --- iptables-rules.c: rulesets as iptables-save prints them --------- */

struct ipt_rule {
	char *spec; /* owned: the line after "-A CHAIN " ("" for a bare rule) */
	uint64_t pkts, bytes;
};

struct ipt_chain {
	char *name;   /* owned */
	char *policy; /* owned: ACCEPT or DROP for a built-in chain, else NULL */
	uint64_t pkts, bytes;
	struct ipt_rule *rules; /* owned, in order */
	size_t n, cap;
	/*
	 * owned: why the rules of this chain as read are not to be trusted
	 * (a rule iptables-save printed over several lines, one nft holds
	 * in another form than iptables-save shows), naming the rule; NULL
	 * when they are. A resource managing the chain fails closed.
	 */
	char *distrust;
};

struct ipt_table {
	char *name; /* owned */
	struct ipt_chain *chains; /* owned, in the order iptables-save gave */
	size_t n, cap;
	/* iptables-nft-save could not show it: nft changed it directly. */
	bool incompatible;
	/* owned: interfaces Docker's chains name (ipt_table_learn). */
	char **docker_ifaces;
	size_t ndocker_ifaces, capdocker_ifaces;
};

struct ipt_ruleset {
	struct ipt_table *tables; /* owned */
	size_t n, cap;
	/* iptables-nft-save said legacy tables exist too (on stderr). */
	bool legacy_tables;
};

/*
 * Parse the output of iptables-save (with or without -c) into rs, which
 * must be zeroed. Anything that is not what iptables-save prints is an
 * error naming the line. A rule whose quoted text holds a newline (a
 * comment) is one rule over several lines: it is read as one, with the
 * newlines in its spec, and its chain is distrusted (iptables-restore
 * cannot write such a rule back, nor delete it by spec). A table that
 * iptables-nft-save calls incompatible is there, empty and marked so.
 */
int ipt_ruleset_parse(struct ipt_ruleset *rs, const char *text,
		      struct cg_error *err);
void ipt_ruleset_release(struct ipt_ruleset *rs);
struct ipt_table *ipt_ruleset_table(const struct ipt_ruleset *rs,
				    const char *name);
struct ipt_chain *ipt_table_chain(const struct ipt_table *t, const char *name);
/* Replace table name in rs by the one in from (or drop it if from has none). */
void ipt_ruleset_take_table(struct ipt_ruleset *rs, struct ipt_ruleset *from,
			    const char *name);
/* Does rs hold anything: a rule, a user chain, a policy other than ACCEPT? */
bool ipt_ruleset_in_use(const struct ipt_ruleset *rs, size_t *nrules_out);

/*
 * Split a rule into words as iptables-restore does: blanks separate, double
 * quotes group, a backslash escapes the next character. *out is
 * NULL-terminated (free with ipt_words_free). -1 for an open quote.
 */
int ipt_split(const char *spec, char ***out, size_t *n_out);
void ipt_words_free(char **words);

/* The chain or target a rule jumps (-j) or goes (-g) to, or NULL. Owned. */
char *ipt_rule_target(const char *spec);

bool ipt_table_is_known(const char *table);
/* Is chain one of table's built-in chains? */
bool ipt_chain_is_builtin(const char *table, const char *chain);
/* The built-in chains of table, NULL-terminated (NULL if unknown). */
const char *const *ipt_builtin_chains(const char *table);
/* Could name be a chain name (what iptables accepts, conservatively)? */
bool ipt_chain_name_ok(const char *name, const char **why);

/*
 * Software known to manage rules of its own ("docker", "kubernetes",
 * "calico", "fail2ban", "ufw", "flannel", "libvirt", "cilium",
 * "netavark", "tailscale", "wireguard"): the owner of a chain by its
 * name, and of a rule that jumps to such a chain, carries such a
 * program's comment ("cali:...", "wg-quick(8) rule for wg0"), names its
 * interfaces (docker0, br-HEX, virbrN; in t, the bridges Docker's own
 * chains name) or its sets (docker-ext-bridges-v4). NULL when nobody
 * known owns it. Their rules are never changed.
 */
const char *ipt_chain_owner(const char *chain);
const char *ipt_rule_owner(const char *spec);
const char *ipt_rule_owner_in(const struct ipt_table *t, const char *spec);
/* Learn t's Docker bridges from Docker's chains (parse does it). */
void ipt_table_learn(struct ipt_table *t);

/* --- iptables-plan.c: the smallest ordered change of one chain ------- */

enum ipt_op_kind {
	IPT_OP_DELETE, /* -D CHAIN spec: the first rule with that spec */
	IPT_OP_INSERT, /* -I CHAIN pos spec */
	IPT_OP_APPEND, /* -A CHAIN spec */
};

struct ipt_op {
	enum ipt_op_kind kind;
	const char *spec; /* borrowed from the plan's input */
	size_t pos;  /* INSERT: the position at that point of the sequence */
	size_t at;   /* for people: DELETE, where it is now; else where it
		      * will be once all ops are done (1-based) */
	size_t want; /* INSERT/APPEND: index into want */
	/* DELETE: a rule congruent added that the policy no longer has. */
	bool stale;
	/* INSERT/APPEND: the have index of the stale rule it takes the
	 * place of (the rule was edited in the policy), or (size_t)-1. */
	size_t replaces;
};

/* A rule the plan leaves in the chain though the policy does not name it. */
struct ipt_kept {
	const char *spec;  /* borrowed */
	const char *owner; /* static: "docker", ..., "ignore"; NULL: unknown */
};

struct ipt_plan {
	struct ipt_op *ops; /* owned: deletes first, then inserts, in order */
	size_t n, cap;
	struct ipt_kept *kept; /* owned */
	size_t nkept, capkept;
	/*
	 * The chain once all ops are done: each rule's spec (borrowed) and
	 * its index into want, or (size_t)-1 for a kept one. Both owned.
	 */
	const char **final;
	size_t *final_want;
	size_t nfinal;
};

/* Where a managed rule goes among the rules the policy does not name. */
enum ipt_place_kind {
	IPT_PLACE_ORDER,  /* next to the managed rule before it (the default) */
	IPT_PLACE_FIRST,  /* before every rule not in the policy */
	IPT_PLACE_LAST,   /* after every rule not in the policy */
	IPT_PLACE_BEFORE, /* before the first such rule holding anchor */
};

struct ipt_place {
	enum ipt_place_kind kind;
	const char *anchor; /* IPT_PLACE_BEFORE: text, as in ignore: */
};

struct ipt_plan_in {
	const char *const *have; /* the chain now, in order */
	size_t nhave;
	const char *const *want; /* the managed rules, in order, distinct */
	size_t nwant;
	bool purge; /* delete rules nobody known owns */
	const char *const *ignore; /* substrings: rules never touched */
	size_t nignore;
	/* Per want rule, or NULL: all IPT_PLACE_ORDER. */
	const struct ipt_place *place;
	/*
	 * Per have rule, or NULL: congruent added it and the policy no
	 * longer has it, so it goes even without purge (stale[i] is only
	 * set for a rule nobody known owns and ignore: does not match).
	 */
	const bool *stale;
	/*
	 * Per want rule, or NULL: the stale have rule it replaces (edited
	 * in the policy), or (size_t)-1. It goes where that rule was.
	 */
	const size_t *replaces;
	/* The table of the chain, for its owners (ipt_rule_owner_in). */
	const struct ipt_table *table;
};

/*
 * The change that makes want appear in have, in order, as few deletes and
 * inserts as there can be: the longest run of want already in order stays
 * (with its counters); other copies of managed rules are deleted; missing
 * ones are inserted after the managed rule before them (the first before
 * the first kept one, or at the end). Rules the policy does not name stay
 * where they are, unless purge deletes those nobody known owns. Deletes
 * are by spec, and iptables deletes the first match: the plan only ever
 * deletes the first copies of a spec, so the result is the same.
 *
 * With place, a rule's place among the rules that stay unmanaged (kept)
 * is given too: a managed rule in another gap between them than its
 * place says is moved (deleted, inserted). Order among managed rules
 * wins over a place that contradicts it: a rule never goes before one
 * declared earlier.
 *
 * Stale rules (congruent added them; the policy dropped them) are deleted
 * like purged ones; a rule that replaces one goes in its place, so an
 * edit in the policy is an edit in place in the chain.
 */
void ipt_plan_chain(const struct ipt_plan_in *in, struct ipt_plan *out);
void ipt_plan_release(struct ipt_plan *p);

/* --- iptables-backend.c: nf_tables or legacy, and running the tools -- */

struct ipt_backend {
	const char *name;   /* "nf_tables", "legacy": as iptables -V says */
	const char *suffix; /* "nft", "legacy": iptables-nft-save */
	const struct ipt_backend *other; /* for the check for rules in both */
};

extern const struct ipt_backend ipt_backend_nft;
extern const struct ipt_backend ipt_backend_legacy;

/*
 * The backend the host's `iptables` command uses: the name it resolves to
 * (iptables -> xtables-nft-multi), else what `iptables -V` says.
 */
int ipt_backend_detect(const struct ipt_backend **out, struct cg_error *err);

/*
 * The path of a tool ("save", "restore") of be for family f: the suffixed
 * name (ip6tables-nft-save), or unless exact, the plain one (iptables
 * before 1.8 has no other).
 */
int ipt_tool(const struct ipt_backend *be, enum ipt_family f,
	     const char *tool, bool exact, char **path_out,
	     struct cg_error *err);

/* Where the tools run: a named namespace, a namespace fd, or here. */
struct ipt_where {
	const char *netns; /* --netns NAME, or NULL */
	int netns_fd;      /* a scratch namespace, or -1 */
	/* Deadline of each iptables program (helper_timeout); 0: default. */
	unsigned timeout_ms;
};

/*
 * iptables-save -c (of one table, or all when table is NULL), parsed into
 * out (zeroed by the caller).
 */
int ipt_save(const struct ipt_backend *be, enum ipt_family f,
	     const struct ipt_where *w, const char *table, bool exact,
	     struct ipt_ruleset *out, struct cg_error *err);

/*
 * iptables-restore --noflush with script on stdin. 0 when it succeeded;
 * CG_ERR with err and *line_out (the script line it names, 0 if none)
 * when it refused, leaving the tables as they were.
 */
int ipt_restore(const struct ipt_backend *be, enum ipt_family f,
		const struct ipt_where *w, const char *script, size_t len,
		unsigned *line_out, struct cg_error *err);

/*
 * What iptables-restore said, without its boilerplate ("Try
 * `iptables-restore -h'", the version prefix), in buf.
 */
void ipt_restore_message(const char *stderr_text, char *buf, size_t size);
/* The script line iptables-restore's message names, or 0. */
unsigned ipt_restore_line(const char *stderr_text);

/*
 * `nft -j list table ip|ip6 TABLE` (json), or `nft -a list chain ... CHAIN`
 * (text, chain set), where w says, into out. CG_ENOTFOUND when nft is not
 * installed.
 */
int ipt_nft_list(enum ipt_family f, const struct ipt_where *w,
		 const char *table, bool json, const char *chain,
		 struct cg_buf *out, struct cg_error *err);

/* --- iptables-nft.c: is what iptables-nft-save shows what nft holds? - */

/*
 * For the chains of t named in chains (those the policy manages), as
 * iptables-nft-save showed them where w says: compare, rule by rule, what
 * nft holds there with what nft holds once those rules are written back
 * in a scratch namespace. A chain that differs (a rule written with nft
 * that iptables-save prints wrongly or not at all) gets c->distrust,
 * naming the rule. With a cache_dir, a table found consistent is
 * remembered there (with cache_write: run; plan only reads), keyed by
 * everything the outcome depends on (tools, kernel, the chains as
 * iptables-save and nft show them here), so that an unchanged table needs
 * no scratch namespace the next time. A negative
 * return: the comparison could not be made
 * (err says why); CG_ENOTFOUND when nft is not installed.
 */
int ipt_nft_check(const struct ipt_backend *be, enum ipt_family f,
		  const struct ipt_where *w, struct ipt_table *t,
		  const char *const *chains, size_t nchains,
		  const char *cache_dir, bool cache_write,
		  struct cg_error *err);

/* --- iptables-guard.c: is the host still reachable? ------------------ */

struct cg_ctx;
struct cg_canary;

/* Run one canary; -1 with why ("canary 10.0.0.1:443 (...) failed: ..."). */
int ipt_canary_run(const struct cg_ctx *ctx, const struct cg_canary *k,
		   char *why, size_t size);

/*
 * Does an INPUT chain of these rules (iptables-save's specs, in order)
 * and policy let in the packets of established sessions and new TCP
 * connections to port (0: not asked)? Only what is certain counts
 * against it: a rule it cannot read through (-s, a jump to a user
 * chain) is taken to let them in. false with why naming the rule.
 */
bool ipt_chain_lets_in(const char *const *specs, size_t n, const char *policy,
		       unsigned port, char *why, size_t size);

/* --- iptables-shadow.c: rules that can never match ------------------- */

/*
 * For each rule i of a chain (specs as iptables-save prints them, in
 * order) with check[i]: by[i] is the earlier rule that takes every
 * packet it would match, so that it never does, or (size_t)-1. Such a
 * rule is an unconditional ACCEPT, DROP, REJECT or RETURN, or one whose
 * every condition rule i has too (or holds: an address range holding
 * rule i's, a set of states holding its set); a match with state of its
 * own (-m limit, recent, set) is never taken to hold another.
 */
void ipt_shadows(const char *const *specs, size_t n, const bool *check,
		 size_t *by);

/* --- iptables-canon.c: rules in the kernel's own form ---------------- */

struct ipt_canon_rule {
	const char *chain; /* borrowed */
	const char *text;  /* borrowed: as written in the policy */
	/* Out: the forms iptables-save prints (usually one; "-s a,b" gives
	 * two), or an error. */
	char **specs; /* owned */
	size_t nspecs;
	bool failed;
	struct cg_error err; /* msg and hint; where/resource: the caller's */
	bool cached;         /* private: found in the cache */
};

struct ipt_canon_job {
	const struct ipt_backend *be;
	enum ipt_family family;
	const char *table;
	const char *const *chains; /* user chains to create first */
	size_t nchains;
	struct ipt_canon_rule *rules;
	size_t nrules;
	/*
	 * check: a jump to a chain that is not in chains is not an error;
	 * the chain is made (and reported in unknown_chains) so the rest of
	 * the rule can be checked.
	 */
	bool lenient_jumps;
	char **unknown_chains; /* owned, out: chains made for lenient_jumps */
	size_t nunknown;
	const char *cache_dir; /* or NULL */
	/* Without cache_dir: read what is cached there, write nothing (plan). */
	const char *cache_read_dir;
	/*
	 * Where the ipset sets and nfacct objects the rules name are looked
	 * up (the namespace the firewall work runs in), to be made in the
	 * scratch namespace too; NULL: nowhere.
	 */
	const struct ipt_where *objects_from;
	struct cg_buf ipset_script; /* private: "create ..." lines */
	char **nfacct;              /* private: accounting objects */
	size_t nnfacct;
};

/*
 * Load the rules into a new, empty network namespace with the host's own
 * tools and read them back: the kernel's canonical form of each, so that
 * "-s 10.0.0.1" equals "-s 10.0.0.1/32". Rules iptables refuses get
 * failed and its message; the others are still done. With a cache_dir,
 * results are kept there per rule, keyed by everything they depend on,
 * so that a changed rule is the only one loaded again. A negative
 * return means nothing could be done (no namespace, no tools).
 */
int ipt_canon_run(struct ipt_canon_job *job, struct cg_error *err);
void ipt_canon_job_release(struct ipt_canon_job *job);

/* --- iptables-objects.c: sets and accounting objects rules name ------ */

/*
 * The ipset sets (after --match-set, --add-set, --del-set, --map-set)
 * and nfacct objects (--nfacct-name) a rule names, added to the lists
 * (owned, free with ipt_names_free) once each.
 */
void ipt_rule_objects(const char *text, char ***sets, size_t *nsets,
		      char ***accts, size_t *naccts);
void ipt_names_free(char **v, size_t n);

/*
 * For each rule of job, the objects it names, looked up where w says
 * (`ipset list -t NAME`: the definition, never the members; `nfacct get
 * NAME`): the definitions go into job->ipset_script and job->nfacct; a
 * rule naming one that does not exist there fails, saying which and
 * what to do.
 */
void ipt_objects_gather(struct ipt_canon_job *job, const struct ipt_where *w);

/* Make job's objects where scratch says (a fresh namespace). */
int ipt_objects_make(const struct ipt_canon_job *job,
		     const struct ipt_where *scratch, struct cg_error *err);

#endif
