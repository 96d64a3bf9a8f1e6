/* node.h: a YAML document as a small tree, with file:line on every node. */
#ifndef CG_NODE_H
#define CG_NODE_H

#include <stdbool.h>
#include <stddef.h>

#include "cg/error.h"

enum cg_node_kind {
	CG_NODE_SCALAR,
	CG_NODE_SEQ,
	CG_NODE_MAP,
};

struct cg_doc;
struct arena;

struct cg_node {
	enum cg_node_kind kind;
	unsigned line; /* 1-based */
	unsigned col;  /* 1-based */
	bool plain;    /* a scalar written without quotes */
	size_t len;    /* scalar: bytes; seq: items; map: pairs */
	char *str;     /* scalar: NUL-terminated text */
	struct cg_node **items; /* seq: len items; map: key, value, key, ... */
	const struct cg_doc *doc; /* borrowed: the document it came from */
};

/*
 * Limits that make hostile input (alias bombs, deep nesting, huge files)
 * an error instead of a hang or an out-of-memory. Aliases are shared, not
 * copied, but count at their full expanded size.
 */
#define CG_YAML_MAX_BYTES (16u << 20)
#define CG_YAML_MAX_DEPTH 64
#define CG_YAML_MAX_NODES 1000000  /* nodes in memory at once */
#define CG_YAML_MAX_WEIGHT 4000000 /* nodes, with aliases expanded */

struct cg_doc {
	char *name;            /* owned: the file name used in messages */
	struct cg_node *root;  /* NULL for an empty document */
	struct arena *arena;   /* owned: all nodes and strings */
};

/*
 * Parse the open file fd into *out (fd stays open). name is how the file is
 * called in messages ("roles/web.yaml"). Syntax errors name
 * file:line:column. Refuses files over the size limit, more than one
 * document, duplicate or non-string keys in a map, tags (YAML's own too:
 * every value is text), a NUL in a string (so that str is the whole
 * value), and the limits above. Any kind of file is read (the agent
 * config may be /dev/null); the policy loader wants regular files.
 */
int cg_doc_load_fd(struct cg_doc **out, int fd, const char *name,
		   struct cg_error *err);
/*
 * Like cg_doc_load_fd, but each item of the list under the top-level key
 * list_key is given to fn as soon as it is parsed, and then freed: a role
 * with thousands of resources never sits in memory whole. In the returned
 * document that list is empty. An alias in an item can only name an
 * anchor in the same item.
 */
int cg_doc_stream_fd(struct cg_doc **out, int fd, const char *name,
		     const char *list_key,
		     void (*fn)(void *cookie, const struct cg_node *item),
		     void *cookie, struct cg_error *err);
int cg_doc_load_buf(struct cg_doc **out, const char *buf, size_t len,
		    const char *name, struct cg_error *err);
void cg_doc_free(struct cg_doc *doc);

/* The value for key in a map node, or NULL (also when n is not a map). */
const struct cg_node *cg_map_get(const struct cg_node *map, const char *key);

/* "file:line" of a node, for messages. */
void cg_node_where(const struct cg_node *n, char *buf, size_t size);

/* "a string", "a list", "a map": for messages about wrong types. */
const char *cg_node_kind_name(const struct cg_node *n);

/*
 * Typed access. Each fails (with file:line and the key name in err) when the
 * node has another type. key is only used in messages.
 */
int cg_node_string(const struct cg_node *n, const char *key, const char **out,
		   struct cg_error *err);
int cg_node_bool(const struct cg_node *n, const char *key, bool *out,
		 struct cg_error *err);
int cg_node_uint(const struct cg_node *n, const char *key, unsigned long max,
		 unsigned long *out, struct cg_error *err);

/*
 * A list of strings: a sequence of scalars, or one scalar as a list of one.
 * *out is a NULL-terminated array of borrowed strings, owned by the caller
 * (free the array only).
 */
int cg_node_strlist(const struct cg_node *n, const char *key,
		    const char ***out, size_t *n_out, struct cg_error *err);

/*
 * Check that every key of map is in allowed (NULL-terminated); an unknown
 * key is an error naming it and the closest allowed key.
 */
int cg_map_check_keys(const struct cg_node *map, const char *const *allowed,
		      const char *what, struct cg_error *err);

/*
 * Feed a canonical serialisation of n to fn: equal for two nodes exactly
 * when they hold the same data, whatever their position or quoting.
 */
void cg_node_serialize(const struct cg_node *n,
		       void (*fn)(void *cookie, const void *data, size_t len),
		       void *cookie);

#endif
