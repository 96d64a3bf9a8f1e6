/* template.c: {{ name }} substitution, strict about typos. */
#include <ctype.h>
#include <string.h>

#include "cg/template.h"

static bool name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.';
}

static unsigned line_of(const char *text, const char *p)
{
	unsigned line = 1;

	for (; text < p; text++)
		if (*text == '\n')
			line++;
	return line;
}

int cg_template_render(const char *text, size_t len, const char *file,
		       const struct cg_template_vars *vars, struct cg_buf *out,
		       struct cg_error *err)
{
	const char *p = text, *end = text + len, *open = NULL;

	cg_buf_add(out, "", 0);
	while (p < end) {
		const char *q, *name, *close;
		size_t nlen;
		char key[256];
		const char *val;

		open = NULL;
		for (q = p; q + 1 < end; q++)
			if (q[0] == '{' && q[1] == '{') {
				open = q;
				break;
			}
		if (!open) {
			cg_buf_add(out, p, (size_t)(end - p));
			break;
		}
		cg_buf_add(out, p, (size_t)(open - p));
		q = open + 2;
		while (q < end && (*q == ' ' || *q == '\t'))
			q++;
		if (q < end && (*q == '\'' || *q == '"')) {
			/* A quoted literal: {{ '{{' }} */
			char quote = *q++;
			const char *lit = q;

			while (q < end && *q != quote && *q != '\n')
				q++;
			if (q >= end || *q != quote)
				goto bad;
			nlen = (size_t)(q - lit);
			q++;
			while (q < end && (*q == ' ' || *q == '\t'))
				q++;
			if (end - q < 2 || q[0] != '}' || q[1] != '}')
				goto bad;
			cg_buf_add(out, lit, nlen);
			p = q + 2;
			continue;
		}
		name = q;
		while (q < end && name_char(*q))
			q++;
		nlen = (size_t)(q - name);
		while (q < end && (*q == ' ' || *q == '\t'))
			q++;
		close = q;
		if (nlen == 0 || nlen >= sizeof(key) || end - close < 2 ||
		    close[0] != '}' || close[1] != '}')
			goto bad;
		memcpy(key, name, nlen);
		key[nlen] = '\0';
		val = vars->lookup(vars->cookie, key);
		if (!val) {
			const char *best = NULL;

			cg_error_set(err, CG_ENOTFOUND,
				     "unknown variable '%s' in template", key);
			cg_error_where(err, "%s:%u", file, line_of(text, open));
			if (vars->names && vars->names(vars->cookie))
				best = cg_suggest(key, vars->names(vars->cookie));
			if (best)
				cg_error_hint(err, "did you mean '%s'?", best);
			else
				cg_error_hint(err, "define '%s' under vars: in "
						   "site.yaml, or use a fact "
						   "(congruent facts lists them)",
					      key);
			return CG_ENOTFOUND;
		}
		/*
		 * The template is bounded, its vars are, but not what they
		 * multiply to: a 1 MiB var named 100,000 times.
		 */
		if (strlen(val) > CG_TEMPLATE_OUT_MAX - out->len) {
			cg_error_set(err, CG_ERR,
				     "template renders to more than %u MiB "
				     "(at '%s')",
				     CG_TEMPLATE_OUT_MAX >> 20, key);
			cg_error_where(err, "%s:%u", file, line_of(text, open));
			cg_error_hint(err, "a var this large belongs in a "
					   "source: file, not a template");
			return CG_ERR;
		}
		cg_buf_addstr(out, val);
		p = close + 2;
	}
	return 0;

bad:
	cg_error_set(err, CG_ERR, "malformed '{{' in template");
	cg_error_where(err, "%s:%u", file, line_of(text, open));
	cg_error_hint(err, "write {{ name }} for a variable, or {{ '{{' }} "
			   "for literal braces");
	return CG_ERR;
}
