/* util.h: memory, growable buffers, string helpers shared by agent and modules. */
#ifndef CG_UTIL_H
#define CG_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cg/error.h"

#define CG_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Allocation that cannot fail: out of memory aborts with a message, as in
 * git's xmalloc. A configuration agent that cannot allocate a few bytes has
 * nothing sensible left to do, and checking every allocation would bury the
 * logic that matters.
 */
void *cg_xmalloc(size_t n);
void *cg_xcalloc(size_t nmemb, size_t size);
void *cg_xrealloc(void *p, size_t n);
char *cg_xstrdup(const char *s);
char *cg_xstrndup(const char *s, size_t n);
char *cg_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Grow *p (of *cap elements of size) so that it holds at least need. */
void cg_grow(void *pp, size_t *cap, size_t need, size_t size);

/* A growable byte buffer; data is always NUL-terminated once non-empty. */
struct cg_buf {
	char *data; /* owned */
	size_t len;
	size_t cap;
};

void cg_buf_add(struct cg_buf *b, const void *data, size_t len);
void cg_buf_addstr(struct cg_buf *b, const char *s);
void cg_buf_addch(struct cg_buf *b, char c);
void cg_buf_addf(struct cg_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Give the data to the caller (who frees it) and leave b empty. */
char *cg_buf_detach(struct cg_buf *b, size_t *len_out);
void cg_buf_reset(struct cg_buf *b);
/* Free and zero. Accepts NULL. */
void cg_buf_release(struct cg_buf *b);

/*
 * Read all of fd into b, at most max bytes: more is an error, so a huge or
 * endless input (a FIFO, /dev/zero) is bounded.
 */
int cg_read_fd(int fd, struct cg_buf *b, size_t max, struct cg_error *err);

/* Write all of data, retrying on short writes and EINTR; -1 with errno. */
int cg_write_all(int fd, const void *data, size_t len);

/*
 * Length of the valid UTF-8 sequence at p (1 for ASCII), or 0 when it is
 * not one (overlong forms and surrogates included); left: bytes at p.
 */
size_t cg_utf8_len(const unsigned char *p, size_t left);
bool cg_str_starts(const char *s, const char *prefix);
bool cg_str_ends(const char *s, const char *suffix);

/* Edit distance (insert, delete, substitute, swap of neighbours). */
size_t cg_edit_distance(const char *a, const char *b);

/*
 * The candidate closest to word if it is close enough to be a likely typo,
 * else NULL. cands is NULL-terminated.
 */
const char *cg_suggest(const char *word, const char *const *cands);

/* Like cg_suggest over an array of n strings. */
const char *cg_suggest_n(const char *word, const char *const *cands, size_t n);

/*
 * One shared copy of s for the life of the process: for the short strings
 * thousands of resources repeat (owner "root", state "present").
 */
const char *cg_intern(const char *s);

/*
 * A fast 128-bit hash of data, for telling apart things that are not
 * secret and not chosen by an attacker (declared attributes). Not for
 * content: use SHA-256 there.
 */
void cg_hash128(const void *data, size_t len, unsigned char out[16]);

/* Monotonic clock in nanoseconds; wall clock as seconds since the epoch. */
uint64_t cg_now_ns(void);

/* Format t (seconds since the epoch) as UTC "2026-11-23T11:27:00Z". */
void cg_time_iso(char out[32], int64_t t);

/* Is data free of NUL bytes and valid UTF-8 (text that a diff can show)? */
bool cg_is_text(const char *data, size_t len);

#endif
