/* test-template.c: the Jinja subset, as data, and its bounds. */
#include <stdlib.h>

#include "cg/node.h"
#include "cg/template.h"
#include "tap.h"

/* Facts are strings; vars come from YAML (VARS below). */
static const char *const fact_names[] = { "hostname", "fqdn", "os_id",
					  "os_version", NULL };
static const char *const fact_values[] = { "web-1", "web-1.example.com",
					   "debian", "12", NULL };

static const char VARS[] =
	"ntp_server: ntp.example.com\n"
	"os.id: flat-debian\n"
	"web-port: 8080\n"
	"port: 8080\n"
	"zero: 0\n"
	"ratio: 1.50\n"
	"enabled: true\n"
	"off: false\n"
	"nothing: ~\n"
	"quoted: 'true'\n"
	"empty: ''\n"
	"braces: '{{ hostname }}'\n"
	"servers: [a.example, b.example, c.example]\n"
	"none_list: []\n"
	"db: { host: db.example, port: 5432, opts: { ssl: true } }\n"
	"upstreams:\n"
	"  - { name: app1, addr: 10.0.0.1, weight: 2 }\n"
	"  - { name: app2, addr: 10.0.0.2 }\n"
	"ports: { https: 443, http: 80, Admin: 8443 }\n"
	"text: \"  line1\\nline2\\n\\nline4  \"\n"
	"nested: [[1, 2], [3]]\n";

static struct cg_doc *doc;
static int lookups;
static const char *const *all_names;

static const char *lookup(void *cookie, const char *name)
{
	size_t i;

	(void)cookie;
	lookups++;
	for (i = 0; fact_names[i]; i++)
		if (strcmp(fact_names[i], name) == 0)
			return fact_values[i];
	return NULL;
}

static const struct cg_node *lookup_node(void *cookie, const char *name)
{
	(void)cookie;
	lookups++;
	return cg_map_get(doc->root, name);
}

static const char *const *get_names(void *cookie)
{
	(void)cookie;
	return all_names;
}

static struct cg_template_vars vars = { lookup, get_names, NULL, lookup_node,
					false, NULL, NULL };

/* Render text; on success *out_s is the result (caller frees). */
static int render(const char *text, const struct cg_template_vars *v,
		  char **out_s, struct cg_error *err)
{
	struct cg_buf out = { 0 };
	int rc;

	cg_error_clear(err);
	rc = cg_template_render(text, strlen(text), "templates/motd", v, &out,
				err);
	*out_s = cg_buf_detach(&out, NULL);
	return rc;
}

/* A case: the template, then its output, or its error: where and message. */
struct tcase {
	const char *name;
	const char *text;
	const char *want;  /* output; NULL: an error */
	const char *where; /* "line:col" of the error */
	const char *msg;   /* part of the error message */
	const char *hint;  /* part of the hint, or NULL */
};

#define OUT(name, text, want) { name, text, want, NULL, NULL, NULL }

static const struct tcase cases[] = {
	/* What {{ name }} did before stays. */
	OUT("empty text", "", ""),
	OUT("text without tags", "no braces\nline two\n", "no braces\nline two\n"),
	OUT("single braces and a lone }}", "a { b } c }} d {", "a { b } c }} d {"),
	OUT("a fact", "{{ hostname }}", "web-1"),
	OUT("a var and a fact", "host {{ hostname }} ntp {{ ntp_server }}.\n",
	  "host web-1 ntp ntp.example.com.\n"),
	OUT("spaces are optional", "{{hostname}}|{{ hostname}}|{{\thostname\t}}",
	  "web-1|web-1|web-1"),
	OUT("names with '.' and '-'", "{{ os.id }}-{{ web-port }}",
	  "flat-debian-8080"),
	OUT("quoted literal {{", "x{{ '{{' }}y", "x{{y"),
	OUT("double-quoted }}", "{{ \"}}\" }}", "}}"),
	OUT("a quoted reference is text", "{{'{{ hostname }}'}}", "{{ hostname }}"),
	OUT("a value is not expanded again", "{{ braces }}", "{{ hostname }}"),
	OUT("a literal {% in quotes", "{{ '{%' }} x {{ '%}' }}", "{% x %}"),

	/* Scalars keep their YAML text. */
	OUT("numbers as written", "{{ port }} {{ ratio }} {{ zero }}",
	  "8080 1.50 0"),
	OUT("booleans as written", "{{ enabled }} {{ off }} {{ quoted }}",
	  "true false true"),
	OUT("null writes nothing", "[{{ nothing }}]", "[]"),

	/* Dotted and indexed access. */
	OUT("map key", "{{ db.host }}:{{ db.port }}", "db.example:5432"),
	OUT("nested map key", "{{ db.opts.ssl }}", "true"),
	OUT("map key by index", "{{ db['host'] }}", "db.example"),
	OUT("list index", "{{ servers[0] }} {{ servers[2] }}",
	  "a.example c.example"),
	OUT("negative index", "{{ servers[-1] }}", "c.example"),
	OUT("list index with a dot", "{{ servers.1 }}", "b.example"),
	OUT("index into a list of maps", "{{ upstreams[1].addr }}", "10.0.0.2"),
	OUT("list of lists", "{{ nested[0][1] }}", "2"),

	/* Filters. */
	OUT("join", "{{ servers | join(', ') }}",
	  "a.example, b.example, c.example"),
	OUT("join without a separator", "{{ nested[0] | join }}", "12"),
	OUT("join of an empty list", "[{{ none_list | join(',') }}]", "[]"),
	OUT("upper and lower", "{{ hostname | upper }} {{ 'AbC' | lower }}",
	  "WEB-1 abc"),
	OUT("length", "{{ servers | length }} {{ db | length }} {{ hostname | length }}",
	  "3 3 5"),
	OUT("replace", "{{ fqdn | replace('.', '_') }}", "web-1_example_com"),
	OUT("trim", "[{{ text | trim }}]", "[line1\nline2\n\nline4]"),
	OUT("indent", "x: {{ 'a\\nb\\n\\nc' | indent(2) }}", "x: a\n  b\n\n  c"),
	OUT("indent first", "{{ 'a\\nb' | indent(2, true) }}", "  a\n  b"),
	OUT("filters chain", "{{ servers | join(' ') | upper | replace('.', '') }}",
	  "AEXAMPLE BEXAMPLE CEXAMPLE"),
	OUT("default for an undefined var", "{{ missing | default('x') }}", "x"),
	OUT("default for a missing key", "{{ db.user | default('postgres') }}",
	  "postgres"),
	OUT("default for a missing index", "{{ servers[9] | default('none') }}",
	  "none"),
	OUT("default keeps a defined value", "{{ port | default(1) }}", "8080"),
	OUT("default keeps an empty value", "[{{ empty | default('x') }}]", "[]"),
	OUT("default(x, true) replaces an empty value",
	  "{{ empty | default('x', true) }}", "x"),
	OUT("default of a chain", "{{ nope.a.b | default(7) }}", "7"),
	OUT("default number", "{{ nope | default(3) }}", "3"),

	/* if / elif / else */
	OUT("if/else on a fact",
	  "{% if os_id == 'debian' %}apt{% else %}dnf{% endif %}", "apt"),
	OUT("elif", "{% if os_id == 'rhel' %}r{% elif os_id == 'debian' %}d"
		  "{% else %}o{% endif %}",
	  "d"),
	OUT("else", "{% if os_id != 'debian' %}x{% else %}y{% endif %}", "y"),
	OUT("if without else, false", "a{% if off %}b{% endif %}c", "ac"),
	OUT("truthiness", "{% if servers %}1{% endif %}{% if none_list %}2{% endif %}"
			"{% if empty %}3{% endif %}{% if zero %}4{% endif %}"
			"{% if nothing %}5{% endif %}{% if port %}6{% endif %}",
	  "16"),
	OUT("not, and, or", "{% if not off and (enabled or zero) %}y{% endif %}",
	  "y"),
	OUT("or short-circuits", "{% if enabled or missing %}y{% endif %}", "y"),
	OUT("and short-circuits", "{% if off and missing %}y{% else %}n{% endif %}",
	  "n"),
	OUT("numbers compare", "{% if port > 1024 and port <= 8080 and ratio < 2 "
			     "and port >= 8080 %}y{% endif %}",
	  "y"),
	OUT("a fact compares with a number", "{% if os_version >= 12 %}new{% endif %}",
	  "new"),
	OUT("strings compare", "{% if 'abc' < 'abd' %}y{% endif %}", "y"),
	OUT("1 == '1' is false, as in Jinja", "{% if port == '8080' %}y{% else %}n"
					    "{% endif %}",
	  "n"),
	OUT("in a list", "{% if 'b.example' in servers %}y{% endif %}", "y"),
	OUT("not in a list", "{% if 'z' not in servers %}y{% endif %}", "y"),
	OUT("in a literal list", "{% if os_id in ['debian', 'ubuntu'] %}deb"
			       "{% endif %}",
	  "deb"),
	OUT("in a string", "{% if 'example' in fqdn %}y{% endif %}", "y"),
	OUT("in a map", "{% if 'host' in db %}y{% endif %}", "y"),
	OUT("a bool var compares", "{% if enabled == true %}y{% endif %}", "y"),

	/* for */
	OUT("loop over a list", "{% for s in servers %}{{ s }};{% endfor %}",
	  "a.example;b.example;c.example;"),
	OUT("loop over a list of maps",
	  "{% for u in upstreams %}server {{ u.addr }} weight={{ u.weight | "
	  "default(1) }};\n{% endfor %}",
	  "server 10.0.0.1 weight=2;\nserver 10.0.0.2 weight=1;\n"),
	OUT("loop.index, first, last",
	  "{% for s in servers %}{{ loop.index }}{% if loop.first %}F{% endif %}"
	  "{% if loop.last %}L{% endif %} {% endfor %}",
	  "1F 2 3L "),
	OUT("loop.index0 and length",
	  "{% for s in servers %}{{ loop.index0 }}/{{ loop.length }} "
	  "{% endfor %}",
	  "0/3 1/3 2/3 "),
	OUT("dictsort, case-insensitive as in Jinja",
	  "{% for k, v in ports | dictsort %}{{ k }}={{ v }} {% endfor %}",
	  "Admin=8443 http=80 https=443 "),
	OUT("loop over a map gives its keys",
	  "{% for k in db %}{{ k }} {% endfor %}", "host port opts "),
	OUT("nested loops and their loop",
	  "{% for l in nested %}{% for x in l %}{{ x }}{{ loop.index }}"
	  "{% endfor %}|{{ loop.index }} {% endfor %}",
	  "1122|1 31|2 "),
	OUT("a loop variable shadows a var",
	  "{% for port in [1, 2] %}{{ port }}{% endfor %}{{ port }}", "128080"),
	OUT("empty loop", "a{% for x in none_list %}x{% endfor %}b", "ab"),
	OUT("loop over a literal list", "{% for x in ['a', 'b'] %}{{ x }}"
				      "{% endfor %}",
	  "ab"),

	/* Comments and whitespace. */
	OUT("comment", "a{# not {{ this }} #}b", "ab"),
	OUT("trim_blocks: the newline after %} goes",
	  "{% for s in servers %}\n{{ s }}\n{% endfor %}\nend\n",
	  "a.example\nb.example\nc.example\nend\n"),
	OUT("trim_blocks after a comment", "{# c #}\nx\n", "x\n"),
	OUT("no trim after }}", "{{ hostname }}\nx", "web-1\nx"),
	OUT("indentation before a block stays (no lstrip_blocks)",
	  "  {% if enabled %}\n  y\n  {% endif %}\n", "    y\n  "),
	OUT("{%- strips before", "a  \n  {%- if enabled %}b{% endif %}", "ab"),
	OUT("-%} strips after", "{% if enabled -%}  \n  b{% endif %}", "b"),
	OUT("{{- and -}}", "a \n {{- hostname -}} \n b", "aweb-1b"),
	OUT("{#- -#}", "a \n{#- c -#}\n b", "ab"),
	{ "a typical config",
	  "upstream app {\n"
	  "{% for u in upstreams %}\n"
	  "    server {{ u.addr }}:{{ port }}{% if u.weight is defined %}{% endif %};\n"
	  "{% endfor %}\n"
	  "}\n",
	  NULL, "3:50", "tests with 'is' are not supported", "default" },
	OUT("a typical config, done the supported way",
	  "upstream app {\n"
	  "{% for u in upstreams %}\n"
	  "    server {{ u.addr }}:{{ port }} weight={{ u.weight | default(1) }};\n"
	  "{% endfor %}\n"
	  "}\n",
	  "upstream app {\n"
	  "    server 10.0.0.1:8080 weight=2;\n"
	  "    server 10.0.0.2:8080 weight=1;\n"
	  "}\n"),

	/* Errors: where (line:column), what, and a hint. */
	{ "typo of a name", "hello {{ hostnmae }}\n", NULL, "1:10",
	  "unknown variable 'hostnmae'", "did you mean 'hostname'?" },
	{ "unknown name on line 5", "a\nb\r\nc\n\n  {{ ntp_sever }}\n", NULL,
	  "5:6", "'ntp_sever'", "did you mean 'ntp_server'?" },
	{ "unrelated unknown name", "{{ zzzzzzzzzz }}", NULL, "1:4",
	  "'zzzzzzzzzz'", "default('')" },
	{ "a missing key", "{{ db.hots }}", NULL, "1:4", "no key 'hots'",
	  "did you mean 'host'?" },
	{ "an index past the end", "{{ servers[3] }}", NULL, "1:11",
	  "index [3] of a list of 3 is past the end", "default" },
	{ "undefined in an if", "{% if nope == 1 %}{% endif %}", NULL, "1:7",
	  "unknown variable 'nope'", NULL },
	{ "undefined in a loop", "{% for x in servers %}{{ y }}{% endfor %}",
	  NULL, "1:26", "unknown variable 'y'", NULL },
	{ "a loop variable is gone after the loop",
	  "{% for x in servers %}{% endfor %}{{ x }}", NULL, "1:38",
	  "unknown variable 'x'", NULL },
	{ "empty reference", "line1\n{{ }}\n", NULL, "2:1", "empty {{ }}",
	  "{{ '{{' }}" },
	{ "unclosed {{", "one\ntwo\nthree {{ hostname\nfour\n", NULL, "3:7",
	  "'{{' is not closed by '}}'", NULL },
	{ "single closing brace", "\n\n\n{{ hostname }", NULL, "4:1",
	  "not closed", NULL },
	{ "two words", "{{ host name }}", NULL, "1:9", "expected '}}', not 'name'",
	  "supported:" },
	{ "a character outside the subset", "{{ $x }}", NULL, "1:4",
	  "unexpected '$'", "supported:" },
	{ "arithmetic", "{{ port + 1 }}", NULL, "1:9",
	  "arithmetic is not supported", NULL },
	{ "a literal does not span lines", "{{ 'abc }}\n'}}", NULL, "1:4",
	  "unterminated string", NULL },
	{ "unknown filter", "{{ servers | joni(',') }}", NULL, "1:14",
	  "unknown filter 'joni'", "did you mean 'join'?" },
	{ "a filter's arguments", "{{ x | replace('a') }}", NULL, "1:8",
	  "takes 2 to 2 arguments, not 1", NULL },
	{ "keyword arguments", "{{ x | default(value=1) }}", NULL, "1:16",
	  "keyword arguments are not supported", NULL },
	{ "calls", "{{ db.items() }}", NULL, "1:12", "calls are not supported",
	  NULL },
	{ "{% set %}", "a\n{% set x = 1 %}", NULL, "2:4",
	  "{% set %} is not supported", "supported:" },
	{ "{% include %}", "{% include 'x' %}", NULL, "1:4",
	  "{% include %} is not supported", NULL },
	{ "{% raw %}", "{% raw %}{{ x }}{% endraw %}", NULL, "1:4",
	  "{% raw %} is not supported", NULL },
	{ "an unclosed if", "x\n{% if enabled %}\ny\n", NULL, "2:1",
	  "{% if %} is not closed", "endif" },
	{ "an unclosed for", "{% for x in servers %}", NULL, "1:1",
	  "{% for %} is not closed", "endfor" },
	{ "endif without if", "a\n{% endif %}", NULL, "2:1",
	  "{% endif %} without an open block", NULL },
	{ "endfor closing an if", "{% if enabled %}{% endfor %}", NULL, "1:17",
	  "{% endfor %} without an open block", NULL },
	{ "an error in an untaken branch is still found",
	  "{% if off %}{{ x | bogus }}{% endif %}", NULL, "1:20",
	  "unknown filter 'bogus'", NULL },
	{ "a syntax error after the first problem is found first",
	  "{{ nope }} {{ bad", NULL, "1:12", "not closed", NULL },
	{ "writing a list", "{{ servers }}", NULL, "1:4",
	  "cannot write a list as text", "join" },
	{ "writing a map", "{{ db }}", NULL, "1:4", "cannot write a map as text",
	  "dictsort" },
	{ "a key of a string", "{{ hostname.x }}", NULL, "1:4",
	  "a string has no key 'x'", NULL },
	{ "looping over a string", "{% for c in hostname %}{% endfor %}", NULL,
	  "1:13", "cannot loop over a string", NULL },
	{ "two variables need pairs", "{% for k, v in db %}{% endfor %}", NULL,
	  "1:16", "two loop variables need a list of pairs", "dictsort" },
	{ "ordering a map", "{% if db < 1 %}{% endif %}", NULL, "1:10",
	  "cannot order a map and a number", NULL },
	{ "loop has what it has", "{% for x in servers %}{{ loop.idx }}"
				  "{% endfor %}",
	  NULL, "1:26", "loop has no 'idx'", "index" },
	{ "else twice", "{% if enabled %}{% else %}{% else %}{% endif %}", NULL,
	  "1:27", "{% else %} without an open block", NULL },
	{ "is tests", "{% if x is defined %}{% endif %}", NULL, "1:9",
	  "tests with 'is' are not supported", "default" },
	{ "inline if", "{{ 'a' if enabled }}", NULL, "1:8",
	  "expected '}}', not 'if'", NULL },
	{ "{% for %} with a filter condition",
	  "{% for x in servers if x %}{% endfor %}", NULL, "1:21",
	  "'if' in {% for %} is not supported", NULL },
	{ "join of a list of maps", "{{ upstreams | join(',') }}", NULL, "1:16",
	  "cannot write a map as text", NULL },
	{ "the first problem is the one reported",
	  "{{ hostname }} {{ nope }} {{ servers }}", NULL, "1:19",
	  "'nope'", NULL },
};

static void test_cases(void)
{
	size_t i;

	for (i = 0; i < CG_ARRAY_SIZE(cases); i++) {
		const struct tcase *c = &cases[i];
		struct cg_error err;
		char buf[256], where[64], *s;
		int rc = render(c->text, &vars, &s, &err);

		if (c->want) {
			if (!tap_is_str(rc == 0 ? s : err.msg, c->want, c->name))
				printf("#   rc %d at %s\n", rc, err.where);
			free(s);
			continue;
		}
		snprintf(where, sizeof(where), "templates/motd:%s", c->where);
		snprintf(buf, sizeof(buf), "%s: fails", c->name);
		tap_ok(rc < 0, buf);
		snprintf(buf, sizeof(buf), "%s: where", c->name);
		tap_is_str(err.where, where, buf);
		snprintf(buf, sizeof(buf), "%s: message", c->name);
		tap_has_str(err.msg, c->msg, buf);
		if (c->hint) {
			snprintf(buf, sizeof(buf), "%s: hint", c->name);
			tap_has_str(err.hint, c->hint, buf);
		}
		free(s);
	}
}

static void test_api(void)
{
	struct cg_template_vars v = vars;
	struct cg_error err;
	char *s;
	int rc;

	rc = render("{{ nope }}", &vars, &s, &err);
	tap_is_int(rc, CG_ENOTFOUND, "an undefined name is CG_ENOTFOUND");
	free(s);
	rc = render("{% if %}", &vars, &s, &err);
	tap_is_int(rc, CG_ERR, "a syntax error is CG_ERR");
	free(s);

	/* Without names, the hint says how to define it. */
	v.names = NULL;
	rc = render("{{ hostnme }}", &v, &s, &err);
	tap_has_str(err.hint, "define 'hostnme'", "no names: how to define it");
	free(s);

	/* Only lookup (the old interface): strings only. */
	v.lookup_node = NULL;
	rc = render("{{ hostname }}-{{ fqdn | upper }}", &v, &s, &err);
	tap_is_str(rc == 0 ? s : err.msg, "web-1-WEB-1.EXAMPLE.COM",
		   "lookup alone is enough for strings");
	free(s);

	/* A syntax error anywhere is found before any lookup. */
	lookups = 0;
	rc = render("{{ hostname }} {{ x | nope }}", &vars, &s, &err);
	tap_ok(rc == CG_ERR && lookups == 0, "parsed whole before rendering");
	free(s);

	/* A name too long for any var is refused, not truncated. */
	{
		char text[600];

		memcpy(text, "{{ ", 3);
		memset(text + 3, 'h', 300);
		memcpy(text + 303, " }}", 4);
		rc = render(text, &vars, &s, &err);
		tap_is_int(rc, CG_ENOTFOUND, "a 300-byte name is unknown");
		free(s);
	}

	/* Only len bytes are rendered. */
	{
		struct cg_buf out = { 0 };

		rc = cg_template_render("{{ fqdn }}{{ nope }}", 10, "t", &vars,
					&out, &err);
		tap_ok(rc == 0 && out.data &&
			       strcmp(out.data, "web-1.example.com") == 0,
		       "only len bytes are rendered");
		cg_buf_release(&out);
	}
}

/* check: facts are placeholders, so every branch on one is rendered. */
static void test_placeholders(void)
{
	struct cg_template_vars v = vars;
	struct cg_error err;
	char *s;
	int rc;

	v.placeholders = true;
	rc = render("{% if os_id == 'debian' %}a{% elif os_version > 11 %}b"
		    "{% else %}c{% endif %}",
		    &v, &s, &err);
	tap_is_str(rc == 0 ? s : err.msg, "abc", "every branch on a fact");
	free(s);
	rc = render("{% if os_id == 'x' %}{{ nope }}{% endif %}", &v, &s, &err);
	tap_ok(rc == CG_ENOTFOUND && strstr(err.where, "1:25"),
	       "an error in a branch on a fact is found");
	free(s);
	rc = render("{% if enabled %}a{% else %}{{ nope }}{% endif %}", &v, &s,
		    &err);
	tap_is_str(rc == 0 ? s : err.msg, "a",
		   "a branch on a var is taken as on the host");
	free(s);
	rc = render("[{{ hostname | upper }}]{% for c in hostname %}x{% endfor %}",
		    &v, &s, &err);
	tap_is_str(rc == 0 ? s : err.msg, "[]x", "facts render as nothing");
	free(s);
}

static char *big; /* 1 MiB */

static const char *lookup_big(void *cookie, const char *name)
{
	(void)cookie;
	return strcmp(name, "big") == 0 ? big : NULL;
}

/* Small templates that multiply: bounded, at the place past the bound. */
static void test_bound(void)
{
	static const struct cg_template_vars bv = { lookup_big, NULL, NULL,
						    NULL, false, NULL, NULL };
	struct cg_buf text = { 0 }, out = { 0 };
	struct cg_error err;
	unsigned i;
	int rc;
	char *s;

	big = cg_xmalloc((1u << 20) + 1);
	memset(big, 'x', 1u << 20);
	big[1u << 20] = '\0';
	for (i = 0; i < 200; i++)
		cg_buf_addstr(&text, "{{ big }}\n");
	cg_error_clear(&err);
	rc = cg_template_render(text.data, text.len, "templates/bomb", &bv,
				&out, &err);
	tap_is_int(rc, CG_ERR, "200 x a 1 MiB var: refused");
	tap_ok(out.len <= CG_TEMPLATE_OUT_MAX, "nothing past the bound kept");
	tap_is_str(err.where, "templates/bomb:64:4", "at the line past 64 MiB");
	tap_has_str(err.msg, "renders to more than 64 MiB", "says why");
	cg_buf_release(&out);
	text.len = 0;
	for (i = 0; i < 63; i++)
		cg_buf_addstr(&text, "{{ big }}");
	rc = cg_template_render(text.data, text.len, "t", &bv, &out, &err);
	tap_ok(rc == 0 && out.len == 63u << 20, "63 MiB renders");
	cg_buf_release(&out);

	/* A loop bomb: 10^6 iterations pass, more do not. */
	rc = render("{% for a in [1,2,3,4,5,6,7,8,9,10] %}"
		    "{% for b in [1,2,3,4,5,6,7,8,9,10] %}"
		    "{% for c in [1,2,3,4,5,6,7,8,9,10] %}"
		    "{% for d in [1,2,3,4,5,6,7,8,9,10] %}"
		    "{% for e in [1,2,3,4,5,6,7,8,9,10] %}"
		    "{% for f in [1,2,3,4,5,6,7,8,9,10] %}"
		    "{% for g in [1,2] %}{% endfor %}"
		    "{% endfor %}{% endfor %}{% endfor %}{% endfor %}"
		    "{% endfor %}{% endfor %}",
		    &vars, &s, &err);
	tap_ok(rc == CG_ERR && strstr(err.msg, "loops more than"),
	       "a loop bomb is refused");
	free(s);

	/* Strings made by filters in a loop are bounded too. */
	text.len = 0;
	cg_buf_addstr(&text, "{% for a in [1,2,3,4,5,6,7,8,9,10] %}"
			     "{% for b in [1,2,3,4,5,6,7,8,9,10] %}"
			     "{{ big | upper | length }}"
			     "{% endfor %}{% endfor %}");
	rc = cg_template_render(text.data, text.len, "t", &bv, &out, &err);
	tap_ok(rc == CG_ERR && strstr(err.msg, "MiB of strings"),
	       "100 x upper of 1 MiB: refused");
	cg_buf_release(&out);

	/* Nesting is bounded, in blocks and in expressions. */
	text.len = 0;
	for (i = 0; i < 40; i++)
		cg_buf_addstr(&text, "{% if true %}");
	rc = cg_template_render(text.data, text.len, "t", &bv, &out, &err);
	tap_ok(rc == CG_ERR && strstr(err.msg, "nested more than"),
	       "blocks nested 40 deep: refused");
	cg_buf_release(&out);
	text.len = 0;
	cg_buf_addstr(&text, "{{ ");
	for (i = 0; i < 10000; i++)
		cg_buf_addstr(&text, "(");
	cg_buf_addstr(&text, "1 }}");
	rc = cg_template_render(text.data, text.len, "t", &bv, &out, &err);
	tap_ok(rc == CG_ERR && strstr(err.msg, "nested more than"),
	       "10000 parentheses: refused");
	cg_buf_release(&out);
	text.len = 0;
	cg_buf_addstr(&text, "{{ ");
	for (i = 0; i < 10000; i++)
		cg_buf_addstr(&text, "not ");
	cg_buf_addstr(&text, "true }}");
	rc = cg_template_render(text.data, text.len, "t", &bv, &out, &err);
	tap_ok(rc == CG_ERR && strstr(err.msg, "nested more than"),
	       "10000 nots: refused");
	cg_buf_release(&out);
	cg_buf_release(&text);
	free(big);
}

int main(void)
{
	struct cg_error err;
	const char **names;
	size_t i, n = 0;

	if (cg_doc_load_buf(&doc, VARS, strlen(VARS), "vars.yaml", &err) < 0) {
		printf("Bail out! %s\n", err.msg);
		return 1;
	}
	names = cg_xcalloc(doc->root->len + 8, sizeof(*names));
	for (i = 0; i < doc->root->len; i++)
		names[n++] = doc->root->items[2 * i]->str;
	for (i = 0; fact_names[i]; i++)
		names[n++] = fact_names[i];
	all_names = names;
	test_cases();
	test_api();
	test_placeholders();
	test_bound();
	free(names);
	cg_doc_free(doc);
	return tap_done();
}
