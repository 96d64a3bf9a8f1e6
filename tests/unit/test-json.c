/* test-json.c: the JSON writer's structure, escaping and UTF-8 repair. */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "cg/json.h"
#include "cg/util.h"
#include "tap.h"

/* --- a tiny strict JSON checker (RFC 8259) -------------------------- */

struct checker {
	const unsigned char *p, *end;
	int depth;
};

static void ws(struct checker *c)
{
	while (c->p < c->end &&
	       (*c->p == ' ' || *c->p == '\n' || *c->p == '\t' || *c->p == '\r'))
		c->p++;
}

static bool lit(struct checker *c, const char *s)
{
	size_t n = strlen(s);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
		return false;
	c->p += n;
	return true;
}

static bool hex4(const unsigned char *p)
{
	int i;

	for (i = 0; i < 4; i++)
		if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
			return false;
	return true;
}

static bool string(struct checker *c)
{
	if (c->p >= c->end || *c->p != '"')
		return false;
	c->p++;
	while (c->p < c->end && *c->p != '"') {
		unsigned char ch = *c->p;

		if (ch < 0x20)
			return false; /* raw control character */
		if (ch == '\\') {
			c->p++;
			if (c->p >= c->end)
				return false;
			if (*c->p == 'u') {
				if (c->end - c->p < 5 || !hex4(c->p + 1))
					return false;
				c->p += 5;
				continue;
			}
			if (!strchr("\"\\/bfnrt", *c->p) || !*c->p)
				return false;
			c->p++;
			continue;
		}
		if (ch >= 0x80) {
			/* The string must be valid UTF-8 as well. */
			size_t n = ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : 2;

			if ((size_t)(c->end - c->p) < n ||
			    !cg_is_text((const char *)c->p, n))
				return false;
			c->p += n;
			continue;
		}
		c->p++;
	}
	if (c->p >= c->end)
		return false;
	c->p++;
	return true;
}

static bool number(struct checker *c)
{
	const unsigned char *s = c->p;

	if (c->p < c->end && *c->p == '-')
		c->p++;
	if (c->p >= c->end || *c->p < '0' || *c->p > '9')
		return false;
	if (*c->p == '0' && c->p + 1 < c->end && c->p[1] >= '0' &&
	    c->p[1] <= '9')
		return false; /* leading zero */
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
		c->p++;
	return c->p > s;
}

static bool value(struct checker *c);

static bool container(struct checker *c, char open, char close, bool obj)
{
	bool first = true;

	if (++c->depth > 200)
		return false;
	c->p++; /* open */
	(void)open;
	ws(c);
	if (c->p < c->end && *c->p == close) {
		c->p++;
		c->depth--;
		return true;
	}
	for (;;) {
		if (!first) {
			ws(c);
			if (c->p >= c->end || *c->p != ',')
				return false;
			c->p++;
		}
		first = false;
		ws(c);
		if (obj) {
			if (!string(c))
				return false;
			ws(c);
			if (c->p >= c->end || *c->p != ':')
				return false;
			c->p++;
		}
		if (!value(c))
			return false;
		ws(c);
		if (c->p < c->end && *c->p == close) {
			c->p++;
			c->depth--;
			return true;
		}
	}
}

static bool value(struct checker *c)
{
	ws(c);
	if (c->p >= c->end)
		return false;
	switch (*c->p) {
	case '{':
		return container(c, '{', '}', true);
	case '[':
		return container(c, '[', ']', false);
	case '"':
		return string(c);
	case 't':
		return lit(c, "true");
	case 'f':
		return lit(c, "false");
	case 'n':
		return lit(c, "null");
	default:
		return number(c);
	}
}

/* Is s exactly one valid JSON value (with optional whitespace)? */
static bool valid_json(const char *s, size_t len)
{
	struct checker c = { (const unsigned char *)s,
			     (const unsigned char *)s + len, 0 };

	if (!value(&c))
		return false;
	ws(&c);
	return c.p == c.end;
}

/*
 * `jq -c .` of the text, or NULL when jq is not installed. jq reparses
 * and reprints it, so this checks the text means what we think.
 */
static char *jq_compact(const char *text, size_t len)
{
	char tmpl[] = "/tmp/cg-test-json.XXXXXX", cmd[128];
	struct cg_buf b = { 0 };
	FILE *f;
	int fd, st;

	if (system("command -v jq >/dev/null 2>&1") != 0)
		return NULL;
	fd = mkstemp(tmpl);
	if (fd < 0)
		return NULL;
	if (cg_write_all(fd, text, len) < 0) {
		close(fd);
		unlink(tmpl);
		return NULL;
	}
	close(fd);
	snprintf(cmd, sizeof(cmd), "jq -c . < %s 2>&1", tmpl);
	f = popen(cmd, "r");
	if (f) {
		char buf[4096];
		size_t n;

		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			cg_buf_add(&b, buf, n);
		st = pclose(f);
		if (st != 0)
			cg_buf_addstr(&b, " (jq failed)");
	}
	unlink(tmpl);
	if (b.len && b.data[b.len - 1] == '\n')
		b.data[--b.len] = '\0';
	return cg_buf_detach(&b, NULL);
}

static bool have_jq;

static void check_jq(const char *text, const char *want, const char *name)
{
	char *got;
	char buf[160];

	snprintf(buf, sizeof(buf), "%s: jq reads it", name);
	if (!have_jq) {
		snprintf(buf, sizeof(buf), "%s # SKIP jq is not installed", name);
		tap_ok(true, buf);
		return;
	}
	got = jq_compact(text, strlen(text));
	tap_is_str(got, want, buf);
	free(got);
}

/* --- the writer ------------------------------------------------------ */

/* One document with nesting, empty containers and every value type. */
static void write_doc(struct cg_json *j)
{
	cg_json_obj_begin(j);
	cg_json_kint(j, "a", 1);
	cg_json_key(j, "b");
	cg_json_arr_begin(j);
	cg_json_int(j, 1);
	cg_json_int(j, -2);
	cg_json_obj_begin(j);
	cg_json_kbool(j, "c", true);
	cg_json_kbool(j, "d", false);
	cg_json_obj_end(j);
	cg_json_arr_end(j);
	cg_json_key(j, "e");
	cg_json_obj_begin(j);
	cg_json_obj_end(j);
	cg_json_key(j, "f");
	cg_json_arr_begin(j);
	cg_json_arr_end(j);
	cg_json_key(j, "g");
	cg_json_null(j);
	cg_json_kstr(j, "h", "x");
	cg_json_kstr(j, "i", NULL);
	cg_json_key(j, "j");
	cg_json_arr_begin(j);
	cg_json_arr_begin(j);
	cg_json_arr_end(j);
	cg_json_obj_begin(j);
	cg_json_obj_end(j);
	cg_json_str(j, "s");
	cg_json_arr_end(j);
	cg_json_obj_end(j);
}

static void test_structure(void)
{
	static const char compact[] =
		"{\"a\":1,\"b\":[1,-2,{\"c\":true,\"d\":false}],\"e\":{},"
		"\"f\":[],\"g\":null,\"h\":\"x\",\"i\":null,\"j\":[[],{},\"s\"]}";
	static const char pretty[] = "{\n"
				     "  \"a\": 1,\n"
				     "  \"b\": [\n"
				     "    1,\n"
				     "    -2,\n"
				     "    {\n"
				     "      \"c\": true,\n"
				     "      \"d\": false\n"
				     "    }\n"
				     "  ],\n"
				     "  \"e\": {},\n"
				     "  \"f\": [],\n"
				     "  \"g\": null,\n"
				     "  \"h\": \"x\",\n"
				     "  \"i\": null,\n"
				     "  \"j\": [\n"
				     "    [],\n"
				     "    {},\n"
				     "    \"s\"\n"
				     "  ]\n"
				     "}";
	struct cg_buf b = { 0 };
	struct cg_json j;

	cg_json_init(&j, &b, false);
	write_doc(&j);
	tap_is_str(b.data, compact, "compact: exact text");
	tap_ok(valid_json(b.data, b.len), "compact: valid JSON");
	check_jq(b.data, compact, "compact");
	cg_buf_release(&b);

	cg_json_init(&j, &b, true);
	write_doc(&j);
	tap_is_str(b.data, pretty, "pretty: exact text");
	tap_ok(valid_json(b.data, b.len), "pretty: valid JSON");
	check_jq(b.data, compact, "pretty");
	cg_buf_release(&b);

	cg_json_init(&j, &b, false);
	cg_json_arr_begin(&j);
	cg_json_arr_end(&j);
	tap_is_str(b.data, "[]", "empty top-level array");
	cg_buf_release(&b);

	cg_json_init(&j, &b, true);
	cg_json_obj_begin(&j);
	cg_json_obj_end(&j);
	tap_is_str(b.data, "{}", "empty top-level object, pretty");
	cg_buf_release(&b);

	cg_json_init(&j, &b, false);
	cg_json_str(&j, "just a string");
	tap_is_str(b.data, "\"just a string\"", "top-level scalar");
	cg_buf_release(&b);

	cg_json_init(&j, &b, false);
	cg_json_arr_begin(&j);
	cg_json_int(&j, INT64_MIN);
	cg_json_int(&j, INT64_MAX);
	cg_json_int(&j, 0);
	cg_json_arr_end(&j);
	tap_is_str(b.data, "[-9223372036854775808,9223372036854775807,0]",
		   "int64 extremes");
	tap_ok(valid_json(b.data, b.len), "int64 extremes: valid JSON");
	cg_buf_release(&b);

	/* Appends to what the buffer holds. */
	cg_buf_addstr(&b, "x=");
	cg_json_init(&j, &b, false);
	cg_json_bool(&j, true);
	tap_is_str(b.data, "x=true", "writes after existing content");
	cg_buf_release(&b);
}

static char *str_json(const char *s, size_t len)
{
	struct cg_buf b = { 0 };
	struct cg_json j;

	cg_json_init(&j, &b, false);
	cg_json_strn(&j, s, len);
	return cg_buf_detach(&b, NULL);
}

static void test_strings(void)
{
	static const struct {
		const char *in;
		size_t len;
		const char *want;
		const char *name;
	} cases[] = {
		{ "plain", 5, "\"plain\"", "plain text" },
		{ "", 0, "\"\"", "empty string" },
		{ "say \"hi\"", 8, "\"say \\\"hi\\\"\"", "quotes" },
		{ "C:\\dir\\", 7, "\"C:\\\\dir\\\\\"", "backslashes" },
		{ "a/b", 3, "\"a/b\"", "slash unchanged" },
		{ "l1\nl2\r\n\tx", 9, "\"l1\\nl2\\r\\n\\tx\"",
		  "newline, CR, tab" },
		{ "\x01\x08\x0c\x1f", 4, "\"\\u0001\\u0008\\u000c\\u001f\"",
		  "other control characters" },
		{ "del\x7f", 4, "\"del\\u007f\"", "DEL" },
		{ "a\0b", 3, "\"a\\u0000b\"", "NUL inside a counted string" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
		  "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
		  "valid multibyte kept" },
		{ "\xf4\x8f\xbf\xbf", 4, "\"\xf4\x8f\xbf\xbf\"",
		  "U+10FFFF kept" },
		{ "a\xffz", 3, "\"a\xef\xbf\xbdz\"", "FF becomes U+FFFD" },
		{ "a\xc3", 2, "\"a\xef\xbf\xbd\"",
		  "truncated sequence at the end" },
		{ "\xc3(", 2, "\"\xef\xbf\xbd(\"", "lead byte then ASCII" },
		{ "\x80\x80", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"",
		  "lone continuation bytes, one each" },
		{ "\xc0\x80", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"",
		  "overlong NUL" },
		{ "\xe0\x80\xaf", 3,
		  "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"", "overlong slash" },
		{ "\xed\xa0\x80", 3,
		  "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"", "surrogate" },
		{ "\xf4\x90\x80\x80", 4,
		  "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"",
		  "beyond U+10FFFF" },
		{ "\xe2\x82\"", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\\\"\"",
		  "broken sequence before a quote: quote still escaped" },
	};
	size_t i;
	char name[128], *got;

	for (i = 0; i < CG_ARRAY_SIZE(cases); i++) {
		got = str_json(cases[i].in, cases[i].len);
		snprintf(name, sizeof(name), "string: %s", cases[i].name);
		tap_is_str(got, cases[i].want, name);
		snprintf(name, sizeof(name), "string: %s: valid JSON",
			 cases[i].name);
		tap_ok(valid_json(got, strlen(got)), name);
		free(got);
	}

	/* Every byte value, alone and after a lead byte: always valid. */
	{
		char in[3];
		int c, bad = 0;

		for (c = 0; c < 256; c++) {
			in[0] = (char)c;
			in[1] = (char)0xe2;
			in[2] = (char)c;
			got = str_json(in, 3);
			if (!valid_json(got, strlen(got)))
				bad++;
			free(got);
		}
		tap_is_int(bad, 0, "string: every byte gives valid JSON");
	}

	/* Keys are escaped the same way. */
	{
		struct cg_buf b = { 0 };
		struct cg_json j;

		cg_json_init(&j, &b, false);
		cg_json_obj_begin(&j);
		cg_json_kstr(&j, "we\"ird\n\xff", "v");
		cg_json_obj_end(&j);
		tap_is_str(b.data, "{\"we\\\"ird\\n\xef\xbf\xbd\":\"v\"}",
			   "key escaped and repaired");
		check_jq(b.data, "{\"we\\\"ird\\n\xef\xbf\xbd\":\"v\"}", "key");
		cg_buf_release(&b);
	}
	{
		static const char tricky[] = "q\"b\\c\x01\x7f\xff\xe2\x82";
		char *s = str_json(tricky, sizeof(tricky) - 1);

		/* jq writes DEL as \u007f too. */
		check_jq(s, "\"q\\\"b\\\\c\\u0001\\u007f\xef\xbf\xbd\xef\xbf\xbd"
			    "\xef\xbf\xbd\"",
			 "escapes and repairs");
		free(s);
	}
}

/* Nest depth arrays, each with a value before and after its child. */
static void nest(struct cg_json *j, int d, int depth, bool empty)
{
	cg_json_arr_begin(j);
	if (!empty)
		cg_json_int(j, d);
	if (d + 1 < depth)
		nest(j, d + 1, depth, empty);
	if (empty) {
		cg_json_arr_begin(j);
		cg_json_arr_end(j);
	} else {
		cg_json_int(j, d);
	}
	cg_json_arr_end(j);
}

static void test_depth(void)
{
	struct cg_buf b = { 0 };
	struct cg_json j;
	int depth, pretty;
	char name[96];

	for (pretty = 0; pretty < 2; pretty++) {
		for (depth = CG_JSON_MAX_DEPTH - 2; depth <= CG_JSON_MAX_DEPTH + 8;
		     depth += 5) {
			cg_json_init(&j, &b, pretty);
			cg_json_obj_begin(&j);
			cg_json_key(&j, "deep");
			nest(&j, 0, depth, false);
			cg_json_kint(&j, "after", 1);
			cg_json_key(&j, "empty");
			nest(&j, 0, depth, true);
			cg_json_kint(&j, "end", 2);
			cg_json_obj_end(&j);
			snprintf(name, sizeof(name),
				 "depth %d (%s): still valid JSON", depth,
				 pretty ? "pretty" : "compact");
			if (!tap_ok(valid_json(b.data, b.len), name) &&
			    b.len < 3000)
				printf("# %s\n", b.data);
			cg_buf_release(&b);
		}
	}
}

int main(void)
{
	have_jq = system("command -v jq >/dev/null 2>&1") == 0;
	test_structure();
	test_strings();
	test_depth();
	return tap_done();
}
