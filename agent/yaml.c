/* yaml.c: libyaml events to a bounded node tree, and typed access to it. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "cg/node.h"
#include "cg/util.h"

/*
 * All nodes and strings of a document live in one arena, freed at once: a
 * parsed policy is read-only, and freeing node by node would cost more than
 * the parse. Streamed list items get an arena of their own, emptied after
 * each item.
 */
struct chunk {
	struct chunk *next;
	size_t size;
	size_t used;
	char data[];
};

struct arena {
	struct chunk *head;
};

#define CHUNK_SIZE 16384

static void *arena_alloc(struct arena *a, size_t n)
{
	struct chunk *c = a->head;
	void *p;

	n = (n + 7) & ~(size_t)7;
	if (!c || c->size - c->used < n) {
		size_t size = n > CHUNK_SIZE / 4 ? n : CHUNK_SIZE;

		c = cg_xmalloc(sizeof(*c) + size);
		c->size = size;
		c->used = 0;
		if (size == n && a->head) {
			/* A big one-off: keep the current chunk in front. */
			c->next = a->head->next;
			a->head->next = c;
		} else {
			c->next = a->head;
			a->head = c;
		}
	}
	p = c->data + c->used;
	c->used += n;
	return p;
}

/* Free all but one chunk, which is kept for reuse. */
static void arena_reset(struct arena *a)
{
	struct chunk *c, *next;

	if (!a->head)
		return;
	for (c = a->head->next; c; c = next) {
		next = c->next;
		free(c);
	}
	a->head->next = NULL;
	a->head->used = 0;
}

static void arena_free(struct arena *a)
{
	struct chunk *c, *next;

	for (c = a ? a->head : NULL; c; c = next) {
		next = c->next;
		free(c);
	}
}

struct frame {
	struct cg_node *node;
	struct cg_node **items; /* owned while open */
	size_t n, cap;
	size_t weight_at_open;
	char *anchor; /* owned */
	bool streaming; /* its items go to the callback, not into it */
};

struct anchor {
	char *name; /* owned */
	struct cg_node *node;
	size_t weight;
	/* A streamed item redefined the name, and went with its node. */
	bool shadowed;
};

struct loader {
	struct cg_doc *doc;
	struct arena *main;   /* borrowed: doc's arena */
	struct arena item;    /* owned: nodes of the streamed item */
	struct frame stack[CG_YAML_MAX_DEPTH + 1];
	size_t depth;
	struct anchor *anchors;
	size_t nanchors, anchors_cap;
	size_t item_anchors;  /* anchors before the current streamed item */
	size_t weight;        /* nodes with aliases expanded */
	size_t live;          /* nodes in memory now */
	size_t item_live;     /* of which in the streamed item */
	const char *stream_key;
	void (*fn)(void *cookie, const struct cg_node *item);
	void *cookie;
	struct cg_error *err;
};

static int fail_at(struct loader *l, unsigned line, unsigned col,
		   const char *fmt, const char *arg)
{
	cg_error_set(l->err, CG_ERR, fmt, arg);
	cg_error_where(l->err, "%s:%u:%u", l->doc->name, line, col);
	return CG_ERR;
}

static bool in_item(const struct loader *l)
{
	return l->depth >= 2 && l->stack[1].streaming;
}

static struct arena *arena_now(struct loader *l)
{
	return in_item(l) ? &l->item : l->main;
}

static int new_node(struct loader *l, enum cg_node_kind kind,
		    yaml_mark_t mark, struct cg_node **out)
{
	struct cg_node *n;

	if (++l->live > CG_YAML_MAX_NODES)
		return fail_at(l, (unsigned)mark.line + 1,
			       (unsigned)mark.column + 1,
			       "document too large: more than %s nodes",
			       "1000000");
	if (in_item(l))
		l->item_live++;
	n = arena_alloc(arena_now(l), sizeof(*n));
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->line = (unsigned)mark.line + 1;
	n->col = (unsigned)mark.column + 1;
	n->doc = l->doc;
	*out = n;
	return 0;
}

static int add_weight(struct loader *l, size_t w, yaml_mark_t mark)
{
	l->weight += w;
	if (l->weight > CG_YAML_MAX_WEIGHT)
		return fail_at(l, (unsigned)mark.line + 1,
			       (unsigned)mark.column + 1,
			       "document too large: more than %s nodes once "
			       "aliases are expanded",
			       "4000000");
	return 0;
}

static void add_anchor(struct loader *l, char *name, struct cg_node *n,
		       size_t weight)
{
	cg_grow(&l->anchors, &l->anchors_cap, l->nanchors + 1,
		sizeof(*l->anchors));
	l->anchors[l->nanchors].name = name;
	l->anchors[l->nanchors].node = n;
	l->anchors[l->nanchors].weight = weight;
	l->anchors[l->nanchors].shadowed = false;
	l->nanchors++;
}

static const struct anchor *find_anchor(const struct loader *l,
					const char *name)
{
	size_t i;

	/* The last definition of a name wins, as YAML says. */
	for (i = l->nanchors; i > 0; i--)
		if (strcmp(l->anchors[i - 1].name, name) == 0)
			return &l->anchors[i - 1];
	return NULL;
}

/*
 * A streamed item is gone: an anchor of it that redefined an earlier one
 * leaves that earlier one unusable, since YAML says a later alias means
 * the item's node, which no longer exists. Resolving it to the earlier
 * anchor would silently give other data than the file says.
 */
static void shadow_outer_anchors(struct loader *l)
{
	size_t i, j;

	for (i = l->item_anchors; i < l->nanchors; i++)
		for (j = l->item_anchors; j > 0; j--)
			if (strcmp(l->anchors[j - 1].name,
				   l->anchors[i].name) == 0) {
				l->anchors[j - 1].shadowed = true;
				break;
			}
}

static void drop_anchors(struct loader *l, size_t keep)
{
	while (l->nanchors > keep)
		free(l->anchors[--l->nanchors].name);
}

static int add_child(struct loader *l, struct cg_node *n)
{
	struct frame *f;

	if (l->depth == 0) {
		l->doc->root = n;
		return 0;
	}
	f = &l->stack[l->depth - 1];
	/*
	 * A key must be a string; refuse it the moment it is complete, so
	 * that nothing after (the streaming test of open_container, the
	 * duplicate check) ever looks at a key without a string.
	 */
	if (f->node->kind == CG_NODE_MAP && f->n % 2 == 0 &&
	    n->kind != CG_NODE_SCALAR)
		return fail_at(l, n->line, n->col,
			       "map keys must be plain strings, not %s",
			       cg_node_kind_name(n));
	if (f->streaming) {
		/*
		 * A whole item: hand it over, then forget it. Its anchors go
		 * with it, so an alias can only name an anchor of its own item.
		 */
		l->fn(l->cookie, n);
		arena_reset(&l->item);
		shadow_outer_anchors(l);
		drop_anchors(l, l->item_anchors);
		l->live -= l->item_live;
		l->item_live = 0;
		f->n++; /* counted, not kept */
		return 0;
	}
	cg_grow(&f->items, &f->cap, f->n + 1, sizeof(*f->items));
	f->items[f->n++] = n;
	return 0;
}

static int keycmp(const void *a, const void *b)
{
	const struct cg_node *const *x = a, *const *y = b;

	return strcmp((*x)->str, (*y)->str);
}

static bool later(const struct cg_node *a, const struct cg_node *b)
{
	return a->line != b->line ? a->line > b->line : a->col > b->col;
}

static int check_map(struct loader *l, struct cg_node *map)
{
	struct cg_node **keys;
	size_t i;
	int rc = 0;

	/* Every key is a string: add_child refused any other. */
	if (map->len < 2)
		return 0;
	keys = cg_xmalloc(map->len * sizeof(*keys));
	for (i = 0; i < map->len; i++)
		keys[i] = map->items[2 * i];
	qsort(keys, map->len, sizeof(*keys), keycmp);
	for (i = 1; i < map->len; i++) {
		if (strcmp(keys[i - 1]->str, keys[i]->str) == 0) {
			/*
			 * Compare columns too: in a flow map both keys may
			 * sit on one line, and qsort keeps no order.
			 */
			const struct cg_node *second =
				later(keys[i], keys[i - 1]) ? keys[i]
							    : keys[i - 1];
			const struct cg_node *first =
				second == keys[i] ? keys[i - 1] : keys[i];
			char buf[64];

			snprintf(buf, sizeof(buf), "%u", first->line);
			rc = fail_at(l, second->line, second->col,
				     "key '%s' appears twice in this map",
				     second->str);
			cg_error_hint(l->err,
				      "remove one of them (the other is on "
				      "line %s)",
				      buf);
			break;
		}
	}
	free(keys);
	return rc;
}

/* Is the next node the value of stream_key in the top-level map? */
static bool is_stream_value(const struct loader *l)
{
	const struct frame *parent = &l->stack[0];

	return l->stream_key && l->depth == 1 &&
	       parent->node->kind == CG_NODE_MAP && parent->n % 2 == 1 &&
	       strcmp(parent->items[parent->n - 1]->str, l->stream_key) == 0;
}

static int open_container(struct loader *l, enum cg_node_kind kind,
			  yaml_mark_t mark, const yaml_char_t *anchor)
{
	struct frame *f;
	struct cg_node *n;
	bool stream;

	if (l->depth >= CG_YAML_MAX_DEPTH)
		return fail_at(l, (unsigned)mark.line + 1,
			       (unsigned)mark.column + 1,
			       "nesting deeper than %s levels", "64");
	if (add_weight(l, 1, mark) < 0 || new_node(l, kind, mark, &n) < 0)
		return CG_ERR;
	stream = kind == CG_NODE_SEQ && is_stream_value(l);
	f = &l->stack[l->depth++];
	memset(f, 0, sizeof(*f));
	f->node = n;
	f->weight_at_open = l->weight - 1;
	f->anchor = anchor ? cg_xstrdup((const char *)anchor) : NULL;
	f->streaming = stream;
	if (stream)
		l->item_anchors = l->nanchors;
	return 0;
}

static int close_container(struct loader *l)
{
	struct frame *f = &l->stack[l->depth - 1];
	struct cg_node *n = f->node;
	size_t bytes = f->streaming ? 0 : f->n * sizeof(*n->items);
	int rc = 0;

	/* Allocate in the arena the node itself lives in. */
	l->depth--;
	n->items = arena_alloc(arena_now(l), bytes ? bytes : 1);
	l->depth++;
	if (bytes)
		memcpy(n->items, f->items, bytes);
	n->len = f->streaming ? 0 : n->kind == CG_NODE_MAP ? f->n / 2 : f->n;
	free(f->items);
	f->items = NULL;
	if (n->kind == CG_NODE_MAP)
		rc = check_map(l, n);
	l->depth--;
	if (f->anchor) {
		add_anchor(l, f->anchor, n, l->weight - f->weight_at_open);
		f->anchor = NULL;
	}
	if (rc < 0)
		return rc;
	return add_child(l, n);
}

/*
 * congruent reads strings, lists and maps, never tags. A tag is mostly a
 * value that starts with '!' and was not quoted: "- ! -s 10.0.0.0/8 -j
 * DROP" would lose its '!' and mean the opposite. YAML's own tags
 * (!!binary, !!int, even !!str) are refused too: each asks for a meaning
 * (base64 to decode, a number) that the value would silently not get.
 */
static int check_tag(struct loader *l, const yaml_event_t *ev)
{
	static const char yaml_org[] = "tag:yaml.org,2002:";
	const yaml_char_t *tag = NULL;
	const char *t;
	char shown[256];

	if (ev->type == YAML_SCALAR_EVENT)
		tag = ev->data.scalar.tag;
	else if (ev->type == YAML_SEQUENCE_START_EVENT)
		tag = ev->data.sequence_start.tag;
	else if (ev->type == YAML_MAPPING_START_EVENT)
		tag = ev->data.mapping_start.tag;
	if (!tag)
		return 0;
	t = (const char *)tag;
	if (strncmp(t, yaml_org, sizeof(yaml_org) - 1) == 0) {
		snprintf(shown, sizeof(shown), "!!%s", t + sizeof(yaml_org) - 1);
		fail_at(l, (unsigned)ev->start_mark.line + 1,
			(unsigned)ev->start_mark.column + 1,
			"'%s' here is a YAML tag, which congruent does not "
			"apply: every value is read as text",
			shown);
		cg_error_hint(l->err, "remove the tag (write the value itself, "
				      "quoted if it starts with '!')");
		return CG_ERR;
	}
	return fail_at(l, (unsigned)ev->start_mark.line + 1,
		       (unsigned)ev->start_mark.column + 1,
		       "'%s' here is a YAML tag, which would be dropped from "
		       "the value: quote a value that starts with '!'",
		       t);
}

/*
 * "resources: *list": the streamed list is an alias. Its items are handed
 * over like parsed ones (they were parsed with their anchor, outside any
 * item, and stay with it), and the document gets an empty list in its
 * place, as for a list streamed as it was read.
 */
static int stream_alias(struct loader *l, const struct cg_node *list,
			yaml_mark_t mark)
{
	struct cg_node *n;
	size_t i;

	for (i = 0; i < list->len; i++)
		l->fn(l->cookie, list->items[i]);
	if (new_node(l, CG_NODE_SEQ, mark, &n) < 0)
		return CG_ERR;
	n->items = arena_alloc(l->main, 1);
	return add_child(l, n);
}

static int on_event(struct loader *l, yaml_event_t *ev, int *docs)
{
	struct cg_node *n;
	const struct anchor *a;

	if (check_tag(l, ev) < 0)
		return CG_ERR;
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++*docs > 1)
			return fail_at(l, (unsigned)ev->start_mark.line + 1,
				       (unsigned)ev->start_mark.column + 1,
				       "%s",
				       "more than one YAML document in the "
				       "file; congruent reads one per file");
		return 0;
	case YAML_SCALAR_EVENT:
		/*
		 * "\0" in a double-quoted string: every string is used as a
		 * C string, so a path or content would end there, silently.
		 */
		if (memchr(ev->data.scalar.value, '\0',
			   ev->data.scalar.length)) {
			fail_at(l, (unsigned)ev->start_mark.line + 1,
				(unsigned)ev->start_mark.column + 1,
				"%s", "a NUL character (\\0) in a string, "
				      "which would cut it short there");
			cg_error_hint(l->err, "remove the \\0 (or \\x00, "
					      "\\u0000) escape");
			return CG_ERR;
		}
		if (add_weight(l, 1, ev->start_mark) < 0 ||
		    new_node(l, CG_NODE_SCALAR, ev->start_mark, &n) < 0)
			return CG_ERR;
		n->str = arena_alloc(arena_now(l), ev->data.scalar.length + 1);
		memcpy(n->str, ev->data.scalar.value, ev->data.scalar.length);
		n->str[ev->data.scalar.length] = '\0';
		n->len = ev->data.scalar.length;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		if (ev->data.scalar.anchor)
			add_anchor(l,
				   cg_xstrdup((const char *)
						      ev->data.scalar.anchor),
				   n, 1);
		return add_child(l, n);
	case YAML_SEQUENCE_START_EVENT:
		return open_container(l, CG_NODE_SEQ, ev->start_mark,
				      ev->data.sequence_start.anchor);
	case YAML_MAPPING_START_EVENT:
		return open_container(l, CG_NODE_MAP, ev->start_mark,
				      ev->data.mapping_start.anchor);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return close_container(l);
	case YAML_ALIAS_EVENT:
		a = find_anchor(l, (const char *)ev->data.alias.anchor);
		if (!a)
			return fail_at(l, (unsigned)ev->start_mark.line + 1,
				       (unsigned)ev->start_mark.column + 1,
				       "alias *%s names no complete anchor "
				       "before it (in the same resource)",
				       (const char *)ev->data.alias.anchor);
		if (a->shadowed)
			return fail_at(l, (unsigned)ev->start_mark.line + 1,
				       (unsigned)ev->start_mark.column + 1,
				       "alias *%s names an anchor that an "
				       "earlier resource redefined: an "
				       "anchor there belongs to its resource",
				       (const char *)ev->data.alias.anchor);
		if (add_weight(l, a->weight, ev->start_mark) < 0)
			return CG_ERR;
		if (a->node->kind == CG_NODE_SEQ && is_stream_value(l))
			return stream_alias(l, a->node, ev->start_mark);
		return add_child(l, a->node);
	default:
		return 0;
	}
}

/*
 * libyaml's reader errors (bad UTF-8, control characters) give a byte
 * offset and leave problem_mark at 0:0; turn the offset into the line and
 * column (in characters, as libyaml counts) that its other errors give.
 */
static yaml_mark_t mark_at(const char *buf, size_t len, size_t off)
{
	yaml_mark_t m = { 0 };
	size_t i;

	if (off > len)
		off = len;
	for (i = 0; i < off; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c == '\n' ||
		    (c == '\r' && (i + 1 >= len || buf[i + 1] != '\n'))) {
			m.line++;
			m.column = 0;
		} else if ((c & 0xc0) != 0x80) {
			m.column++;
		}
	}
	m.index = off;
	return m;
}

/* Input for libyaml: from memory, or read from an fd as it goes. */
struct input {
	const char *buf;
	size_t len, off;
	int fd;
	size_t total;
	bool too_big, failed;
};

static int read_input(void *data, unsigned char *buffer, size_t size,
		      size_t *size_read)
{
	struct input *in = data;
	ssize_t n;

	if (in->fd < 0) {
		n = (ssize_t)(in->len - in->off < size ? in->len - in->off : size);
		memcpy(buffer, in->buf + in->off, (size_t)n);
		in->off += (size_t)n;
		*size_read = (size_t)n;
		return 1;
	}
	do
		n = read(in->fd, buffer, size);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		in->failed = true;
		return 0;
	}
	in->total += (size_t)n;
	if (in->total > CG_YAML_MAX_BYTES) {
		in->too_big = true;
		return 0;
	}
	*size_read = (size_t)n;
	return 1;
}

/* mark_at for either kind of input (an fd is read again from the start). */
static yaml_mark_t mark_at_input(const struct input *in, size_t off)
{
	struct cg_buf b = { 0 };
	yaml_mark_t m;
	char chunk[65536];

	if (in->fd < 0)
		return mark_at(in->buf, in->len, off);
	while (b.len < off) {
		ssize_t n = pread(in->fd, chunk, sizeof(chunk), (off_t)b.len);

		if (n <= 0)
			break;
		cg_buf_add(&b, chunk, (size_t)n);
	}
	m = mark_at(b.data ? b.data : "", b.len, off);
	cg_buf_release(&b);
	return m;
}

static int load(struct cg_doc **out, struct input *in, const char *name,
		const char *stream_key,
		void (*fn)(void *cookie, const struct cg_node *item),
		void *cookie, struct cg_error *err)
{
	struct loader l;
	yaml_parser_t parser;
	yaml_event_t ev;
	int docs = 0, rc = 0;
	bool done = false;

	memset(&l, 0, sizeof(l));
	l.err = err;
	l.stream_key = stream_key;
	l.fn = fn;
	l.cookie = cookie;
	l.doc = cg_xcalloc(1, sizeof(*l.doc));
	l.doc->name = cg_xstrdup(name);
	l.doc->arena = l.main = cg_xcalloc(1, sizeof(*l.main));
	if (!yaml_parser_initialize(&parser)) {
		rc = cg_error_set(err, CG_ERR, "cannot initialise libyaml");
		goto out_free_doc;
	}
	yaml_parser_set_input(&parser, read_input, in);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			yaml_mark_t at = parser.problem_mark;
			char ctx[256] = "";

			rc = CG_ERR;
			if (in->too_big || in->failed) {
				if (in->too_big)
					cg_error_set(err, CG_ERR,
						     "file is larger than the "
						     "limit of %u MiB",
						     CG_YAML_MAX_BYTES >> 20);
				else
					cg_error_sys(err, CG_ERR, "read failed");
				cg_error_where(err, "%s", name);
				break;
			}
			if (parser.error == YAML_READER_ERROR)
				at = mark_at_input(in, parser.problem_offset);
			if (parser.context)
				snprintf(ctx, sizeof(ctx),
					 " (%s, line %lu)", parser.context,
					 (unsigned long)parser.context_mark.line +
						 1);
			cg_error_set(err, CG_ERR, "YAML syntax error: %s%s",
				     parser.problem ? parser.problem
						    : "unknown problem",
				     ctx);
			cg_error_where(err, "%s:%lu:%lu", name,
				       (unsigned long)at.line + 1,
				       (unsigned long)at.column + 1);
			if (parser.error == YAML_READER_ERROR)
				cg_error_hint(err, "save the file as UTF-8 text, "
						   "without control characters");
			else
				cg_error_hint(err, "fix the YAML at that line; "
						   "indentation and unquoted "
						   "': ' are the usual suspects");
			rc = CG_ERR;
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		rc = on_event(&l, &ev, &docs);
		yaml_event_delete(&ev);
		if (rc < 0)
			break;
	}
	yaml_parser_delete(&parser);
	while (l.depth > 0) {
		free(l.stack[l.depth - 1].items);
		free(l.stack[l.depth - 1].anchor);
		l.depth--;
	}
	drop_anchors(&l, 0);
	free(l.anchors);
	arena_free(&l.item);
	if (rc < 0)
		goto out_free_doc;
	*out = l.doc;
	return 0;

out_free_doc:
	cg_doc_free(l.doc);
	return rc;
}

int cg_doc_load_buf(struct cg_doc **out, const char *buf, size_t len,
		    const char *name, struct cg_error *err)
{
	struct input in = { .buf = buf, .len = len, .fd = -1 };

	if (len > CG_YAML_MAX_BYTES) {
		cg_error_set(err, CG_ERR, "file is larger than the limit of %u MiB",
			     CG_YAML_MAX_BYTES >> 20);
		cg_error_where(err, "%s", name);
		return CG_ERR;
	}
	return load(out, &in, name, NULL, NULL, NULL, err);
}

static int check_size(int fd, const char *name, struct cg_error *err)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uintmax_t)st.st_size > CG_YAML_MAX_BYTES) {
		cg_error_set(err, CG_ERR, "file is larger than the limit of %u MiB",
			     CG_YAML_MAX_BYTES >> 20);
		cg_error_where(err, "%s", name);
		return CG_ERR;
	}
	return 0;
}

int cg_doc_load_fd(struct cg_doc **out, int fd, const char *name,
		   struct cg_error *err)
{
	struct input in = { .fd = fd };

	if (check_size(fd, name, err) < 0)
		return CG_ERR;
	return load(out, &in, name, NULL, NULL, NULL, err);
}

int cg_doc_stream_fd(struct cg_doc **out, int fd, const char *name,
		     const char *list_key,
		     void (*fn)(void *cookie, const struct cg_node *item),
		     void *cookie, struct cg_error *err)
{
	struct input in = { .fd = fd };

	if (check_size(fd, name, err) < 0)
		return CG_ERR;
	return load(out, &in, name, list_key, fn, cookie, err);
}

void cg_doc_free(struct cg_doc *doc)
{
	if (!doc)
		return;
	arena_free(doc->arena);
	free(doc->arena);
	free(doc->name);
	free(doc);
}

const struct cg_node *cg_map_get(const struct cg_node *map, const char *key)
{
	size_t i;

	if (!map || map->kind != CG_NODE_MAP)
		return NULL;
	for (i = 0; i < map->len; i++)
		if (strcmp(map->items[2 * i]->str, key) == 0)
			return map->items[2 * i + 1];
	return NULL;
}

void cg_node_where(const struct cg_node *n, char *buf, size_t size)
{
	snprintf(buf, size, "%s:%u", n->doc->name, n->line);
}

const char *cg_node_kind_name(const struct cg_node *n)
{
	switch (n->kind) {
	case CG_NODE_SCALAR:
		return "a string";
	case CG_NODE_SEQ:
		return "a list";
	default:
		return "a map";
	}
}

static int type_error(const struct cg_node *n, const char *key,
		      const char *want, struct cg_error *err)
{
	cg_error_set(err, CG_ERR, "'%s' must be %s, not %s", key, want,
		     n->kind == CG_NODE_SCALAR && n->plain && n->len == 0
			     ? "empty"
			     : cg_node_kind_name(n));
	cg_error_where(err, "%s:%u", n->doc->name, n->line);
	return CG_ERR;
}

static bool is_null(const struct cg_node *n)
{
	return n->kind == CG_NODE_SCALAR && n->plain &&
	       (n->len == 0 || strcmp(n->str, "~") == 0 ||
		strcmp(n->str, "null") == 0);
}

int cg_node_string(const struct cg_node *n, const char *key, const char **out,
		   struct cg_error *err)
{
	if (n->kind != CG_NODE_SCALAR || is_null(n))
		return type_error(n, key, "a string", err);
	*out = n->str;
	return 0;
}

int cg_node_bool(const struct cg_node *n, const char *key, bool *out,
		 struct cg_error *err)
{
	static const char *const yes[] = { "true", "yes", "on", "True", "Yes",
					   "On", "TRUE", "YES", "ON" };
	static const char *const no[] = { "false", "no", "off", "False", "No",
					  "Off", "FALSE", "NO", "OFF" };
	size_t i;

	if (n->kind == CG_NODE_SCALAR && n->plain) {
		for (i = 0; i < CG_ARRAY_SIZE(yes); i++) {
			if (strcmp(n->str, yes[i]) == 0) {
				*out = true;
				return 0;
			}
			if (strcmp(n->str, no[i]) == 0) {
				*out = false;
				return 0;
			}
		}
	}
	type_error(n, key, "true or false", err);
	if (err && n->kind == CG_NODE_SCALAR)
		snprintf(err->msg, sizeof(err->msg),
			 "'%s' must be true or false, not \"%s\"", key, n->str);
	return CG_ERR;
}

int cg_node_uint(const struct cg_node *n, const char *key, unsigned long max,
		 unsigned long *out, struct cg_error *err)
{
	unsigned long v;
	char *end;

	/*
	 * Digits only: strtoul would skip leading blanks and then accept a
	 * sign, so " -1" would read as ULONG_MAX.
	 */
	if (n->kind != CG_NODE_SCALAR || is_null(n) ||
	    !isdigit((unsigned char)n->str[0]))
		goto bad;
	errno = 0;
	v = strtoul(n->str, &end, 10);
	if (errno || *end || end == n->str || v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	type_error(n, key, "a whole number", err);
	if (err)
		snprintf(err->msg, sizeof(err->msg),
			 "'%s' must be a whole number from 0 to %lu", key, max);
	return CG_ERR;
}

int cg_node_strlist(const struct cg_node *n, const char *key,
		    const char ***out, size_t *n_out, struct cg_error *err)
{
	const char **v;
	size_t i;

	if (n->kind == CG_NODE_SCALAR && !is_null(n)) {
		v = cg_xcalloc(2, sizeof(*v));
		v[0] = n->str;
		*out = v;
		*n_out = 1;
		return 0;
	}
	if (n->kind != CG_NODE_SEQ)
		return type_error(n, key, "a list of strings", err);
	v = cg_xcalloc(n->len + 1, sizeof(*v));
	for (i = 0; i < n->len; i++) {
		const struct cg_node *it = n->items[i];

		if (it->kind != CG_NODE_SCALAR || is_null(it)) {
			free(v);
			type_error(it, key, "a list of strings", err);
			if (err)
				snprintf(err->msg, sizeof(err->msg),
					 "item %zu of '%s' must be a string, "
					 "not %s",
					 i + 1, key, cg_node_kind_name(it));
			return CG_ERR;
		}
		v[i] = it->str;
	}
	*out = v;
	*n_out = n->len;
	return 0;
}

int cg_map_check_keys(const struct cg_node *map, const char *const *allowed,
		      const char *what, struct cg_error *err)
{
	size_t i, j;

	for (i = 0; i < map->len; i++) {
		const struct cg_node *k = map->items[2 * i];
		const char *best;
		bool ok = false;

		for (j = 0; allowed[j]; j++)
			if (strcmp(k->str, allowed[j]) == 0)
				ok = true;
		if (ok)
			continue;
		cg_error_set(err, CG_ERR, "unknown key '%s' in %s", k->str,
			     what);
		cg_error_where(err, "%s:%u", k->doc->name, k->line);
		best = cg_suggest(k->str, allowed);
		if (best) {
			cg_error_hint(err, "did you mean '%s'?", best);
		} else if (err) {
			size_t len = 0;

			len += (size_t)snprintf(err->hint, sizeof(err->hint),
						"valid keys:");
			for (j = 0; allowed[j] && len < sizeof(err->hint); j++)
				len += (size_t)snprintf(err->hint + len,
							sizeof(err->hint) - len,
							" %s", allowed[j]);
		}
		return CG_ERR;
	}
	return 0;
}

static void ser_str(const char *s, size_t len,
		    void (*fn)(void *, const void *, size_t), void *cookie)
{
	uint64_t n = len;

	fn(cookie, &n, sizeof(n));
	fn(cookie, s, len);
}

void cg_node_serialize(const struct cg_node *n,
		       void (*fn)(void *cookie, const void *data, size_t len),
		       void *cookie)
{
	struct cg_node **keys;
	uint64_t count = n->len;
	size_t i;
	char tag;

	tag = n->kind == CG_NODE_SCALAR ? 's' : n->kind == CG_NODE_SEQ ? 'l' : 'm';
	fn(cookie, &tag, 1);
	if (n->kind == CG_NODE_SCALAR) {
		ser_str(n->str, n->len, fn, cookie);
		return;
	}
	fn(cookie, &count, sizeof(count));
	if (n->kind == CG_NODE_SEQ) {
		for (i = 0; i < n->len; i++)
			cg_node_serialize(n->items[i], fn, cookie);
		return;
	}
	/* Key order carries no meaning in a map. */
	keys = cg_xmalloc((n->len ? n->len : 1) * sizeof(*keys));
	for (i = 0; i < n->len; i++)
		keys[i] = n->items[2 * i];
	qsort(keys, n->len, sizeof(*keys), keycmp);
	for (i = 0; i < n->len; i++) {
		ser_str(keys[i]->str, keys[i]->len, fn, cookie);
		cg_node_serialize(cg_map_get(n, keys[i]->str), fn, cookie);
	}
	free(keys);
}
