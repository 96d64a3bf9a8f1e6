/* template.c: a bounded Jinja subset over YAML vars, strict about typos. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cg/node.h"
#include "cg/template.h"

#define SUPPORTED                                                        \
	"supported: {{ expr }}, {% if %}/{% elif %}/{% else %}/{% endif %}, " \
	"{% for x in list %}/{% endfor %}, {# comment #}, '-' for "          \
	"whitespace control; filters default, join, upper, lower, length, "  \
	"replace, trim, indent, dictsort"

/* --- the parsed template --------------------------------------------- */

enum ekind {
	E_STR,
	E_NUM,
	E_BOOL,
	E_NONE,
	E_LIST,
	E_NAME,
	E_ATTR,
	E_INDEX,
	E_FILTER,
	E_NOT,
	E_AND,
	E_OR,
	E_CMP,
	E_IN,
	E_NOTIN,
};

enum cmp { C_EQ, C_NE, C_LT, C_GT, C_LE, C_GE };

enum filter {
	F_DEFAULT,
	F_JOIN,
	F_UPPER,
	F_LOWER,
	F_LENGTH,
	F_REPLACE,
	F_TRIM,
	F_INDENT,
	F_DICTSORT,
};

static const struct {
	const char *name;
	size_t min, max; /* arguments */
} filters[] = {
	[F_DEFAULT] = { "default", 1, 2 }, [F_JOIN] = { "join", 0, 1 },
	[F_UPPER] = { "upper", 0, 0 },     [F_LOWER] = { "lower", 0, 0 },
	[F_LENGTH] = { "length", 0, 0 },   [F_REPLACE] = { "replace", 2, 2 },
	[F_TRIM] = { "trim", 0, 0 },       [F_INDENT] = { "indent", 0, 2 },
	[F_DICTSORT] = { "dictsort", 0, 0 },
};

struct expr {
	enum ekind k;
	int op;       /* E_CMP: enum cmp; E_FILTER: enum filter */
	size_t off;   /* where it starts in the template */
	const char *s; /* E_STR: text; E_NAME/E_ATTR: the name */
	size_t len;
	const char *flat; /* E_ATTR on names only: "a.b.c" as one var name */
	size_t flat_len;
	double num;
	bool b;
	struct expr *a, *b2; /* operands; E_ATTR/E_INDEX/E_FILTER: a is the base */
	struct expr **args;  /* E_FILTER arguments, E_LIST items */
	size_t nargs;
};

enum skind { S_TEXT, S_OUT, S_IF, S_FOR };

struct stmt;

struct body {
	struct stmt **v;
	size_t n, cap;
};

struct stmt {
	enum skind k;
	size_t off;
	const char *text; /* S_TEXT */
	size_t len;
	struct expr *e;   /* S_OUT; S_FOR: what is looped over */
	struct expr **conds; /* S_IF: one per if/elif */
	struct body *bodies; /* S_IF: one per cond, and one more for else */
	size_t nconds;
	const char *v1, *v2; /* S_FOR: the loop variables (v2 may be NULL) */
	size_t l1, l2;
	struct body body; /* S_FOR */
};

/* A piece of the template: text, or the inside of a tag. */
enum pkind { P_TEXT, P_VAR, P_BLOCK };

struct part {
	enum pkind k;
	size_t off;  /* of the tag's opening, or of the text */
	const char *s, *e; /* text, or the inside of the tag */
};

/* --- values ------------------------------------------------------------ */

enum vkind {
	V_UNDEF,
	V_NONE,
	V_STR,
	V_NUM,
	V_BOOL,
	V_NODE,    /* a list or map var */
	V_LIST,    /* a list made here: a literal, dictsort */
	V_LOOP,
	V_UNKNOWN, /* check: a fact of no particular host */
};

struct loopinfo {
	size_t index, length;
};

struct val {
	enum vkind k;
	const char *s; /* V_STR, V_NUM, V_BOOL: the text; V_UNDEF: the name */
	size_t len;
	double num;
	bool b;
	const struct cg_node *node; /* V_NODE; V_UNDEF: the map it is not in */
	struct val *items;          /* V_LIST */
	size_t n;
	const struct loopinfo *loop;
	size_t off; /* V_UNDEF: where it was named */
};

struct local {
	const char *name;
	size_t len;
	struct val v;
};

struct tpl {
	const char *text, *file;
	size_t len;
	const struct cg_template_vars *vars;
	struct cg_buf *out;
	struct cg_error *err;
	void **allocs; /* owned: everything below, freed at the end */
	size_t nallocs, capallocs;
	size_t scratch; /* bytes of strings made while rendering */
	unsigned long iters;
	struct local *locals; /* owned */
	size_t nlocals, caplocals;
	struct part *parts; /* owned */
	size_t nparts, capparts, pi;
	char namebuf[256];
	/* The first secret vars->reveal refused: the rendering fails. */
	int secret_rc;
	struct cg_error secret_err;
};

/* The lexer of one tag's inside. */
enum tok {
	T_END,
	T_NAME,
	T_NUM,
	T_STR,
	T_DOT,
	T_LBR,
	T_RBR,
	T_LP,
	T_RP,
	T_COMMA,
	T_PIPE,
	T_EQ,
	T_NE,
	T_LT,
	T_GT,
	T_LE,
	T_GE,
};

struct ps {
	struct tpl *t;
	const char *p, *end;
	enum tok tok;
	const char *ts; /* the token's text */
	size_t tl;
	size_t toff;
	int depth;
};

/* --- errors ------------------------------------------------------------ */

static void line_col(const struct tpl *t, size_t off, unsigned *line,
		     unsigned *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	for (i = 0; i < off && i < t->len; i++) {
		if (t->text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static int fail(struct tpl *t, size_t off, int code, const char *hint,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int fail(struct tpl *t, size_t off, int code, const char *hint,
		const char *fmt, ...)
{
	char msg[sizeof(t->err->msg)];
	unsigned line, col;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	line_col(t, off, &line, &col);
	cg_error_set(t->err, code, "%s", msg);
	cg_error_where(t->err, "%s:%u:%u", t->file, line, col);
	if (hint)
		cg_error_hint(t->err, "%s", hint);
	return code;
}

/* --- memory ------------------------------------------------------------ */

static void *palloc(struct tpl *t, size_t size)
{
	void *p = cg_xcalloc(1, size ? size : 1);

	cg_grow(&t->allocs, &t->capallocs, t->nallocs + 1, sizeof(*t->allocs));
	t->allocs[t->nallocs++] = p;
	return p;
}

static void *pgrow(struct tpl *t, void *old, size_t size)
{
	size_t i;

	for (i = t->nallocs; i-- > 0;)
		if (t->allocs[i] == old) {
			t->allocs[i] = cg_xrealloc(old, size);
			return t->allocs[i];
		}
	return palloc(t, size);
}

/*
 * A new string of len bytes for a filter's result. Strings made in loops
 * add up: their total is bounded like the output.
 */
static char *pstr(struct tpl *t, size_t len, size_t off)
{
	if (len > CG_TEMPLATE_OUT_MAX - t->scratch) {
		fail(t, off, CG_ERR,
		     "a var this large belongs in a source: file, not a "
		     "template",
		     "template makes more than %u MiB of strings",
		     CG_TEMPLATE_OUT_MAX >> 20);
		return NULL;
	}
	t->scratch += len;
	return palloc(t, len + 1);
}

/* --- splitting into text and tags ---------------------------------------- */

static void add_part(struct tpl *t, enum pkind k, size_t off, const char *s,
		     const char *e)
{
	cg_grow(&t->parts, &t->capparts, t->nparts + 1, sizeof(*t->parts));
	t->parts[t->nparts++] = (struct part){ k, off, s, e };
}

/* The closing delimiter of a tag from p, skipping string literals. */
static const char *find_close(struct tpl *t, const char *p, char c1, char c2,
			      size_t open_off)
{
	const char *end = t->text + t->len;

	for (; p + 1 < end; p++) {
		if (c1 != '#' && (*p == '\'' || *p == '"')) {
			const char *q = p + 1;

			while (q < end && *q != *p && *q != '\n') {
				if (*q == '\\' && q + 1 < end && q[1] != '\n')
					q++;
				q++;
			}
			if (q >= end || *q != *p) {
				fail(t, (size_t)(p - t->text), CG_ERR,
				     "close the quote on the same line",
				     "unterminated string in template");
				return NULL;
			}
			p = q;
			continue;
		}
		if (p[0] == c1 && p[1] == c2)
			return p;
	}
	fail(t, open_off, CG_ERR, "write {{ '{{' }} for literal braces",
	     "'{%c' is not closed by '%c%c'", c1 == '#' ? '#'
					      : c1 == '%' ? '%'
							  : '{',
	     c1, c2);
	return NULL;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Cut the template into parts, applying whitespace control: '-' inside a
 * tag's delimiter strips the whitespace on that side; the first newline
 * after a block tag or a comment is dropped (trim_blocks).
 */
static int split(struct tpl *t)
{
	const char *p = t->text, *end = t->text + t->len;
	bool strip_next = false, trim_nl = false;

	while (p <= end) {
		const char *q, *open = NULL, *close, *ts, *te;
		char kind = 0;

		for (q = p; q + 1 < end; q++)
			if (q[0] == '{' && (q[1] == '{' || q[1] == '%' ||
					    q[1] == '#')) {
				open = q;
				kind = q[1];
				break;
			}
		ts = p;
		te = open ? open : end;
		if (strip_next)
			while (ts < te && is_ws(*ts))
				ts++;
		else if (trim_nl && ts < te && *ts == '\n')
			ts++;
		else if (trim_nl && te - ts >= 2 && ts[0] == '\r' &&
			 ts[1] == '\n')
			ts += 2;
		if (open && open + 2 < end && open[2] == '-')
			while (te > ts && is_ws(te[-1]))
				te--;
		if (te > ts)
			add_part(t, P_TEXT, (size_t)(ts - t->text), ts, te);
		if (!open)
			break;
		q = open + 2;
		if (q < end && *q == '-')
			q++;
		close = find_close(t, q, kind == '{' ? '}' : kind,
				   '}', (size_t)(open - t->text));
		if (!close)
			return CG_ERR;
		strip_next = close > q && close[-1] == '-';
		trim_nl = kind != '{';
		if (kind != '#')
			add_part(t, kind == '{' ? P_VAR : P_BLOCK,
				 (size_t)(open - t->text), q,
				 strip_next ? close - 1 : close);
		p = close + 2;
	}
	return 0;
}

/* --- the lexer of expressions ------------------------------------------- */

static bool name_start(char c)
{
	return isalpha((unsigned char)c) || c == '_';
}

static bool name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

static int next(struct ps *ps)
{
	const char *p = ps->p;

	while (p < ps->end && is_ws(*p))
		p++;
	ps->ts = p;
	ps->toff = (size_t)(p - ps->t->text);
	if (p >= ps->end) {
		ps->tok = T_END;
		ps->tl = 0;
		ps->p = p;
		return 0;
	}
	if (name_start(*p)) {
		/* '-' joins words into one name, as var names allow. */
		while (p < ps->end && (name_char(*p) ||
				       (*p == '-' && p + 1 < ps->end &&
					name_char(p[1]))))
			p++;
		ps->tok = T_NAME;
	} else if (isdigit((unsigned char)*p) ||
		   (*p == '-' && p + 1 < ps->end &&
		    isdigit((unsigned char)p[1]))) {
		p++;
		while (p < ps->end && isdigit((unsigned char)*p))
			p++;
		if (p + 1 < ps->end && *p == '.' &&
		    isdigit((unsigned char)p[1])) {
			p++;
			while (p < ps->end && isdigit((unsigned char)*p))
				p++;
		}
		ps->tok = T_NUM;
	} else if (*p == '\'' || *p == '"') {
		char q = *p++;

		while (p < ps->end && *p != q) {
			if (*p == '\\' && p + 1 < ps->end)
				p++;
			p++;
		}
		if (p >= ps->end)
			return fail(ps->t, ps->toff, CG_ERR,
				    "close the quote on the same line",
				    "unterminated string in template");
		p++;
		ps->tok = T_STR;
	} else {
		static const struct {
			const char *s;
			enum tok t;
		} ops[] = {
			{ "==", T_EQ }, { "!=", T_NE }, { "<=", T_LE },
			{ ">=", T_GE }, { "<", T_LT },  { ">", T_GT },
			{ ".", T_DOT }, { "[", T_LBR }, { "]", T_RBR },
			{ "(", T_LP },  { ")", T_RP },  { ",", T_COMMA },
			{ "|", T_PIPE },
		};
		size_t i;

		for (i = 0; i < CG_ARRAY_SIZE(ops); i++) {
			size_t n = strlen(ops[i].s);

			if ((size_t)(ps->end - p) >= n &&
			    memcmp(p, ops[i].s, n) == 0) {
				ps->tok = ops[i].t;
				p += n;
				break;
			}
		}
		if (i == CG_ARRAY_SIZE(ops)) {
			const char *why = strchr("+-*/%~", *p)
						  ? "arithmetic is not supported"
						  : "not in the template subset";

			return fail(ps->t, ps->toff, CG_ERR, SUPPORTED,
				    "unexpected '%c' in template: %s", *p, why);
		}
	}
	ps->tl = (size_t)(p - ps->ts);
	ps->p = p;
	return 0;
}

static bool is_word(const struct ps *ps, const char *w)
{
	return ps->tok == T_NAME && ps->tl == strlen(w) &&
	       memcmp(ps->ts, w, ps->tl) == 0;
}

static int expected(struct ps *ps, const char *what)
{
	if (ps->tok == T_END)
		return fail(ps->t, ps->toff, CG_ERR, SUPPORTED,
			    "expected %s at the end of the tag", what);
	return fail(ps->t, ps->toff, CG_ERR, SUPPORTED,
		    "expected %s, not '%.*s'", what, (int)ps->tl, ps->ts);
}

/* --- the parser of expressions ------------------------------------------ */

static struct expr *new_expr(struct ps *ps, enum ekind k, size_t off)
{
	struct expr *e = palloc(ps->t, sizeof(*e));

	e->k = k;
	e->off = off;
	return e;
}

static int parse_expr(struct ps *ps, struct expr **out);

static int parse_string(struct ps *ps, struct expr *e)
{
	const char *s = ps->ts + 1, *end = ps->ts + ps->tl - 1;
	char *d = palloc(ps->t, ps->tl);
	size_t n = 0;

	for (; s < end; s++) {
		if (*s == '\\' && s + 1 < end) {
			s++;
			switch (*s) {
			case 'n': d[n++] = '\n'; break;
			case 't': d[n++] = '\t'; break;
			case '\\': case '\'': case '"': d[n++] = *s; break;
			default: d[n++] = '\\'; d[n++] = *s; break;
			}
			continue;
		}
		d[n++] = *s;
	}
	e->s = d;
	e->len = n;
	return 0;
}

/*
 * Comma-separated expressions into e->args, up to the token close (left
 * for the caller): a list literal's items, a filter's arguments (args:
 * then name=value is refused, they go by position).
 */
static int parse_items(struct ps *ps, struct expr *e, enum tok close,
		       bool args, const char *what)
{
	int rc;

	while (ps->tok != close) {
		struct expr *item;

		if (args && ps->tok == T_NAME && ps->p < ps->end &&
		    *ps->p == '=')
			return fail(ps->t, ps->toff, CG_ERR,
				    "pass arguments by position",
				    "keyword arguments are not supported");
		if ((rc = parse_expr(ps, &item)) < 0)
			return rc;
		e->args = pgrow(ps->t, e->args,
				(e->nargs + 1) * sizeof(*e->args));
		e->args[e->nargs++] = item;
		if (ps->tok == T_COMMA) {
			if ((rc = next(ps)) < 0)
				return rc;
		} else if (ps->tok != close) {
			return expected(ps, what);
		}
	}
	return 0;
}

static int parse_primary(struct ps *ps, struct expr **out)
{
	struct expr *e = NULL;
	int rc;

	if (ps->tok == T_STR) {
		e = new_expr(ps, E_STR, ps->toff);
		parse_string(ps, e);
	} else if (ps->tok == T_NUM) {
		char buf[64];

		e = new_expr(ps, E_NUM, ps->toff);
		snprintf(buf, sizeof(buf), "%.*s", (int)ps->tl, ps->ts);
		e->num = strtod(buf, NULL);
		e->s = ps->ts;
		e->len = ps->tl;
	} else if (is_word(ps, "true") || is_word(ps, "True") ||
		   is_word(ps, "false") || is_word(ps, "False")) {
		e = new_expr(ps, E_BOOL, ps->toff);
		e->b = ps->ts[0] == 't' || ps->ts[0] == 'T';
	} else if (is_word(ps, "none") || is_word(ps, "None")) {
		e = new_expr(ps, E_NONE, ps->toff);
	} else if (ps->tok == T_NAME) {
		static const char *const reserved[] = { "and", "or", "not",
							"in", "is", "if",
							"else", NULL };
		size_t i;

		for (i = 0; reserved[i]; i++)
			if (is_word(ps, reserved[i]))
				return fail(ps->t, ps->toff, CG_ERR, SUPPORTED,
					    "'%s' is not a value%s",
					    reserved[i],
					    strcmp(reserved[i], "is") == 0
						    ? " (tests with 'is' are "
						      "not supported)"
						    : "");
		e = new_expr(ps, E_NAME, ps->toff);
		e->s = ps->ts;
		e->len = ps->tl;
	} else if (ps->tok == T_LP) {
		size_t off = ps->toff;

		if (++ps->depth > CG_TEMPLATE_MAX_DEPTH)
			return fail(ps->t, off, CG_ERR, NULL,
				    "expression nested more than %d deep",
				    CG_TEMPLATE_MAX_DEPTH);
		if ((rc = next(ps)) < 0 || (rc = parse_expr(ps, &e)) < 0)
			return rc;
		if (ps->tok != T_RP)
			return expected(ps, "')'");
		ps->depth--;
	} else if (ps->tok == T_LBR) {
		e = new_expr(ps, E_LIST, ps->toff);
		if ((rc = next(ps)) < 0 ||
		    (rc = parse_items(ps, e, T_RBR, false, "',' or ']'")) < 0)
			return rc;
	} else {
		return expected(ps, "a value (a name, 'text' or a number)");
	}
	*out = e;
	return next(ps);
}

static int parse_postfix(struct ps *ps, struct expr **out)
{
	struct expr *e = NULL, *x;
	int rc;

	if ((rc = parse_primary(ps, &e)) < 0)
		return rc;
	for (;;) {
		if (ps->tok == T_DOT) {
			const char *dot = ps->ts;

			if ((rc = next(ps)) < 0)
				return rc;
			if (ps->tok != T_NAME && ps->tok != T_NUM)
				return expected(ps, "a name after '.'");
			x = new_expr(ps, E_ATTR, e->off);
			x->a = e;
			x->s = ps->ts;
			x->len = ps->tl;
			/* os.id may be one var named "os.id". */
			if ((e->k == E_NAME || (e->k == E_ATTR && e->flat)) &&
			    ps->ts == dot + 1) {
				const char *base = e->k == E_NAME ? e->s : e->flat;

				if (base + (e->k == E_NAME ? e->len : e->flat_len) ==
				    dot) {
					x->flat = base;
					x->flat_len = (size_t)(ps->ts + ps->tl - base);
				}
			}
			e = x;
			if ((rc = next(ps)) < 0)
				return rc;
		} else if (ps->tok == T_LBR) {
			x = new_expr(ps, E_INDEX, ps->toff);
			x->a = e;
			if ((rc = next(ps)) < 0 ||
			    (rc = parse_expr(ps, &x->b2)) < 0)
				return rc;
			if (ps->tok != T_RBR)
				return expected(ps, "']'");
			e = x;
			if ((rc = next(ps)) < 0)
				return rc;
		} else if (ps->tok == T_LP) {
			return fail(ps->t, ps->toff, CG_ERR, SUPPORTED,
				    "calls are not supported in templates");
		} else {
			break;
		}
	}
	*out = e;
	return 0;
}

static int parse_filtered(struct ps *ps, struct expr **out)
{
	struct expr *e = NULL, *f;
	size_t i;
	int rc;

	if ((rc = parse_postfix(ps, &e)) < 0)
		return rc;
	while (ps->tok == T_PIPE) {
		if ((rc = next(ps)) < 0)
			return rc;
		if (ps->tok != T_NAME)
			return expected(ps, "a filter name after '|'");
		for (i = 0; i < CG_ARRAY_SIZE(filters); i++)
			if (is_word(ps, filters[i].name))
				break;
		if (i == CG_ARRAY_SIZE(filters)) {
			const char *names[CG_ARRAY_SIZE(filters) + 1];
			const char *best;
			char hint[sizeof(ps->t->err->hint)];
			char word[64];
			size_t j;

			for (j = 0; j < CG_ARRAY_SIZE(filters); j++)
				names[j] = filters[j].name;
			names[j] = NULL;
			snprintf(word, sizeof(word), "%.*s", (int)ps->tl,
				 ps->ts);
			best = cg_suggest(word, names);
			snprintf(hint, sizeof(hint),
				 "%s%s%sthe filters are default, join, upper, "
				 "lower, length, replace, trim, indent, "
				 "dictsort",
				 best ? "did you mean '" : "", best ? best : "",
				 best ? "'? " : "");
			return fail(ps->t, ps->toff, CG_ERR, hint,
				    "unknown filter '%s'", word);
		}
		f = new_expr(ps, E_FILTER, ps->toff);
		f->op = (int)i;
		f->a = e;
		f->s = ps->ts;
		f->len = ps->tl;
		if ((rc = next(ps)) < 0)
			return rc;
		if (ps->tok == T_LP) {
			if ((rc = next(ps)) < 0 ||
			    (rc = parse_items(ps, f, T_RP, true, "',' or ')'")) < 0 ||
			    (rc = next(ps)) < 0)
				return rc;
		}
		if (f->nargs < filters[i].min || f->nargs > filters[i].max)
			return fail(ps->t, f->off, CG_ERR, NULL,
				    "filter '%s' takes %zu to %zu arguments, "
				    "not %zu",
				    filters[i].name, filters[i].min,
				    filters[i].max, f->nargs);
		e = f;
	}
	*out = e;
	return 0;
}

static int parse_cmp(struct ps *ps, struct expr **out)
{
	struct expr *e, *x;
	size_t off;
	int rc, op = -1;
	enum ekind k = E_CMP;

	if ((rc = parse_filtered(ps, &e)) < 0)
		return rc;
	off = ps->toff;
	switch (ps->tok) {
	case T_EQ: op = C_EQ; break;
	case T_NE: op = C_NE; break;
	case T_LT: op = C_LT; break;
	case T_GT: op = C_GT; break;
	case T_LE: op = C_LE; break;
	case T_GE: op = C_GE; break;
	default:
		if (is_word(ps, "in")) {
			k = E_IN;
			op = 0;
		} else if (is_word(ps, "not")) {
			if ((rc = next(ps)) < 0)
				return rc;
			if (!is_word(ps, "in"))
				return expected(ps, "'in' after 'not'");
			k = E_NOTIN;
			op = 0;
		} else if (is_word(ps, "is")) {
			return fail(ps->t, ps->toff, CG_ERR,
				    "use | default(...) for a value that may "
				    "be undefined",
				    "tests with 'is' are not supported");
		}
		break;
	}
	if (op >= 0) {
		x = new_expr(ps, k, off);
		x->op = op;
		x->a = e;
		if ((rc = next(ps)) < 0 || (rc = parse_filtered(ps, &x->b2)) < 0)
			return rc;
		e = x;
	}
	*out = e;
	return 0;
}

static int parse_not(struct ps *ps, struct expr **out)
{
	struct expr *e;
	int rc;

	if (is_word(ps, "not")) {
		if (++ps->depth > CG_TEMPLATE_MAX_DEPTH)
			return fail(ps->t, ps->toff, CG_ERR, NULL,
				    "expression nested more than %d deep",
				    CG_TEMPLATE_MAX_DEPTH);
		e = new_expr(ps, E_NOT, ps->toff);
		if ((rc = next(ps)) < 0 || (rc = parse_not(ps, &e->a)) < 0)
			return rc;
		ps->depth--;
		*out = e;
		return 0;
	}
	return parse_cmp(ps, out);
}

static int parse_and(struct ps *ps, struct expr **out)
{
	struct expr *e, *x;
	int rc;

	if ((rc = parse_not(ps, &e)) < 0)
		return rc;
	while (is_word(ps, "and")) {
		x = new_expr(ps, E_AND, ps->toff);
		x->a = e;
		if ((rc = next(ps)) < 0 || (rc = parse_not(ps, &x->b2)) < 0)
			return rc;
		e = x;
	}
	*out = e;
	return 0;
}

static int parse_expr(struct ps *ps, struct expr **out)
{
	struct expr *e, *x;
	int rc;

	if (++ps->depth > CG_TEMPLATE_MAX_DEPTH)
		return fail(ps->t, ps->toff, CG_ERR, NULL,
			    "expression nested more than %d deep",
			    CG_TEMPLATE_MAX_DEPTH);
	if ((rc = parse_and(ps, &e)) < 0)
		return rc;
	while (is_word(ps, "or")) {
		x = new_expr(ps, E_OR, ps->toff);
		x->a = e;
		if ((rc = next(ps)) < 0 || (rc = parse_and(ps, &x->b2)) < 0)
			return rc;
		e = x;
	}
	ps->depth--;
	*out = e;
	return 0;
}

/* --- the parser of statements ------------------------------------------- */

static void ps_init(struct ps *ps, struct tpl *t, const struct part *pt)
{
	memset(ps, 0, sizeof(*ps));
	ps->t = t;
	ps->p = pt->s;
	ps->end = pt->e;
}

static int tag_end(struct ps *ps, const char *tag)
{
	char what[64];

	if (ps->tok == T_END)
		return 0;
	snprintf(what, sizeof(what), "the end of {%% %s %%}", tag);
	return expected(ps, what);
}

static void add_stmt(struct tpl *t, struct body *b, struct stmt *s)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 4;
		b->v = pgrow(t, b->v, b->cap * sizeof(*b->v));
	}
	b->v[b->n++] = s;
}

static int parse_body(struct tpl *t, struct body *b, const char *const *stops,
		      int depth, const char **stop_out, struct ps *ps_out);

static int parse_if(struct tpl *t, struct ps *ps, struct stmt *s, int depth)
{
	const char *const stops[] = { "elif", "else", "endif", NULL };
	const char *stop;
	int rc;

	for (;;) {
		struct expr *cond;

		if ((rc = next(ps)) < 0 || (rc = parse_expr(ps, &cond)) < 0 ||
		    (rc = tag_end(ps, "if")) < 0)
			return rc;
		s->conds = pgrow(t, s->conds, (s->nconds + 1) * sizeof(*s->conds));
		s->bodies = pgrow(t, s->bodies,
				  (s->nconds + 2) * sizeof(*s->bodies));
		memset(&s->bodies[s->nconds], 0, 2 * sizeof(*s->bodies));
		s->conds[s->nconds++] = cond;
		rc = parse_body(t, &s->bodies[s->nconds - 1], stops, depth,
				&stop, ps);
		if (rc < 0)
			return rc;
		if (!stop)
			return fail(t, s->off, CG_ERR, "add {% endif %}",
				    "{%% if %%} is not closed");
		if (strcmp(stop, "elif") == 0)
			continue;
		if (strcmp(stop, "else") == 0) {
			const char *const stops2[] = { "endif", NULL };

			if ((rc = next(ps)) < 0 || (rc = tag_end(ps, "else")) < 0)
				return rc;
			rc = parse_body(t, &s->bodies[s->nconds], stops2, depth,
					&stop, ps);
			if (rc < 0)
				return rc;
			if (!stop)
				return fail(t, s->off, CG_ERR, "add {% endif %}",
					    "{%% if %%} is not closed");
		}
		if ((rc = next(ps)) < 0)
			return rc;
		return tag_end(ps, "endif");
	}
}

static int parse_for(struct tpl *t, struct ps *ps, struct stmt *s, int depth)
{
	const char *const stops[] = { "endfor", NULL };
	const char *stop;
	int rc;

	if ((rc = next(ps)) < 0)
		return rc;
	if (ps->tok != T_NAME || is_word(ps, "in"))
		return expected(ps, "a loop variable");
	s->v1 = ps->ts;
	s->l1 = ps->tl;
	if ((rc = next(ps)) < 0)
		return rc;
	if (ps->tok == T_COMMA) {
		if ((rc = next(ps)) < 0)
			return rc;
		if (ps->tok != T_NAME || is_word(ps, "in"))
			return expected(ps, "a second loop variable");
		s->v2 = ps->ts;
		s->l2 = ps->tl;
		if ((rc = next(ps)) < 0)
			return rc;
	}
	if (!is_word(ps, "in"))
		return expected(ps, "'in'");
	if ((rc = next(ps)) < 0 || (rc = parse_expr(ps, &s->e)) < 0)
		return rc;
	if (is_word(ps, "if") || is_word(ps, "recursive"))
		return fail(t, ps->toff, CG_ERR, SUPPORTED,
			    "'%.*s' in {%% for %%} is not supported",
			    (int)ps->tl, ps->ts);
	if ((rc = tag_end(ps, "for")) < 0)
		return rc;
	rc = parse_body(t, &s->body, stops, depth, &stop, ps);
	if (rc < 0)
		return rc;
	if (!stop)
		return fail(t, s->off, CG_ERR, "add {% endfor %}",
			    "{%% for %%} is not closed");
	if ((rc = next(ps)) < 0)
		return rc;
	return tag_end(ps, "endfor");
}

/*
 * Parse parts into b until a block tag named in stops (returned in
 * *stop_out with its lexer in *ps_out, at the tag's name), or the end
 * (*stop_out NULL).
 */
static int parse_body(struct tpl *t, struct body *b, const char *const *stops,
		      int depth, const char **stop_out, struct ps *ps_out)
{
	static const char *const ends[] = { "elif", "else", "endif", "endfor",
					    NULL };
	int rc;

	*stop_out = NULL;
	if (depth > CG_TEMPLATE_MAX_DEPTH)
		return fail(t, t->pi < t->nparts ? t->parts[t->pi].off : 0,
			    CG_ERR, NULL, "blocks nested more than %d deep",
			    CG_TEMPLATE_MAX_DEPTH);
	while (t->pi < t->nparts) {
		const struct part *pt = &t->parts[t->pi++];
		struct stmt *s = palloc(t, sizeof(*s));
		struct ps ps;
		size_t i;

		s->off = pt->off;
		if (pt->k == P_TEXT) {
			s->k = S_TEXT;
			s->text = pt->s;
			s->len = (size_t)(pt->e - pt->s);
			add_stmt(t, b, s);
			continue;
		}
		ps_init(&ps, t, pt);
		if ((rc = next(&ps)) < 0)
			return rc;
		if (pt->k == P_VAR) {
			if (ps.tok == T_END)
				return fail(t, pt->off, CG_ERR,
					    "write {{ name }} for a variable, "
					    "or {{ '{{' }} for literal braces",
					    "empty {{ }} in template");
			s->k = S_OUT;
			if ((rc = parse_expr(&ps, &s->e)) < 0)
				return rc;
			if (ps.tok != T_END)
				return expected(&ps, "'}}'");
			add_stmt(t, b, s);
			continue;
		}
		for (i = 0; stops && stops[i]; i++)
			if (is_word(&ps, stops[i])) {
				*stop_out = stops[i];
				*ps_out = ps;
				return 0;
			}
		if (is_word(&ps, "if")) {
			s->k = S_IF;
			if ((rc = parse_if(t, &ps, s, depth + 1)) < 0)
				return rc;
		} else if (is_word(&ps, "for")) {
			s->k = S_FOR;
			if ((rc = parse_for(t, &ps, s, depth + 1)) < 0)
				return rc;
		} else {
			for (i = 0; ends[i]; i++)
				if (is_word(&ps, ends[i]))
					return fail(t, pt->off, CG_ERR, NULL,
						    "{%% %s %%} without an "
						    "open block it belongs to",
						    ends[i]);
			if (ps.tok == T_NAME)
				return fail(t, ps.toff, CG_ERR, SUPPORTED,
					    "{%% %.*s %%} is not supported",
					    (int)ps.tl, ps.ts);
			return expected(&ps, "if, elif, else, endif, for or "
					     "endfor");
		}
		add_stmt(t, b, s);
	}
	return 0;
}

/* --- evaluation ---------------------------------------------------------- */

/* A whole number small enough to print exactly (no libm needed). */
static bool is_whole(double x)
{
	return x > -1e15 && x < 1e15 && x == (double)(long long)x;
}

static bool is_number(const char *s, size_t len, double *out)
{
	char buf[64], *end;
	size_t i = 0;

	if (len == 0 || len >= sizeof(buf))
		return false;
	if (s[0] == '-' || s[0] == '+')
		i++;
	if (i >= len || !isdigit((unsigned char)s[i]))
		return false;
	for (; i < len; i++)
		if (!isdigit((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != 'e' && s[i] != 'E' && s[i] != '-' && s[i] != '+')
			return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	*out = strtod(buf, &end);
	return *end == '\0';
}

static bool is_null_word(const char *s)
{
	return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	       strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* A var as a value: a plain YAML scalar may be a number, boolean or null. */
static void from_node(struct tpl *t, const struct cg_node *n, struct val *v)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes",
					   "Yes", "YES", "on", "On", "ON",
					   NULL };
	static const char *const no[] = { "false", "False", "FALSE", "no",
					  "No", "NO", "off", "Off", "OFF",
					  NULL };
	size_t i;

	memset(v, 0, sizeof(*v));
	if (n->kind != CG_NODE_SCALAR) {
		v->k = V_NODE;
		v->node = n;
		return;
	}
	v->s = n->str;
	v->len = n->len;
	v->k = V_STR;
	if (t->vars->reveal && cg_node_is_secret(n)) {
		struct cg_error e;

		/* A secret is text, whatever it looks like decrypted. */
		cg_error_clear(&e);
		int rc = t->vars->reveal(t->vars->cookie, n, &v->s, &v->len,
					 &e);

		if (rc < 0) {
			if (!t->secret_rc) {
				t->secret_rc = rc;
				t->secret_err = e;
			}
			v->s = "";
			v->len = 0;
		}
		return;
	}
	if (!n->plain)
		return;
	if (is_null_word(n->str)) {
		v->k = V_NONE;
		return;
	}
	for (i = 0; yes[i]; i++)
		if (strcmp(n->str, yes[i]) == 0 || strcmp(n->str, no[i]) == 0) {
			v->k = V_BOOL;
			v->b = strcmp(n->str, yes[i]) == 0;
			return;
		}
	if (is_number(n->str, n->len, &v->num))
		v->k = V_NUM;
}

static const char *kind_name(const struct val *v)
{
	switch (v->k) {
	case V_NONE: return "none";
	case V_STR: return "a string";
	case V_NUM: return "a number";
	case V_BOOL: return "a boolean";
	case V_NODE: return v->node->kind == CG_NODE_MAP ? "a map" : "a list";
	case V_LIST: return "a list";
	case V_LOOP: return "loop";
	default: return "undefined";
	}
}

static int undefined(struct tpl *t, const struct val *v)
{
	const char *best = NULL;
	char hint[sizeof(t->err->hint)];

	if (v->node) {
		const char **keys = cg_xcalloc(v->node->len + 1, sizeof(*keys));
		size_t i;

		for (i = 0; i < v->node->len; i++)
			keys[i] = v->node->items[2 * i]->str;
		best = cg_suggest(v->s, keys);
		if (best)
			snprintf(hint, sizeof(hint), "did you mean '%s'?", best);
		else
			snprintf(hint, sizeof(hint),
				 "add the key, or write | default(...)");
		free(keys);
		return fail(t, v->off, CG_ENOTFOUND, hint,
			    "the map has no key '%s'", v->s);
	}
	if (v->s[0] == '[')
		return fail(t, v->off, CG_ENOTFOUND,
			    "write | default(...) for an item that may be "
			    "missing",
			    "index %s is past the end", v->s);
	if (t->vars->names && t->vars->names(t->vars->cookie))
		best = cg_suggest(v->s, t->vars->names(t->vars->cookie));
	if (best)
		snprintf(hint, sizeof(hint), "did you mean '%s'?", best);
	else
		snprintf(hint, sizeof(hint),
			 "define '%s' under vars: in site.yaml, use a fact "
			 "(congruent facts lists them), or write "
			 "{{ %s | default('') }}",
			 v->s, v->s);
	return fail(t, v->off, CG_ENOTFOUND, hint,
		    "unknown variable '%s' in template", v->s);
}

static void set_undef(struct tpl *t, struct val *v, const char *name,
		      size_t len, const struct cg_node *map, size_t off)
{
	char *s = palloc(t, len + 1);

	memcpy(s, name, len);
	memset(v, 0, sizeof(*v));
	v->k = V_UNDEF;
	v->s = s;
	v->len = len;
	v->node = map;
	v->off = off;
}

/* A top-level name: loop variables, then vars, then facts. */
static void lookup_name(struct tpl *t, const char *name, size_t len,
			size_t off, struct val *v)
{
	const struct cg_node *n = NULL;
	const char *s = NULL;
	size_t i;

	for (i = t->nlocals; i-- > 0;)
		if (t->locals[i].len == len &&
		    memcmp(t->locals[i].name, name, len) == 0) {
			*v = t->locals[i].v;
			return;
		}
	if (len >= sizeof(t->namebuf)) {
		set_undef(t, v, name, len, NULL, off);
		return;
	}
	memcpy(t->namebuf, name, len);
	t->namebuf[len] = '\0';
	if (t->vars->lookup_node)
		n = t->vars->lookup_node(t->vars->cookie, t->namebuf);
	if (n) {
		from_node(t, n, v);
		return;
	}
	if (t->vars->lookup)
		s = t->vars->lookup(t->vars->cookie, t->namebuf);
	if (!s) {
		set_undef(t, v, name, len, NULL, off);
		return;
	}
	if (!*s && !t->vars->placeholders && t->vars->empty_fact) {
		unsigned line, col;
		char where[320];

		line_col(t, off, &line, &col);
		snprintf(where, sizeof(where), "%s:%u", t->file, line);
		t->vars->empty_fact(t->vars->cookie, t->namebuf, where);
	}
	memset(v, 0, sizeof(*v));
	v->k = t->vars->placeholders ? V_UNKNOWN : V_STR;
	v->s = s;
	v->len = strlen(s);
}

static bool is_local(const struct tpl *t, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < t->nlocals; i++)
		if (t->locals[i].len == len &&
		    memcmp(t->locals[i].name, name, len) == 0)
			return true;
	return false;
}

/* Items of a list value (a list var or a list made here). */
static size_t count(const struct val *v)
{
	return v->k == V_LIST ? v->n : v->node->len;
}

static void item(struct tpl *t, const struct val *v, size_t i,
		 struct val *out)
{
	if (v->k == V_LIST)
		*out = v->items[i];
	else if (v->node->kind == CG_NODE_SEQ)
		from_node(t, v->node->items[i], out);
	else
		from_node(t, v->node->items[2 * i], out); /* a map's keys */
}

static bool is_list(const struct val *v)
{
	return v->k == V_LIST ||
	       (v->k == V_NODE && v->node->kind == CG_NODE_SEQ);
}

static bool is_map(const struct val *v)
{
	return v->k == V_NODE && v->node->kind == CG_NODE_MAP;
}

static bool is_text(const struct val *v)
{
	return v->k == V_STR || v->k == V_NUM || v->k == V_BOOL ||
	       v->k == V_NONE;
}

static void num_text(struct tpl *t, struct val *v)
{
	char buf[64];
	char *s;

	if (v->s)
		return;
	if (is_whole(v->num))
		snprintf(buf, sizeof(buf), "%.0f", v->num);
	else
		snprintf(buf, sizeof(buf), "%g", v->num);
	s = palloc(t, strlen(buf) + 1);
	strcpy(s, buf);
	v->s = s;
	v->len = strlen(s);
}

/* The text of a scalar value: what {{ }} writes. */
static int text_of(struct tpl *t, struct val *v, size_t off, const char **s,
		   size_t *len)
{
	switch (v->k) {
	case V_UNDEF:
		return undefined(t, v);
	case V_UNKNOWN:
	case V_NONE:
		*s = "";
		*len = 0;
		return 0;
	case V_BOOL:
		if (!v->s) {
			v->s = v->b ? "true" : "false";
			v->len = strlen(v->s);
		}
		break;
	case V_NUM:
		num_text(t, v);
		break;
	case V_STR:
		break;
	default:
		return fail(t, off, CG_ERR,
			    is_list(v) ? "write {{ x | join(', ') }}, or loop "
					 "with {% for %}"
				       : "write {{ x.key }}, or loop with "
					 "{% for k, v in x | dictsort %}",
			    "cannot write %s as text", kind_name(v));
	}
	*s = v->s;
	*len = v->len;
	return 0;
}

static int eval(struct tpl *t, const struct expr *e, struct val *v);

static int truth(struct tpl *t, struct val *v, size_t off, int *out)
{
	switch (v->k) {
	case V_UNDEF: return undefined(t, v);
	case V_UNKNOWN: *out = -1; return 0;
	case V_NONE: *out = 0; return 0;
	case V_BOOL: *out = v->b; return 0;
	case V_NUM: *out = v->num != 0; return 0;
	case V_STR: *out = v->len > 0; return 0;
	case V_NODE:
	case V_LIST: *out = count(v) > 0; return 0;
	default:
		return fail(t, off, CG_ERR, NULL, "loop is not a value");
	}
}

static void set_bool(struct val *v, int b)
{
	memset(v, 0, sizeof(*v));
	if (b < 0) {
		v->k = V_UNKNOWN;
		v->s = "";
		return;
	}
	v->k = V_BOOL;
	v->b = b;
}

static int equal(struct tpl *t, struct val *a, struct val *b, size_t off,
		 int *out)
{
	if (a->k == V_UNDEF)
		return undefined(t, a);
	if (b->k == V_UNDEF)
		return undefined(t, b);
	if (a->k == V_UNKNOWN || b->k == V_UNKNOWN) {
		*out = -1;
		return 0;
	}
	if (a->k == V_NUM && b->k == V_NUM)
		*out = a->num == b->num;
	else if (a->k == V_STR && b->k == V_STR)
		*out = a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
	else if (a->k == V_BOOL && b->k == V_BOOL)
		*out = a->b == b->b;
	else if (a->k == V_NONE || b->k == V_NONE)
		*out = a->k == b->k;
	else if (is_text(a) && is_text(b))
		*out = 0; /* as in Jinja, 1 == "1" is false */
	else
		return fail(t, off, CG_ERR, NULL, "cannot compare %s with %s",
			    kind_name(a), kind_name(b));
	return 0;
}

static bool num_of(const struct val *v, double *out)
{
	if (v->k == V_NUM) {
		*out = v->num;
		return true;
	}
	return v->k == V_STR && is_number(v->s, v->len, out);
}

static int order(struct tpl *t, struct val *a, struct val *b, size_t off,
		 int *out)
{
	double x, y;

	if (a->k == V_UNDEF)
		return undefined(t, a);
	if (b->k == V_UNDEF)
		return undefined(t, b);
	if (a->k == V_UNKNOWN || b->k == V_UNKNOWN)
		return 2;
	/* Facts are strings: "12" compares with 12 as a number. */
	if ((a->k == V_NUM || b->k == V_NUM) && num_of(a, &x) && num_of(b, &y)) {
		*out = x < y ? -1 : x > y;
		return 0;
	}
	if (a->k == V_STR && b->k == V_STR) {
		size_t n = a->len < b->len ? a->len : b->len;
		int c = memcmp(a->s, b->s, n);

		*out = c ? c : a->len < b->len ? -1 : a->len > b->len;
		return 0;
	}
	return fail(t, off, CG_ERR, NULL, "cannot order %s and %s",
		    kind_name(a), kind_name(b));
}

static int contains(struct tpl *t, struct val *needle, struct val *hay,
		    size_t off, int *out)
{
	size_t i;
	int rc;

	if (needle->k == V_UNDEF)
		return undefined(t, needle);
	if (hay->k == V_UNDEF)
		return undefined(t, hay);
	if (needle->k == V_UNKNOWN || hay->k == V_UNKNOWN) {
		*out = -1;
		return 0;
	}
	if (hay->k == V_STR) {
		const char *s;
		size_t len;

		if (!is_text(needle))
			return fail(t, off, CG_ERR, NULL,
				    "'in' a string needs a string, not %s",
				    kind_name(needle));
		if ((rc = text_of(t, needle, off, &s, &len)) < 0)
			return rc;
		*out = len == 0 || (len <= hay->len && memmem(hay->s, hay->len,
							     s, len));
		return 0;
	}
	if (is_map(hay)) {
		*out = 0;
		if (needle->k != V_STR)
			return 0;
		*out = cg_map_get(hay->node, needle->s) != NULL;
		return 0;
	}
	if (!is_list(hay))
		return fail(t, off, CG_ERR, NULL,
			    "'in' needs a list, map or string, not %s",
			    kind_name(hay));
	*out = 0;
	for (i = 0; i < count(hay); i++) {
		struct val x;
		int eq;

		item(t, hay, i, &x);
		if (!is_text(&x) || !is_text(needle))
			continue;
		if ((rc = equal(t, needle, &x, off, &eq)) < 0)
			return rc;
		if (eq == 1) {
			*out = 1;
			return 0;
		}
	}
	return 0;
}

static int get_index(struct tpl *t, struct val *base, struct val *idx,
		     size_t off, struct val *v);

static int get_attr(struct tpl *t, struct val *base, const char *name,
		    size_t len, size_t off, struct val *v)
{
	char key[256];
	const struct cg_node *n;

	if (base->k == V_UNDEF || base->k == V_UNKNOWN) {
		*v = *base;
		return 0;
	}
	if (len >= sizeof(key))
		len = sizeof(key) - 1;
	memcpy(key, name, len);
	key[len] = '\0';
	if (base->k == V_LOOP) {
		const struct loopinfo *li = base->loop;

		memset(v, 0, sizeof(*v));
		if (strcmp(key, "index") == 0 || strcmp(key, "index0") == 0 ||
		    strcmp(key, "length") == 0) {
			v->k = V_NUM;
			v->num = (double)(key[5] == '0' ? li->index
				 : key[0] == 'l'	? li->length
							: li->index + 1);
		} else if (strcmp(key, "first") == 0 ||
			   strcmp(key, "last") == 0) {
			v->k = V_BOOL;
			v->b = key[0] == 'f' ? li->index == 0
					     : li->index + 1 == li->length;
		} else {
			return fail(t, off, CG_ERR,
				    "loop has index, index0, first, last and "
				    "length",
				    "loop has no '%s'", key);
		}
		return 0;
	}
	if (is_list(base) && isdigit((unsigned char)key[0])) {
		struct val idx;

		memset(&idx, 0, sizeof(idx));
		idx.k = V_NUM;
		idx.num = strtod(key, NULL);
		return get_index(t, base, &idx, off, v);
	}
	if (!is_map(base))
		return fail(t, off, CG_ERR,
			    "only maps have keys: write x.key on a map",
			    "%s has no key '%s'", kind_name(base), key);
	n = cg_map_get(base->node, key);
	if (!n) {
		set_undef(t, v, name, len, base->node, off);
		return 0;
	}
	from_node(t, n, v);
	return 0;
}

static int get_index(struct tpl *t, struct val *base, struct val *idx,
		     size_t off, struct val *v)
{
	const char *s;
	size_t len;
	int rc;

	if (base->k == V_UNDEF || base->k == V_UNKNOWN) {
		*v = *base;
		return 0;
	}
	if (idx->k == V_UNDEF)
		return undefined(t, idx);
	if (idx->k == V_UNKNOWN) {
		*v = *idx;
		return 0;
	}
	if (is_list(base)) {
		long i, n = (long)count(base);

		if (idx->k != V_NUM || !is_whole(idx->num))
			return fail(t, off, CG_ERR, NULL,
				    "a list index must be a whole number, not "
				    "%s",
				    kind_name(idx));
		i = (long)idx->num;
		if (i < 0)
			i += n;
		if (i < 0 || i >= n) {
			char name[64];

			/* Undefined, as in Jinja: | default(...) applies. */
			snprintf(name, sizeof(name), "[%.0f] of a list of %ld",
				 idx->num, n);
			set_undef(t, v, name, strlen(name), NULL, off);
			return 0;
		}
		item(t, base, (size_t)i, v);
		return 0;
	}
	if (is_map(base)) {
		if (!is_text(idx))
			return fail(t, off, CG_ERR, NULL,
				    "a map key must be text, not %s",
				    kind_name(idx));
		if ((rc = text_of(t, idx, off, &s, &len)) < 0)
			return rc;
		return get_attr(t, base, s, len, off, v);
	}
	return fail(t, off, CG_ERR, NULL, "cannot index %s", kind_name(base));
}

static int cmp_keys(const void *a, const void *b)
{
	const struct val *x = ((const struct val *)a)->items;
	const struct val *y = ((const struct val *)b)->items;
	int c = strcasecmp(x->s, y->s);

	return c ? c : strcmp(x->s, y->s);
}

/* Text arguments of a filter (0..2). */
static int arg_text(struct tpl *t, const struct expr *f, size_t i,
		    struct val *v, const char **s, size_t *len)
{
	int rc;

	if ((rc = eval(t, f->args[i], v)) < 0)
		return rc;
	if (!is_text(v) && v->k != V_UNDEF)
		return fail(t, f->args[i]->off, CG_ERR, NULL,
			    "argument %zu of '%s' must be text, not %s", i + 1,
			    filters[f->op].name, kind_name(v));
	return text_of(t, v, f->args[i]->off, s, len);
}

static int str_val(struct val *v, char *s, size_t len)
{
	memset(v, 0, sizeof(*v));
	v->k = V_STR;
	v->s = s;
	v->len = len;
	s[len] = '\0';
	return 0;
}

static int filter(struct tpl *t, const struct expr *f, struct val *v)
{
	struct val a, b;
	const char *s, *as, *bs;
	size_t len, alen, blen, i, n;
	char *d;
	int rc;

	if (f->op == F_DEFAULT) {
		int tr;

		if (v->k == V_UNDEF)
			return eval(t, f->args[0], v);
		if (f->nargs == 2) {
			int falsy;

			/* default(x, true): also for a false or empty value */
			if ((rc = eval(t, f->args[1], &b)) < 0 ||
			    (rc = truth(t, &b, f->args[1]->off, &tr)) < 0)
				return rc;
			if (tr == 1) {
				if ((rc = truth(t, v, f->off, &falsy)) < 0)
					return rc;
				if (falsy == 0)
					return eval(t, f->args[0], v);
			}
		}
		return 0;
	}
	if (v->k == V_UNDEF)
		return undefined(t, v);
	if (v->k == V_UNKNOWN)
		return 0;
	switch (f->op) {
	case F_LENGTH:
		if (is_list(v) || is_map(v))
			n = count(v);
		else if (v->k == V_STR)
			n = v->len;
		else
			return fail(t, f->off, CG_ERR, NULL,
				    "length of %s", kind_name(v));
		memset(v, 0, sizeof(*v));
		v->k = V_NUM;
		v->num = (double)n;
		return 0;
	case F_JOIN: {
		struct cg_buf out = { 0 };

		as = "";
		alen = 0;
		if (f->nargs && (rc = arg_text(t, f, 0, &a, &as, &alen)) < 0)
			return rc;
		if (!is_list(v))
			return fail(t, f->off, CG_ERR, NULL,
				    "join needs a list, not %s", kind_name(v));
		cg_buf_add(&out, "", 0);
		for (i = 0; i < count(v); i++) {
			struct val x;

			item(t, v, i, &x);
			if (x.k == V_UNKNOWN)
				continue;
			if ((rc = text_of(t, &x, f->off, &s, &len)) < 0) {
				cg_buf_release(&out);
				return rc;
			}
			if (out.len + len + alen > CG_TEMPLATE_OUT_MAX) {
				cg_buf_release(&out);
				pstr(t, CG_TEMPLATE_OUT_MAX + 1, f->off);
				return CG_ERR;
			}
			if (i)
				cg_buf_add(&out, as, alen);
			cg_buf_add(&out, s, len);
		}
		d = pstr(t, out.len, f->off);
		if (d)
			memcpy(d, out.data, out.len);
		len = out.len;
		cg_buf_release(&out);
		return d ? str_val(v, d, len) : CG_ERR;
	}
	case F_DICTSORT: {
		struct val *items;

		if (!is_map(v))
			return fail(t, f->off, CG_ERR, NULL,
				    "dictsort needs a map, not %s",
				    kind_name(v));
		n = v->node->len;
		items = palloc(t, (n ? n : 1) * sizeof(*items));
		for (i = 0; i < n; i++) {
			struct val *pair = palloc(t, 2 * sizeof(*pair));

			from_node(t, v->node->items[2 * i], &pair[0]);
			pair[0].k = V_STR; /* keys are strings */
			from_node(t, v->node->items[2 * i + 1], &pair[1]);
			items[i].k = V_LIST;
			items[i].items = pair;
			items[i].n = 2;
		}
		qsort(items, n, sizeof(*items), cmp_keys);
		memset(v, 0, sizeof(*v));
		v->k = V_LIST;
		v->items = items;
		v->n = n;
		return 0;
	}
	default:
		break;
	}
	/* The rest work on text. */
	if (!is_text(v))
		return fail(t, f->off, CG_ERR, NULL, "'%s' needs text, not %s",
			    filters[f->op].name, kind_name(v));
	if ((rc = text_of(t, v, f->off, &s, &len)) < 0)
		return rc;
	switch (f->op) {
	case F_UPPER:
	case F_LOWER:
		if (!(d = pstr(t, len, f->off)))
			return CG_ERR;
		for (i = 0; i < len; i++)
			d[i] = (char)(f->op == F_UPPER
					      ? toupper((unsigned char)s[i])
					      : tolower((unsigned char)s[i]));
		return str_val(v, d, len);
	case F_TRIM:
		while (len && is_ws(*s))
			s++, len--;
		while (len && is_ws(s[len - 1]))
			len--;
		if (!(d = pstr(t, len, f->off)))
			return CG_ERR;
		memcpy(d, s, len);
		return str_val(v, d, len);
	case F_REPLACE: {
		struct cg_buf out = { 0 };
		const char *p = s, *end = s + len, *m;

		if ((rc = arg_text(t, f, 0, &a, &as, &alen)) < 0 ||
		    (rc = arg_text(t, f, 1, &b, &bs, &blen)) < 0)
			return rc;
		if (alen == 0)
			return fail(t, f->args[0]->off, CG_ERR, NULL,
				    "replace of an empty string");
		cg_buf_add(&out, "", 0);
		while ((m = memmem(p, (size_t)(end - p), as, alen))) {
			cg_buf_add(&out, p, (size_t)(m - p));
			cg_buf_add(&out, bs, blen);
			p = m + alen;
			if (out.len > CG_TEMPLATE_OUT_MAX)
				break;
		}
		cg_buf_add(&out, p, (size_t)(end - p));
		d = out.len <= CG_TEMPLATE_OUT_MAX ? pstr(t, out.len, f->off)
						   : pstr(t, CG_TEMPLATE_OUT_MAX + 1,
							  f->off);
		if (d)
			memcpy(d, out.data, out.len);
		len = out.len;
		cg_buf_release(&out);
		return d ? str_val(v, d, len) : CG_ERR;
	}
	case F_INDENT: {
		struct cg_buf out = { 0 };
		size_t width = 4;
		int first = 0;
		const char *p = s, *end = s + len;
		bool at_start = true;

		if (f->nargs >= 1) {
			if ((rc = eval(t, f->args[0], &a)) < 0)
				return rc;
			if (a.k != V_NUM || a.num < 0 || a.num > 256 ||
			    !is_whole(a.num))
				return fail(t, f->args[0]->off, CG_ERR, NULL,
					    "indent width must be a number "
					    "from 0 to 256");
			width = (size_t)a.num;
		}
		if (f->nargs >= 2) {
			if ((rc = eval(t, f->args[1], &b)) < 0 ||
			    (rc = truth(t, &b, f->args[1]->off, &first)) < 0)
				return rc;
		}
		cg_buf_add(&out, "", 0);
		for (; p < end; p++) {
			/* Blank lines stay blank, as in Jinja. */
			if (at_start && *p != '\n' &&
			    (first == 1 || p != s))
				for (i = 0; i < width; i++)
					cg_buf_add(&out, " ", 1);
			cg_buf_add(&out, p, 1);
			at_start = *p == '\n';
			if (out.len > CG_TEMPLATE_OUT_MAX)
				break;
		}
		d = pstr(t, out.len <= CG_TEMPLATE_OUT_MAX
				    ? out.len
				    : CG_TEMPLATE_OUT_MAX + 1,
			 f->off);
		if (d)
			memcpy(d, out.data, out.len);
		len = out.len;
		cg_buf_release(&out);
		return d ? str_val(v, d, len) : CG_ERR;
	}
	default:
		return fail(t, f->off, CG_ERR, NULL, "unknown filter");
	}
}

static int eval(struct tpl *t, const struct expr *e, struct val *v)
{
	struct val a, b;
	int rc, x, y;
	size_t i;

	memset(v, 0, sizeof(*v));
	switch (e->k) {
	case E_STR:
		v->k = V_STR;
		v->s = e->s;
		v->len = e->len;
		return 0;
	case E_NUM:
		v->k = V_NUM;
		v->num = e->num;
		return 0;
	case E_BOOL:
		v->k = V_BOOL;
		v->b = e->b;
		return 0;
	case E_NONE:
		v->k = V_NONE;
		return 0;
	case E_LIST:
		v->k = V_LIST;
		v->n = e->nargs;
		v->items = palloc(t, (e->nargs ? e->nargs : 1) * sizeof(*v->items));
		for (i = 0; i < e->nargs; i++)
			if ((rc = eval(t, e->args[i], &v->items[i])) < 0)
				return rc;
		return 0;
	case E_NAME:
		lookup_name(t, e->s, e->len, e->off, v);
		return 0;
	case E_ATTR:
		if (e->flat) {
			const struct expr *root = e->a;
			struct val fv;

			while (root->k == E_ATTR)
				root = root->a;
			if (!is_local(t, root->s, root->len)) {
				lookup_name(t, e->flat, e->flat_len, e->off, &fv);
				if (fv.k != V_UNDEF) {
					*v = fv;
					return 0;
				}
				if ((rc = eval(t, e->a, &a)) < 0)
					return rc;
				/* Neither "a.b" nor a: name the whole. */
				if (a.k == V_UNDEF && !a.node) {
					*v = fv;
					return 0;
				}
				return get_attr(t, &a, e->s, e->len, e->off, v);
			}
		}
		if ((rc = eval(t, e->a, &a)) < 0)
			return rc;
		return get_attr(t, &a, e->s, e->len, e->off, v);
	case E_INDEX:
		if ((rc = eval(t, e->a, &a)) < 0 || (rc = eval(t, e->b2, &b)) < 0)
			return rc;
		return get_index(t, &a, &b, e->off, v);
	case E_FILTER:
		if ((rc = eval(t, e->a, v)) < 0)
			return rc;
		return filter(t, e, v);
	case E_NOT:
		if ((rc = eval(t, e->a, &a)) < 0 ||
		    (rc = truth(t, &a, e->a->off, &x)) < 0)
			return rc;
		set_bool(v, x < 0 ? -1 : !x);
		return 0;
	case E_AND:
	case E_OR:
		if ((rc = eval(t, e->a, &a)) < 0 ||
		    (rc = truth(t, &a, e->a->off, &x)) < 0)
			return rc;
		/* Like Jinja, the right side is only looked at if needed. */
		if (x == (e->k == E_OR)) {
			set_bool(v, x);
			return 0;
		}
		if ((rc = eval(t, e->b2, &b)) < 0 ||
		    (rc = truth(t, &b, e->b2->off, &y)) < 0)
			return rc;
		if (x < 0 || y < 0)
			set_bool(v, e->k == E_OR && y == 1 ? 1
				    : e->k == E_AND && y == 0 ? 0 : -1);
		else
			set_bool(v, y);
		return 0;
	case E_CMP:
		if ((rc = eval(t, e->a, &a)) < 0 || (rc = eval(t, e->b2, &b)) < 0)
			return rc;
		if (e->op == C_EQ || e->op == C_NE) {
			if ((rc = equal(t, &a, &b, e->off, &x)) < 0)
				return rc;
			set_bool(v, x < 0 ? -1 : e->op == C_EQ ? x : !x);
			return 0;
		}
		rc = order(t, &a, &b, e->off, &x);
		if (rc < 0)
			return rc;
		if (rc == 2) {
			set_bool(v, -1);
			return 0;
		}
		set_bool(v, e->op == C_LT   ? x < 0
			    : e->op == C_GT ? x > 0
			    : e->op == C_LE ? x <= 0
					    : x >= 0);
		return 0;
	case E_IN:
	case E_NOTIN:
		if ((rc = eval(t, e->a, &a)) < 0 || (rc = eval(t, e->b2, &b)) < 0 ||
		    (rc = contains(t, &a, &b, e->off, &x)) < 0)
			return rc;
		set_bool(v, x < 0 ? -1 : e->k == E_IN ? x : !x);
		return 0;
	}
	return fail(t, e->off, CG_ERR, NULL, "bad expression");
}

static int emit(struct tpl *t, const char *s, size_t len, size_t off)
{
	if (len > CG_TEMPLATE_OUT_MAX - t->out->len)
		return fail(t, off, CG_ERR,
			    "a var this large belongs in a source: file, not "
			    "a template",
			    "template renders to more than %u MiB",
			    CG_TEMPLATE_OUT_MAX >> 20);
	cg_buf_add(t->out, s, len);
	return 0;
}

static int exec_body(struct tpl *t, const struct body *b);

static void push_local(struct tpl *t, const char *name, size_t len,
		       const struct val *v)
{
	cg_grow(&t->locals, &t->caplocals, t->nlocals + 1, sizeof(*t->locals));
	t->locals[t->nlocals].name = name;
	t->locals[t->nlocals].len = len;
	t->locals[t->nlocals].v = *v;
	t->nlocals++;
}

static int exec_for(struct tpl *t, const struct stmt *s)
{
	struct val coll, x, lv;
	struct loopinfo li = { 0, 0 };
	size_t base = t->nlocals, i;
	int rc = 0;

	if ((rc = eval(t, s->e, &coll)) < 0)
		return rc;
	if (coll.k == V_UNDEF)
		return undefined(t, &coll);
	memset(&lv, 0, sizeof(lv));
	lv.k = V_LOOP;
	lv.loop = &li;
	if (coll.k == V_UNKNOWN) {
		/* check: render the body once, to check it. */
		li.length = 1;
		push_local(t, s->v1, s->l1, &coll);
		if (s->v2)
			push_local(t, s->v2, s->l2, &coll);
		push_local(t, "loop", 4, &lv);
		rc = exec_body(t, &s->body);
		t->nlocals = base;
		return rc;
	}
	if (!is_list(&coll) && !is_map(&coll))
		return fail(t, s->e->off, CG_ERR,
			    "loop over a list, or a map with | dictsort",
			    "cannot loop over %s", kind_name(&coll));
	if (s->v2 && !is_list(&coll))
		return fail(t, s->e->off, CG_ERR,
			    "write {% for k, v in x | dictsort %}",
			    "two loop variables need a list of pairs, not %s",
			    kind_name(&coll));
	li.length = count(&coll);
	for (i = 0; i < li.length; i++) {
		if (++t->iters > CG_TEMPLATE_MAX_ITER)
			return fail(t, s->off, CG_ERR, NULL,
				    "template loops more than %lu times",
				    CG_TEMPLATE_MAX_ITER);
		li.index = i;
		item(t, &coll, i, &x);
		t->nlocals = base;
		if (s->v2) {
			struct val k, v;

			if (!is_list(&x) || count(&x) != 2)
				return fail(t, s->e->off, CG_ERR,
					    "write {% for k, v in x | "
					    "dictsort %}",
					    "item %zu is not a pair", i + 1);
			item(t, &x, 0, &k);
			item(t, &x, 1, &v);
			push_local(t, s->v1, s->l1, &k);
			push_local(t, s->v2, s->l2, &v);
		} else {
			push_local(t, s->v1, s->l1, &x);
		}
		push_local(t, "loop", 4, &lv);
		if ((rc = exec_body(t, &s->body)) < 0)
			break;
	}
	t->nlocals = base;
	return rc;
}

static int exec_body(struct tpl *t, const struct body *b)
{
	size_t i, j;
	int rc;

	for (i = 0; i < b->n; i++) {
		const struct stmt *s = b->v[i];
		struct val v;
		const char *text;
		size_t len;

		switch (s->k) {
		case S_TEXT:
			if ((rc = emit(t, s->text, s->len, s->off)) < 0)
				return rc;
			break;
		case S_OUT:
			if ((rc = eval(t, s->e, &v)) < 0 ||
			    (rc = text_of(t, &v, s->e->off, &text, &len)) < 0 ||
			    (rc = emit(t, text, len, s->e->off)) < 0)
				return rc;
			break;
		case S_IF:
			for (j = 0; j < s->nconds; j++) {
				int x;

				if ((rc = eval(t, s->conds[j], &v)) < 0 ||
				    (rc = truth(t, &v, s->conds[j]->off, &x)) < 0)
					return rc;
				if (x == 0)
					continue;
				/* check: a branch on a fact; try them all. */
				if ((rc = exec_body(t, &s->bodies[j])) < 0)
					return rc;
				if (x == 1)
					break;
			}
			if (j == s->nconds &&
			    (rc = exec_body(t, &s->bodies[j])) < 0)
				return rc;
			break;
		case S_FOR:
			if ((rc = exec_for(t, s)) < 0)
				return rc;
			break;
		}
	}
	return 0;
}

bool cg_node_is_secret(const struct cg_node *n)
{
	return n && n->kind == CG_NODE_SCALAR &&
	       strncmp(n->str, CG_TEMPLATE_SECRET_PREFIX,
		       sizeof(CG_TEMPLATE_SECRET_PREFIX) - 1) == 0;
}

int cg_template_render(const char *text, size_t len, const char *file,
		       const struct cg_template_vars *vars, struct cg_buf *out,
		       struct cg_error *err)
{
	struct tpl t;
	struct body top = { 0 };
	struct ps ps;
	const char *stop;
	size_t i;
	int rc;

	memset(&t, 0, sizeof(t));
	t.text = text;
	t.len = len;
	t.file = file;
	t.vars = vars;
	t.out = out;
	t.err = err;
	cg_buf_add(out, "", 0);
	rc = split(&t);
	if (rc == 0)
		rc = parse_body(&t, &top, NULL, 0, &stop, &ps);
	if (rc == 0)
		rc = exec_body(&t, &top);
	if (rc == 0 && t.secret_rc) {
		rc = t.secret_rc;
		if (err)
			*err = t.secret_err;
	}
	for (i = 0; i < t.nallocs; i++)
		free(t.allocs[i]);
	free(t.allocs);
	free(t.locals);
	free(t.parts);
	return rc;
}
