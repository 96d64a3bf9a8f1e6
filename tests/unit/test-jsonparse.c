/* test-jsonparse.c: the bounded JSON parser: grammar, limits, hostile and random input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cg/json.h"
#include "cg/jsonparse.h"
#include "cg/util.h"
#include "tap.h"

static int parse(struct cg_jdoc *d, const char *text,
		 const struct cg_jlimits *lim, struct cg_error *err)
{
	return cg_jdoc_parse(d, text, strlen(text), lim, err);
}

static bool parses(const char *text)
{
	struct cg_jdoc d;
	struct cg_error err;
	int rc = parse(&d, text, NULL, &err);

	cg_jdoc_release(&d);
	return rc == 0;
}

/* Parse text that must fail, with a message containing want. */
static void rejects(const char *text, const char *want, const char *name)
{
	struct cg_jdoc d;
	struct cg_error err;
	int rc;

	cg_error_clear(&err);
	rc = parse(&d, text, NULL, &err);
	if (!tap_ok(rc == CG_ERR && d.n == 0, name))
		return;
	if (want)
		tap_has_str(err.msg, want, name);
}

static void test_values(void)
{
	struct cg_jdoc d;
	struct cg_error err;
	const struct cg_jnode *r, *v;
	int64_t i = 0;
	bool b = false;

	tap_is_int(parse(&d,
			 " {\"a\": 1, \"b\": [true, false, null, -2.5e3, \"x\"],"
			 " \"c\": {\"d\": \"\\u00e9\\n\\\"\\/\"}, \"e\": -0, "
			 "\"big\": 123456789012345678901234567890, "
			 "\"min\": -9223372036854775808} ",
			 NULL, &err),
		   0, "an object with every kind of value parses");
	r = cg_jdoc_root(&d);
	tap_ok(cg_jnode_is(r, CG_JOBJ) && r->n == 6, "root: object of 6");
	tap_ok(cg_jnode_get_int(&d, r, "a", &i) && i == 1, "a is 1");
	v = cg_jnode_get(&d, r, "b");
	tap_ok(cg_jnode_is(v, CG_JARR) && v->n == 5, "b: array of 5");
	v = cg_jnode_first(&d, v);
	tap_ok(cg_jnode_bool(v, &b) && b, "b[0] true");
	v = cg_jnode_next(&d, v);
	tap_ok(cg_jnode_bool(v, &b) && !b, "b[1] false");
	v = cg_jnode_next(&d, v);
	tap_ok(cg_jnode_is(v, CG_JNULL), "b[2] null");
	v = cg_jnode_next(&d, v);
	tap_ok(cg_jnode_is(v, CG_JNUM) && !v->is_int && v->d == -2500.0,
	       "b[3] -2.5e3 is a number, not an integer");
	v = cg_jnode_next(&d, v);
	tap_is_str(cg_jnode_str(&d, v), "x", "b[4] \"x\"");
	tap_ok(cg_jnode_next(&d, v) == NULL, "b has no sixth");
	tap_is_str(cg_jnode_get_str(&d, cg_jnode_get(&d, r, "c"), "d"),
		   "\xc3\xa9\n\"/", "escapes decoded to UTF-8");
	tap_ok(cg_jnode_get_int(&d, r, "e", &i) && i == 0, "-0 is 0");
	v = cg_jnode_get(&d, r, "big");
	tap_ok(cg_jnode_is(v, CG_JNUM) && !v->is_int && v->d > 1e29,
	       "an integer beyond int64 is a number, not an integer");
	tap_ok(cg_jnode_get_int(&d, r, "min", &i) && i == INT64_MIN,
	       "INT64_MIN is an integer");
	tap_ok(cg_jnode_get(&d, r, "zzz") == NULL, "a missing key is NULL");
	tap_ok(cg_jnode_get_str(&d, r, "a") == NULL,
	       "a number read as a string is NULL (types are checked)");
	tap_ok(!cg_jnode_get_int(&d, r, "b", &i), "an array read as int fails");
	tap_is_str(cg_jnode_key(&d, cg_jnode_first(&d, r)), "a", "first key");
	cg_jdoc_release(&d);
	cg_jdoc_release(&d);
	tap_ok(d.nodes == NULL && d.n == 0, "release twice is harmless");

	tap_is_int(parse(&d, "\"\\ud83d\\ude00\"", NULL, &err), 0,
		   "a surrogate pair parses");
	tap_is_str(cg_jnode_str(&d, cg_jdoc_root(&d)), "\xf0\x9f\x98\x80",
		   "... into one 4-byte UTF-8 character");
	cg_jdoc_release(&d);

	tap_is_int(parse(&d, "{\"k\":1,\"k\":2}", NULL, &err), 0,
		   "a repeated key parses");
	tap_ok(cg_jnode_get_int(&d, cg_jdoc_root(&d), "k", &i) && i == 1,
	       "... and the first one counts");
	cg_jdoc_release(&d);

	tap_ok(parses("[]") && parses("{}") && parses("0") && parses("\"\"") &&
		       parses("[[],{},[{}]]") && parses("\t\r\n 1 \n"),
	       "empty containers, scalars at the top, all whitespace kinds");
	tap_ok(parses("\"\xe2\x82\xac \xf4\x8f\xbf\xbf\""),
	       "raw UTF-8 (3 and 4 bytes) in a string");
}

static void test_grammar(void)
{
	rejects("", "unexpected end", "empty input");
	rejects("   ", "unexpected end", "only whitespace");
	rejects("[1,]", "unexpected character", "trailing comma in an array");
	rejects("{\"a\":1,}", "expected a string key",
		"trailing comma in an object");
	rejects("01", "leading zero", "leading zero");
	rejects("-", "invalid number", "a lone minus");
	rejects("1.", "invalid number", "a dot without digits");
	rejects("1e", "invalid number", "an exponent without digits");
	rejects(".5", "unexpected character", "no digit before the dot");
	rejects("+1", "unexpected character", "a plus sign");
	rejects("NaN", "unexpected character", "NaN");
	rejects("Infinity", "unexpected character", "Infinity");
	rejects("tru", "invalid literal", "a cut literal");
	rejects("nul", "invalid literal", "null cut short");
	rejects("[1 2]", "expected ',' or ']'", "missing comma");
	rejects("{\"a\" 1}", "expected ':'", "missing colon");
	rejects("{1:2}", "expected a string key", "a number as key");
	rejects("{'a':1}", "expected a string key", "single quotes");
	rejects("// c\n1", "unexpected character", "a comment");
	rejects("[1] [2]", "text after the end", "two documents");
	rejects("[1]x", "text after the end", "garbage after the end");
	rejects("\"abc", "unterminated string", "unterminated string");
	rejects("\"a\\", "unterminated string", "a backslash at the end");
	rejects("\"a\tb\"", "control character", "a raw tab in a string");
	rejects("\"\\x41\"", "invalid escape", "an unknown escape");
	rejects("\"\\u12\"", "invalid \\u escape", "a short \\u escape");
	rejects("\"\\u0000\"", "NUL", "\\u0000 (NUL) is refused");
	rejects("\"\\udc00\"", "surrogate", "a lone low surrogate");
	rejects("\"\\ud800x\"", "surrogate", "a lone high surrogate");
	rejects("\"\\ud800\\u0041\"", "surrogate",
		"a high surrogate and no low one");
	rejects("\"\xff\"", "invalid UTF-8", "byte 0xff");
	rejects("\"\xc0\xaf\"", "invalid UTF-8", "an overlong encoding");
	rejects("\"\xed\xa0\x80\"", "invalid UTF-8", "an encoded surrogate");
	rejects("\"\xe2\x82\"", "invalid UTF-8", "a cut sequence");
	rejects("\"\xf4\x90\x80\x80\"", "invalid UTF-8", "beyond U+10FFFF");
	rejects("[\x01]", "unexpected character", "a control character");
	{
		struct cg_jdoc d;
		struct cg_error err;

		cg_jdoc_parse(&d, "[1,\n  2,\n  x]", 13, NULL, &err);
		tap_has_str(err.msg, "line 3, column 3",
			    "errors say line and column");
		tap_ok(cg_jdoc_parse(&d, "1\0", 2, NULL, &err) == CG_ERR,
		       "a NUL byte after the value is refused");
		tap_ok(cg_jdoc_parse(&d, "\"a\0b\"", 5, NULL, &err) == CG_ERR,
		       "a raw NUL byte in a string is refused");
	}
}

static void test_limits(void)
{
	struct cg_jlimits lim = cg_jlimits_default;
	struct cg_jdoc d;
	struct cg_error err;
	struct cg_buf b = { 0 };
	size_t i;

	/* Depth: exactly max_depth levels parse, one more does not. */
	lim.max_depth = 4;
	tap_is_int(parse(&d, "[[[[1]]]]", &lim, &err), 0, "depth 4 of 4 parses");
	cg_jdoc_release(&d);
	tap_is_int(parse(&d, "[[[[[1]]]]]", &lim, &err), CG_ERR,
		   "depth 5 of 4 is refused");
	tap_has_str(err.msg, "nested too deeply", "... saying why");
	tap_is_int(parse(&d, "{\"a\":{\"b\":{\"c\":{\"d\":{}}}}}", &lim, &err),
		   CG_ERR, "objects count as depth too");

	/* A million brackets: refused at once, without recursion. */
	for (i = 0; i < 1000000; i++)
		cg_buf_addch(&b, '[');
	lim = cg_jlimits_default;
	lim.max_bytes = 2000000;
	tap_is_int(cg_jdoc_parse(&d, b.data, b.len, &lim, &err), CG_ERR,
		   "a million open brackets are refused");
	lim.max_depth = 100000; /* more than the parser's own stack */
	tap_is_int(cg_jdoc_parse(&d, b.data, b.len, &lim, &err), CG_ERR,
		   "... even when the caller asks for more depth than 256");
	cg_buf_reset(&b);

	lim = cg_jlimits_default;
	lim.max_nodes = 10;
	tap_is_int(parse(&d, "[1,2,3,4,5,6,7,8,9]", &lim, &err), 0,
		   "10 values of 10 parse");
	cg_jdoc_release(&d);
	tap_is_int(parse(&d, "[1,2,3,4,5,6,7,8,9,10]", &lim, &err), CG_ERR,
		   "11 values of 10 are refused");
	tap_has_str(err.msg, "too many values", "... saying why");

	lim = cg_jlimits_default;
	lim.max_string = 8;
	tap_is_int(parse(&d, "[\"12345678\"]", &lim, &err), 0,
		   "a string of max_string bytes parses");
	cg_jdoc_release(&d);
	tap_is_int(parse(&d, "[\"123456789\"]", &lim, &err), CG_ERR,
		   "one byte more is refused");
	tap_is_int(parse(&d, "{\"123456789\":1}", &lim, &err), CG_ERR,
		   "keys are limited too");
	tap_is_int(parse(&d, "[\"1234567\\u00e9\"]", &lim, &err), CG_ERR,
		   "the decoded length counts (escapes expand)");

	lim = cg_jlimits_default;
	lim.max_bytes = 10;
	tap_is_int(parse(&d, "[1,2,3,4,5]", &lim, &err), CG_ERR,
		   "input over max_bytes is refused before parsing");
	tap_has_str(err.msg, "too large", "... saying why");

	/* 50 MiB of one string against the default limits. */
	cg_buf_addch(&b, '"');
	for (i = 0; i < 50u << 20; i += 4096) {
		char chunk[4096];

		memset(chunk, 'a', sizeof(chunk));
		cg_buf_add(&b, chunk, sizeof(chunk));
	}
	cg_buf_addch(&b, '"');
	lim = cg_jlimits_default;
	lim.max_bytes = 64u << 20;
	tap_is_int(cg_jdoc_parse(&d, b.data, b.len, &lim, &err), CG_ERR,
		   "a 50 MiB string stops at max_string");
	cg_buf_release(&b);
}

/* --- round trips through the writer -------------------------------- */

static unsigned long long rng_state = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned)(rng_state % n);
}

static void random_utf8(char *s, size_t max)
{
	static const char *const pieces[] = {
		"a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\x01", "\x7f",
		"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "<", "&",
	};
	size_t len = 0, n = rnd(20), i;

	for (i = 0; i < n; i++) {
		const char *p = pieces[rnd(CG_ARRAY_SIZE(pieces))];
		size_t pl = strlen(p);

		/* Written as a room check, not a sum, so the bound is plain
		 * to the compiler as well. */
		if (pl >= max - len)
			break;
		memcpy(s + len, p, pl);
		len += pl;
	}
	s[len] = '\0';
}

static void test_roundtrip(void)
{
	int round, bad = 0;

	for (round = 0; round < 500; round++) {
		struct cg_buf b = { 0 };
		struct cg_json j;
		struct cg_jdoc d;
		struct cg_error err;
		char strs[8][128];
		int64_t nums[8], got;
		const struct cg_jnode *v;
		int k;

		cg_json_init(&j, &b, round % 2);
		cg_json_obj_begin(&j);
		for (k = 0; k < 8; k++) {
			char key[16];

			random_utf8(strs[k], sizeof(strs[k]));
			nums[k] = (int64_t)(((uint64_t)rnd(1u << 31) << 33) ^
					    rnd(1u << 31)) -
				  (int64_t)rnd(1000);
			snprintf(key, sizeof(key), "s%d", k);
			cg_json_kstr(&j, key, strs[k]);
			snprintf(key, sizeof(key), "n%d", k);
			cg_json_kint(&j, key, nums[k]);
		}
		cg_json_obj_end(&j);
		if (cg_jdoc_parse(&d, b.data, b.len, NULL, &err) < 0) {
			bad++;
			tap_diag(err.msg);
		} else {
			for (k = 0; k < 8; k++) {
				char key[16];

				snprintf(key, sizeof(key), "s%d", k);
				const char *s = cg_jnode_get_str(
					&d, cg_jdoc_root(&d), key);

				if (!s || strcmp(s, strs[k]) != 0)
					bad++;
				snprintf(key, sizeof(key), "n%d", k);
				v = cg_jnode_get(&d, cg_jdoc_root(&d), key);
				if (!cg_jnode_int(v, &got) || got != nums[k])
					bad++;
			}
		}
		cg_jdoc_release(&d);
		cg_buf_release(&b);
	}
	tap_is_int(bad, 0, "500 random documents from the writer read back "
			   "equal");
}

/* Every string in a parsed document is a clean C string of its length. */
static bool strings_clean(const struct cg_jdoc *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		const struct cg_jnode *v = &d->nodes[i];
		const char *s = cg_jnode_str(d, v);

		if (s && (strlen(s) != v->n || !cg_is_text(s, v->n)))
			return false;
		if (!cg_is_text(cg_jnode_key(d, v), strlen(cg_jnode_key(d, v))))
			return false;
	}
	return true;
}

static void test_fuzz(void)
{
	static const char seed[] =
		"{\"host\": \"web-1\", \"summary\": {\"ok\": 3, \"failed\": 0},"
		" \"resources\": [{\"id\": \"file:/etc/motd\", \"status\": "
		"\"drifted\", \"changes\": [{\"field\": \"content\", \"from\": "
		"\"sha256:ab\", \"to\": null}]}], \"x\": [1.5e-3, -7, true, "
		"\"\\u00e9\\ud83d\\ude00\"]}";
	static const char alphabet[] = "{}[]\",:\\ 0123456789-+.eEtrufalsn"
				       "\x80\xc3\xa9\xff\x00\n";
	struct cg_jlimits lim = cg_jlimits_default;
	int round, ok = 0, failed = 0, unclean = 0;

	lim.max_depth = 16;
	lim.max_nodes = 200;
	lim.max_string = 64;
	for (round = 0; round < 20000; round++) {
		char buf[512];
		size_t len, i, edits;
		struct cg_jdoc d;
		struct cg_error err;

		if (round % 2) {
			/* Mutations of a valid document. */
			len = sizeof(seed) - 1;
			memcpy(buf, seed, len);
			edits = 1 + rnd(4);
			for (i = 0; i < edits; i++) {
				size_t at = rnd((unsigned)len);

				switch (rnd(4)) {
				case 0: /* flip a byte */
					buf[at] = (char)rnd(256);
					break;
				case 1: /* cut the document */
					len = at;
					break;
				case 2: /* drop a byte */
					memmove(buf + at, buf + at + 1,
						len - at - 1);
					len--;
					break;
				default: /* a grammar character */
					buf[at] = alphabet[rnd(
						sizeof(alphabet) - 1)];
					break;
				}
				if (len == 0)
					break;
			}
		} else {
			/* Random text from the grammar's characters. */
			len = rnd(sizeof(buf));
			for (i = 0; i < len; i++)
				buf[i] = alphabet[rnd(sizeof(alphabet) - 1)];
		}
		/* An exact-length heap copy, so ASan sees any overread. */
		{
			char *copy = cg_xmalloc(len ? len : 1);

			memcpy(copy, buf, len);
			if (cg_jdoc_parse(&d, copy, len, &lim, &err) == 0) {
				ok++;
				if (!strings_clean(&d) || d.n > lim.max_nodes)
					unclean++;
			} else {
				failed++;
				if (!err.msg[0])
					unclean++;
			}
			free(copy);
		}
		cg_jdoc_release(&d);
	}
	tap_ok(ok > 0 && failed > 0, "20,000 random and mutated inputs: some "
				     "parse, some fail, none crashes");
	tap_is_int(unclean, 0, "every success has clean strings within the "
			       "limits, every failure a message");
}

int main(void)
{
	test_values();
	test_grammar();
	test_limits();
	test_roundtrip();
	test_fuzz();
	return tap_done();
}
