/* output.c: plan and run results as text for people and JSON for programs. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <unistd.h>

#include "agent.h"
#include "cg/json.h"

#define RED "\033[31m"
#define GREEN "\033[32m"
#define YELLOW "\033[33m"
#define CYAN "\033[36m"
#define BOLD "\033[1m"
#define RESET "\033[0m"

static const char *col(bool color, const char *code)
{
	return color ? code : "";
}

void cg_print_error(FILE *out, const struct cg_error *err, bool color)
{
	const char *level = cg_log_level(out, LOG_ERR);

	fprintf(out, "%s%scongruent: ", level, col(color, RED));
	if (err->where[0])
		fprintf(out, "%s: ", err->where);
	if (err->resource[0])
		fprintf(out, "%s: ", err->resource);
	fprintf(out, "%s%s\n", err->msg, col(color, RESET));
	if (err->hint[0])
		fprintf(out, "%s  hint: %s\n", level, err->hint);
	cg_log_error(err);
}

/* The one-character mark of a resource's outcome, as in the order list. */
static char mark(const struct cg_resource *r)
{
	switch (r->status) {
	case CG_STATUS_FAILED:
		return '!';
	case CG_STATUS_SKIPPED:
		return '?';
	case CG_STATUS_OK:
	case CG_STATUS_PENDING:
		return '=';
	default:
		break;
	}
	/* Drift that audit: true keeps: reported, never changed. */
	if (r->audit && r->status == CG_STATUS_DRIFTED)
		return '*';
	switch (r->change.action) {
	case CG_ACTION_CREATE:
		return '+';
	case CG_ACTION_DELETE:
		return '-';
	default:
		return '~';
	}
}

static const char *mark_color(char m)
{
	switch (m) {
	case '+':
		return GREEN;
	case '-':
	case '!':
		return RED;
	case '~':
	case '?':
	case '*':
		return YELLOW;
	default:
		return "";
	}
}

/* Hashes are long; twelve digits tell them apart on a screen. */
static void short_value(char *buf, size_t size, const char *v)
{
	const char *h = strstr(v, " sha256:");

	if (cg_str_starts(v, "sha256:") && strlen(v) > 7 + 12)
		snprintf(buf, size, "sha256:%.12s", v + 7);
	else if (h && strlen(h + 8) == 64) /* "a.conf file 0644 sha256:HEX" */
		snprintf(buf, size, "%.*s sha256:%.12s", (int)(h - v), v,
			 h + 8);
	else
		snprintf(buf, size, "%s", v);
}

static void print_detail(FILE *out, const char *detail, const char *indent,
			 bool color)
{
	const char *line = detail;

	while (*line) {
		const char *nl = strchr(line, '\n');
		int len = nl ? (int)(nl - line) : (int)strlen(line);
		const char *c = "";

		if (color) {
			if (cg_str_starts(line, "+++") ||
			    cg_str_starts(line, "---"))
				c = BOLD;
			else if (line[0] == '+')
				c = GREEN;
			else if (line[0] == '-')
				c = RED;
			else if (line[0] == '@')
				c = CYAN;
		}
		fprintf(out, "%s%s%.*s%s\n", indent, c, len, line,
			*c ? RESET : "");
		line += len + (nl ? 1 : 0);
	}
}

static void print_change(FILE *out, const struct cg_resource *r, bool color)
{
	size_t i;

	if (r->change.note)
		fprintf(out, "    (%s)\n", r->change.note);
	for (i = 0; i < r->change.n; i++) {
		const struct cg_change_item *it = &r->change.items[i];
		char from[4096], to[4096];

		/* A one-line detail says the same as field/from/to, better. */
		if (it->detail && !strchr(it->detail, '\n')) {
			print_detail(out, it->detail, "    ", color);
			continue;
		}
		if (it->from)
			short_value(from, sizeof(from), it->from);
		if (it->to)
			short_value(to, sizeof(to), it->to);
		if (it->from && it->to)
			fprintf(out, "    %s %s -> %s\n", it->field, from, to);
		else if (it->to)
			fprintf(out, "    %s %s\n", it->field, to);
		else if (it->from)
			fprintf(out, "    %s %s -> (absent)\n", it->field, from);
		else
			fprintf(out, "    %s\n", it->field);
		if (it->detail)
			print_detail(out, it->detail, "      ", color);
	}
}

/*
 * What lives in a managed resource that the policy does not name, item by
 * item: "extra [3] -A INPUT -s 192.0.2.7/32 -j ACCEPT  (owner: unknown)".
 */
static void print_unmanaged(FILE *out, const struct cg_resource *r,
			    bool color)
{
	size_t k;

	for (k = 0; k < r->change.nunmanaged; k++) {
		const struct cg_unmanaged *u = &r->change.unmanaged[k];
		const char *o = u->owner ? u->owner : "unknown";

		fprintf(out, "    %sextra", col(color, u->owner ? "" : YELLOW));
		if (u->pos)
			fprintf(out, " [%u]", (unsigned)u->pos);
		fprintf(out, " %s  (owner: %s%s)%s\n", u->item, o,
			strcmp(o, "ignore") == 0 ? ":" : "",
			col(color, u->owner ? "" : RESET));
	}
}

static void print_warnings(FILE *out, const struct cg_resource *r, bool color)
{
	size_t k;

	for (k = 0; k < r->change.nwarnings; k++)
		fprintf(out, "    %swarning:%s %s\n", col(color, YELLOW),
			col(color, RESET), r->change.warnings[k]);
}

static void print_problem(FILE *out, const struct cg_resource *r, bool color)
{
	if (!r->err)
		return;
	fprintf(out, "    %s%s%s\n", col(color, RED), r->err->msg,
		col(color, RESET));
	if (r->err->hint[0])
		fprintf(out, "    hint: %s\n", r->err->hint);
}

static void print_roles(FILE *out, const struct cg_policy *p)
{
	size_t i;

	for (i = 0; i < p->nroles; i++)
		fprintf(out, "%s%s", i ? ", " : "", p->roles[i]);
	if (!p->nroles)
		fprintf(out, "(none)");
}

/* What module m's summary hook says about its resources, or NULL. */
static char *module_summary(const struct cg_policy *p,
			    const struct cg_module *m)
{
	const struct cg_resource **v;
	struct cg_buf b = { 0 };
	size_t i, n = 0;

	if (!m->summary)
		return NULL;
	v = cg_xcalloc(p->n + 1, sizeof(*v));
	for (i = 0; i < p->n; i++)
		if (p->res[p->order[i]].mod == m)
			v[n++] = &p->res[p->order[i]];
	if (n)
		m->summary(v, n, &b);
	free(v);
	if (!b.len) {
		cg_buf_release(&b);
		return NULL;
	}
	return cg_buf_detach(&b, NULL);
}

static void print_heading(FILE *out, const struct cg_policy *p,
			  const struct cg_run_info *info)
{
	bool plan = strcmp(info->command, "plan") == 0;

	fprintf(out, "%s%s for %s%s (roles: ", col(info->color, BOLD),
		plan ? "Plan" : "Run", info->host, col(info->color, RESET));
	print_roles(out, p);
	fprintf(out, ") from %s", info->policy);
	if (info->commit)
		fprintf(out, " at %.12s", info->commit);
	fprintf(out, "\n");
	if (info->audit)
		fprintf(out, "%smode: audit%s: nothing is changed; what "
			     "differs is reported as drifted\n",
			col(info->color, BOLD), col(info->color, RESET));
}

/* A resource's block, unless it is '=' with nothing else to say. */
static bool print_resource(FILE *out, const struct cg_resource *r, bool color)
{
	char m = mark(r);

	if (m == '=' && !r->change.nunmanaged && !r->change.nwarnings)
		return false;
	fprintf(out, "\n%s%c %s%s  (%s)\n", col(color, mark_color(m)), m,
		r->id, col(color, RESET), r->where);
	if (r->status == CG_STATUS_FAILED || r->status == CG_STATUS_SKIPPED) {
		print_problem(out, r, color);
		return true;
	}
	print_change(out, r, color);
	print_unmanaged(out, r, color);
	print_warnings(out, r, color);
	return true;
}

/* What the SIGALRM handler prints: preformatted, as it may only write(2). */
static char busy_line[512];
static volatile sig_atomic_t busy_len;

static void on_alarm(int sig)
{
	(void)sig;
	if (busy_len)
		(void)!write(STDERR_FILENO, busy_line, (size_t)busy_len);
}

void cg_live_start(struct cg_live *lv, const struct cg_policy *p,
		   const struct cg_run_info *info, FILE *out)
{
	struct sigaction sa;

	memset(lv, 0, sizeof(*lv));
	lv->p = p;
	lv->info = info;
	lv->out = out;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
}

void cg_live_final(const struct cg_ctx *ctx, const struct cg_resource *r)
{
	struct cg_live *lv = ctx->output;

	cg_log_resource(r);
	if (!lv->out)
		return;
	if (mark(r) == '=' && !r->change.nunmanaged && !r->change.nwarnings)
		return;
	if (!lv->headed)
		print_heading(lv->out, lv->p, lv->info);
	lv->headed = true;
	print_resource(lv->out, r, lv->info->color);
	fflush(lv->out);
}

/*
 * A step that takes long says so: after 3 s, then every 10 s, one line on
 * stderr (a log line under systemd), from a timer, so that nothing on the
 * way (an apt transaction, a service start) has to know.
 */
void cg_live_working(const struct cg_ctx *ctx, const struct cg_resource *first,
		     size_t n, const char *what)
{
	struct itimerval it;
	int len;

	(void)ctx;
	memset(&it, 0, sizeof(it));
	busy_len = 0;
	if (first) {
		len = snprintf(busy_line, sizeof(busy_line),
			       "%scongruent: still %s %s%s\n",
			       cg_log_level(stderr, LOG_INFO), what, first->id,
			       n > 1 ? " and the next of its type" : "");
		if (n > 2)
			len = snprintf(busy_line, sizeof(busy_line),
				       "%scongruent: still %s %s and %zu more "
				       "of its type\n",
				       cg_log_level(stderr, LOG_INFO), what,
				       first->id, n - 1);
		if (len > 0 && (size_t)len < sizeof(busy_line))
			busy_len = len;
		it.it_value.tv_sec = 3;
		it.it_interval.tv_sec = 10;
	}
	setitimer(ITIMER_REAL, &it, NULL);
}

/*
 * The orphans the ledger keeps after this run (plan: would keep): not
 * forgotten, not put back. What fleet counts as a host's orphans.
 */
static size_t orphans_left(const struct cg_orphans *o)
{
	size_t i, n = 0;

	for (i = 0; o && i < o->n; i++)
		n += !o->v[i].forgotten &&
		     o->v[i].status != CG_STATUS_REPAIRED &&
		     o->v[i].status != CG_STATUS_DRIFTED;
	return n;
}

/* The orphans, one line each, as plan and run list them. */
static void print_orphans(FILE *out, const struct cg_run_info *info,
			  bool plan)
{
	const struct cg_orphans *o = info->orphans;
	size_t i;

	for (i = 0; o && i < o->n; i++) {
		const struct cg_orphan *x = &o->v[i];

		fprintf(out, "\n%s-%s %s  (no longer in the policy; managed "
			     "since %s%s)\n",
			col(info->color, mark_color('-')),
			col(info->color, RESET), x->id, x->since,
			!x->forgotten || x->revert ? ""
			: plan                     ? "; would be forgotten"
						   : "; forgotten");
		if (strcmp(x->before, CG_LEDGER_UNKNOWN) != 0)
			fprintf(out, "    before congruent: %s\n", x->before);
		if (x->revert)
			fprintf(out, "    revert: %s%s\n", x->revert,
				x->status == CG_STATUS_REPAIRED ? " (done)"
				: x->status == CG_STATUS_FAILED ? " (failed)"
								: "");
		if (x->err)
			cg_print_error(out, x->err, info->color);
	}
}

void cg_output_text(const struct cg_policy *p, const struct cg_run_info *info,
		    const struct cg_counts *c, FILE *out)
{
	bool plan = strcmp(info->command, "plan") == 0;
	size_t norphans = orphans_left(info->orphans), naudit = 0;
	bool quiet = !plan && !info->verbose && !c->repaired && !c->failed &&
		     !c->drifted && !c->skipped && !c->extra && !c->warnings &&
		     !(info->orphans && info->orphans->n);
	size_t i;

	if (quiet)
		return;
	/* A live run printed its heading and resources as they came. */
	if (info->live)
		goto tail;
	print_heading(out, p, info);

	if (plan || info->verbose) {
		fprintf(out, "\norder (%zu resource%s):\n", p->n,
			p->n == 1 ? "" : "s");
		for (i = 0; i < p->n; i++) {
			const struct cg_resource *r = &p->res[p->order[i]];
			char m = mark(r);

			fprintf(out, "  %4zu %s%c%s %s\n", i + 1,
				col(info->color, mark_color(m)), m,
				col(info->color, RESET), r->id);
		}
	}
	for (i = 0; i < p->n; i++)
		print_resource(out, &p->res[p->order[i]], info->color);
tail:
	print_orphans(out, info, plan);
	for (i = 0; (plan || info->verbose) && cg_modules[i]; i++) {
		char *text = module_summary(p, cg_modules[i]);

		if (text)
			fprintf(out, "\n%s", text);
		free(text);
	}
	fprintf(out, "\n%s: ", plan ? "plan" : info->audit ? "run (audit)"
							   : "run");
	/* Drift run leaves (audit): "to change" in plan would be wrong. */
	for (i = 0; i < p->n; i++)
		naudit += p->res[i].status == CG_STATUS_DRIFTED &&
			  (p->res[i].audit || !plan);
	if (plan)
		fprintf(out, "%zu to change, ", c->drifted - naudit);
	else
		fprintf(out, "%zu repaired, ", c->repaired);
	if (naudit)
		fprintf(out, "%zu drifted (audit: not changed), ", naudit);
	fprintf(out, "%zu ok, %zu failed, %zu skipped", c->ok, c->failed,
		c->skipped);
	if (c->extra)
		fprintf(out, ", %zu extra", c->extra);
	if (norphans)
		fprintf(out, ", %zu orphan%s", norphans,
			norphans == 1 ? "" : "s");
	if (c->warnings)
		fprintf(out, ", %zu warning%s", c->warnings,
			c->warnings == 1 ? "" : "s");
	fprintf(out, " (%.3f s)", (double)info->duration_ns / 1e9);
	if (info->stopped)
		fprintf(out, "; stopped by SIG%s", sigabbrev_np(info->stopped));
	fputc('\n', out);
}

static void json_change(struct cg_json *j, const struct cg_resource *r,
			bool details)
{
	size_t i;

	cg_json_key(j, "changes");
	cg_json_arr_begin(j);
	for (i = 0; i < r->change.n; i++) {
		const struct cg_change_item *it = &r->change.items[i];

		cg_json_obj_begin(j);
		cg_json_kstr(j, "field", it->field);
		cg_json_kstr(j, "from", it->from);
		cg_json_kstr(j, "to", it->to);
		if (it->secret)
			cg_json_kbool(j, "secret", true);
		if (details && it->detail)
			cg_json_kstr(j, "diff", it->detail);
		cg_json_obj_end(j);
	}
	cg_json_arr_end(j);
	if (r->change.note)
		cg_json_kstr(j, "note", r->change.note);
}

void cg_output_json(const struct cg_policy *p, const struct cg_run_info *info,
		    const struct cg_counts *c, bool details, bool pretty,
		    FILE *out)
{
	struct cg_buf buf = { 0 };
	struct cg_json j;
	char when[32];
	size_t i, k;

	cg_json_init_file(&j, &buf, out, pretty);
	cg_json_obj_begin(&j);
	cg_json_kint(&j, "schema_version", CG_JSON_SCHEMA_VERSION);
	cg_json_kstr(&j, "command", info->command);
	cg_json_kstr(&j, "agent_version", CG_VERSION);
	cg_json_kstr(&j, "host", info->host);
	cg_time_iso(when, info->started);
	cg_json_kstr(&j, "time", when);
	cg_json_kint(&j, "duration_ms", (int64_t)(info->duration_ns / 1000000));
	cg_json_kint(&j, "exit_status", info->exit_status);
	if (info->change)
		cg_json_kstr(&j, "change", info->change);
	if (info->audit)
		cg_json_kstr(&j, "mode", "audit");
	if (info->stopped)
		cg_json_kstr(&j, "stopped", sigabbrev_np(info->stopped));
	cg_json_kstr(&j, "policy", info->policy);
	cg_json_kstr(&j, "commit", info->commit);
	if (info->facts && info->facts->nproblems) {
		const struct cg_facts *f = info->facts;

		/* Why a run whose resources all held still exits 4. */
		cg_json_key(&j, "facts_errors");
		cg_json_arr_begin(&j);
		for (i = 0; i < f->nproblems && i < CG_FACTS_MAX_PROBLEMS; i++) {
			cg_json_obj_begin(&j);
			cg_json_kstr(&j, "where", f->problems[i].where);
			cg_json_kstr(&j, "message", f->problems[i].msg);
			cg_json_kstr(&j, "hint", f->problems[i].hint);
			cg_json_obj_end(&j);
		}
		cg_json_arr_end(&j);
	}
	if (info->source) {
		const struct cg_source *src = info->source;

		cg_json_key(&j, "source");
		cg_json_obj_begin(&j);
		cg_json_kbool(&j, "stale", src->stale);
		if (src->fetched_time) {
			cg_time_iso(when, src->fetched_time);
			cg_json_kstr(&j, "fetched", when);
		}
		cg_json_kint(&j, "fetched_objects", src->objects);
		/* Empty when the branch points at no commit at all. */
		if (src->refused && src->refused_commit[0])
			cg_json_kstr(&j, "refused_commit", src->refused_commit);
		if (src->refused && src->refusal[0])
			cg_json_kstr(&j, "refusal", src->refusal);
		if (src->stale || src->refused)
			cg_json_kstr(&j, "reason", src->why.msg);
		if ((src->stale || src->refused) && src->why.hint[0])
			cg_json_kstr(&j, "hint", src->why.hint);
		if (src->signer[0])
			cg_json_kstr(&j, "signer", src->signer);
		cg_json_obj_end(&j);
	}
	{
		char fp[65];

		cg_engine_fingerprint(p, fp);
		cg_json_kstr(&j, "fingerprint", fp);
	}
	cg_json_key(&j, "roles");
	cg_json_arr_begin(&j);
	for (i = 0; i < p->nroles; i++)
		cg_json_str(&j, p->roles[i]);
	cg_json_arr_end(&j);
	cg_json_key(&j, "summary");
	cg_json_obj_begin(&j);
	cg_json_kint(&j, "ok", (int64_t)c->ok);
	cg_json_kint(&j, "drifted", (int64_t)c->drifted);
	cg_json_kint(&j, "repaired", (int64_t)c->repaired);
	cg_json_kint(&j, "failed", (int64_t)c->failed);
	cg_json_kint(&j, "skipped", (int64_t)c->skipped);
	cg_json_kint(&j, "extra", (int64_t)c->extra);
	if (info->orphans)
		cg_json_kint(&j, "orphans",
			     (int64_t)orphans_left(info->orphans));
	if (c->warnings) /* the key is new: only there when it says something */
		cg_json_kint(&j, "warnings", (int64_t)c->warnings);
	cg_json_obj_end(&j);
	cg_json_key(&j, "resources");
	cg_json_arr_begin(&j);
	for (i = 0; i < p->n; i++) {
		const struct cg_resource *r = &p->res[p->order[i]];

		cg_json_obj_begin(&j);
		cg_json_kint(&j, "order", (int64_t)i + 1);
		cg_json_kstr(&j, "id", r->id);
		cg_json_kstr(&j, "type", r->mod->type);
		cg_json_kstr(&j, "where", r->where);
		cg_json_kstr(&j, "status", cg_status_name(r->status));
		if (r->audit)
			cg_json_kbool(&j, "audit", true);
		if (r->status == CG_STATUS_DRIFTED ||
		    r->status == CG_STATUS_REPAIRED) {
			cg_json_kstr(&j, "action",
				     cg_action_name(r->change.action));
			json_change(&j, r, details);
		}
		if (r->change.nunmanaged) {
			cg_json_key(&j, "unmanaged");
			cg_json_arr_begin(&j);
			for (k = 0; k < r->change.nunmanaged; k++) {
				const struct cg_unmanaged *u =
					&r->change.unmanaged[k];

				cg_json_obj_begin(&j);
				cg_json_kstr(&j, "kind", u->kind);
				cg_json_kstr(&j, "item", u->item);
				cg_json_kstr(&j, "owner", u->owner);
				if (u->pos)
					cg_json_kint(&j, "position",
						     (int64_t)u->pos);
				cg_json_obj_end(&j);
			}
			cg_json_arr_end(&j);
		}
		if (r->change.nwarnings) {
			cg_json_key(&j, "warnings");
			cg_json_arr_begin(&j);
			for (k = 0; k < r->change.nwarnings; k++)
				cg_json_str(&j, r->change.warnings[k]);
			cg_json_arr_end(&j);
		}
		if (r->err) {
			cg_json_key(&j, "error");
			cg_json_obj_begin(&j);
			cg_json_kstr(&j, "message", r->err->msg);
			if (r->err->hint[0])
				cg_json_kstr(&j, "hint", r->err->hint);
			cg_json_obj_end(&j);
		}
		if (r->nrequires) {
			cg_json_key(&j, "requires");
			cg_json_arr_begin(&j);
			for (k = 0; k < r->nrequires; k++)
				cg_json_str(&j, r->requires[k]);
			cg_json_arr_end(&j);
		}
		cg_json_kint(&j, "duration_us", (int64_t)(r->ns / 1000));
		cg_json_obj_end(&j);
	}
	cg_json_arr_end(&j);
	if (info->orphans) {
		cg_json_key(&j, "orphans");
		cg_json_arr_begin(&j);
		for (i = 0; i < info->orphans->n; i++) {
			const struct cg_orphan *x = &info->orphans->v[i];

			cg_json_obj_begin(&j);
			cg_json_kstr(&j, "id", x->id);
			cg_json_kstr(&j, "since", x->since);
			cg_json_kstr(&j, "before", x->before);
			cg_json_kstr(&j, "handling",
				     x->revert      ? "revert"
				     : x->forgotten ? "forget"
						    : "report");
			if (x->revert) {
				cg_json_kstr(&j, "revert", x->revert);
				cg_json_kstr(&j, "status",
					     cg_status_name(x->status));
			}
			if (x->err) {
				cg_json_key(&j, "error");
				cg_json_obj_begin(&j);
				cg_json_kstr(&j, "message", x->err->msg);
				if (x->err->hint[0])
					cg_json_kstr(&j, "hint", x->err->hint);
				cg_json_obj_end(&j);
			}
			cg_json_obj_end(&j);
		}
		cg_json_arr_end(&j);
	}
	/* Display text, like diffs: not for reports. */
	for (i = k = 0; details && cg_modules[i]; i++) {
		char *text = module_summary(p, cg_modules[i]);

		if (text && !k++) {
			cg_json_key(&j, "summaries");
			cg_json_obj_begin(&j);
		}
		if (text)
			cg_json_kstr(&j, cg_modules[i]->type, text);
		free(text);
	}
	if (k)
		cg_json_obj_end(&j);
	cg_json_obj_end(&j);
	cg_buf_addch(&buf, '\n');
	cg_json_flush(&j);
	cg_buf_release(&buf);
}

/*
 * "roles/web.yaml:12:5" as file, line and column (0 when absent): the
 * trailing numbers are split off only when they are numbers, so a path
 * with a colon in it stays whole.
 */
static void split_where(const char *where, char *file, size_t size,
			unsigned long *line, unsigned long *column)
{
	unsigned long n[2] = { 0, 0 };
	size_t len = strlen(where), k = 0;

	while (k < 2 && len) {
		size_t d = len;

		while (d && where[d - 1] >= '0' && where[d - 1] <= '9')
			d--;
		if (d == len || !d || where[d - 1] != ':' || len - d > 9)
			break;
		n[k++] = strtoul(where + d, NULL, 10);
		len = d - 1;
	}
	snprintf(file, size, "%.*s", (int)len, where);
	*line = k == 2 ? n[1] : n[0];
	*column = k == 2 ? n[0] : 0;
}

static void json_problem(struct cg_json *j, const struct cg_error *e)
{
	char file[256];
	unsigned long line, column;

	split_where(e->where, file, sizeof(file), &line, &column);
	cg_json_obj_begin(j);
	cg_json_kstr(j, "file", file[0] ? file : NULL);
	if (line)
		cg_json_kint(j, "line", (int64_t)line);
	else
		cg_json_kstr(j, "line", NULL);
	if (column)
		cg_json_kint(j, "column", (int64_t)column);
	else
		cg_json_kstr(j, "column", NULL);
	cg_json_kstr(j, "resource", e->resource[0] ? e->resource : NULL);
	cg_json_kstr(j, "message", e->msg);
	cg_json_kstr(j, "hint", e->hint[0] ? e->hint : NULL);
	cg_json_obj_end(j);
}

void cg_output_problems_json(const char *command, const char *policy,
			     const struct cg_diag *d,
			     const struct cg_error *err, int exit_status,
			     FILE *out)
{
	struct cg_buf buf = { 0 };
	struct cg_json j;
	size_t i, n = d ? d->n : 0;

	cg_json_init_file(&j, &buf, out, true);
	cg_json_obj_begin(&j);
	cg_json_kint(&j, "schema_version", CG_JSON_SCHEMA_VERSION);
	cg_json_kstr(&j, "command", command);
	cg_json_kstr(&j, "agent_version", CG_VERSION);
	cg_json_kstr(&j, "policy", policy);
	cg_json_kbool(&j, "ok", exit_status == 0);
	cg_json_kint(&j, "exit_status", exit_status);
	cg_json_kint(&j, "error_count", (int64_t)(n + (err && err->msg[0])));
	cg_json_key(&j, "errors");
	cg_json_arr_begin(&j);
	for (i = 0; i < n && i < CG_DIAG_MAX; i++)
		json_problem(&j, &d->errs[i]);
	if (err && err->msg[0])
		json_problem(&j, err);
	cg_json_arr_end(&j);
	cg_json_key(&j, "warnings");
	cg_json_arr_begin(&j);
	for (i = 0; d && i < d->nwarn && i < CG_DIAG_MAX; i++)
		json_problem(&j, &d->warns[i]);
	cg_json_arr_end(&j);
	cg_json_obj_end(&j);
	cg_buf_addch(&buf, '\n');
	cg_json_flush(&j);
	cg_buf_release(&buf);
}
