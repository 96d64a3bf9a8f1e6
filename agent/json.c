/* json.c: writing JSON text with correct escaping. */
#include <inttypes.h>
#include <string.h>

#include "cg/json.h"

void cg_json_init(struct cg_json *j, struct cg_buf *out, bool pretty)
{
	memset(j, 0, sizeof(*j));
	j->out = out;
	j->pretty = pretty;
	j->first[0] = true;
}

static void newline(struct cg_json *j)
{
	int i;

	if (!j->pretty)
		return;
	cg_buf_addch(j->out, '\n');
	for (i = 0; i < j->depth; i++)
		cg_buf_addstr(j->out, "  ");
}

void cg_json_init_file(struct cg_json *j, struct cg_buf *out, FILE *sink,
		       bool pretty)
{
	cg_json_init(j, out, pretty);
	j->sink = sink;
}

void cg_json_flush(struct cg_json *j)
{
	if (!j->sink || !j->out->len)
		return;
	fwrite(j->out->data, 1, j->out->len, j->sink);
	cg_buf_reset(j->out);
}

/* Before any value or key: a comma and indentation as needed. */
static void sep(struct cg_json *j)
{
	if (j->sink && j->out->len >= 65536)
		cg_json_flush(j);
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (!j->first[j->depth])
		cg_buf_addch(j->out, ',');
	j->first[j->depth] = false;
	if (j->depth > 0)
		newline(j);
}

static void open_level(struct cg_json *j, char c)
{
	sep(j);
	cg_buf_addch(j->out, c);
	if (j->depth + 1 < CG_JSON_MAX_DEPTH)
		j->depth++;
	j->first[j->depth] = true;
}

static void close_level(struct cg_json *j, char c)
{
	bool empty = j->first[j->depth];

	if (j->depth > 0)
		j->depth--;
	if (!empty)
		newline(j);
	cg_buf_addch(j->out, c);
}

void cg_json_obj_begin(struct cg_json *j)
{
	open_level(j, '{');
}

void cg_json_obj_end(struct cg_json *j)
{
	close_level(j, '}');
}

void cg_json_arr_begin(struct cg_json *j)
{
	open_level(j, '[');
}

void cg_json_arr_end(struct cg_json *j)
{
	close_level(j, ']');
}

static void write_string(struct cg_buf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	cg_buf_addch(out, '"');
	while (i < len) {
		unsigned char c = p[i];
		size_t n, run;

		/* Plain printable ASCII, the common case, in one piece. */
		for (run = i; run < len && p[run] >= 0x20 && p[run] < 0x7f &&
			      p[run] != '"' && p[run] != '\\';
		     run++)
			;
		if (run > i) {
			cg_buf_add(out, p + i, run - i);
			i = run;
			continue;
		}
		switch (c) {
		case '"':
			cg_buf_addstr(out, "\\\"");
			i++;
			continue;
		case '\\':
			cg_buf_addstr(out, "\\\\");
			i++;
			continue;
		case '\n':
			cg_buf_addstr(out, "\\n");
			i++;
			continue;
		case '\t':
			cg_buf_addstr(out, "\\t");
			i++;
			continue;
		case '\r':
			cg_buf_addstr(out, "\\r");
			i++;
			continue;
		default:
			break;
		}
		if (c < 0x20 || c == 0x7f) {
			cg_buf_addf(out, "\\u%04x", c);
			i++;
			continue;
		}
		n = cg_utf8_len(p + i, len - i);
		if (n == 0) {
			cg_buf_addstr(out, "\xef\xbf\xbd");
			i++;
			continue;
		}
		cg_buf_add(out, p + i, n);
		i += n;
	}
	cg_buf_addch(out, '"');
}

void cg_json_key(struct cg_json *j, const char *key)
{
	sep(j);
	write_string(j->out, key, strlen(key));
	cg_buf_addstr(j->out, j->pretty ? ": " : ":");
	j->after_key = true;
}

void cg_json_strn(struct cg_json *j, const char *s, size_t len)
{
	sep(j);
	write_string(j->out, s, len);
}

void cg_json_str(struct cg_json *j, const char *s)
{
	if (!s) {
		cg_json_null(j);
		return;
	}
	cg_json_strn(j, s, strlen(s));
}

void cg_json_int(struct cg_json *j, int64_t v)
{
	char buf[24], *p = buf + sizeof(buf);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	sep(j);
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	cg_buf_add(j->out, p, (size_t)(buf + sizeof(buf) - p));
}

void cg_json_bool(struct cg_json *j, bool v)
{
	sep(j);
	cg_buf_addstr(j->out, v ? "true" : "false");
}

void cg_json_null(struct cg_json *j)
{
	sep(j);
	cg_buf_addstr(j->out, "null");
}

void cg_json_kstr(struct cg_json *j, const char *key, const char *s)
{
	cg_json_key(j, key);
	cg_json_str(j, s);
}

void cg_json_kint(struct cg_json *j, const char *key, int64_t v)
{
	cg_json_key(j, key);
	cg_json_int(j, v);
}

void cg_json_kbool(struct cg_json *j, const char *key, bool v)
{
	cg_json_key(j, key);
	cg_json_bool(j, v);
}
