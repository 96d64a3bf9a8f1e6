/* fuzz-yaml.c: a libFuzzer target for the YAML loader and typed access. */
/*
 * Each input is parsed twice, as cg_doc_load_buf and, from a memfd, as
 * cg_doc_stream_fd streaming "resources" (as roles are read); every node
 * of the tree is then read through the typed accessors the policy uses.
 * The two must agree: what streams also loads, and the streamed items
 * are the same data as the loaded list's (cg_node_serialize).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cg/node.h"
#include "cg/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const some_keys[] = { "resources", "file", "content",
					 "mode", NULL };

static void sink(void *cookie, const void *data, size_t len)
{
	size_t *total = cookie;

	(void)data;
	*total += len;
}

static void visit(const struct cg_node *n, unsigned depth)
{
	struct cg_error err;
	const char **list = NULL;
	const char *s;
	unsigned long u;
	size_t i, nlist, total = 0;
	char where[256];
	bool b;

	/* Aliases share nodes: bound the walk as the loader bounds nesting. */
	if (!n || depth > CG_YAML_MAX_DEPTH + 1)
		return;
	cg_node_where(n, where, sizeof(where));
	(void)cg_node_kind_name(n);
	(void)cg_node_string(n, "k", &s, &err);
	(void)cg_node_bool(n, "k", &b, &err);
	(void)cg_node_uint(n, "k", 07777, &u, &err);
	if (cg_node_strlist(n, "k", &list, &nlist, &err) == 0)
		free(list);
	if (depth < 3)
		cg_node_serialize(n, sink, &total);
	if (n->kind == CG_NODE_SCALAR) {
		/* Every string is used as a C string: none may be cut short. */
		if (strlen(n->str) != n->len)
			__builtin_trap();
		return;
	}
	if (n->kind == CG_NODE_MAP) {
		(void)cg_map_check_keys(n, some_keys, "a fuzz map", &err);
		(void)cg_map_get(n, "resources");
	}
	for (i = 0; i < (n->kind == CG_NODE_MAP ? 2 * n->len : n->len); i++)
		visit(n->items[i], depth + 1);
}

static void add_ser(void *cookie, const void *data, size_t len)
{
	cg_buf_add(cookie, data, len);
}

static void on_item(void *cookie, const struct cg_node *item)
{
	struct cg_buf *streamed = cookie;

	visit(item, 2);
	cg_node_serialize(item, add_ser, streamed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cg_buf streamed = { 0 }, loaded = { 0 };
	struct cg_doc *doc = NULL, *whole = NULL;
	const struct cg_node *list;
	struct cg_error err;
	size_t i;
	int fd;

	if (cg_doc_load_buf(&whole, (const char *)data, size, "fuzz.yaml",
			    &err) == 0)
		visit(whole->root, 0);
	fd = memfd_create("fuzz.yaml", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	if (write(fd, data, size) != (ssize_t)size ||
	    lseek(fd, 0, SEEK_SET) != 0)
		abort();
	if (cg_doc_stream_fd(&doc, fd, "roles/fuzz.yaml", "resources", on_item,
			     &streamed, &err) == 0) {
		visit(doc->root, 0);
		if (!whole)
			__builtin_trap(); /* streams, but does not load */
		list = cg_map_get(whole->root, "resources");
		for (i = 0; list && list->kind == CG_NODE_SEQ && i < list->len;
		     i++)
			cg_node_serialize(list->items[i], add_ser, &loaded);
		if (streamed.len != loaded.len ||
		    (loaded.len &&
		     memcmp(streamed.data, loaded.data, loaded.len) != 0))
			__builtin_trap(); /* streamed items differ */
		cg_doc_free(doc);
	}
	close(fd);
	cg_doc_free(whole);
	cg_buf_release(&streamed);
	cg_buf_release(&loaded);
	return 0;
}
