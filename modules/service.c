/* service.c: the service resource: enabled, running, masked, a soft start
 * order and restarts on change; the init system's part is a backend. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cg/diff.h"
#include "cg/fs.h"
#include "cg/module.h"
#include "cg/node.h"
#include "service.h"

static const char *const service_keys[] = {
	"enabled", "running", "masked", "after",
	"before",  "restart_on", "reload", NULL,
};

/* systemd unit types: a name with one of these is a unit, not a service. */
static const char *const unit_suffixes[] = {
	".service", ".socket", ".target", ".mount",	".automount",
	".path",    ".timer",  ".device", ".swap",	".slice",
	".scope",   NULL,
};

bool svc_name_ok(const char *name)
{
	const char *p;

	if (!name[0] || name[0] == '.' || name[0] == '-' || strlen(name) > 200)
		return false;
	for (p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("_.@:-", *p)))
			return false;
	return true;
}

bool svc_has_unit_suffix(const char *name)
{
	size_t i;

	for (i = 0; unit_suffixes[i]; i++)
		if (cg_str_ends(name, unit_suffixes[i]) &&
		    strlen(name) > strlen(unit_suffixes[i]))
			return true;
	return false;
}

void svc_unit_name(const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s", name,
		 svc_has_unit_suffix(name) ? "" : ".service");
}

void svc_add_lines(char *out, size_t size, const char *text,
		   size_t max_lines)
{
	size_t len = strlen(out), nlines = 0;
	const char *line = text;

	while (line && *line && nlines < max_lines && len + 8 < size) {
		const char *nl = strchr(line, '\n');
		size_t l = nl ? (size_t)(nl - line) : strlen(line);
		const char *s = line;

		while (l && (*s == ' ' || *s == '\t')) {
			s++;
			l--;
		}
		while (l && (s[l - 1] == ' ' || s[l - 1] == '\r'))
			l--;
		if (l) {
			int w = snprintf(out + len, size - len, "\n      %.*s",
					 (int)l, s);

			if (w < 0 || (size_t)w >= size - len) {
				out[len] = '\0';
				break;
			}
			len += (size_t)w;
			nlines++;
		}
		line = nl ? nl + 1 : NULL;
	}
}

/* --- parse ----------------------------------------------------------- */

static int at_node(struct cg_error *err, const struct cg_node *n)
{
	cg_error_where(err, "%s:%u", n->doc->name, n->line);
	return CG_ERR;
}

static int opt_bool(const struct cg_node *item, const char *key,
		    signed char *out, struct cg_error *err)
{
	const struct cg_node *n = cg_map_get(item, key);
	bool b;

	*out = SVC_UNSET;
	if (!n)
		return 0;
	if (cg_node_bool(n, key, &b, err) < 0)
		return CG_ERR;
	*out = b ? 1 : 0;
	return 0;
}

static bool in_list(char **v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* after: / before: names, ".service" dropped, duplicates kept once. */
static int parse_names(const struct cg_node *item, const char *key,
		       const char *self, char ***out, size_t *n_out,
		       struct cg_error *err)
{
	const struct cg_node *n = cg_map_get(item, key);
	const char **v = NULL;
	size_t i, count = 0;
	int rc = 0;

	*out = NULL;
	*n_out = 0;
	if (!n)
		return 0;
	if (cg_node_strlist(n, key, &v, &count, err) < 0)
		return CG_ERR;
	*out = cg_xcalloc(count + 1, sizeof(**out));
	for (i = 0; i < count; i++) {
		char *name = cg_xstrdup(v[i]);

		if (cg_str_ends(name, ".service") && strlen(name) > 8)
			name[strlen(name) - 8] = '\0';
		if (!svc_name_ok(name)) {
			cg_error_set(err, CG_ERR,
				     "%s: '%s' is not a service name", key,
				     v[i]);
			cg_error_hint(err, "name services as their init "
					   "script or unit: postgresql, "
					   "nginx.service, network-online"
					   ".target");
			rc = at_node(err, n);
		} else if (strcmp(name, self) == 0) {
			cg_error_set(err, CG_ERR,
				     "%s: a service cannot start %s itself",
				     key, key);
			rc = at_node(err, n);
		}
		if (rc < 0 || in_list(*out, *n_out, name)) {
			free(name);
			if (rc < 0)
				break;
			continue;
		}
		(*out)[(*n_out)++] = name;
	}
	free(v);
	return rc;
}

static int service_parse(struct cg_resource *r, const struct cg_node *item,
			 const struct cg_node *value,
			 const struct cg_parse_ctx *pc, struct cg_error *err)
{
	const struct cg_node *n;
	struct svc_want *w;
	const char *name;
	bool b;
	size_t i;

	(void)pc;
	if (cg_node_string(value, "service", &name, err) < 0)
		return CG_ERR;
	if (cg_str_ends(name, ".service")) {
		cg_error_set(err, CG_ERR, "write the service's name without "
					  "\".service\": service: %.*s",
			     (int)(strlen(name) - 8), name);
		return at_node(err, value);
	}
	if (!svc_name_ok(name) || svc_has_unit_suffix(name)) {
		cg_error_set(err, CG_ERR, "'%s' is not a service name", name);
		cg_error_hint(err, "the name of its init script or systemd "
				   "unit, without .service: nginx");
		return at_node(err, value);
	}
	cg_resource_set_id(r, "service", name);
	w = cg_xcalloc(1, sizeof(*w));
	r->desired = w;
	if (opt_bool(item, "enabled", &w->enabled, err) < 0 ||
	    opt_bool(item, "running", &w->running, err) < 0 ||
	    opt_bool(item, "masked", &w->masked, err) < 0)
		return CG_ERR;
	n = cg_map_get(item, "reload");
	if (n) {
		if (cg_node_bool(n, "reload", &b, err) < 0)
			return CG_ERR;
		w->reload = b;
	}
	if (parse_names(item, "after", name, &w->after, &w->nafter, err) < 0 ||
	    parse_names(item, "before", name, &w->before, &w->nbefore, err) <
		    0 ||
	    cg_parse_watch_list(r, item, "restart_on",
				"file:/etc/nginx/nginx.conf", &w->restart_on,
				&w->nrestart_on, err) < 0)
		return CG_ERR;
	if (w->masked == 1 && (w->enabled == 1 || w->running == 1)) {
		cg_error_set(err, CG_ERR,
			     "a masked service can be neither enabled nor "
			     "running");
		cg_error_hint(err, "masked: true keeps it from starting at all; "
				   "drop masked, or enabled/running");
		return at_node(err, cg_map_get(item, "masked"));
	}
	if (w->reload && !w->nrestart_on) {
		cg_error_set(err, CG_ERR,
			     "reload: true only says how restart_on acts, "
			     "and there is no restart_on");
		cg_error_hint(err, "add restart_on: [file:/etc/...], or drop "
				   "reload");
		return at_node(err, cg_map_get(item, "reload"));
	}
	for (i = 0; i < w->nafter; i++)
		if (in_list(w->before, w->nbefore, w->after[i])) {
			cg_error_set(err, CG_ERR,
				     "'%s' is both in after: and before:",
				     w->after[i]);
			return at_node(err, cg_map_get(item, "before"));
		}
	return 0;
}

static void free_list(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void svc_seen_free(struct svc_seen *s)
{
	if (!s)
		return;
	free(s->order_have);
	free(s->order_want);
	free(s->dep_present);
	free(s->dep_number);
	free(s);
}

static void service_release(struct cg_resource *r)
{
	struct svc_want *w = r->desired;

	if (w) {
		free_list(w->after, w->nafter);
		free_list(w->before, w->nbefore);
		free_list(w->restart_on, w->nrestart_on);
		free(w->conflict);
		free(w);
	}
	svc_seen_free(r->observed);
	r->desired = r->observed = NULL;
}

/* --- the start-order graph ------------------------------------------- */

size_t svc_graph_node(struct svc_graph *g, const char *name)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (strcmp(g->node[i].name, name) == 0)
			return i;
	cg_grow(&g->node, &g->cap, g->n + 1, sizeof(*g->node));
	memset(&g->node[g->n], 0, sizeof(g->node[0]));
	g->node[g->n].name = name;
	return g->n++;
}

void svc_graph_edge(struct svc_graph *g, size_t from, size_t to, size_t owner,
		    bool via_before)
{
	cg_grow(&g->edge, &g->ecap, g->nedge + 1, sizeof(*g->edge));
	g->edge[g->nedge].from = from;
	g->edge[g->nedge].to = to;
	g->edge[g->nedge].owner = owner;
	g->edge[g->nedge].via_before = via_before;
	g->nedge++;
}

void svc_graph_build(struct svc_graph *g, const struct cg_resource *const *res,
		     size_t n)
{
	size_t i, j;

	memset(g, 0, sizeof(*g));
	for (i = 0; i < n; i++) {
		size_t k = svc_graph_node(g, res[i]->name);

		g->node[k].id = res[i]->id;
		g->node[k].where = res[i]->where;
		g->node[k].active = true;
	}
	for (i = 0; i < n; i++) {
		const struct svc_want *w = res[i]->desired;

		if (!w)
			continue;
		for (j = 0; j < w->nafter; j++)
			svc_graph_edge(g, svc_graph_node(g, w->after[j]), i, i,
				       false);
		for (j = 0; j < w->nbefore; j++)
			svc_graph_edge(g, i, svc_graph_node(g, w->before[j]), i,
				       true);
	}
}

void svc_graph_release(struct svc_graph *g)
{
	if (!g)
		return;
	free(g->node);
	free(g->edge);
	memset(g, 0, sizeof(*g));
}

/* Out-edges per node, as indexes into g->edge: start[v]..start[v+1]. */
static void out_edges(const struct svc_graph *g, size_t **start_out,
		      size_t **list_out)
{
	size_t *start = cg_xcalloc(g->n + 2, sizeof(*start));
	size_t *list = cg_xcalloc(g->nedge + 1, sizeof(*list));
	size_t *fill = cg_xcalloc(g->n + 1, sizeof(*fill));
	size_t i;

	for (i = 0; i < g->nedge; i++)
		start[g->edge[i].from + 1]++;
	for (i = 0; i < g->n; i++)
		start[i + 1] += start[i];
	for (i = 0; i < g->nedge; i++) {
		size_t f = g->edge[i].from;

		list[start[f] + fill[f]++] = i;
	}
	free(fill);
	*start_out = start;
	*list_out = list;
}

static void describe_edge(const struct svc_graph *g, const struct svc_gedge *e,
			  struct cg_buf *msg)
{
	const struct svc_gnode *o = &g->node[e->owner];

	cg_buf_addf(msg, "%s %s %s (%s)", o->id ? o->id : o->name,
		    e->via_before ? "before" : "after",
		    g->node[e->via_before ? e->to : e->from].name,
		    o->where ? o->where : "?");
}

bool svc_graph_cycle(const struct svc_graph *g, struct cg_buf *msg,
		     size_t *owner)
{
	unsigned char *color = cg_xcalloc(g->n + 1, 1); /* 0 new, 1 open, 2 done */
	size_t *stack = cg_xcalloc(g->n + 1, sizeof(*stack));
	size_t *via = cg_xcalloc(g->n + 1, sizeof(*via)); /* edge into stack[k] */
	size_t *next = cg_xcalloc(g->n + 1, sizeof(*next));
	size_t *start, *list, root, top, i, first = 0, len = 0;
	size_t *cyc = NULL;
	bool found = false;

	out_edges(g, &start, &list);
	for (root = 0; root < g->n && !found; root++) {
		if (color[root])
			continue;
		top = 0;
		stack[0] = root;
		next[root] = start[root];
		color[root] = 1;
		while (!found) {
			size_t u = stack[top], e, v;

			if (next[u] == start[u + 1]) {
				color[u] = 2;
				if (top == 0)
					break;
				top--;
				continue;
			}
			e = list[next[u]++];
			v = g->edge[e].to;
			if (color[v] == 2)
				continue;
			if (color[v] == 0) {
				color[v] = 1;
				stack[++top] = v;
				via[top] = e;
				next[v] = start[v];
				continue;
			}
			/* v is open: the edges from v up the stack, and e. */
			for (i = 0; stack[i] != v; i++)
				;
			len = top - i + 1;
			cyc = cg_xcalloc(len, sizeof(*cyc));
			for (first = 0; first + 1 < len; first++)
				cyc[first] = via[i + 1 + first];
			cyc[len - 1] = e;
			found = true;
		}
	}
	if (found) {
		/* Start at the node declared first, so the message is stable. */
		size_t best = 0, k;

		for (k = 1; k < len; k++)
			if (g->edge[cyc[k]].from < g->edge[cyc[best]].from)
				best = k;
		cg_buf_addstr(msg, g->node[g->edge[cyc[best]].from].name);
		for (k = 0; k < len; k++)
			cg_buf_addf(msg, " before %s",
				    g->node[g->edge[cyc[(best + k) % len]].to]
					    .name);
		cg_buf_addstr(msg, ": ");
		for (k = 0; k < len; k++) {
			if (k)
				cg_buf_addstr(msg, ", ");
			describe_edge(g, &g->edge[cyc[(best + k) % len]], msg);
		}
		*owner = g->edge[cyc[best]].owner;
	}
	free(cyc);
	free(start);
	free(list);
	free(color);
	free(stack);
	free(via);
	free(next);
	return found;
}

/* Is edge e between two active nodes? */
static bool live_edge(const struct svc_graph *g, const struct svc_gedge *e)
{
	return g->node[e->from].active && g->node[e->to].active;
}

/* A topological order of the active nodes (Kahn); returns how many. */
static size_t topo(const struct svc_graph *g, size_t *order)
{
	size_t *indeg = cg_xcalloc(g->n + 1, sizeof(*indeg));
	size_t *start, *list, i, j, head = 0, k = 0;

	out_edges(g, &start, &list);
	for (i = 0; i < g->nedge; i++)
		if (live_edge(g, &g->edge[i]))
			indeg[g->edge[i].to]++;
	for (i = 0; i < g->n; i++)
		if (g->node[i].active && indeg[i] == 0)
			order[k++] = i;
	while (head < k) {
		size_t u = order[head++];

		for (j = start[u]; j < start[u + 1]; j++) {
			const struct svc_gedge *e = &g->edge[list[j]];

			if (live_edge(g, e) && --indeg[e->to] == 0)
				order[k++] = e->to;
		}
	}
	free(indeg);
	free(start);
	free(list);
	return k;
}

void svc_graph_levels(struct svc_graph *g)
{
	size_t *order = cg_xcalloc(g->n + 1, sizeof(*order));
	size_t k = topo(g, order), i, j;

	for (i = 0; i < g->n; i++)
		g->node[i].level = 0;
	for (i = 0; i < k; i++) {
		size_t v = order[i];
		unsigned lv = 1;

		for (j = 0; j < g->nedge; j++) {
			const struct svc_gedge *e = &g->edge[j];

			if (e->to == v && live_edge(g, e) &&
			    g->node[e->from].level + 1 > lv)
				lv = g->node[e->from].level + 1;
		}
		g->node[v].level = lv;
	}
	free(order);
}

/* The number v has for the nodes after it: fixed, or assigned. */
static unsigned number_of(const struct svc_gnode *v)
{
	return v->id ? v->number : v->fixed;
}

void svc_graph_number(struct svc_graph *g)
{
	size_t *order = cg_xcalloc(g->n + 1, sizeof(*order));
	unsigned *hi = cg_xcalloc(g->n + 1, sizeof(*hi));
	unsigned maxlevel = 0, step;
	size_t k = topo(g, order), i, j;

	for (i = 0; i < g->n; i++) {
		g->node[i].number = 0;
		g->node[i].conflict = false;
		if (g->node[i].active && g->node[i].level > maxlevel)
			maxlevel = g->node[i].level;
	}
	/* Room between levels for services the policy does not manage. */
	step = maxlevel <= 9 ? 10 : maxlevel <= SVC_NUMBER_MAX
					  ? SVC_NUMBER_MAX / maxlevel
					  : 1;
	/*
	 * The latest each may start: before the fixed numbers that follow
	 * it (UINT_MAX: none). Only fixed numbers bound it, so that a chain
	 * too long for 99 numbers fails at its end, not everywhere.
	 */
	for (i = k; i-- > 0;) {
		size_t v = order[i];

		hi[v] = UINT_MAX;
		for (j = 0; j < g->nedge; j++) {
			const struct svc_gedge *e = &g->edge[j];
			const struct svc_gnode *w = &g->node[e->to];
			unsigned lim;

			if (e->from != v || !live_edge(g, e))
				continue;
			lim = w->id ? hi[e->to] : w->fixed ? w->fixed : UINT_MAX;
			if (lim == UINT_MAX)
				continue;
			if (lim == 0)
				hi[v] = 0;
			else if (lim - 1 < hi[v])
				hi[v] = lim - 1;
		}
	}
	/* The earliest: after everything before it; spread by level. */
	for (i = 0; i < k; i++) {
		size_t v = order[i];
		struct svc_gnode *node = &g->node[v];
		unsigned lo = 1, want;

		if (!node->id)
			continue;
		for (j = 0; j < g->nedge; j++) {
			const struct svc_gedge *e = &g->edge[j];

			if (e->to == v && live_edge(g, e) &&
			    number_of(&g->node[e->from]) + 1 > lo)
				lo = number_of(&g->node[e->from]) + 1;
		}
		if (hi[v] > SVC_NUMBER_MAX)
			hi[v] = SVC_NUMBER_MAX;
		want = step * node->level;
		if (want < lo)
			want = lo;
		if (want > hi[v])
			want = hi[v];
		if (lo > hi[v]) {
			node->conflict = true;
			/* Those after it still come after it. */
			node->number = lo;
			continue;
		}
		node->number = want;
	}
	for (i = 0; i < g->n; i++)
		if (g->node[i].conflict)
			g->node[i].number = 0;
	free(order);
	free(hi);
}

/* --- check ----------------------------------------------------------- */

/* A start-order cycle among services is an error of the policy. */
static void service_validate(struct cg_resource *const *res, size_t n,
			     const struct cg_parse_ctx *pc)
{
	struct svc_graph g;
	struct cg_buf msg = { 0 };
	struct cg_error e;
	size_t owner = 0;

	svc_graph_build(&g, (const struct cg_resource *const *)res, n);
	if (svc_graph_cycle(&g, &msg, &owner)) {
		cg_error_clear(&e);
		snprintf(e.msg, sizeof(e.msg), "service start order cycle: %s",
			 msg.data);
		snprintf(e.where, sizeof(e.where), "%s", res[owner]->where);
		snprintf(e.resource, sizeof(e.resource), "%s", res[owner]->id);
		snprintf(e.hint, sizeof(e.hint),
			 "remove one of these after:/before: entries so that "
			 "the start order has a beginning");
		pc->report(pc, &e);
	}
	cg_buf_release(&msg);
	svc_graph_release(&g);
}

/* --- the run --------------------------------------------------------- */

static int run_init(struct svc_run *run, struct cg_ctx *ctx,
		    struct cg_error *err)
{
	/* The init fact (agent/facts.c); a var "init" may override it. */
	const char *init = ctx->lookup ? ctx->lookup(ctx, "init") : NULL;

	memset(run, 0, sizeof(*run));
	run->ctx = ctx;
	run->offline = !ctx->root->host;
	run->root = ctx->root->path;
	if (init && strcmp(init, svc_backend_systemd.name) == 0)
		run->be = &svc_backend_systemd;
	else if (init && strcmp(init, svc_backend_sysv.name) == 0)
		run->be = &svc_backend_sysv;
	else
		return cg_error_set(err, CG_ERR,
				    "unknown init system '%s': services are "
				    "managed with systemd or sysvinit",
				    init ? init : "(none)");
	return 0;
}

/* Place every service of res in the start order (see svc_want.placed). */
static void place(const struct svc_run *run, struct cg_resource **res,
		  size_t n)
{
	struct svc_graph g;
	size_t i, j;

	svc_graph_build(&g, (const struct cg_resource *const *)res, n);
	/* A name the policy does not manage counts if it is on the host
	 * (and for rc numbers, if it has one to order against). */
	for (i = 0; i < n; i++) {
		const struct svc_want *w = res[i]->desired;
		const struct svc_seen *s = res[i]->observed;

		if (!s || cg_resource_is_failed(res[i]))
			continue;
		for (j = 0; j < w->nafter + w->nbefore; j++) {
			const char *name = j < w->nafter
						   ? w->after[j]
						   : w->before[j - w->nafter];
			struct svc_gnode *v = &g.node[svc_graph_node(&g, name)];

			if (v->id || !s->dep_present[j])
				continue;
			if (run->be->numbers && !s->dep_number[j])
				continue;
			v->active = true;
			v->fixed = s->dep_number[j];
		}
	}
	svc_graph_levels(&g);
	if (run->be->numbers)
		svc_graph_number(&g);
	for (i = 0; i < n; i++) {
		struct svc_want *w = res[i]->desired;
		struct cg_buf why = { 0 };

		w->placed = true;
		w->level = g.node[i].level;
		w->number = g.node[i].number;
		free(w->conflict);
		w->conflict = NULL;
		if (!g.node[i].conflict)
			continue;
		for (j = 0; j < g.nedge; j++) {
			const struct svc_gedge *e = &g.edge[j];
			const struct svc_gnode *o;

			if ((e->to != i && e->from != i) || !live_edge(&g, e))
				continue;
			o = &g.node[e->to == i ? e->from : e->to];
			if (o->id)
				continue;
			cg_buf_addf(&why, "%s%s %s (S%02u)", why.len ? ", " : "",
				    e->to == i ? "after" : "before", o->name,
				    o->fixed);
		}
		w->conflict = cg_xasprintf(
			"no rc start number fits its place in the order: it "
			"must start %s",
			why.data ? why.data : "between numbers that do not "
					      "leave room");
		cg_buf_release(&why);
	}
	svc_graph_release(&g);
}

static int service_observe(struct cg_ctx *ctx, struct cg_resource **res,
			   size_t n, struct cg_error *err)
{
	struct svc_run run;
	bool all_placed = true;
	size_t i;
	int rc;

	if (run_init(&run, ctx, err) < 0)
		return CG_ERR;
	rc = run.be->observe(&run, res, n, err);
	if (rc < 0)
		return rc;
	for (i = 0; i < n; i++)
		if (!((struct svc_want *)res[i]->desired)->placed)
			all_placed = false;
	/* The first observation of a run sees every service at once. */
	if (!all_placed)
		place(&run, res, n);
	for (i = 0; i < n; i++) {
		struct svc_seen *s = res[i]->observed;

		if (!s || cg_resource_is_failed(res[i]))
			continue;
		free(s->order_want);
		s->order_want = run.be->order_want(&run, res[i]);
	}
	return 0;
}

static bool same_text(const char *a, const char *b)
{
	return a && b ? strcmp(a, b) == 0 : a == b;
}

/* The ids of restart_on that changed in this run, or NULL. */
static char *changed_ids(struct cg_ctx *ctx, const struct svc_want *w)
{
	struct cg_buf b = { 0 };
	size_t i;

	for (i = 0; ctx->changed && i < w->nrestart_on; i++)
		if (ctx->changed(ctx, w->restart_on[i]))
			cg_buf_addf(&b, "%s%s", b.len ? ", " : "",
				    w->restart_on[i]);
	if (!b.len) {
		cg_buf_release(&b);
		return NULL;
	}
	return cg_buf_detach(&b, NULL);
}

/*
 * What must be done to r, the same for diff and apply; an error for what
 * cannot be (masking on sysvinit, enabling a static unit, ...). *why_out
 * (may be NULL) gets what restart_on saw changed.
 */
static int todo_inner(struct cg_ctx *ctx, const struct cg_resource *r,
		      struct svc_todo *t, char **why_out, struct cg_error *err)
{
	const struct svc_want *w = r->desired;
	const struct svc_seen *s = r->observed;
	const struct svc_backend *be = s->be;
	signed char want_run = w->running;
	bool masked = s->masked;
	char *why;

	t->order = t->reread = t->pending = t->drop = false;
	t->mask = t->enable = t->run = SVC_UNSET;
	t->bounce = 0;
	if (why_out)
		*why_out = NULL;
	if (w->masked == 1 && !be->has_mask) {
		cg_error_set(err, CG_ERR, "%s has no masking", be->name);
		cg_error_hint(err, "masked: works where systemd is the init "
				   "system; use enabled: false and running: "
				   "false here");
		return CG_ERR;
	}
	if (w->conflict) {
		cg_error_set(err, CG_ERR, "%s", w->conflict);
		cg_error_hint(err, "renumber those services, or change after:/"
				   "before: so that there is room");
		return CG_ERR;
	}
	if (be->has_mask && w->masked == 1 && !s->masked) {
		t->mask = 1;
		masked = true;
	} else if (be->has_mask && w->masked == 0 && s->masked) {
		t->mask = 0;
		masked = false;
	}
	/* A masked service is one that does not run. */
	if (want_run == SVC_UNSET && w->masked == 1)
		want_run = 0;
	if (masked && (w->enabled == 1 || want_run == 1)) {
		cg_error_set(err, CG_ERR, "%s is masked, so it can be neither "
					  "enabled nor started",
			     r->name);
		cg_error_hint(err, "add masked: false to unmask it");
		return CG_ERR;
	}
	if (!masked && w->enabled != SVC_UNSET && w->enabled != s->enabled) {
		if (w->enabled == 1 && s->present &&
		    (strcmp(s->state, "static") == 0 ||
		     strcmp(s->state, "indirect") == 0 ||
		     strcmp(s->state, "transient") == 0)) {
			cg_error_set(err, CG_ERR,
				     "%s is %s: it has no [Install] section "
				     "that enabling could act on",
				     r->name, s->state);
			cg_error_hint(err, "drop enabled: (running: true starts "
					   "it), or give the unit an [Install] "
					   "section");
			return CG_ERR;
		}
		t->enable = w->enabled;
	}
	t->order = !same_text(s->order_have, s->order_want);
	if (s->offline)
		return 0;
	/* A unit file changed (by a file resource, say): systemd must see it. */
	t->reread = s->stale;
	if (want_run != SVC_UNSET && (want_run == 1) != s->running)
		t->run = want_run;
	t->pending = !w->acted && ctx->record &&
		     ctx->record(ctx, r, SVC_REC_REFRESH);
	/*
	 * A refresh that failed before is owed until one works; a start
	 * does as well. A service that stays down needs none: forget it.
	 */
	if (t->pending && !s->running && t->run != 1)
		t->drop = true;
	if (!s->running || t->run != SVC_UNSET || w->acted)
		return 0;
	why = changed_ids(ctx, w);
	if (!why && !t->pending)
		return 0;
	if (w->reload && !s->can_reload) {
		cg_error_set(err, CG_ERR,
			     "%s%s, but %s cannot reload (no ExecReload=)",
			     why ? why : "a reload is pending",
			     why ? " changed" : "", r->name);
		free(why);
		cg_error_hint(err, "drop reload: true to restart it instead");
		return CG_ERR;
	}
	t->bounce = w->reload ? 2 : 1;
	if (why_out)
		*why_out = why;
	else
		free(why);
	return 0;
}

/* Does name a relate to name b ("nginx" and "nginx-light", "ssh")? */
static bool related(const char *a, const char *b)
{
	return strstr(a, b) || strstr(b, a);
}

/*
 * What earlier in the order changes in this run and may bring r's unit
 * or init script: a file resource that writes it, or a package that is
 * installed or upgraded (one whose name relates to r's first); NULL if
 * nothing may. A package already installed ships nothing new.
 */
static const struct cg_resource *provider(struct cg_ctx *ctx,
					  const struct cg_resource *r)
{
	static const char *const dirs[] = {
		"/etc/systemd/system/", "/run/systemd/system/",
		"/lib/systemd/system/", "/usr/lib/systemd/system/",
		"/etc/init.d/",
	};
	const struct cg_resource *o, *any = NULL;
	size_t i, j;

	for (i = 0; ctx->earlier && (o = ctx->earlier(ctx, r, i)); i++) {
		bool changes = o->status == CG_STATUS_DRIFTED ||
			       o->status == CG_STATUS_REPAIRED;

		if (!changes)
			continue;
		if (strcmp(o->mod->type, "package") == 0 &&
		    (o->change.action == CG_ACTION_CREATE ||
		     o->change.action == CG_ACTION_UPDATE)) {
			if (related(o->name, r->name))
				return o;
			if (!any)
				any = o;
			continue;
		}
		if (strcmp(o->mod->type, "file") != 0)
			continue;
		for (j = 0; j < CG_ARRAY_SIZE(dirs); j++) {
			size_t len = strlen(dirs[j]);
			const char *base = o->name + len;

			if (strncmp(o->name, dirs[j], len) != 0 ||
			    strncmp(base, r->name, strlen(r->name)) != 0)
				continue;
			base += strlen(r->name);
			if (!*base || strcmp(base, ".service") == 0)
				return o;
		}
	}
	return any;
}

/*
 * todo_inner, and the check that what is to be enabled or started is on
 * the host: in apply (fresh observation) always; in diff unless
 * something earlier in the order may bring it (see provider), for then
 * run looks again just before applying, and plan cannot know.
 */
static int todo_for(struct cg_ctx *ctx, const struct cg_resource *r,
		    struct svc_todo *t, char **why_out, bool applying,
		    struct cg_error *err)
{
	const struct svc_seen *s = r->observed;

	if (todo_inner(ctx, r, t, why_out, err) < 0)
		return CG_ERR;
	if (s->present || (t->enable != 1 && t->run != 1) ||
	    (!applying && provider(ctx, r)))
		return 0;
	if (why_out) {
		free(*why_out);
		*why_out = NULL;
	}
	cg_error_set(err, CG_ERR, s->be->missing, r->name);
	cg_error_hint(err, "install the package that ships it first (a "
			   "package resource before it in the order, or in "
			   "its requires:)");
	return CG_ERR;
}

static void add_notes(struct cg_ctx *ctx, struct cg_resource *r,
		      const struct svc_todo *t)
{
	const struct svc_want *w = r->desired;
	const struct svc_seen *s = r->observed;
	const struct cg_resource *from = NULL;
	struct cg_buf b = { 0 };
	size_t j;

	if (!s->present && (t->enable == 1 || t->run == 1))
		from = provider(ctx, r);
	if (from)
		cg_buf_addf(&b, "%s is not on this host yet: %s, earlier in "
				"the order, may bring it",
			    r->name, from->id);
	else if (!s->present && t->order)
		cg_buf_addf(&b, "%s is not on this host (yet)", r->name);
	if (s->offline && (w->running != SVC_UNSET || w->nrestart_on))
		cg_buf_addf(&b, "%s--root: not started, stopped or restarted "
				"(nothing runs in an image)",
			    b.len ? "; " : "");
	for (j = 0; j < w->nafter + w->nbefore; j++) {
		if (s->dep_present[j])
			continue;
		cg_buf_addf(&b, "%s%s %s: not on this host, ignored",
			    b.len ? "; " : "",
			    j < w->nafter ? "after" : "before",
			    j < w->nafter ? w->after[j]
					  : w->before[j - w->nafter]);
	}
	if (b.len)
		cg_change_note(&r->change, "%s", b.data);
	cg_buf_release(&b);
}

static int service_diff(struct cg_ctx *ctx, struct cg_resource *r,
			struct cg_error *err)
{
	const struct svc_seen *s = r->observed;
	const struct svc_backend *be = s->be;
	struct cg_change *c = &r->change;
	struct svc_todo t;
	char *why = NULL;

	if (todo_for(ctx, r, &t, &why, false, err) < 0)
		return CG_ERR;
	if (t.mask != SVC_UNSET)
		cg_change_add(c, "masked", t.mask ? "false" : "true",
			      t.mask ? "true" : "false");
	if (t.enable != SVC_UNSET)
		cg_change_add(c, "enabled",
			      s->present ? s->state : "not installed",
			      t.enable ? "enabled" : "disabled");
	if (t.order) {
		char *from = s->order_have ? be->order_show(s->order_have)
					   : NULL;
		char *to = s->order_want ? be->order_show(s->order_want) : NULL;
		struct cg_change_item *it = cg_change_add(c, be->order_field,
							  from, to);
		struct cg_buf d = { 0 };
		char *label = cg_xasprintf(be->numbers
						   ? "/etc/rc?.d (%s)"
						   : "/etc/systemd/system/"
						     "%s.service.d/"
						     "congruent-order.conf",
					   r->name);

		cg_diff_unified(s->order_have ? s->order_have : "",
				s->order_have ? strlen(s->order_have) : 0,
				s->order_want ? s->order_want : "",
				s->order_want ? strlen(s->order_want) : 0,
				s->order_have ? label : "/dev/null",
				s->order_want ? label : "/dev/null", 3, &d);
		if (d.len)
			it->detail = cg_buf_detach(&d, NULL);
		cg_buf_release(&d);
		free(label);
		free(from);
		free(to);
	}
	if (t.reread)
		cg_change_add(c, "unit file", "changed on disk", "reloaded");
	if (t.run != SVC_UNSET)
		cg_change_add(c, "running", s->running ? "running" : "stopped",
			      t.run ? "running" : "stopped");
	if (t.bounce || t.drop) {
		const char *kind = t.pending ? ctx->record(ctx, r,
							   SVC_REC_REFRESH)
					     : NULL;
		const char *since = t.pending ? ctx->record(ctx, r,
							    SVC_REC_SINCE)
					      : NULL;
		struct cg_buf to = { 0 };

		if (why)
			cg_buf_addf(&to, "because %s changed", why);
		if (t.pending)
			cg_buf_addf(&to, "%spending since %s: the last one "
					 "failed",
				    why ? "; " : "", since ? since : "?");
		if (t.drop)
			cg_buf_addf(&to, " (%s): not running now, so "
					 "forgotten",
				    kind);
		cg_change_add(c,
			      t.drop ? (strcmp(kind, "reload") == 0
						? "reload"
						: "restart")
			      : t.bounce == 2 ? "reload"
					      : "restart",
			      NULL, to.data);
		cg_buf_release(&to);
	}
	free(why);
	if (c->n) {
		c->action = CG_ACTION_UPDATE;
		add_notes(ctx, r, &t);
		/* The ledger's words: what revert would bring back. */
		c->before = cg_xasprintf(
			"service present=%s enabled=%s masked=%s running=%s "
			"order=%s",
			s->present ? "yes" : "no",
			s->present ? s->state : "no", s->masked ? "yes" : "no",
			s->offline ? "unknown" : s->running ? "yes" : "no",
			s->order_have ? "present" : "none");
	}
	return 0;
}

/*
 * A restart or reload restart_on asked for and that failed stays owed in
 * STATE until one works (or a start does): every later run retries it
 * and fails until then. Written before the run reports it.
 */
static void keep_outcome(struct cg_ctx *ctx, struct cg_resource *r,
			 const struct svc_todo *t)
{
	const char *since = ctx->record ? ctx->record(ctx, r, SVC_REC_SINCE)
					: NULL;
	bool failed = cg_resource_is_failed(r);
	struct cg_error e;
	char now[32];
	int rc = 0;

	if (!ctx->record_set)
		return;
	cg_error_clear(&e);
	if (t->drop || (t->pending && !failed && (t->bounce || t->run == 1))) {
		const char *kv[] = { SVC_REC_REFRESH, NULL, SVC_REC_SINCE, NULL,
				     SVC_REC_ERROR, NULL };

		rc = ctx->record_set(ctx, r, kv, 3, &e);
	} else if (failed && (t->bounce || t->pending)) {
		const char *kind = t->bounce == 2 ? "reload"
				   : t->bounce    ? "restart"
						  : ctx->record(ctx, r,
								SVC_REC_REFRESH);
		const char *kv[] = { SVC_REC_REFRESH, kind, SVC_REC_SINCE, since,
				     SVC_REC_ERROR, r->err->msg };

		if (!since) {
			cg_time_iso(now, (int64_t)time(NULL));
			kv[3] = now;
		}
		rc = ctx->record_set(ctx, r, kv, 3, &e);
	}
	if (rc == 0)
		return;
	cg_error_prefix(&e, "%s, but STATE could not keep that",
			failed ? "the refresh failed" : "the refresh worked");
	cg_error_hint(&e, "make the state directory writable; congruent "
			  "state shows what it holds");
	if (failed) {
		/* Both: the service's own error first. */
		char msg[sizeof(e.msg)];

		snprintf(msg, sizeof(msg), "%s", r->err->msg);
		snprintf(r->err->msg, sizeof(r->err->msg), "%.500s; %.500s", msg,
			 e.msg);
		return;
	}
	cg_resource_fail(r, &e);
}

/* Sort key: the place in the start order (rc number or level). */
static unsigned start_key(const struct svc_backend *be,
			  const struct cg_resource *r)
{
	const struct svc_want *w = r->desired;

	return be->numbers ? w->number : w->level;
}

static int service_apply(struct cg_ctx *ctx, struct cg_resource **res,
			 size_t n, struct cg_error *err)
{
	struct svc_run run;
	struct cg_resource **v;
	struct svc_todo *t;
	size_t i, j, k = 0;
	int rc;

	if (run_init(&run, ctx, err) < 0)
		return CG_ERR;
	v = cg_xcalloc(n + 1, sizeof(*v));
	t = cg_xcalloc(n + 1, sizeof(*t));
	for (i = 0; i < n; i++) {
		struct svc_todo one;
		struct cg_error e;

		cg_error_clear(&e);
		if (todo_for(ctx, res[i], &one, NULL, true, &e) < 0) {
			cg_resource_fail(res[i], &e);
			continue;
		}
		/* In start order (stable): insertion keeps it simple. */
		for (j = k; j > 0 && start_key(run.be, v[j - 1]) >
					     start_key(run.be, res[i]);
		     j--) {
			v[j] = v[j - 1];
			t[j] = t[j - 1];
		}
		v[j] = res[i];
		t[j] = one;
		k++;
	}
	rc = k ? run.be->apply(&run, v, t, k, err) : 0;
	for (i = 0; rc == 0 && i < k; i++)
		keep_outcome(ctx, v[i], &t[i]);
	free(v);
	free(t);
	return rc;
}

/* --- orphans: revert ------------------------------------------------ */

extern const struct cg_module cg_module_service;

#define SAY(rv, ...) snprintf((rv)->what, sizeof((rv)->what), __VA_ARGS__)

/* ledger.before in service_diff's words. */
struct sbefore {
	bool known, present, masked;
	char enabled[32];
	char running[16]; /* "yes", "no", "unknown" */
	char order[16];   /* "present", "none" */
};

static void parse_sbefore(const char *s, struct sbefore *b)
{
	char present[8], masked[8];

	memset(b, 0, sizeof(*b));
	if (!s || sscanf(s, "service present=%7s enabled=%31s masked=%7s "
			    "running=%15s order=%15s",
			 present, b->enabled, masked, b->running,
			 b->order) != 5)
		return;
	b->known = true;
	b->present = strcmp(present, "yes") == 0;
	b->masked = strcmp(masked, "yes") == 0;
}

/* What to do to r (observed) to be as b says; false when nothing. */
static bool revert_todo(const struct svc_backend *be, const struct sbefore *b,
			const struct svc_seen *s, struct svc_todo *t,
			struct cg_buf *what)
{
	/* A unit that was not there was neither enabled nor running. */
	bool en_known = !b->present || strcmp(b->enabled, "enabled") == 0 ||
			strcmp(b->enabled, "disabled") == 0 ||
			strcmp(b->enabled, "no") == 0 ||
			strcmp(b->enabled, "no links") == 0;
	bool en = b->present && strcmp(b->enabled, "enabled") == 0;

	memset(t, 0, sizeof(*t));
	t->mask = t->enable = t->run = SVC_UNSET;
	if (be->has_mask && b->masked != s->masked) {
		t->mask = b->masked;
		cg_buf_addf(what, "%s%s", what->len ? ", " : "",
			    b->masked ? "mask" : "unmask");
	}
	if (en_known && !b->masked && s->present && en != s->enabled) {
		t->enable = en;
		cg_buf_addf(what, "%s%s", what->len ? ", " : "",
			    en ? "enable" : "disable");
	}
	if (!s->offline && strcmp(b->running, "unknown") != 0 &&
	    (strcmp(b->running, "yes") == 0) != s->running) {
		t->run = strcmp(b->running, "yes") == 0;
		cg_buf_addf(what, "%s%s", what->len ? ", " : "",
			    t->run ? "start" : "stop");
	}
	/* rc links are the enablement itself; a drop-in is ours alone. */
	if (!be->numbers && strcmp(b->order, "none") == 0 && s->order_have) {
		t->order = true;
		cg_buf_addf(what, "%sremove the start-order drop-in it wrote",
			    what->len ? ", " : "");
	}
	return what->len > 0;
}

/*
 * orphans: revert: a service gets back its enabled, masked and running
 * state from before congruent, and loses the start-order drop-in
 * congruent wrote; one transaction of the init system for all.
 */
static int service_revert(struct cg_ctx *ctx, struct cg_revert *const *v,
			  size_t n, bool apply, struct cg_error *err)
{
	struct cg_resource *rs = cg_xcalloc(n + 1, sizeof(*rs));
	struct cg_resource **sel = cg_xcalloc(n + 1, sizeof(*sel));
	struct svc_todo *t = cg_xcalloc(n + 1, sizeof(*t));
	size_t *at = cg_xcalloc(n + 1, sizeof(*at));
	struct svc_run run;
	size_t i, k = 0;
	int rc = 0;

	if (run_init(&run, ctx, err) < 0) {
		rc = CG_ERR;
		goto out;
	}
	/* Resources of the orphans' names that want nothing: observed only. */
	for (i = 0; i < n; i++) {
		struct svc_want *w = cg_xcalloc(1, sizeof(*w));

		w->enabled = w->running = w->masked = SVC_UNSET;
		w->placed = true;
		rs[i].mod = &cg_module_service;
		rs[i].id = cg_xstrdup(v[i]->id);
		rs[i].name = rs[i].id + strlen("service:");
		rs[i].desired = w;
		sel[i] = &rs[i];
	}
	if (run.be->observe(&run, sel, n, err) < 0) {
		rc = CG_ERR;
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct cg_revert *rv = v[i];
		const struct svc_seen *s = rs[i].observed;
		struct cg_buf what = { 0 };
		struct sbefore b;

		parse_sbefore(rv->before, &b);
		if (cg_resource_is_failed(&rs[i]) || !s) {
			rv->verdict = CG_REVERT_CHANGE;
			rv->failed = true;
			if (rs[i].err)
				rv->err = *rs[i].err;
			SAY(rv, "cannot look at it");
		} else if (!b.known) {
			rv->verdict = CG_REVERT_KEEP;
			SAY(rv, "keep: what was there before congruent is "
				"unknown; release it with congruent forget %s",
			    rv->id);
		} else if (!revert_todo(run.be, &b, s, &t[k], &what)) {
			rv->verdict = CG_REVERT_FORGET;
			SAY(rv, "nothing to revert: as before congruent");
		} else {
			rv->verdict = CG_REVERT_CHANGE;
			SAY(rv, "%.300s, as before congruent", what.data);
			sel[k] = &rs[i];
			at[k++] = i;
		}
		cg_buf_release(&what);
	}
	if (apply && k && run.be->apply(&run, sel, t, k, err) < 0) {
		rc = CG_ERR;
		goto out;
	}
	for (i = 0; apply && i < k; i++) {
		if (!cg_resource_is_failed(sel[i]))
			continue;
		v[at[i]]->failed = true;
		v[at[i]]->err = *sel[i]->err;
	}
out:
	for (i = 0; i < n; i++) {
		service_release(&rs[i]);
		free(rs[i].err);
		free(rs[i].id);
	}
	free(rs);
	free(sel);
	free(t);
	free(at);
	return rc;
}

/* What the policy manages of the service, as it is. */
static void service_fingerprint(const struct cg_resource *r,
				unsigned char out[16])
{
	const struct svc_want *w = r->desired;
	const struct svc_seen *s = r->observed;
	struct cg_buf b = { 0 };

	cg_buf_addf(&b, "service\n%s\n%s\n", r->name, s->be->name);
	if (w->enabled != SVC_UNSET)
		cg_buf_addf(&b, "enabled %d\n", s->enabled);
	if (w->masked != SVC_UNSET)
		cg_buf_addf(&b, "masked %d\n", s->masked);
	if (w->running != SVC_UNSET && !s->offline)
		cg_buf_addf(&b, "running %d\n", s->running);
	cg_buf_addf(&b, "order\n%s", s->order_have ? s->order_have : "-");
	cg_hash128(b.data, b.len, out);
	cg_buf_release(&b);
}

/* --- plan: the boot order -------------------------------------------- */

static const char *state_word(const struct svc_want *w,
			      const struct svc_seen *s)
{
	if (w->masked == 1 || (w->masked == SVC_UNSET && s->masked))
		return "masked";
	if (w->enabled != SVC_UNSET)
		return w->enabled ? "enabled" : "disabled";
	return s->present ? s->state : "-";
}

static void summary_row(const struct svc_graph *g, size_t i,
			const struct cg_resource *r, bool numbers,
			struct cg_buf *out)
{
	const struct svc_want *w = r->desired;
	const struct svc_seen *s = r->observed;
	char pos[16];
	size_t j;
	bool any = false;

	if (numbers && w->number)
		snprintf(pos, sizeof(pos), "S%02u", w->number);
	else if (!numbers && w->level)
		snprintf(pos, sizeof(pos), "%u", w->level);
	else
		snprintf(pos, sizeof(pos), "-");
	cg_buf_addf(out, "  %-4s %-24s %-9s %s%s\n", pos, r->name,
		    s ? state_word(w, s) : "?", r->where,
		    s && !s->present ? "  (not on this host)" : "");
	/*
	 * Where its place comes from: each service before it once, saying
	 * when that one's before: put it there.
	 */
	for (j = 0; j < g->nedge; j++) {
		const struct svc_gedge *e = &g->edge[j], *via = NULL;
		const struct svc_gnode *from = &g->node[e->from];
		bool own = false, dup = false;
		size_t m;

		if (e->to != i || !from->active)
			continue;
		for (m = 0; m < g->nedge; m++) {
			const struct svc_gedge *o = &g->edge[m];

			if (o->to != i || o->from != e->from)
				continue;
			if (m < j)
				dup = true;
			if (o->via_before)
				via = o;
			else
				own = true;
		}
		if (dup)
			continue;
		cg_buf_addf(out, "%s%s", any ? ", " : "         after ",
			    from->name);
		if (!from->id && numbers)
			cg_buf_addf(out, " (S%02u, not managed)", from->fixed);
		else if (!from->id)
			cg_buf_addstr(out, " (not managed)");
		if (via)
			cg_buf_addf(out, " (%sits before: at %s)",
				    own ? "also " : "",
				    g->node[via->owner].where);
		any = true;
	}
	if (any)
		cg_buf_addch(out, '\n');
	if (w->conflict)
		cg_buf_addf(out, "         %s\n", w->conflict);
	if (!s)
		return;
	for (j = 0; j < w->nafter + w->nbefore; j++)
		if (!s->dep_present[j])
			cg_buf_addf(out,
				    "         %s %s: not on this host, "
				    "ignored\n",
				    j < w->nafter ? "after" : "before",
				    j < w->nafter ? w->after[j]
						  : w->before[j - w->nafter]);
}

static void service_summary(const struct cg_resource *const *res, size_t n,
			    struct cg_buf *out)
{
	const struct svc_backend *be = NULL;
	struct svc_graph g;
	size_t *rows, i, j, k = 0;
	bool offline = false;

	for (i = 0; i < n && !be; i++)
		if (res[i]->observed) {
			be = ((const struct svc_seen *)res[i]->observed)->be;
			offline = ((const struct svc_seen *)res[i]->observed)
					  ->offline;
		}
	if (!be)
		return;
	svc_graph_build(&g, res, n);
	/* The same nodes count as in place(). */
	for (i = 0; i < n; i++) {
		const struct svc_want *w = res[i]->desired;
		const struct svc_seen *s = res[i]->observed;

		for (j = 0; s && j < w->nafter + w->nbefore; j++) {
			struct svc_gnode *v = &g.node[svc_graph_node(
				&g, j < w->nafter ? w->after[j]
						  : w->before[j - w->nafter])];

			if (v->id || !s->dep_present[j] ||
			    (be->numbers && !s->dep_number[j]))
				continue;
			v->active = true;
			v->fixed = s->dep_number[j];
		}
	}
	cg_buf_addf(out, "%s%s:\n", be->heading,
		    offline ? " (--root: nothing is started in an image)" : "");
	/* Managed services and the numbered ones they order against, by
	 * their place, then in apply order. */
	rows = cg_xcalloc(g.n + 1, sizeof(*rows));
	for (i = 0; i < g.n; i++) {
		unsigned key;

		if (!g.node[i].id && !(be->numbers && g.node[i].active))
			continue;
		key = g.node[i].id ? start_key(be, res[i]) : g.node[i].fixed;
		for (j = k; j > 0; j--) {
			size_t o = rows[j - 1];
			unsigned okey = g.node[o].id ? start_key(be, res[o])
						     : g.node[o].fixed;

			/* Unplaced (0) last. */
			if ((okey ? okey : ~0u) <= (key ? key : ~0u))
				break;
			rows[j] = o;
		}
		rows[j] = i;
		k++;
	}
	for (i = 0; i < k; i++) {
		size_t v = rows[i];

		if (g.node[v].id)
			summary_row(&g, v, res[v], be->numbers, out);
		else
			cg_buf_addf(out, "  S%02u  %-24s %-9s not managed\n",
				    g.node[v].fixed, g.node[v].name, "enabled");
	}
	free(rows);
	svc_graph_release(&g);
}

static bool service_all_caps(const struct cg_ctx *ctx)
{
	const char *init = ctx->lookup ? ctx->lookup(ctx, "init") : NULL;

	/* As run_init chooses the backend. */
	return ctx->root->host && init &&
	       strcmp(init, svc_backend_sysv.name) == 0;
}

/*
 * caps: systemd authorises by uid, not capability: systemctl needs uid 0
 * and nothing more, and the unit's processes are started by PID 1 with
 * the unit's own settings. What we write ourselves (drop-ins, rc links,
 * backups) lies in root's directories; CAP_DAC_OVERRIDE covers an image
 * tree (--root) owned by another user. sysvinit on a live host is
 * different: `service NAME start` runs the daemon as our child, and it
 * keeps the bounding set we leave it, for good: service_all_caps.
 */
/*
 * The start-order drop-in that after:/before: write under systemd
 * (service-systemd.c names it so).
 */
static void service_paths(struct cg_ctx *ctx, const struct cg_resource *r,
			  void (*add)(void *arg, const char *path), void *arg)
{
	const struct svc_want *w = r->desired;
	/* As run_init chooses the backend: sysvinit writes no drop-in. */
	const char *init = ctx->lookup ? ctx->lookup(ctx, "init") : NULL;
	char *p;

	if (w->nafter + w->nbefore == 0 || !init ||
	    strcmp(init, svc_backend_systemd.name) != 0)
		return;
	p = cg_xasprintf("/etc/systemd/system/%s.service.d/"
			 "congruent-order.conf", r->name);
	add(arg, p);
	free(p);
}

const struct cg_module cg_module_service = {
	.type = "service",
	.paths = service_paths,
	.keys = service_keys,
	.parse = service_parse,
	.observe = service_observe,
	.diff = service_diff,
	.revert = service_revert,
	.apply = service_apply,
	.release = service_release,
	.validate = service_validate,
	.fingerprint = service_fingerprint,
	.summary = service_summary,
	.observe_window = 0,
	.flags = CG_MODULE_BATCH,
	.caps = { CAP_DAC_OVERRIDE },
	.ncaps = 1,
	.all_caps = service_all_caps,
};
