/* test-yaml.c: the YAML loader's tree, its limits, and typed access. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cg/node.h"
#include "cg/util.h"
#include "tap.h"

static struct cg_doc *load(const char *text, struct cg_error *err)
{
	struct cg_doc *doc = NULL;

	cg_error_clear(err);
	if (cg_doc_load_buf(&doc, text, strlen(text), "t.yaml", err) < 0)
		return NULL;
	return doc;
}

/* Expect text to be refused; check where and a part of the message. */
static void refused(const char *text, const char *where, const char *msg,
		    const char *name)
{
	struct cg_error err;
	struct cg_doc *doc = NULL;
	char buf[256];
	int rc;

	cg_error_clear(&err);
	rc = cg_doc_load_buf(&doc, text, strlen(text), "t.yaml", &err);
	snprintf(buf, sizeof(buf), "%s: refused", name);
	tap_is_int(rc, CG_ERR, buf);
	if (where) {
		snprintf(buf, sizeof(buf), "%s: where", name);
		tap_is_str(err.where, where, buf);
	}
	snprintf(buf, sizeof(buf), "%s: message", name);
	tap_has_str(err.msg, msg, buf);
	if (rc == 0)
		cg_doc_free(doc);
}

static void test_tree(void)
{
	static const char text[] = "name: web\n"
				   "list:\n"
				   "  - a\n"
				   "  - \"b\"\n"
				   "  - 'c'\n"
				   "map:\n"
				   "  k: v\n"
				   "  nested: {x: [1, 2]}\n"
				   "empty:\n"
				   "text: |\n"
				   "  one\n"
				   "  two\n"
				   "last: end\n";
	struct cg_error err;
	struct cg_doc *doc = load(text, &err);
	const struct cg_node *root, *n, *m;
	char where[64];

	if (!tap_ok(doc != NULL, "tree: loads")) {
		tap_diag(err.msg);
		return;
	}
	root = doc->root;
	tap_ok(root && root->kind == CG_NODE_MAP, "tree: root is a map");
	tap_is_int(root->len, 6, "tree: six pairs");
	tap_is_int(root->line, 1, "tree: root on line 1");
	tap_is_str(cg_node_kind_name(root), "a map", "tree: kind name of a map");

	n = cg_map_get(root, "name");
	tap_ok(n && n->kind == CG_NODE_SCALAR, "tree: scalar value");
	tap_is_str(n ? n->str : NULL, "web", "tree: scalar text");
	tap_is_int(n ? n->len : 0, 3, "tree: scalar length");
	tap_is_int(n ? n->line : 0, 1, "tree: scalar line");
	tap_is_int(n ? n->col : 0, 7, "tree: scalar column");
	tap_ok(n && n->plain, "tree: unquoted scalar is plain");
	tap_is_str(cg_node_kind_name(n), "a string",
		   "tree: kind name of a scalar");
	tap_is_int(root->items[0]->line, 1, "tree: key node line");
	tap_is_str(root->items[0]->str, "name", "tree: key text");

	n = cg_map_get(root, "list");
	tap_ok(n && n->kind == CG_NODE_SEQ, "tree: list");
	tap_is_int(n ? n->len : 0, 3, "tree: list of three");
	tap_is_str(cg_node_kind_name(n), "a list", "tree: kind name of a list");
	if (n && n->len == 3) {
		tap_is_int(n->items[0]->line, 3, "tree: item 1 on line 3");
		tap_is_int(n->items[1]->line, 4, "tree: item 2 on line 4");
		tap_is_int(n->items[2]->line, 5, "tree: item 3 on line 5");
		tap_is_int(n->items[0]->col, 5, "tree: item 1 column");
		tap_ok(n->items[0]->plain, "tree: plain item");
		tap_ok(!n->items[1]->plain, "tree: double-quoted is not plain");
		tap_ok(!n->items[2]->plain, "tree: single-quoted is not plain");
		tap_is_str(n->items[1]->str, "b", "tree: quotes removed (\")");
		tap_is_str(n->items[2]->str, "c", "tree: quotes removed (')");
		cg_node_where(n->items[2], where, sizeof(where));
		tap_is_str(where, "t.yaml:5", "tree: cg_node_where");
	}

	n = cg_map_get(root, "map");
	tap_ok(n && n->kind == CG_NODE_MAP, "tree: nested map");
	tap_is_int(n ? n->line : 0, 7, "tree: block map starts at its first key");
	tap_is_str(cg_map_get(n, "k") ? cg_map_get(n, "k")->str : NULL, "v",
		   "tree: nested value");
	m = cg_map_get(n, "nested");
	tap_ok(m && m->kind == CG_NODE_MAP && m->line == 8 && m->col == 11,
	       "tree: flow map with its line and column");
	m = cg_map_get(m, "x");
	tap_ok(m && m->kind == CG_NODE_SEQ && m->len == 2 &&
		       strcmp(m->items[1]->str, "2") == 0 && m->items[1]->line == 8,
	       "tree: flow list inside a flow map");
	tap_ok(cg_map_get(n, "missing") == NULL, "tree: missing key is NULL");
	tap_ok(cg_map_get(cg_map_get(root, "list"), "a") == NULL,
	       "tree: cg_map_get on a list is NULL");

	n = cg_map_get(root, "empty");
	tap_ok(n && n->kind == CG_NODE_SCALAR && n->plain && n->len == 0 &&
		       n->str[0] == '\0' && n->line == 9,
	       "tree: empty value is an empty plain scalar on its line");

	n = cg_map_get(root, "text");
	tap_is_str(n ? n->str : NULL, "one\ntwo\n", "tree: literal block");
	tap_ok(n && !n->plain, "tree: block scalar is not plain");
	tap_is_int(n ? n->line : 0, 10, "tree: block scalar line");
	n = cg_map_get(root, "last");
	tap_is_int(n ? n->line : 0, 13, "tree: line after a block scalar");
	tap_is_str(n && n->doc ? n->doc->name : NULL, "t.yaml",
		   "tree: node knows its document");
	cg_doc_free(doc);

	doc = load("", &err);
	tap_ok(doc && doc->root == NULL, "tree: empty file, no root");
	cg_doc_free(doc);
	doc = load("# only a comment\n", &err);
	tap_ok(doc && doc->root == NULL, "tree: comment only, no root");
	cg_doc_free(doc);
	doc = load("---\n- x\n...\n", &err);
	tap_ok(doc && doc->root && doc->root->kind == CG_NODE_SEQ &&
		       doc->root->items[0]->line == 2,
	       "tree: one explicit document");
	cg_doc_free(doc);
	cg_doc_free(NULL);
}

static void test_refusals(void)
{
	refused("a: 1\nb: 2\na: 3\n", "t.yaml:3:1", "key 'a' appears twice",
		"duplicate key");
	refused("top:\n  x: 1\n  y: 2\n  x: 3\n", "t.yaml:4:3",
		"key 'x' appears twice", "duplicate key in a nested map");
	refused("{a: 1, b: 2, a: 3}\n", "t.yaml:1:14", "key 'a' appears twice",
		"duplicate key on one line points at the second");
	refused("- {k: 1}\n- {k: 1, k: 2}\n", "t.yaml:2:10",
		"key 'k' appears twice", "duplicate key in a list item");
	refused("? [a, b]\n: 1\n", "t.yaml:1:3",
		"map keys must be plain strings, not a list",
		"list as a key");
	/* The value then opens a list: no key string to look at. */
	refused("? [a]\n: [b]\n", "t.yaml:1:3",
		"map keys must be plain strings, not a list",
		"list as a key, a list as its value");
	refused("? [a]\n: {resources: [x]}\n", "t.yaml:1:3",
		"map keys must be plain strings", "list as a key, a map value");
	refused("? {a: 1}\n", "t.yaml:1:3",
		"map keys must be plain strings, not a map", "a key alone");
	refused("ok: 1\n? {a: 1}\n: 2\n", "t.yaml:2:3",
		"map keys must be plain strings, not a map", "map as a key");
	refused("a: 1\n---\nb: 2\n", "t.yaml:2:1", "more than one YAML document",
		"two documents");
	refused("--- a\n--- b\n", "t.yaml:2:1", "more than one YAML document",
		"two explicit documents");
	refused("a: b: c\n", "t.yaml:1:5", "YAML syntax error",
		"syntax error with file:line:col");
	refused("a: 1\nb:\n  - x\n - y\n", "t.yaml:4:2", "YAML syntax error",
		"bad indentation, line and column");
	refused("a: [1, 2\nb: 3\n", NULL, "YAML syntax error",
		"unclosed flow list");
	/* libyaml's reader errors carry a byte offset, not a line. */
	refused("a: 1\nb: 2\nc: \xff\n", "t.yaml:3:4", "invalid leading UTF-8",
		"invalid UTF-8: line and column of the byte");
	refused("a: 1\r\nb: 2\r\nc: x\x01y\n", "t.yaml:3:5",
		"control characters", "control character after CRLF lines");
	refused("a: 1\nc: \xc3\xa9\xff\n", "t.yaml:2:5", "UTF-8",
		"invalid UTF-8 after a multibyte character");
	refused("a: *nope\n", "t.yaml:1:4", "alias *nope names no complete anchor",
		"alias to an unknown anchor");
	refused("a: &x [1, *x]\n", "t.yaml:1:11",
		"alias *x names no complete anchor",
		"alias to the anchor being defined");
	refused("a: *later\nb: &later 1\n", "t.yaml:1:4",
		"names no complete anchor", "alias before its anchor");
	/* An unquoted leading '!' is a tag, and would vanish from the value. */
	refused("rules:\n  - ! -s 10.0.0.0/8 -j DROP\n", "t.yaml:2:5",
		"'!' here is a YAML tag", "a value starting with '! '");
	refused("a: !mine x\n", "t.yaml:1:4", "'!mine' here is a YAML tag",
		"a local tag");
	refused("a: !mine [x]\n", "t.yaml:1:4", "'!mine' here is a YAML tag",
		"a tag on a list");
	/* YAML's own tags ask for a meaning the value would not get. */
	refused("a: !!binary aGVsbG8=\n", "t.yaml:1:4",
		"'!!binary' here is a YAML tag", "a !!binary tag");
	refused("a: 1\nb: !!str 2\n", "t.yaml:2:4", "'!!str' here is a YAML tag",
		"even !!str");
	refused("a: !!map {x: 1}\n", "t.yaml:1:4", "'!!map' here is a YAML tag",
		"a yaml.org tag on a map");
	refused("%TAG !e! tag:yaml.org,2002:\n---\na: !e!int 3\n", "t.yaml:3:4",
		"'!!int' here is a YAML tag", "a yaml.org tag by another handle");
	/* "\0" would end the C string there: a path cut short, silently. */
	refused("file: \"/etc/motd\\0.d/x\"\n", "t.yaml:1:7",
		"a NUL character", "a \\0 escape in a path");
	refused("k:\n  - \"a\\x00\"\n", "t.yaml:2:5", "a NUL character",
		"a \\x00 escape in a list item");
	refused("\"k\\0\": v\n", "t.yaml:1:1", "a NUL character",
		"a NUL in a key");
	{
		static const char own[] = "a: '! quoted'\nb: \"\\x01 kept\"\n";
		struct cg_doc *doc = NULL;
		struct cg_error err;

		tap_is_int(cg_doc_load_buf(&doc, own, strlen(own), "t.yaml",
					   &err),
			   0, "a quoted '!' and other escapes are fine");
		cg_doc_free(doc);
	}
}

static void test_syntax_where(void)
{
	struct cg_error err;
	struct cg_doc *doc = load("x:\n  - 1\n  - [2, 3\n", &err);

	tap_ok(doc == NULL, "syntax: unclosed list refused");
	/* "t.yaml:LINE:COL" with numbers, whatever libyaml picks. */
	tap_ok(strncmp(err.where, "t.yaml:", 7) == 0 &&
		       strchr(err.where + 7, ':') != NULL,
	       "syntax: where is file:line:col");
	tap_ok(err.hint[0] != '\0', "syntax: there is a hint");
	cg_doc_free(doc);
	doc = load("a: \"x\xff\"\n", &err);
	tap_has_str(err.hint, "UTF-8", "syntax: encoding errors hint at UTF-8");
	cg_doc_free(doc);
}

static char *bomb(int levels, int width)
{
	struct cg_buf b = { 0 };
	int i, j;

	cg_buf_addstr(&b, "l0: &l0 [");
	for (j = 0; j < width; j++)
		cg_buf_addf(&b, "%s\"lol\"", j ? ", " : "");
	cg_buf_addstr(&b, "]\n");
	for (i = 1; i <= levels; i++) {
		cg_buf_addf(&b, "l%d: &l%d [", i, i);
		for (j = 0; j < width; j++)
			cg_buf_addf(&b, "%s*l%d", j ? ", " : "", i - 1);
		cg_buf_addstr(&b, "]\n");
	}
	return cg_buf_detach(&b, NULL);
}

static void test_aliases(void)
{
	struct cg_error err;
	struct cg_doc *doc;
	const struct cg_node *x, *y;
	char *text;
	uint64_t t0, ns;

	doc = load("x: &v {a: 1, b: [2, 3]}\ny: *v\n", &err);
	x = doc ? cg_map_get(doc->root, "x") : NULL;
	y = doc ? cg_map_get(doc->root, "y") : NULL;
	tap_ok(x && x == y, "alias: shares the anchored node");
	cg_doc_free(doc);

	doc = load("x: &v 1\nx2: &v 2\ny: *v\n", &err);
	y = doc ? cg_map_get(doc->root, "y") : NULL;
	tap_is_str(y ? y->str : NULL, "2", "alias: the last anchor of a name wins");
	cg_doc_free(doc);

	/* 10^4 expanded nodes: well under the limit, accepted. */
	text = bomb(3, 10);
	doc = load(text, &err);
	tap_ok(doc != NULL, "alias: 4 levels of 10 are accepted");
	cg_doc_free(doc);
	free(text);

	/* The billion laughs: 10^9 nodes once expanded. */
	text = bomb(8, 10);
	t0 = cg_now_ns();
	doc = load(text, &err);
	ns = cg_now_ns() - t0;
	tap_ok(doc == NULL, "billion laughs: refused");
	tap_has_str(err.msg, "too large", "billion laughs: 'too large'");
	tap_has_str(err.where, "t.yaml:", "billion laughs: where names the file");
	tap_ok(ns < 2000000000u, "billion laughs: refused within 2 seconds");
	cg_doc_free(doc);
	free(text);

	/* The same, as one deep block structure of aliases. */
	text = bomb(30, 2);
	doc = load(text, &err);
	tap_ok(doc == NULL && strstr(err.msg, "too large"),
	       "alias: 2^30 by doubling is refused too");
	cg_doc_free(doc);
	free(text);
}

static char *nest(int depth)
{
	struct cg_buf b = { 0 };
	int i;

	for (i = 0; i < depth; i++)
		cg_buf_addch(&b, '[');
	cg_buf_addch(&b, 'x');
	for (i = 0; i < depth; i++)
		cg_buf_addch(&b, ']');
	cg_buf_addch(&b, '\n');
	return cg_buf_detach(&b, NULL);
}

static void test_limits(void)
{
	struct cg_error err;
	struct cg_doc *doc;
	char *text;
	const struct cg_node *n;
	int depth = 0, fd, rc;

	text = nest(CG_YAML_MAX_DEPTH);
	doc = load(text, &err);
	tap_ok(doc != NULL, "depth: exactly the limit is accepted");
	for (n = doc ? doc->root : NULL; n && n->kind == CG_NODE_SEQ;
	     n = n->items[0])
		depth++;
	tap_is_int(depth, CG_YAML_MAX_DEPTH, "depth: all levels are there");
	cg_doc_free(doc);
	free(text);

	text = nest(CG_YAML_MAX_DEPTH + 1);
	doc = load(text, &err);
	tap_ok(doc == NULL, "depth: one more is refused");
	tap_has_str(err.msg, "nesting deeper than 64",
		    "depth: message says why");
	tap_is_str(err.where, "t.yaml:1:65", "depth: where is the level too deep");
	cg_doc_free(doc);
	free(text);

	text = nest(200000);
	doc = load(text, &err);
	tap_ok(doc == NULL && strstr(err.msg, "nesting deeper"),
	       "depth: 200000 levels refused, no stack overflow");
	cg_doc_free(doc);
	free(text);

	/* Size: exactly the limit is read, one byte more is not. */
	text = cg_xmalloc(CG_YAML_MAX_BYTES + 2);
	memset(text, '\n', CG_YAML_MAX_BYTES + 1);
	memcpy(text, "# x", 3);
	text[CG_YAML_MAX_BYTES + 1] = '\0';
	doc = NULL;
	rc = cg_doc_load_buf(&doc, text, CG_YAML_MAX_BYTES + 1, "big.yaml", &err);
	tap_is_int(rc, CG_ERR, "size: over 16 MiB refused");
	tap_has_str(err.msg, "larger than the limit of 16 MiB",
		    "size: message names the limit");
	tap_is_str(err.where, "big.yaml", "size: where names the file");
	if (rc == 0)
		cg_doc_free(doc);
	doc = NULL;
	rc = cg_doc_load_buf(&doc, text, CG_YAML_MAX_BYTES, "big.yaml", &err);
	tap_is_int(rc, 0, "size: exactly 16 MiB is accepted");
	cg_doc_free(doc);
	free(text);

	/* Through a file descriptor: a huge sparse file, and /dev/zero. */
	{
		char tmpl[] = "/tmp/cg-test-yaml.XXXXXX";

		fd = mkstemp(tmpl);
		if (fd >= 0) {
			unlink(tmpl);
			tap_ok(ftruncate(fd, (off_t)CG_YAML_MAX_BYTES * 4) == 0,
			       "size: sparse 64 MiB file made");
			doc = NULL;
			rc = cg_doc_load_fd(&doc, fd, "sparse.yaml", &err);
			tap_is_int(rc, CG_ERR, "size: big file refused by fd");
			tap_has_str(err.msg, "larger than the limit",
				    "size: big file message");
			if (rc == 0)
				cg_doc_free(doc);
			close(fd);
		}
	}
	fd = open("/dev/zero", O_RDONLY);
	if (fd >= 0) {
		doc = NULL;
		rc = cg_doc_load_fd(&doc, fd, "zero.yaml", &err);
		tap_is_int(rc, CG_ERR, "size: endless input is bounded");
		tap_has_str(err.where, "zero.yaml", "size: endless input where");
		if (rc == 0)
			cg_doc_free(doc);
		close(fd);
	}
}

static void test_load_fd(void)
{
	char tmpl[] = "/tmp/cg-test-yaml.XXXXXX";
	static const char text[] = "a:\n  - 1\n  - 2\n";
	struct cg_error err;
	struct cg_doc *doc = NULL;
	int fd = mkstemp(tmpl), rc;

	if (!tap_ok(fd >= 0, "fd: temp file"))
		return;
	unlink(tmpl);
	tap_ok(cg_write_all(fd, text, strlen(text)) == 0, "fd: written");
	lseek(fd, 0, SEEK_SET);
	rc = cg_doc_load_fd(&doc, fd, "roles/x.yaml", &err);
	tap_is_int(rc, 0, "fd: loads");
	tap_ok(doc && strcmp(doc->name, "roles/x.yaml") == 0 &&
		       cg_map_get(doc->root, "a") &&
		       cg_map_get(doc->root, "a")->items[1]->line == 3,
	       "fd: tree and name");
	cg_doc_free(doc);
	close(fd);
}

static void count_item(void *cookie, const struct cg_node *item)
{
	(void)item;
	++*(int *)cookie;
}

/* Stream text as a role is read; CG_ERR with err set, or 0. */
static int stream(const char *text, int *items, struct cg_error *err)
{
	char tmpl[] = "/tmp/cg-test-yaml.XXXXXX";
	struct cg_doc *doc = NULL;
	int fd = mkstemp(tmpl), rc;

	*items = 0;
	cg_error_clear(err);
	if (fd < 0)
		return CG_ERR;
	unlink(tmpl);
	if (cg_write_all(fd, text, strlen(text)) < 0 ||
	    lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		return CG_ERR;
	}
	rc = cg_doc_stream_fd(&doc, fd, "roles/x.yaml", "resources",
			      count_item, items, err);
	cg_doc_free(doc);
	close(fd);
	return rc;
}

/*
 * A list or map as a key of the top-level map: refused with its place,
 * before the streaming test reads that key as a string (it crashed).
 */
static void test_stream_complex_key(void)
{
	static const struct {
		const char *text, *where, *msg;
	} cases[] = {
		{ "? [a]\n: [b]\n", "roles/x.yaml:1:3", "not a list" },
		{ "resources: []\n? {x: 1}\n: [b]\n", "roles/x.yaml:2:3",
		  "not a map" },
		{ "a: &k [x]\n? *k\n: [b]\n", "roles/x.yaml:1:4", "not a list" },
		{ "? [resources]\n: [{file: /x}]\n", "roles/x.yaml:1:3",
		  "not a list" },
	};
	struct cg_error err;
	char name[64];
	size_t i;
	int items;

	for (i = 0; i < CG_ARRAY_SIZE(cases); i++) {
		snprintf(name, sizeof(name), "stream complex key %zu", i + 1);
		tap_is_int(stream(cases[i].text, &items, &err), CG_ERR, name);
		tap_is_str(err.where, cases[i].where, name);
		tap_has_str(err.msg, "map keys must be plain strings", name);
		tap_has_str(err.msg, cases[i].msg, name);
	}
	tap_is_int(stream("resources:\n  - {file: /x}\n  - {file: /y}\n",
			  &items, &err),
		   0, "stream: a plain role");
	tap_is_int(items, 2, "stream: its two items");
}

/* "resources: *list" streams the aliased items (they were dropped). */
static void test_stream_alias(void)
{
	static const char text[] = "description: &r\n"
				   "  - {file: /a}\n"
				   "  - {file: /b}\n"
				   "resources: *r\n";
	struct cg_error err;
	int items;

	tap_is_int(stream(text, &items, &err), 0, "stream alias: loads");
	tap_is_int(items, 2, "stream alias: both items handed over");
	tap_is_int(stream("a: &s x\nresources: *s\n", &items, &err), 0,
		   "stream alias to a string: loads");
	tap_is_int(items, 0, "stream alias to a string: no items");
}

/*
 * An item that redefines an anchor: a later alias means the item's node
 * (gone once streamed), not the earlier anchor it resolved to silently.
 */
static void test_stream_shadowed_anchor(void)
{
	static const char *const texts[] = {
		"p: &r c\nresources:\n  - &r\n  - *r\n",
		"p: &r c\nresources:\n  - {file: &r /x}\nq: *r\n",
	};
	static const char *const wheres[] = { "roles/x.yaml:4:5",
					      "roles/x.yaml:4:4" };
	struct cg_error err;
	char name[64];
	size_t i;
	int items;

	for (i = 0; i < CG_ARRAY_SIZE(texts); i++) {
		snprintf(name, sizeof(name), "stream shadowed anchor %zu",
			 i + 1);
		tap_is_int(stream(texts[i], &items, &err), CG_ERR, name);
		tap_is_str(err.where, wheres[i], name);
		tap_has_str(err.msg, "an earlier resource redefined", name);
	}
	tap_is_int(stream("p: &r c\nresources:\n  - {a: &r x, b: *r}\n"
			  "  - *r\n",
			  &items, &err),
		   CG_ERR, "stream: an item's anchor shadows the outer one");
	tap_is_int(stream("p: &r c\nresources:\n  - *r\n  - *r\nq: &r d\n"
			  "z: *r\n",
			  &items, &err),
		   0, "stream: outer anchors, and one defined again, are fine");
	tap_is_int(items, 2, "stream: both items");
}

static void ser_cb(void *cookie, const void *data, size_t len)
{
	cg_buf_add(cookie, data, len);
}

/* Are a and b the same data as cg_node_serialize sees it? */
static int same_data(const char *a, const char *b)
{
	struct cg_error err;
	struct cg_doc *da = load(a, &err), *db = load(b, &err);
	struct cg_buf sa = { 0 }, sb = { 0 };
	int same = -1;

	if (da && db && da->root && db->root) {
		cg_node_serialize(da->root, ser_cb, &sa);
		cg_node_serialize(db->root, ser_cb, &sb);
		same = sa.len == sb.len && memcmp(sa.data, sb.data, sa.len) == 0;
	}
	cg_buf_release(&sa);
	cg_buf_release(&sb);
	cg_doc_free(da);
	cg_doc_free(db);
	return same;
}

static void test_serialize(void)
{
	static const struct {
		const char *a, *b;
		int same;
		const char *name;
	} cases[] = {
		{ "a: 1\nb: [x, y]\n", "b: ['x', \"y\"]\na: \"1\"\n", 1,
		  "key order and quoting do not matter" },
		{ "m: {p: 1, q: {r: 2, s: 3}}\n",
		  "m:\n  q:\n    s: 3\n    r: 2\n  p: 1\n", 1,
		  "nested key order, flow vs block" },
		{ "x: &v [1, 2]\ny: *v\n", "x: [1, 2]\ny: [1, 2]\n", 1,
		  "an alias is its expansion" },
		{ "t: |\n  hi\n", "t: \"hi\\n\"\n", 1,
		  "block scalar vs escaped string" },
		{ "b: [x, y]\n", "b: [y, x]\n", 0, "list order matters" },
		{ "a: 1\n", "a: 2\n", 0, "different value" },
		{ "a: 1\n", "b: 1\n", 0, "different key" },
		{ "a: 1\n", "a: 1\nb: 1\n", 0, "one more pair" },
		{ "a: '1 '\n", "a: '1'\n", 0, "trailing space matters" },
		{ "a: [1]\n", "a: 1\n", 0, "list of one vs scalar" },
		{ "a: {}\n", "a: []\n", 0, "empty map vs empty list" },
		{ "- [ab, c]\n", "- [a, bc]\n", 0, "string boundaries" },
		{ "ab: c\n", "a: bc\n", 0, "key/value boundary" },
		{ "- [a]\n- [b]\n", "- [a, b]\n", 0, "list structure" },
		{ "- [[a], b]\n", "- [[a, b]]\n", 0, "nesting structure" },
		{ "k: {a: 1}\n", "k: [a, 1]\n", 0, "map vs list of its items" },
	};
	size_t i;
	char name[128];

	for (i = 0; i < CG_ARRAY_SIZE(cases); i++) {
		snprintf(name, sizeof(name), "serialize: %s", cases[i].name);
		tap_is_int(same_data(cases[i].a, cases[i].b), cases[i].same,
			   name);
	}
}

static void test_check_keys(void)
{
	static const char *const allowed[] = { "file", "mode", "owner",
					       "group", NULL };
	struct cg_error err;
	struct cg_doc *doc;

	doc = load("file: /etc/motd\nmode: '0644'\nowner: root\n", &err);
	tap_is_int(cg_map_check_keys(doc->root, allowed, "a file resource",
				     &err),
		   0, "check_keys: all known");
	cg_doc_free(doc);

	doc = load("file: /etc/motd\nmdoe: '0644'\n", &err);
	cg_error_clear(&err);
	tap_is_int(cg_map_check_keys(doc->root, allowed, "a file resource",
				     &err),
		   CG_ERR, "check_keys: typo refused");
	tap_is_str(err.msg, "unknown key 'mdoe' in a file resource",
		   "check_keys: names the key and where it was");
	tap_is_str(err.hint, "did you mean 'mode'?",
		   "check_keys: suggests the closest");
	tap_is_str(err.where, "t.yaml:2", "check_keys: line of the key");
	cg_doc_free(doc);

	doc = load("file: /x\n\n\nrecurse: true\n", &err);
	cg_error_clear(&err);
	tap_is_int(cg_map_check_keys(doc->root, allowed, "a file resource",
				     &err),
		   CG_ERR, "check_keys: unrelated key refused");
	tap_has_str(err.msg, "'recurse'", "check_keys: unrelated key named");
	tap_is_str(err.hint, "valid keys: file mode owner group",
		   "check_keys: no close key, all valid keys listed");
	tap_is_str(err.where, "t.yaml:4", "check_keys: line of unrelated key");
	cg_doc_free(doc);
}

static const struct cg_node *value(struct cg_doc *doc, const char *key)
{
	return doc ? cg_map_get(doc->root, key) : NULL;
}

static void test_typed(void)
{
	static const char text[] = "t1: true\n"
				   "t2: yes\n"
				   "f1: false\n"
				   "f2: Off\n"
				   "bad: maybe\n"
				   "quoted: 'true'\n"
				   "n: 22\n"
				   "big: 70000\n"
				   "neg: -1\n"
				   "plus: '+5'\n"
				   "sneg: ' -1'\n"
				   "sp: ' 5'\n"
				   "hex: 0x10\n"
				   "word: abc\n"
				   "nul:\n"
				   "tilde: ~\n"
				   "list: [a, b]\n"
				   "one: a\n"
				   "mixed: [a, [b]]\n"
				   "emptystr: ''\n"
				   "map: {a: 1}\n";
	struct cg_error err;
	struct cg_doc *doc = load(text, &err);
	const char **v = NULL, *s = NULL;
	unsigned long u = 0;
	size_t n = 0;
	bool b = false;

	if (!tap_ok(doc != NULL, "typed: loads"))
		return;
	tap_ok(cg_node_bool(value(doc, "t1"), "t1", &b, &err) == 0 && b,
	       "bool: true");
	b = false;
	tap_ok(cg_node_bool(value(doc, "t2"), "t2", &b, &err) == 0 && b,
	       "bool: yes");
	b = true;
	tap_ok(cg_node_bool(value(doc, "f1"), "f1", &b, &err) == 0 && !b,
	       "bool: false");
	b = true;
	tap_ok(cg_node_bool(value(doc, "f2"), "f2", &b, &err) == 0 && !b,
	       "bool: Off");
	tap_is_int(cg_node_bool(value(doc, "bad"), "enabled", &b, &err), CG_ERR,
		   "bool: 'maybe' refused");
	tap_is_str(err.msg, "'enabled' must be true or false, not \"maybe\"",
		   "bool: message names the key and value");
	tap_is_str(err.where, "t.yaml:5", "bool: where");
	tap_is_int(cg_node_bool(value(doc, "quoted"), "q", &b, &err), CG_ERR,
		   "bool: a quoted 'true' is a string");
	tap_is_int(cg_node_bool(value(doc, "list"), "running", &b, &err),
		   CG_ERR, "bool: a list refused");
	tap_has_str(err.msg, "'running'", "bool: list error names the key");
	tap_has_str(err.msg, "a list", "bool: list error names the type");

	tap_ok(cg_node_uint(value(doc, "n"), "port", 65535, &u, &err) == 0 &&
		       u == 22,
	       "uint: 22");
	tap_is_int(cg_node_uint(value(doc, "big"), "port", 65535, &u, &err),
		   CG_ERR, "uint: over the maximum refused");
	tap_is_str(err.msg, "'port' must be a whole number from 0 to 65535",
		   "uint: message names the key and range");
	tap_is_str(err.where, "t.yaml:8", "uint: where");
	tap_is_int(cg_node_uint(value(doc, "neg"), "port", 65535, &u, &err),
		   CG_ERR, "uint: negative refused");
	tap_is_int(cg_node_uint(value(doc, "plus"), "port", 65535, &u, &err),
		   CG_ERR, "uint: sign refused");
	u = 0;
	tap_is_int(cg_node_uint(value(doc, "sneg"), "timeout", (unsigned long)-1,
				&u, &err),
		   CG_ERR, "uint: ' -1' is not ULONG_MAX");
	tap_is_int(cg_node_uint(value(doc, "sp"), "timeout", 100, &u, &err),
		   CG_ERR, "uint: leading space refused");
	tap_is_int(cg_node_uint(value(doc, "hex"), "port", 65535, &u, &err),
		   CG_ERR, "uint: hex refused");
	tap_is_int(cg_node_uint(value(doc, "word"), "port", 65535, &u, &err),
		   CG_ERR, "uint: word refused");
	tap_is_int(cg_node_uint(value(doc, "nul"), "port", 65535, &u, &err),
		   CG_ERR, "uint: empty refused");
	tap_is_int(cg_node_uint(value(doc, "map"), "timeout", 9, &u, &err),
		   CG_ERR, "uint: map refused");
	tap_has_str(err.msg, "'timeout'", "uint: map error names the key");

	tap_ok(cg_node_string(value(doc, "word"), "w", &s, &err) == 0 &&
		       strcmp(s, "abc") == 0,
	       "string: plain");
	tap_ok(cg_node_string(value(doc, "emptystr"), "w", &s, &err) == 0 &&
		       s[0] == '\0',
	       "string: quoted empty string is a string");
	tap_is_int(cg_node_string(value(doc, "nul"), "content", &s, &err),
		   CG_ERR, "string: empty value refused");
	tap_is_str(err.msg, "'content' must be a string, not empty",
		   "string: says empty");
	tap_is_int(cg_node_string(value(doc, "tilde"), "content", &s, &err),
		   CG_ERR, "string: ~ is null, refused");
	tap_is_int(cg_node_string(value(doc, "list"), "content", &s, &err),
		   CG_ERR, "string: list refused");
	tap_is_str(err.msg, "'content' must be a string, not a list",
		   "string: names key and type");

	tap_ok(cg_node_strlist(value(doc, "list"), "roles", &v, &n, &err) ==
			       0 &&
		       n == 2 && strcmp(v[0], "a") == 0 &&
		       strcmp(v[1], "b") == 0 && v[2] == NULL,
	       "strlist: a list, NULL-terminated");
	free(v);
	v = NULL;
	tap_ok(cg_node_strlist(value(doc, "one"), "roles", &v, &n, &err) == 0 &&
		       n == 1 && strcmp(v[0], "a") == 0 && v[1] == NULL,
	       "strlist: one scalar is a list of one");
	free(v);
	v = NULL;
	tap_is_int(cg_node_strlist(value(doc, "mixed"), "requires", &v, &n,
				   &err),
		   CG_ERR, "strlist: nested list refused");
	tap_is_str(err.msg, "item 2 of 'requires' must be a string, not a list",
		   "strlist: names the item and key");
	tap_is_str(err.where, "t.yaml:19", "strlist: where");
	tap_is_int(cg_node_strlist(value(doc, "map"), "requires", &v, &n, &err),
		   CG_ERR, "strlist: map refused");
	tap_is_str(err.msg, "'requires' must be a list of strings, not a map",
		   "strlist: map message names the key");
	tap_is_int(cg_node_strlist(value(doc, "nul"), "requires", &v, &n, &err),
		   CG_ERR, "strlist: empty refused");
	cg_doc_free(doc);
}

int main(void)
{
	test_tree();
	test_refusals();
	test_syntax_where();
	test_aliases();
	test_limits();
	test_load_fd();
	test_stream_complex_key();
	test_stream_alias();
	test_stream_shadowed_anchor();
	test_serialize();
	test_check_keys();
	test_typed();
	return tap_done();
}
