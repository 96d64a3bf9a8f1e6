/* test-template.c: {{ name }} substitution and its error messages. */
#include <stdlib.h>

#include "cg/template.h"
#include "tap.h"

static const char *const names[] = { "hostname", "fqdn", "ntp_server",
				     "os.id", "web-port", NULL };
static const char *const values[] = { "web-1", "web-1.example.com",
				      "ntp.example.com", "debian", "8080",
				      NULL };
static int lookups;

static const char *lookup(void *cookie, const char *name)
{
	size_t i;

	(void)cookie;
	lookups++;
	if (strcmp(name, "braces") == 0)
		return "{{ hostname }}";
	for (i = 0; names[i]; i++)
		if (strcmp(names[i], name) == 0)
			return values[i];
	return NULL;
}

static const char *const *get_names(void *cookie)
{
	(void)cookie;
	return names;
}

static const struct cg_template_vars vars = { lookup, get_names, NULL };
static const struct cg_template_vars vars_no_names = { lookup, NULL, NULL };

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

static void renders(const char *text, const char *want, const char *name)
{
	struct cg_error err;
	char *s;
	int rc = render(text, &vars, &s, &err);

	if (!tap_is_str(rc == 0 ? s : err.msg, want, name))
		printf("#   rc %d\n", rc);
	free(s);
}

static void fails(const char *text, int code, const char *where,
		  const char *msg, const char *hint, const char *name)
{
	struct cg_error err;
	char buf[256], *s;
	int rc = render(text, &vars, &s, &err);

	snprintf(buf, sizeof(buf), "%s: code", name);
	tap_is_int(rc, code, buf);
	snprintf(buf, sizeof(buf), "%s: where", name);
	tap_is_str(err.where, where, buf);
	snprintf(buf, sizeof(buf), "%s: message", name);
	tap_has_str(err.msg, msg, buf);
	if (hint) {
		snprintf(buf, sizeof(buf), "%s: hint", name);
		tap_has_str(err.hint, hint, buf);
	}
	free(s);
}

static void test_render(void)
{
	renders("", "", "empty text");
	renders("no braces at all\nline two\n", "no braces at all\nline two\n",
		"text without braces is unchanged");
	renders("a { b } c }} d {", "a { b } c }} d {",
		"single braces and a lone }} are unchanged");
	renders("{{ hostname }}", "web-1", "a whole-text reference");
	renders("host {{ hostname }} ntp {{ ntp_server }}.\n",
		"host web-1 ntp ntp.example.com.\n", "two references");
	renders("{{hostname}}|{{ hostname}}|{{hostname }}|{{\thostname\t}}",
		"web-1|web-1|web-1|web-1", "spaces are optional, tabs allowed");
	renders("{{ os.id }}-{{ web-port }}", "debian-8080",
		"names with '.' and '-'");
	renders("{{ hostname }}{{ fqdn }}", "web-1web-1.example.com",
		"adjacent references");
	renders("x{{ '{{' }}y", "x{{y", "quoted literal {{");
	renders("{{ \"}}\" }}", "}}", "double-quoted literal }}");
	renders("{{'{{ hostname }}'}}", "{{ hostname }}",
		"a quoted reference is not expanded");
	renders("{{ \"it's\" }}", "it's", "other quote inside a literal");
	renders("{{ '' }}", "", "empty literal");
	renders("{{ braces }}", "{{ hostname }}",
		"a value is not expanded again");
	renders("line1\nline2 {{ hostname }}\nline3\n",
		"line1\nline2 web-1\nline3\n", "multi-line text");
}

static void test_errors(void)
{
	struct cg_error err;
	char *s;
	int rc;

	fails("hello {{ hostnmae }}\n", CG_ENOTFOUND, "templates/motd:1",
	      "unknown variable 'hostnmae'", "did you mean 'hostname'?",
	      "typo of a name");
	fails("a\nb\r\nc\n\n{{ ntp_sever }}\n", CG_ENOTFOUND, "templates/motd:5",
	      "'ntp_sever'", "did you mean 'ntp_server'?",
	      "unknown name on line 5");
	fails("{{ zzzzzzzzzz }}", CG_ENOTFOUND, "templates/motd:1",
	      "'zzzzzzzzzz'", "define 'zzzzzzzzzz' under vars:",
	      "unrelated unknown name: how to define it");
	fails("line1\n{{ }}\n", CG_ERR, "templates/motd:2", "malformed '{{'",
	      "{{ '{{' }}", "empty reference");
	fails("one\ntwo\nthree {{ hostname\nfour }}\n", CG_ERR,
	      "templates/motd:3", "malformed '{{'", NULL,
	      "unclosed reference, line of the {{");
	fails("\n\n\n{{ hostname }", CG_ERR, "templates/motd:4",
	      "malformed '{{'", NULL, "single closing brace at the end");
	fails("{{ hostname } }}", CG_ERR, "templates/motd:1", "malformed '{{'",
	      NULL, "space inside the closing braces");
	fails("{{ host name }}", CG_ERR, "templates/motd:1", "malformed '{{'",
	      NULL, "two words");
	fails("{{ $x }}", CG_ERR, "templates/motd:1", "malformed '{{'", NULL,
	      "a character not allowed in names");
	fails("{{ 'abc }}\n'}}", CG_ERR, "templates/motd:1", "malformed '{{'",
	      NULL, "a literal does not span lines");
	fails("{{ 'abc' x }}", CG_ERR, "templates/motd:1", "malformed '{{'",
	      NULL, "text after a literal");
	fails("ok {{ hostname }}\nthen {{", CG_ERR, "templates/motd:2",
	      "malformed '{{'", NULL, "{{ at the very end");
	fails("{{ hostname }} {{ nope }} {{ bad", CG_ENOTFOUND,
	      "templates/motd:1", "'nope'", NULL,
	      "the first problem is the one reported");

	rc = render("{{ hostnme }}", &vars_no_names, &s, &err);
	tap_is_int(rc, CG_ENOTFOUND, "no names: unknown still refused");
	tap_has_str(err.hint, "define 'hostnme'",
		    "no names: hint without a suggestion");
	free(s);

	/* A name too long for the key buffer is refused, not truncated. */
	{
		char text[600];

		memcpy(text, "{{ ", 3);
		memset(text + 3, 'h', 300);
		memcpy(text + 303, " }}", 4);
		rc = render(text, &vars, &s, &err);
		tap_is_int(rc, CG_ERR, "a 300-byte name is refused");
		free(s);
	}

	/* The lookup sees exactly the name, once per reference. */
	lookups = 0;
	rc = render("{{ hostname }} {{hostname}}", &vars, &s, &err);
	tap_ok(rc == 0 && lookups == 2, "one lookup per reference");
	free(s);

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

static char *big; /* 1 MiB */

static const char *lookup_big(void *cookie, const char *name)
{
	(void)cookie;
	return strcmp(name, "big") == 0 ? big : NULL;
}

/* A small template over a large var: bounded, at the line past the bound. */
static void test_bound(void)
{
	static const struct cg_template_vars bv = { lookup_big, NULL, NULL };
	struct cg_buf text = { 0 }, out = { 0 };
	struct cg_error err;
	unsigned i;
	int rc;

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
	tap_is_str(err.where, "templates/bomb:64", "at the line past 64 MiB");
	tap_has_str(err.msg, "renders to more than 64 MiB", "says why");
	cg_buf_release(&out);
	text.len = 0;
	for (i = 0; i < 63; i++)
		cg_buf_addstr(&text, "{{ big }}");
	rc = cg_template_render(text.data, text.len, "t", &bv, &out, &err);
	tap_ok(rc == 0 && out.len == 63u << 20, "63 MiB renders");
	cg_buf_release(&out);
	cg_buf_release(&text);
	free(big);
}

int main(void)
{
	test_render();
	test_errors();
	test_bound();
	return tap_done();
}
