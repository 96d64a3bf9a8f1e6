/* util.c: memory, buffers, strings, time. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cg/util.h"

static void oom(size_t n)
{
	fprintf(stderr, "congruent: out of memory (allocating %zu bytes)\n", n);
	abort();
}

void *cg_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom(n);
	return p;
}

void *cg_xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (!p)
		oom(nmemb * size);
	return p;
}

void *cg_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		oom(n);
	return q;
}

char *cg_xstrdup(const char *s)
{
	return cg_xstrndup(s, strlen(s));
}

char *cg_xstrndup(const char *s, size_t n)
{
	char *p = cg_xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *cg_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom(strlen(fmt));
	return s;
}

void cg_grow(void *pp, size_t *cap, size_t need, size_t size)
{
	void **p = pp;
	size_t n = *cap;

	if (need <= n)
		return;
	n = n ? n : 8;
	while (n < need)
		n *= 2;
	*p = cg_xrealloc(*p, n * size);
	*cap = n;
}

void cg_buf_add(struct cg_buf *b, const void *data, size_t len)
{
	cg_grow(&b->data, &b->cap, b->len + len + 1, 1);
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void cg_buf_addstr(struct cg_buf *b, const char *s)
{
	cg_buf_add(b, s, strlen(s));
}

void cg_buf_addch(struct cg_buf *b, char c)
{
	cg_buf_add(b, &c, 1);
}

void cg_buf_addf(struct cg_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	cg_grow(&b->data, &b->cap, b->len + (size_t)n + 1, 1);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

char *cg_buf_detach(struct cg_buf *b, size_t *len_out)
{
	char *p = b->data;

	if (!p)
		p = cg_xstrdup("");
	if (len_out)
		*len_out = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

void cg_buf_reset(struct cg_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void cg_buf_release(struct cg_buf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int cg_read_fd(int fd, struct cg_buf *b, size_t max, struct cg_error *err)
{
	for (;;) {
		ssize_t n;

		cg_grow(&b->data, &b->cap, b->len + 65536 + 1, 1);
		n = read(fd, b->data + b->len, 65536);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return cg_error_sys(err, CG_ERR, "read failed");
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
		if (b->len > max)
			return cg_error_set(err, CG_ERR,
					    "larger than the limit of %zu bytes",
					    max);
	}
	if (b->data)
		b->data[b->len] = '\0';
	return 0;
}

int cg_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

size_t cg_utf8_len(const unsigned char *p, size_t left)
{
	size_t n, k;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n > left)
		return 0;
	for (k = 1; k < n; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[k] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

bool cg_str_starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool cg_str_ends(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

static size_t min3(size_t a, size_t b, size_t c)
{
	size_t m = a < b ? a : b;

	return m < c ? m : c;
}

size_t cg_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, d;
	size_t *prev2, *prev, *cur, *tmp;

	/* Keys and ids are short; anything long is not a typo of them. */
	if (la > 256 || lb > 256)
		return (size_t)-1;
	prev2 = cg_xcalloc(lb + 1, sizeof(size_t));
	prev = cg_xcalloc(lb + 1, sizeof(size_t));
	cur = cg_xcalloc(lb + 1, sizeof(size_t));
	for (j = 0; j <= lb; j++)
		prev[j] = j;
	for (i = 1; i <= la; i++) {
		cur[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;

			cur[j] = min3(prev[j] + 1, cur[j - 1] + 1,
				      prev[j - 1] + cost);
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < cur[j])
				cur[j] = prev2[j - 2] + 1;
		}
		tmp = prev2;
		prev2 = prev;
		prev = cur;
		cur = tmp;
	}
	d = prev[lb];
	free(prev2);
	free(prev);
	free(cur);
	return d;
}

const char *cg_suggest_n(const char *word, const char *const *cands, size_t n)
{
	size_t best = (size_t)-1, limit, wlen = strlen(word), i;
	const char *pick = NULL;

	limit = wlen / 3;
	if (limit < 2)
		limit = 2;
	for (i = 0; i < n; i++) {
		size_t clen = strlen(cands[i]);
		size_t d = cg_edit_distance(word, cands[i]);

		/*
		 * A distance as large as the longer of the two means every
		 * character was replaced: nothing typed survives, so it is
		 * not a typo ("on" is not a misspelt "id").
		 */
		if (d >= (wlen > clen ? wlen : clen))
			continue;
		if (d < best) {
			best = d;
			pick = cands[i];
		}
	}
	return best <= limit ? pick : NULL;
}

const char *cg_suggest(const char *word, const char *const *cands)
{
	size_t n = 0;

	while (cands[n])
		n++;
	return cg_suggest_n(word, cands, n);
}

uint64_t cg_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void cg_time_iso(char out[32], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

bool cg_is_text(const char *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		size_t k, n;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0 && c >= 0xc2)
			n = 1;
		else if ((c & 0xf0) == 0xe0)
			n = 2;
		else if ((c & 0xf8) == 0xf0 && c <= 0xf4)
			n = 3;
		else
			return false;
		if (i + n >= len)
			return false;
		for (k = 1; k <= n; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
		/*
		 * The second byte's range rules out what the lead byte alone
		 * cannot: overlong forms (E0 80..9F, F0 80..8F), UTF-16
		 * surrogates (ED A0..BF) and code points past U+10FFFF
		 * (F4 90..BF).
		 */
		if ((c == 0xe0 && p[i + 1] < 0xa0) ||
		    (c == 0xed && p[i + 1] > 0x9f) ||
		    (c == 0xf0 && p[i + 1] < 0x90) ||
		    (c == 0xf4 && p[i + 1] > 0x8f))
			return false;
		i += n + 1;
	}
	return true;
}

/* A small open-addressing set; interned strings are never freed. */
static struct {
	char **v;
	size_t cap, n;
} interned;

static size_t str_hash(const char *s)
{
	size_t h = 5381;

	for (; *s; s++)
		h = h * 33 + (unsigned char)*s;
	return h;
}

const char *cg_intern(const char *s)
{
	size_t i;

	if ((interned.n + 1) * 2 > interned.cap) {
		size_t cap = interned.cap ? interned.cap * 2 : 64, k;
		char **v = cg_xcalloc(cap, sizeof(*v));

		for (k = 0; k < interned.cap; k++) {
			if (!interned.v[k])
				continue;
			for (i = str_hash(interned.v[k]) & (cap - 1); v[i];
			     i = (i + 1) & (cap - 1))
				;
			v[i] = interned.v[k];
		}
		free(interned.v);
		interned.v = v;
		interned.cap = cap;
	}
	for (i = str_hash(s) & (interned.cap - 1); interned.v[i];
	     i = (i + 1) & (interned.cap - 1))
		if (strcmp(interned.v[i], s) == 0)
			return interned.v[i];
	interned.v[i] = cg_xstrdup(s);
	interned.n++;
	return interned.v[i];
}

static uint64_t mix64(uint64_t x)
{
	/* The finaliser of splitmix64: every input bit affects every output bit. */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9u;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebu;
	x ^= x >> 31;
	return x;
}

void cg_hash128(const void *data, size_t len, unsigned char out[16])
{
	const unsigned char *p = data;
	uint64_t a = 0x243f6a8885a308d3u ^ len, b = 0x13198a2e03707344u;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		a = mix64(a ^ w);
		b = mix64(b + w + 0x9e3779b97f4a7c15u);
	}
	if (i < len) {
		uint64_t w = 0;

		memcpy(&w, p + i, len - i);
		a = mix64(a ^ w ^ 0xff);
		b = mix64(b + w + 0x9e3779b97f4a7c15u);
	}
	a = mix64(a ^ b);
	b = mix64(b ^ a);
	memcpy(out, &a, 8);
	memcpy(out + 8, &b, 8);
}
