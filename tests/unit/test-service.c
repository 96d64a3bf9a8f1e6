/* test-service.c: the service start-order graph: levels, rc numbers,
 * cycles; parsing and validation of service resources; rc link sets. */
#include <stdlib.h>
#include <string.h>

#include "../../agent/agent.h"
#include "../../modules/service.h"
#include "cg/node.h"
#include "tap.h"

extern const struct cg_module cg_module_service;

/* --- the graph, built by hand ---------------------------------------- */

/* Managed nodes "a", "b", ... (n of them), active, as resources are. */
static void graph_init(struct svc_graph *g, const char *const *names,
		       size_t n)
{
	static const char *const wheres[] = { "roles/x.yaml:1", "roles/x.yaml:2",
					      "roles/x.yaml:3", "roles/x.yaml:4",
					      "roles/x.yaml:5", "roles/x.yaml:6" };
	size_t i;

	memset(g, 0, sizeof(*g));
	for (i = 0; i < n; i++) {
		size_t k = svc_graph_node(g, names[i]);

		g->node[k].id = names[i];
		g->node[k].where = wheres[i % CG_ARRAY_SIZE(wheres)];
		g->node[k].active = true;
	}
}

/* Node k's name is after from's: from starts first (declared by k). */
static void after(struct svc_graph *g, const char *name, const char *from)
{
	size_t k = svc_graph_node(g, name);

	svc_graph_edge(g, svc_graph_node(g, from), k, k, false);
}

/* A not managed service on the host with rc number fixed (0: none). */
static void outside(struct svc_graph *g, const char *name, unsigned fixed,
		    bool present)
{
	size_t k = svc_graph_node(g, name);

	g->node[k].active = present;
	g->node[k].fixed = fixed;
}

static unsigned level(struct svc_graph *g, const char *name)
{
	return g->node[svc_graph_node(g, name)].level;
}

static unsigned number(struct svc_graph *g, const char *name)
{
	return g->node[svc_graph_node(g, name)].number;
}

static void test_levels(void)
{
	static const char *const names[] = { "web", "db", "cache", "app" };
	struct svc_graph g;

	graph_init(&g, names, 4);
	after(&g, "web", "app");
	after(&g, "app", "db");
	after(&g, "app", "cache");
	svc_graph_levels(&g);
	tap_is_int(level(&g, "db"), 1, "levels: no predecessors: level 1");
	tap_is_int(level(&g, "cache"), 1, "levels: a second root: level 1");
	tap_is_int(level(&g, "app"), 2, "levels: after two roots: level 2");
	tap_is_int(level(&g, "web"), 3, "levels: declared first, starts last");
	svc_graph_number(&g);
	tap_is_int(number(&g, "db"), 10, "numbers: level 1 is S10");
	tap_is_int(number(&g, "app"), 20, "numbers: level 2 is S20");
	tap_is_int(number(&g, "web"), 30, "numbers: level 3 is S30");
	svc_graph_release(&g);
}

static void test_absent_ignored(void)
{
	static const char *const names[] = { "web", "db" };
	struct svc_graph g;

	graph_init(&g, names, 2);
	after(&g, "web", "ghost");
	after(&g, "ghost", "db"); /* a ghost's own order is no bridge */
	outside(&g, "ghost", 0, false);
	svc_graph_levels(&g);
	svc_graph_number(&g);
	tap_is_int(level(&g, "web"), 1, "absent: an after: naming it is ignored");
	tap_is_int(level(&g, "ghost"), 0, "absent: it has no level");
	tap_is_int(number(&g, "web"), 10, "absent: web is numbered as a root");
	svc_graph_release(&g);
}

static void test_fixed_numbers(void)
{
	static const char *const names[] = { "web", "early", "both" };
	struct svc_graph g;

	graph_init(&g, names, 3);
	outside(&g, "rsyslog", 25, true);
	outside(&g, "cron", 5, true);
	after(&g, "web", "rsyslog");
	/* early before cron: its own before: */
	svc_graph_edge(&g, svc_graph_node(&g, "early"),
		       svc_graph_node(&g, "cron"), svc_graph_node(&g, "early"),
		       true);
	after(&g, "both", "cron");
	svc_graph_edge(&g, svc_graph_node(&g, "both"),
		       svc_graph_node(&g, "rsyslog"),
		       svc_graph_node(&g, "both"), true);
	svc_graph_levels(&g);
	svc_graph_number(&g);
	tap_ok(number(&g, "web") > 25 && number(&g, "web") <= 99,
	       "fixed: after rsyslog (S25): above it");
	tap_is_int(number(&g, "early"), 4,
		   "fixed: before cron (S05): below it, not at its level's 10");
	tap_ok(number(&g, "both") > 5 && number(&g, "both") < 25,
	       "fixed: after cron (S05) and before rsyslog (S25): between");
	tap_ok(!g.node[svc_graph_node(&g, "both")].conflict, "fixed: no conflict");
	tap_is_int(number(&g, "rsyslog"), 0,
		   "fixed: services not managed are not renumbered");
	svc_graph_release(&g);
}

static void test_conflict(void)
{
	static const char *const names[] = { "x", "y" };
	struct svc_graph g;

	graph_init(&g, names, 2);
	outside(&g, "rsyslog", 30, true);
	outside(&g, "cron", 20, true);
	after(&g, "x", "rsyslog");
	svc_graph_edge(&g, 0, svc_graph_node(&g, "cron"), 0, true);
	after(&g, "y", "x");
	svc_graph_levels(&g);
	svc_graph_number(&g);
	tap_ok(g.node[0].conflict, "conflict: after S30 and before S20");
	tap_is_int(number(&g, "x"), 0, "conflict: no number");
	tap_ok(!g.node[1].conflict && number(&g, "y") > 30,
	       "conflict: what comes after it still comes after S30");
	svc_graph_release(&g);
}

static void test_many_levels(void)
{
	const char *names[120];
	char buf[120][8];
	struct svc_graph g;
	size_t i;
	bool increasing = true;

	for (i = 0; i < 120; i++) {
		snprintf(buf[i], sizeof(buf[i]), "s%zu", i);
		names[i] = buf[i];
	}
	graph_init(&g, names, 12);
	for (i = 1; i < 12; i++)
		after(&g, names[i], names[i - 1]);
	svc_graph_levels(&g);
	svc_graph_number(&g);
	tap_is_int(number(&g, "s0"), 8, "12 levels: step 99/12 = 8");
	tap_is_int(number(&g, "s11"), 96, "12 levels: the last is S96");
	svc_graph_release(&g);

	graph_init(&g, names, 99);
	for (i = 1; i < 99; i++)
		after(&g, names[i], names[i - 1]);
	svc_graph_levels(&g);
	svc_graph_number(&g);
	for (i = 0; i < 99; i++)
		if (number(&g, names[i]) != i + 1)
			increasing = false;
	tap_ok(increasing, "99 levels: S01 to S99, one each");
	svc_graph_release(&g);

	graph_init(&g, names, 100);
	for (i = 1; i < 100; i++)
		after(&g, names[i], names[i - 1]);
	svc_graph_levels(&g);
	svc_graph_number(&g);
	tap_ok(g.node[99].conflict, "100 levels: the 100th has no number left");
	tap_ok(!g.node[98].conflict && number(&g, "s98") == 99,
	       "100 levels: the 99th is S99");
	svc_graph_release(&g);
}

static void test_cycle(void)
{
	static const char *const names[] = { "a", "b", "c", "d" };
	struct svc_graph g;
	struct cg_buf msg = { 0 };
	size_t owner = 99;

	graph_init(&g, names, 4);
	after(&g, "a", "d");
	after(&g, "b", "a");
	after(&g, "c", "b");
	tap_ok(!svc_graph_cycle(&g, &msg, &owner), "cycle: none in a chain");
	/* c before a closes a -> b -> c -> a */
	svc_graph_edge(&g, 2, 0, 2, true);
	tap_ok(svc_graph_cycle(&g, &msg, &owner), "cycle: found");
	tap_is_str(msg.data,
		   "a before b before c before a: b after a (roles/x.yaml:2), "
		   "c after b (roles/x.yaml:3), c before a (roles/x.yaml:3)",
		   "cycle: the whole cycle, each edge with where it is declared");
	tap_is_int((long long)owner, 1, "cycle: reported at its first edge");
	cg_buf_release(&msg);
	svc_graph_release(&g);
}

static void test_cycle_through_outside(void)
{
	static const char *const names[] = { "a", "b" };
	struct svc_graph g;
	struct cg_buf msg = { 0 };
	size_t owner;

	/* b before u, a after u, b after a: u < a < b < u. */
	graph_init(&g, names, 2);
	svc_graph_edge(&g, 1, svc_graph_node(&g, "u"), 1, true);
	after(&g, "a", "u");
	after(&g, "b", "a");
	tap_ok(svc_graph_cycle(&g, &msg, &owner),
	       "cycle: through a service the policy does not manage");
	tap_has_str(msg.data, "b before u", "cycle: names the outside service");
	cg_buf_release(&msg);
	svc_graph_release(&g);
}

/* --- parsing, through the module ------------------------------------- */

struct parsed {
	struct cg_doc *doc;
	struct cg_resource r;
	struct cg_error err;
	int rc;
};

static void parse(struct parsed *p, const char *yaml, const char *where)
{
	const struct cg_node *item;
	struct cg_parse_ctx pc;

	memset(p, 0, sizeof(*p));
	memset(&pc, 0, sizeof(pc));
	p->r.mod = &cg_module_service;
	p->r.where = cg_xstrdup(where);
	cg_error_clear(&p->err);
	if (cg_doc_load_buf(&p->doc, yaml, strlen(yaml), "roles/t.yaml",
			    &p->err) < 0) {
		p->rc = CG_ERR;
		return;
	}
	item = p->doc->root;
	p->rc = cg_module_service.parse(&p->r, item,
					cg_map_get(item, "service"), &pc,
					&p->err);
}

static void parsed_release(struct parsed *p)
{
	cg_resource_release(&p->r);
	cg_doc_free(p->doc);
}

static void test_parse(void)
{
	struct parsed p;
	const struct svc_want *w;

	parse(&p,
	      "service: web\nenabled: true\nrunning: false\n"
	      "after: [db.service, db, network-online.target]\n"
	      "before: cache\nrestart_on: [file:/etc/web.conf]\n"
	      "reload: true\n",
	      "roles/t.yaml:1");
	w = p.r.desired;
	tap_is_int(p.rc, 0, "parse: a full service");
	tap_is_str(p.r.id, "service:web", "parse: id");
	tap_ok(w && w->enabled == 1 && w->running == 0 &&
		       w->masked == SVC_UNSET && w->reload,
	       "parse: enabled, running, masked unset, reload");
	tap_ok(w && w->nafter == 2 && strcmp(w->after[0], "db") == 0 &&
		       strcmp(w->after[1], "network-online.target") == 0,
	       "parse: after: .service dropped, duplicates once, units kept");
	tap_ok(w && w->nbefore == 1 && strcmp(w->before[0], "cache") == 0,
	       "parse: before: one name is a list of one");
	tap_ok(p.r.norders == 1 && strcmp(p.r.orders[0], "file:/etc/web.conf") == 0,
	       "parse: restart_on orders the service after the file (soft)");
	tap_ok(p.r.nrequires == 0, "parse: and adds no requires");
	parsed_release(&p);
}

static void expect_error(const char *yaml, const char *want, const char *name)
{
	struct parsed p;

	parse(&p, yaml, "roles/t.yaml:1");
	tap_ok(p.rc < 0, name);
	tap_has_str(p.err.msg, want, name);
	tap_ok(strncmp(p.err.where, "roles/t.yaml:", 13) == 0,
	       "  ... and says where");
	parsed_release(&p);
}

static void test_parse_errors(void)
{
	expect_error("service: web.service\n", "without \".service\"",
		     "error: a name with .service");
	expect_error("service: foo.target\n", "not a service name",
		     "error: a unit that is not a service");
	expect_error("service: web\nmasked: true\nenabled: true\n",
		     "neither enabled nor running",
		     "error: masked and enabled");
	expect_error("service: web\nreload: true\n", "no restart_on",
		     "error: reload without restart_on");
	expect_error("service: web\nafter: [web]\n", "itself",
		     "error: after itself");
	expect_error("service: web\nafter: [\"a b\"]\n", "not a service name",
		     "error: a bad name in after");
	expect_error("service: web\nafter: [db]\nbefore: [db]\n",
		     "both in after: and before:",
		     "error: the same name after and before");
	expect_error("service: web\nrestart_on: [nonsense]\n",
		     "is not a resource id", "error: restart_on without a type");
	expect_error("service: web\nrestart_on: [pkg:x]\n",
		     "unknown resource type 'pkg'",
		     "error: restart_on with an unknown type");
	expect_error("service: web\nenabled: maybe\n", "enabled",
		     "error: enabled is not a boolean");
}

static struct cg_error reported;
static size_t nreported;

static void report(const struct cg_parse_ctx *pc, const struct cg_error *err)
{
	(void)pc;
	reported = *err;
	nreported++;
}

static void test_validate(void)
{
	static const char *const yaml[] = {
		"service: a\nafter: [c]\n",
		"service: b\nafter: [a]\n",
		"service: c\nafter: [b, absent]\n",
	};
	static const char *const wheres[] = { "roles/r.yaml:2", "roles/r.yaml:4",
					      "roles/r.yaml:6" };
	struct parsed p[3];
	struct cg_resource *v[3];
	struct cg_parse_ctx pc;
	size_t i;

	memset(&pc, 0, sizeof(pc));
	pc.report = report;
	for (i = 0; i < 3; i++) {
		parse(&p[i], yaml[i], wheres[i]);
		v[i] = &p[i].r;
	}
	nreported = 0;
	cg_module_service.validate(v, 2, &pc);
	tap_is_int((long long)nreported, 0, "validate: no cycle, no report");
	cg_module_service.validate(v, 3, &pc);
	tap_is_int((long long)nreported, 1, "validate: one cycle, one report");
	tap_is_str(reported.msg,
		   "service start order cycle: a before b before c before a: "
		   "service:b after a (roles/r.yaml:4), service:c after b "
		   "(roles/r.yaml:6), service:a after c (roles/r.yaml:2)",
		   "validate: the whole cycle with file:line");
	tap_is_str(reported.where, "roles/r.yaml:4", "validate: where");
	tap_is_str(reported.resource, "service:b", "validate: resource");
	for (i = 0; i < 3; i++)
		parsed_release(&p[i]);
}

/* --- what the backends want written ---------------------------------- */

static void test_sysv_links(void)
{
	struct parsed p;
	struct svc_want *w;
	struct svc_seen s;
	char *links, *shown;

	parse(&p, "service: web\nenabled: true\n", "roles/t.yaml:1");
	w = p.r.desired;
	w->number = 20;
	memset(&s, 0, sizeof(s));
	s.be = &svc_backend_sysv;
	s.present = true;
	strcpy(s.start_levels, "2345");
	strcpy(s.stop_levels, "016");
	p.r.observed = &s;
	links = svc_backend_sysv.order_want(NULL, &p.r);
	tap_is_str(links,
		   "rc0.d/K80web\nrc1.d/K80web\nrc2.d/S20web\nrc3.d/S20web\n"
		   "rc4.d/S20web\nrc5.d/S20web\nrc6.d/K80web\n",
		   "sysv: enabled: S20 in 2-5, K80 in 0 1 6");
	shown = svc_backend_sysv.order_show(links);
	tap_is_str(shown, "S20: 2 3 4 5; K80: 0 1 6", "sysv: shown grouped");
	free(shown);
	free(links);
	w->enabled = 0;
	links = svc_backend_sysv.order_want(NULL, &p.r);
	shown = svc_backend_sysv.order_show(links);
	tap_is_str(shown, "K80: 0 1 2 3 4 5 6", "sysv: disabled: K links only");
	free(shown);
	free(links);
	w->enabled = SVC_UNSET;
	links = svc_backend_sysv.order_want(NULL, &p.r);
	tap_ok(links == NULL, "sysv: enabled not managed, no links: none made");
	free(links);
	s.present = false;
	w->enabled = 1;
	links = svc_backend_sysv.order_want(NULL, &p.r);
	tap_ok(links == NULL, "sysv: no script: no links");
	free(links);
	p.r.observed = NULL;
	parsed_release(&p);
}

static void test_systemd_dropin(void)
{
	struct parsed p;
	char *text, *shown;

	parse(&p, "service: web\nafter: [db, network-online.target]\n"
		  "before: [cache]\n",
	      "roles/t.yaml:1");
	text = svc_backend_systemd.order_want(NULL, &p.r);
	tap_has_str(text, "[Unit]\nAfter=db.service network-online.target\n"
			  "Before=cache.service\n",
		    "systemd: the drop-in says After= and Before=");
	tap_ok(text && !strstr(text, "\nRequires=") && !strstr(text, "\nWants="),
	       "systemd: and never Requires= or Wants=");
	shown = svc_backend_systemd.order_show(text);
	tap_is_str(shown,
		   "After=db.service network-online.target; Before=cache.service",
		   "systemd: shown as its settings");
	free(shown);
	free(text);
	parsed_release(&p);
	parse(&p, "service: web\n", "roles/t.yaml:1");
	text = svc_backend_systemd.order_want(NULL, &p.r);
	tap_ok(text == NULL, "systemd: no after/before: no drop-in");
	parsed_release(&p);
}

static void test_names(void)
{
	char buf[64];

	svc_unit_name("nginx", buf, sizeof(buf));
	tap_is_str(buf, "nginx.service", "unit name: a service");
	svc_unit_name("network-online.target", buf, sizeof(buf));
	tap_is_str(buf, "network-online.target", "unit name: a target stays");
	svc_unit_name("php8.2-fpm", buf, sizeof(buf));
	tap_is_str(buf, "php8.2-fpm.service", "unit name: a dot is no suffix");
	tap_ok(svc_name_ok("getty@tty1") && !svc_name_ok("-x") &&
		       !svc_name_ok("a/b") && !svc_name_ok(""),
	       "names: what is accepted");
}

static const char *fake_init;

static const char *init_lookup(const struct cg_ctx *ctx, const char *name)
{
	(void)ctx;
	return strcmp(name, "init") == 0 ? fake_init : NULL;
}

/* Daemons that `service` starts on sysvinit keep our bounding set. */
static void test_all_caps(void)
{
	struct cg_root root = { .fd = -1, .host = true };
	struct cg_ctx ctx = { .root = &root, .lookup = init_lookup };
	const struct cg_module *m = &cg_module_service;

	tap_ok(m->all_caps != NULL, "caps: service decides ALL_CAPS per host");
	fake_init = "sysvinit";
	tap_ok(m->all_caps(&ctx), "caps: sysvinit, live host: every capability");
	fake_init = "systemd";
	tap_ok(!m->all_caps(&ctx), "caps: systemd: its declared caps only");
	fake_init = "sysvinit";
	root.host = false;
	tap_ok(!m->all_caps(&ctx), "caps: sysvinit under --root: nothing is started");
}

int main(void)
{
	test_levels();
	test_absent_ignored();
	test_fixed_numbers();
	test_conflict();
	test_many_levels();
	test_cycle();
	test_cycle_through_outside();
	test_parse();
	test_parse_errors();
	test_validate();
	test_sysv_links();
	test_systemd_dropin();
	test_names();
	test_all_caps();
	return tap_done();
}
