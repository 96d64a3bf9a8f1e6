/* main.c: the command line: a table of commands, each a function. */
#include <errno.h>
#include <getopt.h>
#include <git2.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "agent.h"
#include "cg/json.h"
#include "cg/store.h"

struct opts {
	const char *config;
	bool config_given;
	const char *policy;
	const char *root;
	const char *netns;
	const char *hostname;
	const char *state_dir;
	const struct cg_module *only; /* --only TYPE */
	const struct cg_module *skip[16]; /* --skip TYPE, each once */
	size_t nskip;
	unsigned long splay;
	bool no_pull, no_report, json, verbose, allow_rollback;
};

enum {
	OPT_POLICY = 256,
	OPT_ROOT,
	OPT_NETNS,
	OPT_SPLAY,
	OPT_HOSTNAME,
	OPT_STATE_DIR,
	OPT_NO_PULL,
	OPT_NO_REPORT,
	OPT_FORMAT,
	OPT_ALLOW_ROLLBACK,
	OPT_ONLY,
	OPT_SKIP,
};

static const struct option long_opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "policy", required_argument, NULL, OPT_POLICY },
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "netns", required_argument, NULL, OPT_NETNS },
	{ "splay", required_argument, NULL, OPT_SPLAY },
	{ "hostname", required_argument, NULL, OPT_HOSTNAME },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "no-pull", no_argument, NULL, OPT_NO_PULL },
	{ "no-report", no_argument, NULL, OPT_NO_REPORT },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "allow-rollback", no_argument, NULL, OPT_ALLOW_ROLLBACK },
	{ "only", required_argument, NULL, OPT_ONLY },
	{ "skip", required_argument, NULL, OPT_SKIP },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* no-color.org: NO_COLOR set and not empty means no colours. */
static bool use_color(FILE *f)
{
	const char *term = getenv("TERM"), *no = getenv("NO_COLOR");

	return isatty(fileno(f)) && !(no && *no) &&
	       !(term && strcmp(term, "dumb") == 0);
}

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
	fprintf(stderr, "congruent %s: ", cmd);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'congruent help %s'.\n", cmd);
	return 1;
}

/* parse_opts' return for -h/--help: the usage was printed, exit 0. */
#define OPTS_HELP (-2)
#define OPTS_EXIT(i) ((i) == OPTS_HELP ? 0 : 1)

/* Parse the options of run, plan, facts and check; -1 on a usage error. */
static int parse_opts(const char *cmd, int argc, char **argv, struct opts *o)
{
	char *end;
	int c;

	memset(o, 0, sizeof(*o));
	o->config = CG_DEFAULT_CONFIG;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+c:vh", long_opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			o->config_given = true;
			break;
		case OPT_POLICY:
			o->policy = optarg;
			break;
		case OPT_ROOT:
			o->root = optarg;
			break;
		case OPT_NETNS:
			o->netns = optarg;
			break;
		case OPT_SPLAY:
			errno = 0;
			o->splay = strtoul(optarg, &end, 10);
			if (errno || *end || o->splay > 86400)
				return usage_error(cmd,
						   "--splay takes seconds "
						   "(0 to 86400), not '%s'",
						   optarg),
				       -1;
			break;
		case OPT_HOSTNAME:
			o->hostname = optarg;
			break;
		case OPT_STATE_DIR:
			o->state_dir = optarg;
			break;
		case OPT_NO_PULL:
			o->no_pull = true;
			break;
		case OPT_NO_REPORT:
			o->no_report = true;
			break;
		case OPT_ALLOW_ROLLBACK:
			o->allow_rollback = true;
			break;
		case OPT_FORMAT:
			if (strcmp(optarg, "json") == 0)
				o->json = true;
			else if (strcmp(optarg, "text") != 0)
				return usage_error(cmd,
						   "--format is text or json, "
						   "not '%s'",
						   optarg),
				       -1;
			break;
		case OPT_ONLY:
			o->only = cg_module_find(optarg);
			if (!o->only)
				return usage_error(cmd,
						   "--only takes a resource "
						   "type (like iptables), not "
						   "'%s'",
						   optarg),
				       -1;
			break;
		case OPT_SKIP: {
			const struct cg_module *m = cg_module_find(optarg);
			size_t k;

			if (!m)
				return usage_error(cmd,
						   "--skip takes a resource "
						   "type (like iptables), not "
						   "'%s'",
						   optarg),
				       -1;
			for (k = 0; k < o->nskip && o->skip[k] != m; k++)
				;
			/* More than there are types: all are repeats. */
			if (k == o->nskip && k < CG_ARRAY_SIZE(o->skip))
				o->skip[o->nskip++] = m;
			break;
		}
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			cg_usage_print(cmd, stdout);
			return OPTS_HELP;
		default:
			return usage_error(cmd, "unknown option '%s'",
					   argv[optind - 1]),
			       -1;
		}
	}
	return optind;
}

static void print_diag(const struct cg_diag *d, bool color)
{
	size_t i;

	for (i = 0; i < d->nwarn && i < CG_DIAG_MAX; i++) {
		fprintf(stderr, "congruent: warning: %s%s%s\n",
			d->warns[i].where, d->warns[i].where[0] ? ": " : "",
			d->warns[i].msg);
	}
	for (i = 0; i < d->n && i < CG_DIAG_MAX; i++)
		cg_print_error(stderr, &d->errs[i], color);
	if (d->n > CG_DIAG_MAX)
		fprintf(stderr, "congruent: ... and %zu more errors\n",
			d->n - CG_DIAG_MAX);
}

/*
 * STATE: --state-dir, else the config's, inside --root if given, where
 * it is resolved without following the image's symlinks. create: make it
 * (and take the lock after); otherwise a missing one is fine.
 */
static int state_dir_for(const struct opts *o, const struct cg_config *c,
			 bool create, char **out, struct cg_error *err)
{
	const char *dir = o->state_dir ? o->state_dir : c->state_dir;

	if (!o->state_dir && o->root)
		return cg_state_dir_in_root(o->root, c->state_dir, create, out,
					    err);
	if (create && cg_mkdir_p(dir, 0700, err) < 0)
		return CG_ERR;
	*out = cg_xstrdup(dir);
	return 0;
}

struct lookup_ctx {
	struct cg_policy *p;
	struct cg_facts *facts;
	struct cg_secrets secrets;
};

/* Template variables: the host's vars first, then facts. */
static const char *ctx_lookup(const struct cg_ctx *ctx, const char *name)
{
	const struct lookup_ctx *lc = ctx->lookup_data;
	const struct cg_node *v = cg_vars_get(&lc->p->vars, name);

	if (v)
		return v->kind == CG_NODE_SCALAR ? v->str : NULL;
	return cg_facts_get(lc->facts, name);
}

static const struct cg_node *ctx_lookup_node(const struct cg_ctx *ctx,
					     const char *name)
{
	const struct lookup_ctx *lc = ctx->lookup_data;

	return cg_vars_get(&lc->p->vars, name);
}

static int ctx_reveal(const struct cg_ctx *ctx, const struct cg_node *n,
		      const char **plain, size_t *len, struct cg_error *err)
{
	struct lookup_ctx *lc = ctx->lookup_data;

	return cg_secrets_reveal(&lc->secrets, n, plain, len, err);
}

static const char *const *ctx_names(const struct cg_ctx *ctx)
{
	const struct lookup_ctx *lc = ctx->lookup_data;

	return lc->p->names;
}

static void splay(unsigned long seconds)
{
	unsigned int r = 0;
	struct timespec ts;

	if (!seconds)
		return;
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (unsigned int)getpid();
	ts.tv_sec = (time_t)(r % seconds);
	ts.tv_nsec = 0;
	nanosleep(&ts, NULL);
}

/* STATE/reports/last-run.json, replaced atomically. */
static int write_report(const char *state_dir, const struct cg_policy *p,
			const struct cg_run_info *info,
			const struct cg_counts *counts, struct cg_error *err)
{
	char *dir = cg_xasprintf("%s/reports", state_dir);
	char *path = cg_xasprintf("%s/last-run.json", dir);
	struct cg_atomic a = { .fd = -1, .dirfd = -1 };
	FILE *f = NULL;
	int rc;

	rc = cg_mkdir_p(dir, 0700, err);
	if (rc == 0)
		rc = cg_atomic_begin(&a, path, 0600, err);
	if (rc == 0) {
		f = fdopen(dup(a.fd), "w");
		if (!f)
			rc = cg_error_sys(err, CG_ERR, "cannot write %s", path);
	}
	/*
	 * The report of a run that changed nothing is not fsynced: it
	 * claims no change, and a power cut that loses it leaves the
	 * previous run's, or none (read as a first run). One that changed
	 * something is durable, after the changes it reports.
	 */
	a.no_sync = counts->repaired == 0;
	if (rc == 0) {
		cg_output_json(p, info, counts, false, true, f);
		if (fclose(f) != 0)
			rc = cg_error_sys(err, CG_ERR, "cannot write %s", path);
		else
			rc = cg_atomic_commit(&a, err);
	}
	cg_atomic_abort(&a);
	free(path);
	free(dir);
	return rc;
}

/* orphans: forget: drop them all from the ledger; a failure keeps all. */
static int forget_orphans(struct cg_state *st, struct cg_orphans *o,
			  struct cg_error *err)
{
	const char **ids = cg_xcalloc(o->n + 1, sizeof(*ids));
	size_t i;
	int rc;

	for (i = 0; i < o->n; i++)
		ids[i] = o->v[i].id;
	rc = cg_ledger_forget(st, ids, o->n, err);
	for (i = 0; rc < 0 && i < o->n; i++)
		o->v[i].forgotten = false;
	free(ids);
	return rc;
}

static void on_stop(int sig)
{
	cg_stop_signal = sig;
}

/*
 * systemctl stop and shutdown send SIGTERM: finish the resource at hand
 * (a half-done apt transaction or rename helps nobody), skip the rest,
 * log and report what was done, and exit saying so. A second signal
 * changes nothing; SIGKILL still ends it at once, safely (atomic writes).
 */
static void catch_stop(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/*
 * Queue this run's report and deliver the queue. A central repository
 * that cannot be reached is a warning: the enforcement went as the exit
 * status says, and the reports wait in STATE for the next run.
 */
static void central_report(const struct cg_config *c, const char *state,
			   const struct cg_policy *p,
			   const struct cg_run_info *info,
			   const struct cg_counts *counts, bool color)
{
	struct cg_report_status st;
	struct cg_error err;

	cg_error_clear(&err);
	if (cg_report_queue(c, state, p, info, counts, &st, &err) < 0) {
		cg_error_prefix(&err, "cannot queue the report");
		cg_print_error(stderr, &err, color);
		return;
	}
	if (st.dropped)
		cg_log(LOG_WARNING,
		       "report queue full (reports.queue_max %u, queue_max_mb "
		       "%u): dropped the %u oldest undelivered report%s",
		       c->reports_queue_max, c->reports_queue_max_mb,
		       st.dropped, st.dropped == 1 ? "" : "s");
	/* Stopping: the queue is delivered by the next run. */
	if (info->stopped) {
		cg_log(LOG_WARNING, "report queued, not pushed: the run was "
				    "stopped");
		return;
	}
	if (cg_report_push(c, state, info->host, &st, &err) < 0) {
		cg_print_error(stderr, &err, color);
		return;
	}
	if (st.commits && info->verbose)
		cg_log(LOG_INFO, "report: %u commit%s pushed to %s (%.12s)",
		       st.commits, st.commits == 1 ? "" : "s", c->reports_url,
		       st.tip);
}

/* Each bad custom facts file, as an error; enforcement goes on. */
static void print_fact_problems(const struct cg_facts *f, bool color)
{
	size_t i;

	for (i = 0; i < f->nproblems && i < CG_FACTS_MAX_PROBLEMS; i++)
		cg_print_error(stderr, &f->problems[i], color);
	if (f->nproblems > CG_FACTS_MAX_PROBLEMS)
		fprintf(stderr, "congruent: %zu more bad custom facts files\n",
			f->nproblems - CG_FACTS_MAX_PROBLEMS);
}

/* Say what the source step decided, when it was not the plain case. */
static void report_source(const struct cg_source *src,
			  const struct cg_config *c, bool color)
{
	struct cg_error e = src->why;
	char when[32] = "never";

	if (src->refused) {
		if (src->refused_commit[0])
			cg_error_prefix(&e, "commit %.12s refused",
					src->refused_commit);
		else
			cg_error_prefix(&e, "source refused");
		cg_error_where(&e, "%s", c->source_url);
		cg_print_error(stderr, &e, color);
		fprintf(stderr, "congruent: enforcing the last good commit "
				"%.12s instead\n",
			src->commit);
	} else if (src->stale) {
		if (src->fetched_time)
			cg_time_iso(when, src->fetched_time);
		cg_error_prefix(&e, "source not updated");
		cg_error_where(&e, "%s", c->source_url);
		cg_print_error(stderr, &e, color);
		fprintf(stderr, "congruent: the policy is stale: last fetched "
				"%s; enforcing the last good commit %.12s\n",
			when, src->commit);
	}
}

static int run_or_plan(const char *cmd, int argc, char **argv, bool dry_run)
{
	struct opts o;
	struct cg_config conf;
	struct cg_root root;
	struct cg_facts facts;
	struct cg_policy p;
	struct cg_diag diag = { 0 };
	struct cg_store *store = NULL;
	struct cg_counts counts;
	struct cg_run_info info;
	struct cg_live live;
	struct cg_error err;
	struct lookup_ctx lc = { 0 };
	struct cg_ctx ctx;
	struct cg_source src;
	struct cg_state records = { 0 };
	struct cg_orphans orphans = { 0 };
	struct cg_canary *canaries = NULL;
	bool color = use_color(stdout), ecolor = use_color(stderr);
	const char *policy_dir;
	char *state = NULL, *cache = NULL, *cache_ro = NULL;
	bool printed = false, partial = false, engine_dry = dry_run;
	int lockfd = -1, status = 1, i;
	uint64_t t0;

	i = parse_opts(cmd, argc, argv, &o);
	if (i < 0)
		return OPTS_EXIT(i);
	if (i < argc)
		return usage_error(cmd, "unexpected argument '%s'", argv[i]);
	if (!dry_run) {
		cg_log_open(); /* changes and failures to syslog (log.c) */
		catch_stop();
	}
	memset(&p, 0, sizeof(p));
	memset(&conf, 0, sizeof(conf));
	p.fd = -1;
	memset(&src, 0, sizeof(src));
	memset(&facts, 0, sizeof(facts));
	memset(&root, 0, sizeof(root));
	root.fd = -1;
	cg_error_clear(&err);
	if (cg_config_load(&conf, o.config, o.config_given, &err) < 0) {
		cg_print_error(stderr, &err, ecolor);
		goto out;
	}
	if (!o.policy && !conf.source_url) {
		cg_error_set(&err, CG_ERR, "no policy to enforce");
		cg_error_hint(&err, "pass --policy DIR (a tree with site.yaml), or "
				    "set source.url in %s",
			      conf.path ? conf.path : o.config);
		cg_print_error(stderr, &err, ecolor);
		goto out;
	}
	splay(o.splay);
	t0 = cg_now_ns();
	if (cg_root_open(&root, o.root ? o.root : "/", &err) < 0) {
		cg_print_error(stderr, &err, ecolor);
		goto out;
	}
	if (cg_facts_gather(&facts, &root, o.hostname, &err) < 0) {
		cg_print_error(stderr, &err, ecolor);
		goto out;
	}
	print_fact_problems(&facts, ecolor);
	/*
	 * A local policy is loaded before STATE is made: a policy that
	 * cannot be loaded leaves the host as it was, state included.
	 */
	policy_dir = o.policy;
	if (o.policy && cg_policy_load(&p, policy_dir, &facts, &diag) < 0) {
		print_diag(&diag, ecolor);
		fprintf(stderr, "congruent: nothing was %s: fix the policy "
				"(congruent check %s)\n",
			dry_run ? "planned" : "changed", policy_dir);
		goto out;
	}
	/* plan with a git source writes the cache, so it locks too. */
	if (state_dir_for(&o, &conf, !dry_run || !o.policy, &state, &err) < 0 ||
	    ((!dry_run || !o.policy) &&
	     cg_lock_take(state, &lockfd, &err) < 0)) {
		cg_print_error(stderr, &err, ecolor);
		goto out;
	}
	/* Outcomes of earlier runs, read once, like observed state. */
	if (cg_state_load(&records, state, !dry_run, &err) < 0) {
		cg_print_error(stderr, &err, ecolor);
		fprintf(stderr, "congruent: nothing was %s\n",
			dry_run ? "planned" : "changed");
		goto out;
	}
	if (!dry_run) {
		size_t gone;

		if (cg_leftover_begin(state, &gone, &err) < 0) {
			cg_error_prefix(&err, "temporary files of this run "
					      "will not be recorded");
			cg_print_error(stderr, &err, ecolor);
			cg_error_clear(&err);
		} else if (gone) {
			cg_log(LOG_WARNING, "removed %zu temporary file%s "
					    "left by a run that did not end",
			       gone, gone == 1 ? "" : "s");
		}
	}
	if (!o.policy) {
		if (cg_source_prepare(&conf, state, !o.no_pull, o.allow_rollback,
				      &src, &err) < 0) {
			cg_error_where(&err, "%s", conf.source_url);
			cg_print_error(stderr, &err, ecolor);
			goto out;
		}
		report_source(&src, &conf, ecolor);
		policy_dir = src.dir;
	}
	if (!o.policy && cg_policy_load(&p, policy_dir, &facts, &diag) < 0) {
		print_diag(&diag, ecolor);
		fprintf(stderr, "congruent: nothing was %s: fix the policy "
				"(congruent check %s)\n",
			dry_run ? "planned" : "changed", policy_dir);
		goto out;
	}
	if (src.commit)
		p.commit = cg_xstrdup(src.commit);
	if (o.only)
		cg_policy_only(&p, o.only);
	for (size_t k = 0; k < o.nskip; k++)
		cg_policy_skip(&p, o.skip[k]);
	partial = o.only || o.nskip;
	/* mode: audit: run is plan, read-only sandbox included. */
	engine_dry = dry_run || p.audit_mode;
	if (!dry_run) {
		char *dir = cg_xasprintf("%s/backups", state);

		cg_store_open(&store, dir, &err);
		cg_store_set_max(store, (uint64_t)conf.backup_max_mb << 20);
		free(dir);
		cache = cg_xasprintf("%s/cache", state);
	}
	memset(&ctx, 0, sizeof(ctx));
	lc.p = &p;
	lc.facts = &facts;
	lc.secrets.key_path = cg_hostkey_path(state);
	ctx.root = &root;
	ctx.policy_fd = p.fd;
	ctx.store = store;
	ctx.state_dir = state;
	ctx.netns = o.netns;
	ctx.cache_dir = cache;
	cache_ro = cg_xasprintf("%s/cache", state);
	ctx.cache_read_dir = cache_ro;
	ctx.lookup = ctx_lookup;
	ctx.names = ctx_names;
	ctx.lookup_node = ctx_lookup_node;
	ctx.reveal = ctx_reveal;
	ctx.lookup_data = &lc;
	ctx.records = &records;
	ctx.helper_timeout_ms = conf.helper_timeout * 1000u;
	memset(&info, 0, sizeof(info));
	info.command = cmd;
	info.host = cg_facts_get(&facts, "hostname");
	info.policy = o.policy ? o.policy : conf.source_url;
	info.commit = p.commit;
	info.source = o.policy ? NULL : &src;
	info.verbose = o.verbose;
	info.color = color;
	info.facts = &facts;
	info.audit = !dry_run && p.audit_mode;
	/*
	 * A run logs each outcome as it is final and, on a terminal or into
	 * a file (not the journal, not JSON, not -v's full layout), prints
	 * it too: an 8 s service start is not 8 s of silence.
	 */
	if (!engine_dry) {
		info.live = !o.json && !o.verbose && !cg_fd_is_journal(1);
		cg_live_start(&live, &p, &info, info.live ? stdout : NULL);
		ctx.final = cg_live_final;
		ctx.working = cg_live_working;
		ctx.output = &live;
	}
	ctx.guard_seconds = conf.guard_seconds;
	ctx.management_port = conf.management_port;
	cg_config_canaries(&conf, !o.policy && !o.no_pull, !o.no_report,
			   &canaries, &ctx.ncanaries);
	ctx.canaries = canaries;
	/* orphans: revert: run keeps what their modules need too. */
	if (!partial && p.orphans_revert) {
		cg_ledger_orphans(&records, &p, &orphans);
		p.revert_types = cg_revert_types(&orphans);
		cg_orphans_release(&orphans);
	}
	/* Least privilege; plan diffs in a read-only sandbox (caps.c). */
	if (cg_engine_run_confined(&p, &ctx, engine_dry, o.verbose, &counts,
				   &err) < 0) {
		cg_print_error(stderr, &err, ecolor);
		goto out;
	}
	status = cg_exit_status(&counts, src.refused);
	/*
	 * A bad custom facts file: the rest was enforced, but with some
	 * facts missing the host may not be as its policy means it.
	 */
	if (facts.nproblems)
		status |= 4;
	/*
	 * Orphans: the ledger's ids this host's policy no longer has. Not
	 * with --only or --skip, which looked at part of the policy: what
	 * they left out is no orphan, and must not be reverted.
	 */
	if (!partial) {
		size_t k;

		cg_ledger_orphans(&records, &p, &orphans);
		info.orphans = &orphans;
		for (k = 0; p.orphans_forget && k < orphans.n; k++)
			orphans.v[k].forgotten = true;
		for (k = 0; info.audit && k < orphans.n; k++)
			orphans.v[k].forgotten = false;
		/*
		 * After the policy's own changes, unless the run was told
		 * to stop. plan (and an audit run) reads the backups too (to tell what can be
		 * put back), writing nothing.
		 */
		if (p.orphans_revert && orphans.n && !cg_stop_signal) {
			struct cg_store *rs = store;
			char *dir = NULL;

			if (!rs) {
				dir = cg_xasprintf("%s/backups", state);
				cg_store_open(&rs, dir, &err);
				cg_error_clear(&err);
			}
			ctx.store = rs;
			ctx.revert_packages = p.revert_packages;
			cg_revert_orphans(&ctx, &records, &p, &orphans,
					  engine_dry, &counts);
			ctx.store = store;
			if (rs != store)
				cg_store_free(rs);
			free(dir);
			status = cg_exit_status(&counts, src.refused);
		}
		if (!engine_dry && p.orphans_forget && orphans.n &&
		    forget_orphans(&records, &orphans, &err) < 0) {
			cg_error_prefix(&err, "orphans: forget");
			cg_print_error(stderr, &err, ecolor);
			status |= 4;
		}
		/* So that `congruent state` shows them, and since when. */
		if (!dry_run &&
		    cg_ledger_mark_orphans(&records, &p, &orphans,
					   p.commit ? p.commit : "local",
					   &err) < 0) {
			cg_error_prefix(&err, "the ledger cannot mark orphans");
			cg_print_error(stderr, &err, ecolor);
			cg_error_clear(&err);
		}
	}
	/*
	 * Fully evaluated, even if some resources failed: last good. Not
	 * with --only or --skip: the rest of the policy was not looked at.
	 */
	if (!dry_run && src.commit && !partial &&
	    cg_source_mark_good(state, &src, &err) < 0) {
		cg_print_error(stderr, &err, ecolor);
		status |= 4;
	}

	info.started = (int64_t)time(NULL) - (int64_t)((cg_now_ns() - t0) / 1000000000u);
	info.duration_ns = cg_now_ns() - t0;
	info.exit_status = status;
	info.change = cg_report_change(state, p.commit, &counts);
	info.stopped = cg_stop_signal;
	/*
	 * Under systemd stdout goes to the journal too, where the log lines
	 * already say what changed: the text report there would be every
	 * change twice, with file contents. -v asks for it anyway.
	 */
	printed = true;
	if (o.json) {
		cg_output_json(&p, &info, &counts, true, true, stdout);
	} else if (dry_run || o.verbose || !cg_fd_is_journal(1)) {
		cg_output_text(&p, &info, &counts, stdout);
	}
	if (!dry_run)
		cg_log_run(&info, &counts);
	if (!dry_run && write_report(state, &p, &info, &counts, &err) < 0) {
		cg_error_prefix(&err, "cannot write the local report");
		cg_print_error(stderr, &err, ecolor);
		status |= 4;
	}
	/*
	 * The central copy: run's is queued in STATE, then delivered;
	 * --only and --skip runs are partial.
	 */
	if (!dry_run && !partial && !o.no_report && conf.reports_url)
		central_report(&conf, state, &p, &info, &counts, ecolor);
	/* plan's goes at once, from memory: see cg_report_push_now. */
	if (dry_run && !partial && !o.no_report && conf.reports_url) {
		struct cg_report_status st;

		if (cg_report_push_now(&conf, state, &p, &info, &counts, &st,
				       &err) < 0)
			cg_print_error(stderr, &err, ecolor);
	}
out:
	/* --format json answers with a JSON document, errors included. */
	if (o.json && !printed)
		cg_output_problems_json(cmd, o.policy ? o.policy
						      : conf.source_url,
					&diag, &err, status, stdout);
	fflush(stdout);
	cg_leftover_end();
	cg_store_free(store);
	cg_policy_release(&p);
	cg_facts_release(&facts);
	cg_root_release(&root);
	cg_config_release(&conf);
	cg_diag_release(&diag);
	cg_lock_release(lockfd);
	cg_source_release(&src);
	cg_state_release(&records);
	cg_orphans_release(&orphans);
	cg_secrets_release(&lc.secrets);
	free(canaries);
	free(cache);
	free(cache_ro);
	free(state);
	cg_log_close();
	return status;
}

static int cmd_run(int argc, char **argv)
{
	return run_or_plan("run", argc, argv, false);
}

static int cmd_plan(int argc, char **argv)
{
	return run_or_plan("plan", argc, argv, true);
}

static int cmd_check(int argc, char **argv)
{
	struct cg_diag diag = { 0 };
	struct opts o;
	const char *dir;
	int i, rc;

	i = parse_opts("check", argc, argv, &o);
	if (i < 0)
		return OPTS_EXIT(i);
	if (argc - i > 1)
		return usage_error("check", "one policy directory, not '%s'",
				   argv[i + 1]);
	dir = i < argc ? argv[i] : o.policy ? o.policy : ".";
	rc = cg_policy_check(dir, &diag);
	if (o.json) {
		cg_output_problems_json("check", dir, &diag, NULL,
					rc == 0 ? 0 : 1, stdout);
		cg_diag_release(&diag);
		return rc == 0 ? 0 : 1;
	}
	print_diag(&diag, use_color(stderr));
	if (rc == 0)
		printf("%s: ok\n", dir);
	else
		fprintf(stderr, "congruent: %s: %zu error%s\n", dir, diag.n,
			diag.n == 1 ? "" : "s");
	cg_diag_release(&diag);
	return rc == 0 ? 0 : 1;
}

static int cmd_facts(int argc, char **argv)
{
	struct cg_facts facts;
	struct cg_root root;
	struct cg_error err;
	struct opts o;
	size_t i;
	int n;

	n = parse_opts("facts", argc, argv, &o);
	if (n < 0)
		return OPTS_EXIT(n);
	if (n < argc)
		return usage_error("facts", "unexpected argument '%s'", argv[n]);
	if (cg_root_open(&root, o.root ? o.root : "/", &err) < 0 ||
	    cg_facts_gather(&facts, &root, o.hostname, &err) < 0) {
		cg_print_error(stderr, &err, use_color(stderr));
		cg_root_release(&root);
		return 1;
	}
	if (o.json) {
		struct cg_buf b = { 0 };
		struct cg_json j;

		cg_json_init(&j, &b, true);
		cg_json_obj_begin(&j);
		cg_json_kint(&j, "schema_version", CG_JSON_SCHEMA_VERSION);
		for (i = 0; cg_fact_names[i]; i++)
			cg_json_kstr(&j, cg_fact_names[i],
				     cg_facts_get(&facts, cg_fact_names[i]));
		for (i = 0; i < facts.kv.n; i++)
			if (cg_str_starts(facts.kv.keys[i],
					  CG_FACT_CUSTOM_PREFIX))
				cg_json_kstr(&j, facts.kv.keys[i],
					     facts.kv.vals[i]);
		if (facts.nproblems) {
			cg_json_key(&j, "errors");
			cg_json_arr_begin(&j);
			for (i = 0; i < facts.nproblems &&
				    i < CG_FACTS_MAX_PROBLEMS;
			     i++) {
				const struct cg_error *e = &facts.problems[i];

				cg_json_obj_begin(&j);
				cg_json_kstr(&j, "where", e->where);
				cg_json_kstr(&j, "message", e->msg);
				cg_json_kstr(&j, "hint", e->hint);
				cg_json_obj_end(&j);
			}
			cg_json_arr_end(&j);
		}
		cg_json_obj_end(&j);
		cg_buf_addch(&b, '\n');
		fwrite(b.data, 1, b.len, stdout);
		cg_buf_release(&b);
	} else {
		for (i = 0; cg_fact_names[i]; i++)
			printf("%-12s %s\n", cg_fact_names[i],
			       cg_facts_get(&facts, cg_fact_names[i]));
		for (i = 0; i < facts.kv.n; i++)
			if (cg_str_starts(facts.kv.keys[i],
					  CG_FACT_CUSTOM_PREFIX))
				printf("%-12s %s\n", facts.kv.keys[i],
				       facts.kv.vals[i]);
	}
	print_fact_problems(&facts, use_color(stderr));
	n = facts.nproblems ? 4 : 0;
	cg_facts_release(&facts);
	cg_root_release(&root);
	return n;
}

static int cmd_state(int argc, char **argv)
{
	struct cg_config conf;
	struct cg_state st;
	struct cg_error err;
	struct opts o;
	char *state;
	int n, rc = 1;

	n = parse_opts("state", argc, argv, &o);
	if (n < 0)
		return OPTS_EXIT(n);
	if (n < argc)
		return usage_error("state", "unexpected argument '%s'", argv[n]);
	cg_error_clear(&err);
	if (cg_config_load(&conf, o.config, o.config_given, &err) < 0) {
		cg_print_error(stderr, &err, use_color(stderr));
		return 1;
	}
	memset(&st, 0, sizeof(st));
	state = NULL;
	/* Read only, without the lock: the file is replaced whole. */
	if (state_dir_for(&o, &conf, false, &state, &err) < 0 ||
	    cg_state_load(&st, state, false, &err) < 0) {
		cg_print_error(stderr, &err, use_color(stderr));
	} else {
		cg_state_print(&st, o.json, stdout);
		rc = 0;
	}
	cg_state_release(&st);
	free(state);
	cg_config_release(&conf);
	return rc;
}

static int cmd_forget(int argc, char **argv)
{
	struct cg_config conf;
	struct cg_state st;
	struct cg_error err;
	struct opts o;
	char *state = NULL;
	int n, i, lockfd = -1, rc = 1;

	n = parse_opts("forget", argc, argv, &o);
	if (n < 0)
		return OPTS_EXIT(n);
	if (n == argc)
		return usage_error("forget", "name the resources to release "
					     "(%s)", "file:/etc/app.conf");
	cg_error_clear(&err);
	memset(&st, 0, sizeof(st));
	if (cg_config_load(&conf, o.config, o.config_given, &err) < 0) {
		cg_print_error(stderr, &err, use_color(stderr));
		return 1;
	}
	/* Under the run's lock: a run writes the same file. */
	if (state_dir_for(&o, &conf, false, &state, &err) < 0 ||
	    cg_lock_take(state, &lockfd, &err) < 0 ||
	    cg_state_load(&st, state, true, &err) < 0)
		goto fail;
	for (i = n; i < argc; i++) {
		if (cg_state_get(&st, argv[i], CG_LEDGER_SINCE))
			continue;
		cg_error_set(&err, CG_ERR, "not in the ledger");
		snprintf(err.resource, sizeof(err.resource), "%s", argv[i]);
		cg_error_hint(&err, "congruent state lists what congruent "
				    "manages; ids are TYPE:NAME");
		goto fail;
	}
	if (cg_ledger_forget(&st, (const char *const *)argv + n,
			     (size_t)(argc - n), &err) < 0)
		goto fail;
	for (i = n; i < argc; i++)
		printf("forgotten: %s\n", argv[i]);
	rc = 0;
	goto out;
fail:
	cg_print_error(stderr, &err, use_color(stderr));
out:
	cg_lock_release(lockfd);
	cg_state_release(&st);
	free(state);
	cg_config_release(&conf);
	return rc;
}

/* vars: one leaf per line, or its JSON, with the file:line it came from. */
static void var_value(struct cg_buf *b, const struct cg_node *n)
{
	size_t i;

	if (n->kind == CG_NODE_SCALAR) {
		cg_buf_addstr(b, cg_secret_is(n->str) ? "(secret)" : n->str);
		return;
	}
	cg_buf_addch(b, '[');
	for (i = 0; i < n->len; i++) {
		if (i)
			cg_buf_addstr(b, ", ");
		var_value(b, n->items[i]);
	}
	cg_buf_addch(b, ']');
}

static void var_json(struct cg_json *j, const struct cg_node *n)
{
	size_t i;

	if (n->kind == CG_NODE_SCALAR) {
		cg_json_str(j, cg_secret_is(n->str) ? "(secret)" : n->str);
		return;
	}
	cg_json_arr_begin(j);
	for (i = 0; i < n->len; i++)
		var_json(j, n->items[i]);
	cg_json_arr_end(j);
}

static void var_leaves(const char *name, const struct cg_node *n,
		       struct cg_json *j, FILE *out)
{
	char where[256];
	size_t i;

	if (n->kind == CG_NODE_MAP && n->len) {
		for (i = 0; i < n->len; i++) {
			char *sub = cg_xasprintf("%s.%s", name,
						 n->items[2 * i]->str);

			var_leaves(sub, n->items[2 * i + 1], j, out);
			free(sub);
		}
		return;
	}
	cg_node_where(n, where, sizeof(where));
	if (j) {
		cg_json_obj_begin(j);
		cg_json_kstr(j, "name", name);
		cg_json_key(j, "value");
		if (n->kind == CG_NODE_MAP)
			cg_json_str(j, "{}");
		else
			var_json(j, n);
		if (n->kind == CG_NODE_SCALAR && cg_secret_is(n->str))
			cg_json_kbool(j, "secret", true);
		cg_json_kstr(j, "from", where);
		cg_json_obj_end(j);
	} else {
		struct cg_buf b = { 0 };

		if (n->kind == CG_NODE_MAP)
			cg_buf_addstr(&b, "{}");
		else
			var_value(&b, n);
		fprintf(out, "%-24s %-32s %s\n", name, b.data, where);
		cg_buf_release(&b);
	}
}

/* A host's merged vars, each value with the file:line it came from. */
static int cmd_vars(int argc, char **argv)
{
	struct opts o;
	struct cg_config conf;
	struct cg_root root;
	struct cg_facts facts;
	struct cg_policy p;
	struct cg_diag diag = { 0 };
	struct cg_source src;
	struct cg_error err;
	bool ecolor = use_color(stderr);
	const char *dir;
	char *state = NULL;
	int lockfd = -1, rc = 1, i;
	size_t k;

	i = parse_opts("vars", argc, argv, &o);
	if (i < 0)
		return OPTS_EXIT(i);
	if (i < argc)
		return usage_error("vars", "unexpected argument '%s'", argv[i]);
	memset(&p, 0, sizeof(p));
	p.fd = -1;
	memset(&src, 0, sizeof(src));
	memset(&facts, 0, sizeof(facts));
	memset(&root, 0, sizeof(root));
	root.fd = -1;
	cg_error_clear(&err);
	if (cg_config_load(&conf, o.config, o.config_given, &err) < 0) {
		cg_print_error(stderr, &err, ecolor);
		return 1;
	}
	if (!o.policy && !conf.source_url) {
		cg_error_set(&err, CG_ERR, "no policy to read");
		cg_error_hint(&err, "pass --policy DIR, or set source.url in %s",
			      conf.path ? conf.path : o.config);
		goto fail;
	}
	if (cg_root_open(&root, o.root ? o.root : "/", &err) < 0 ||
	    cg_facts_gather(&facts, &root, o.hostname, &err) < 0)
		goto fail;
	dir = o.policy;
	/* A git source: the commit run would enforce, without fetching. */
	if (!o.policy) {
		if (state_dir_for(&o, &conf, true, &state, &err) < 0 ||
		    cg_lock_take(state, &lockfd, &err) < 0 ||
		    cg_source_prepare(&conf, state, false, false, &src,
				      &err) < 0)
			goto fail;
		dir = src.dir;
	}
	if (cg_policy_load(&p, dir, &facts, &diag) < 0) {
		print_diag(&diag, ecolor);
		goto out;
	}
	if (o.json) {
		struct cg_buf b = { 0 };
		struct cg_json j;

		cg_json_init(&j, &b, true);
		cg_json_obj_begin(&j);
		cg_json_kstr(&j, "host", cg_facts_get(&facts, "hostname"));
		cg_json_kstr(&j, "class", p.class_where);
		cg_json_key(&j, "vars");
		cg_json_arr_begin(&j);
		for (k = 0; k < p.vars.n; k++)
			var_leaves(p.vars.keys[k], p.vars.vals[k], &j, NULL);
		cg_json_arr_end(&j);
		cg_json_obj_end(&j);
		cg_buf_addch(&b, '\n');
		fwrite(b.data, 1, b.len, stdout);
		cg_buf_release(&b);
	} else {
		for (k = 0; k < p.vars.n; k++)
			var_leaves(p.vars.keys[k], p.vars.vals[k], NULL, stdout);
	}
	rc = 0;
	goto out;
fail:
	cg_print_error(stderr, &err, ecolor);
out:
	cg_policy_release(&p);
	cg_facts_release(&facts);
	cg_root_release(&root);
	cg_config_release(&conf);
	cg_diag_release(&diag);
	cg_lock_release(lockfd);
	cg_source_release(&src);
	free(state);
	return rc;
}

static int cmd_version(int argc, char **argv)
{
	int major, minor, rev;

	if (argc > 1 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		cg_usage_print("version", stdout);
		return 0;
	}
	if (argc > 1)
		return usage_error("version", "unexpected argument '%s'",
				   argv[1]);
	git_libgit2_version(&major, &minor, &rev);
	printf("congruent %s (libgit2 %d.%d.%d, libyaml %s, %s)\n", CG_VERSION,
	       major, minor, rev, yaml_get_version_string(),
	       OpenSSL_version(OPENSSL_VERSION));
	return 0;
}

static int cmd_help(int argc, char **argv);

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "run", cmd_run },
	{ "plan", cmd_plan },
	{ "check", cmd_check },
	{ "facts", cmd_facts },
	{ "fleet", cg_cmd_fleet_main },
	{ "restore", cg_cmd_restore_main },
	{ "state", cmd_state },
	{ "forget", cmd_forget },
	{ "vars", cmd_vars },
	{ "key", cg_cmd_key_main },
	{ "secret", cg_cmd_secret_main },
	{ "version", cmd_version },
	{ "help", cmd_help },
};

static int cmd_help(int argc, char **argv)
{
	size_t i;

	if (argc > 1) {
		const char *cmd = argv[1];

		if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
			cmd = "help";
		if (!cg_usage_text(cmd)) {
			fprintf(stderr, "congruent help: no command '%s'\n",
				argv[1]);
			fprintf(stderr, "Try 'congruent help'.\n");
			return 1;
		}
		cg_usage_print(cmd, stdout);
		return 0;
	}
	printf("usage: congruent COMMAND [OPTIONS]\n\ncommands:\n");
	for (i = 0; i < CG_ARRAY_SIZE(commands); i++) {
		const char *u = cg_usage_text(commands[i].name);

		printf("  ");
		for (; *u; u++) {
			putchar(*u);
			if (*u == '\n')
				printf("  ");
		}
		printf("\n");
	}
	printf("\nexit status: 0 nothing to change, 2 changes applied (run) or "
	       "drift found (plan),\n4 some resources failed, 6 both, 1 "
	       "nothing was enforced.\n");
	printf("plan may load kernel modules when it checks firewall rules "
	       "in a scratch\nnetwork namespace. 'congruent help COMMAND' "
	       "gives one command's usage;\nsee congruent(8).\n");
	return 0;
}

int main(int argc, char **argv)
{
	const char *name;
	size_t i;

	/* Files and directories we create get exactly the modes we ask. */
	umask(022);
	if (argc < 2) {
		cmd_help(0, NULL);
		return 1;
	}
	name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
		name = "help";
	if (strcmp(name, "--version") == 0)
		name = "version";
	for (i = 0; i < CG_ARRAY_SIZE(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "congruent: unknown command '%s'\n", name);
	{
		const char *names[CG_ARRAY_SIZE(commands) + 1];
		const char *best;

		for (i = 0; i < CG_ARRAY_SIZE(commands); i++)
			names[i] = commands[i].name;
		names[i] = NULL;
		best = cg_suggest(name, names);
		if (best)
			fprintf(stderr, "  hint: did you mean '%s'?\n", best);
		else
			fprintf(stderr, "  hint: 'congruent help' lists the "
					"commands\n");
	}
	return 1;
}
