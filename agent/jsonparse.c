/* jsonparse.c: a strict, bounded JSON parser with an explicit stack. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg/jsonparse.h"
#include "cg/util.h"

#define STACK_MAX 256
#define NUMBER_MAX 400 /* characters of one number */

const struct cg_jlimits cg_jlimits_default = {
	.max_bytes = 1u << 20,
	.max_depth = 32,
	.max_nodes = 100000,
	.max_string = 65536,
};

struct frame {
	uint32_t node; /* the open array or object */
	uint32_t last; /* its last child so far, 0 for none */
};

struct parser {
	const unsigned char *p, *start, *end;
	const struct cg_jlimits *lim;
	struct cg_jdoc *doc;
	struct frame stack[STACK_MAX];
	size_t depth;
	uint32_t key; /* the pending member key's offset, or 0 */
	struct cg_error *err;
};

/* Error at the parser's position: "what at line L, column C". */
static int fail(struct parser *ps, const char *what)
{
	const unsigned char *q;
	size_t line = 1, col = 1;

	for (q = ps->start; q < ps->p && q < ps->end; q++) {
		if (*q == '\n') {
			line++;
			col = 1;
		} else if ((*q & 0xc0) != 0x80) {
			col++;
		}
	}
	return cg_error_set(ps->err, CG_ERR, "%s at line %zu, column %zu", what,
			    line, col);
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' ||
				   *ps->p == '\t' || *ps->p == '\r'))
		ps->p++;
}

/* Append a node of type to the document, as a child of the open frame. */
static int add_node(struct parser *ps, enum cg_jtype type, uint32_t *out)
{
	struct cg_jdoc *d = ps->doc;
	struct cg_jnode *v;
	uint32_t idx;

	if (d->n >= ps->lim->max_nodes)
		return fail(ps, "too many values");
	cg_grow(&d->nodes, &d->cap, d->n + 1, sizeof(*d->nodes));
	idx = (uint32_t)d->n++;
	v = &d->nodes[idx];
	memset(v, 0, sizeof(*v));
	v->type = (uint8_t)type;
	if (ps->depth > 0) {
		struct frame *f = &ps->stack[ps->depth - 1];
		struct cg_jnode *parent = &d->nodes[f->node];

		if (f->last)
			d->nodes[f->last].next = idx;
		else
			parent->first = idx;
		f->last = idx;
		parent->n++;
		v->key = ps->key;
		ps->key = 0;
	}
	*out = idx;
	return 0;
}

static void str_addch(struct cg_jdoc *d, char c)
{
	cg_grow(&d->strs, &d->scap, d->slen + 1, 1);
	d->strs[d->slen++] = c;
}

static int hex4(const unsigned char *p, uint32_t *out)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		unsigned char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static void put_utf8(struct cg_jdoc *d, uint32_t cp)
{
	if (cp < 0x80) {
		str_addch(d, (char)cp);
	} else if (cp < 0x800) {
		str_addch(d, (char)(0xc0 | (cp >> 6)));
		str_addch(d, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		str_addch(d, (char)(0xe0 | (cp >> 12)));
		str_addch(d, (char)(0x80 | ((cp >> 6) & 0x3f)));
		str_addch(d, (char)(0x80 | (cp & 0x3f)));
	} else {
		str_addch(d, (char)(0xf0 | (cp >> 18)));
		str_addch(d, (char)(0x80 | ((cp >> 12) & 0x3f)));
		str_addch(d, (char)(0x80 | ((cp >> 6) & 0x3f)));
		str_addch(d, (char)(0x80 | (cp & 0x3f)));
	}
}

/* A string at ps->p (the opening quote); its offset in strs to *out. */
static int parse_string(struct parser *ps, uint32_t *out, uint32_t *len_out)
{
	struct cg_jdoc *d = ps->doc;
	size_t off = d->slen;

	ps->p++;
	for (;;) {
		const unsigned char *run = ps->p;
		unsigned char c;

		/* Plain characters, the common case, in one piece. */
		while (ps->p < ps->end && *ps->p >= 0x20 && *ps->p < 0x80 &&
		       *ps->p != '"' && *ps->p != '\\')
			ps->p++;
		if (ps->p > run) {
			size_t n = (size_t)(ps->p - run);

			cg_grow(&d->strs, &d->scap, d->slen + n, 1);
			memcpy(d->strs + d->slen, run, n);
			d->slen += n;
		}
		if (d->slen - off > ps->lim->max_string)
			return fail(ps, "string too long");
		if (ps->p >= ps->end)
			return fail(ps, "unterminated string");
		c = *ps->p;
		if (c == '"') {
			ps->p++;
			break;
		}
		if (c < 0x20)
			return fail(ps, "control character in a string");
		if (c >= 0x80) {
			size_t n = cg_utf8_len(ps->p, (size_t)(ps->end - ps->p));

			if (!n)
				return fail(ps, "invalid UTF-8 in a string");
			cg_grow(&d->strs, &d->scap, d->slen + n, 1);
			memcpy(d->strs + d->slen, ps->p, n);
			d->slen += n;
			ps->p += n;
			continue;
		}
		/* A backslash. */
		if (ps->end - ps->p < 2)
			return fail(ps, "unterminated string");
		switch (ps->p[1]) {
		case '"':
		case '\\':
		case '/':
			str_addch(d, (char)ps->p[1]);
			ps->p += 2;
			continue;
		case 'b':
			str_addch(d, '\b');
			ps->p += 2;
			continue;
		case 'f':
			str_addch(d, '\f');
			ps->p += 2;
			continue;
		case 'n':
			str_addch(d, '\n');
			ps->p += 2;
			continue;
		case 'r':
			str_addch(d, '\r');
			ps->p += 2;
			continue;
		case 't':
			str_addch(d, '\t');
			ps->p += 2;
			continue;
		case 'u':
			break;
		default:
			return fail(ps, "invalid escape in a string");
		}
		{
			uint32_t cp, lo;

			if (ps->end - ps->p < 6 || hex4(ps->p + 2, &cp) < 0)
				return fail(ps, "invalid \\u escape");
			ps->p += 6;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return fail(ps, "lone UTF-16 surrogate");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (ps->end - ps->p < 6 || ps->p[0] != '\\' ||
				    ps->p[1] != 'u' || hex4(ps->p + 2, &lo) < 0 ||
				    lo < 0xdc00 || lo > 0xdfff)
					return fail(ps, "lone UTF-16 surrogate");
				ps->p += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				     (lo - 0xdc00);
			}
			if (cp == 0)
				return fail(ps, "NUL (\\u0000) in a string");
			put_utf8(d, cp);
		}
	}
	if (d->slen - off > ps->lim->max_string)
		return fail(ps, "string too long");
	*len_out = (uint32_t)(d->slen - off);
	str_addch(d, '\0');
	*out = (uint32_t)off;
	return 0;
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int parse_number(struct parser *ps, struct cg_jnode *v)
{
	const unsigned char *s = ps->p;
	char buf[NUMBER_MAX + 1];
	bool integral = true;
	size_t n;

	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (ps->p >= ps->end || !is_digit(*ps->p))
		return fail(ps, "invalid number");
	if (*ps->p == '0') {
		ps->p++;
		if (ps->p < ps->end && is_digit(*ps->p))
			return fail(ps, "leading zero in a number");
	} else {
		while (ps->p < ps->end && is_digit(*ps->p))
			ps->p++;
	}
	if (ps->p < ps->end && *ps->p == '.') {
		integral = false;
		ps->p++;
		if (ps->p >= ps->end || !is_digit(*ps->p))
			return fail(ps, "invalid number");
		while (ps->p < ps->end && is_digit(*ps->p))
			ps->p++;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		integral = false;
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (ps->p >= ps->end || !is_digit(*ps->p))
			return fail(ps, "invalid number");
		while (ps->p < ps->end && is_digit(*ps->p))
			ps->p++;
	}
	n = (size_t)(ps->p - s);
	if (n > NUMBER_MAX)
		return fail(ps, "number too long");
	memcpy(buf, s, n);
	buf[n] = '\0';
	v->d = strtod(buf, NULL);
	if (integral) {
		char *end;

		errno = 0;
		v->i = strtoll(buf, &end, 10);
		v->is_int = errno == 0 && *end == '\0';
	}
	return 0;
}

static int literal(struct parser *ps, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
		return fail(ps, "invalid literal");
	ps->p += n;
	return 0;
}

/* A member key and its colon, at ps->p. */
static int parse_key(struct parser *ps)
{
	uint32_t off, len;

	skip_ws(ps);
	if (ps->p >= ps->end || *ps->p != '"')
		return fail(ps, "expected a string key");
	if (parse_string(ps, &off, &len) < 0)
		return CG_ERR;
	skip_ws(ps);
	if (ps->p >= ps->end || *ps->p != ':')
		return fail(ps, "expected ':'");
	ps->p++;
	ps->key = off;
	return 0;
}

/* Open an array or object: the value was added as node idx. */
static int open_frame(struct parser *ps, uint32_t idx)
{
	if (ps->depth >= ps->lim->max_depth || ps->depth >= STACK_MAX)
		return fail(ps, "nested too deeply");
	ps->stack[ps->depth].node = idx;
	ps->stack[ps->depth].last = 0;
	ps->depth++;
	return 0;
}

static int parse(struct parser *ps)
{
	struct cg_jdoc *d = ps->doc;
	uint32_t idx;

value:
	skip_ws(ps);
	if (ps->p >= ps->end)
		return fail(ps, "unexpected end");
	switch (*ps->p) {
	case '{':
	case '[': {
		bool obj = *ps->p == '{';

		if (add_node(ps, obj ? CG_JOBJ : CG_JARR, &idx) < 0 ||
		    open_frame(ps, idx) < 0)
			return CG_ERR;
		ps->p++;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == (obj ? '}' : ']')) {
			ps->p++;
			ps->depth--;
			goto after;
		}
		if (obj && parse_key(ps) < 0)
			return CG_ERR;
		goto value;
	}
	case '"': {
		uint32_t off, len;

		if (add_node(ps, CG_JSTR, &idx) < 0 ||
		    parse_string(ps, &off, &len) < 0)
			return CG_ERR;
		d->nodes[idx].str = off;
		d->nodes[idx].n = len;
		break;
	}
	case 't':
	case 'f': {
		bool t = *ps->p == 't';

		if (add_node(ps, CG_JBOOL, &idx) < 0 ||
		    literal(ps, t ? "true" : "false") < 0)
			return CG_ERR;
		d->nodes[idx].b = t;
		break;
	}
	case 'n':
		if (add_node(ps, CG_JNULL, &idx) < 0 || literal(ps, "null") < 0)
			return CG_ERR;
		break;
	default:
		if (*ps->p != '-' && !is_digit(*ps->p))
			return fail(ps, "unexpected character");
		if (add_node(ps, CG_JNUM, &idx) < 0 ||
		    parse_number(ps, &d->nodes[idx]) < 0)
			return CG_ERR;
		break;
	}
after:
	skip_ws(ps);
	if (ps->depth == 0) {
		if (ps->p != ps->end)
			return fail(ps, "text after the end");
		return 0;
	}
	if (ps->p >= ps->end)
		return fail(ps, "unexpected end");
	{
		const struct cg_jnode *open =
			&d->nodes[ps->stack[ps->depth - 1].node];
		bool obj = open->type == CG_JOBJ;

		if (*ps->p == ',') {
			ps->p++;
			if (obj && parse_key(ps) < 0)
				return CG_ERR;
			goto value;
		}
		if (*ps->p == (obj ? '}' : ']')) {
			ps->p++;
			ps->depth--;
			goto after;
		}
		return fail(ps, obj ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

int cg_jdoc_parse(struct cg_jdoc *doc, const char *text, size_t len,
		  const struct cg_jlimits *lim, struct cg_error *err)
{
	struct parser *ps;
	int rc;

	memset(doc, 0, sizeof(*doc));
	if (!lim)
		lim = &cg_jlimits_default;
	/* Offsets are 32-bit: no document may come near 4 GiB. */
	if (len > lim->max_bytes || len > (1u << 30))
		return cg_error_set(err, CG_ERR,
				    "too large: %zu bytes (the limit is %zu)",
				    len, lim->max_bytes);
	ps = cg_xcalloc(1, sizeof(*ps));
	ps->start = ps->p = (const unsigned char *)text;
	ps->end = ps->start + len;
	ps->lim = lim;
	ps->doc = doc;
	ps->err = err;
	str_addch(doc, '\0'); /* offset 0: "" for keys of array elements */
	rc = parse(ps);
	free(ps);
	if (rc < 0)
		cg_jdoc_release(doc);
	return rc;
}

void cg_jdoc_release(struct cg_jdoc *doc)
{
	if (!doc)
		return;
	free(doc->nodes);
	free(doc->strs);
	memset(doc, 0, sizeof(*doc));
}

const struct cg_jnode *cg_jdoc_root(const struct cg_jdoc *doc)
{
	return doc->n ? &doc->nodes[0] : NULL;
}

const struct cg_jnode *cg_jnode_first(const struct cg_jdoc *doc,
				      const struct cg_jnode *v)
{
	if (!v || (v->type != CG_JARR && v->type != CG_JOBJ) || !v->first)
		return NULL;
	return &doc->nodes[v->first];
}

const struct cg_jnode *cg_jnode_next(const struct cg_jdoc *doc,
				     const struct cg_jnode *v)
{
	return v && v->next ? &doc->nodes[v->next] : NULL;
}

const char *cg_jnode_key(const struct cg_jdoc *doc, const struct cg_jnode *v)
{
	return doc->strs + v->key;
}

const struct cg_jnode *cg_jnode_get(const struct cg_jdoc *doc,
				    const struct cg_jnode *o, const char *key)
{
	const struct cg_jnode *m;

	if (!o || o->type != CG_JOBJ)
		return NULL;
	for (m = cg_jnode_first(doc, o); m; m = cg_jnode_next(doc, m))
		if (strcmp(doc->strs + m->key, key) == 0)
			return m;
	return NULL;
}

const char *cg_jnode_str(const struct cg_jdoc *doc, const struct cg_jnode *v)
{
	return v && v->type == CG_JSTR ? doc->strs + v->str : NULL;
}

bool cg_jnode_int(const struct cg_jnode *v, int64_t *out)
{
	if (!v || v->type != CG_JNUM || !v->is_int)
		return false;
	*out = v->i;
	return true;
}

bool cg_jnode_bool(const struct cg_jnode *v, bool *out)
{
	if (!v || v->type != CG_JBOOL)
		return false;
	*out = v->b;
	return true;
}

bool cg_jnode_is(const struct cg_jnode *v, enum cg_jtype type)
{
	return v && v->type == type;
}

const char *cg_jnode_get_str(const struct cg_jdoc *doc,
			     const struct cg_jnode *o, const char *key)
{
	return cg_jnode_str(doc, cg_jnode_get(doc, o, key));
}

bool cg_jnode_get_int(const struct cg_jdoc *doc, const struct cg_jnode *o,
		      const char *key, int64_t *out)
{
	return cg_jnode_int(cg_jnode_get(doc, o, key), out);
}
