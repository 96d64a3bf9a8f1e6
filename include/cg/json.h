/* json.h: a streaming JSON writer for reports and --format json. */
#ifndef CG_JSON_H
#define CG_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cg/util.h"

#define CG_JSON_MAX_DEPTH 32

/*
 * The version of every JSON document congruent writes (plan, run, the
 * reports, check, facts, fleet, state; doc/schema/). Adding a field keeps
 * it; removing, renaming or changing the meaning of one bumps it.
 */
#define CG_JSON_SCHEMA_VERSION 1

struct cg_json {
	struct cg_buf *out; /* borrowed */
	FILE *sink;         /* borrowed: when set, out is flushed to it */
	bool pretty;
	int depth;
	bool first[CG_JSON_MAX_DEPTH]; /* nothing written yet at this level */
	bool after_key;
};

void cg_json_init(struct cg_json *j, struct cg_buf *out, bool pretty);
/*
 * Write through out to sink as the text grows, so that a large report
 * never sits in memory whole. Call cg_json_flush at the end.
 */
void cg_json_init_file(struct cg_json *j, struct cg_buf *out, FILE *sink,
		       bool pretty);
void cg_json_flush(struct cg_json *j);
void cg_json_obj_begin(struct cg_json *j);
void cg_json_obj_end(struct cg_json *j);
void cg_json_arr_begin(struct cg_json *j);
void cg_json_arr_end(struct cg_json *j);
void cg_json_key(struct cg_json *j, const char *key);
/*
 * Strings are written as valid UTF-8: a byte that is not part of valid
 * UTF-8 (paths may hold any bytes) becomes U+FFFD.
 */
void cg_json_str(struct cg_json *j, const char *s);
void cg_json_strn(struct cg_json *j, const char *s, size_t len);
void cg_json_int(struct cg_json *j, int64_t v);
void cg_json_bool(struct cg_json *j, bool v);
void cg_json_null(struct cg_json *j);

/* key + value in one call; a NULL string writes null. */
void cg_json_kstr(struct cg_json *j, const char *key, const char *s);
void cg_json_kint(struct cg_json *j, const char *key, int64_t v);
void cg_json_kbool(struct cg_json *j, const char *key, bool v);

#endif
