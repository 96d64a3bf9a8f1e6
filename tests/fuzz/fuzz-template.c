/* fuzz-template.c: a libFuzzer target for the template engine. */
/*
 * The input is a template. A few names are known (one of them expands to
 * something that looks like a reference, which must come out verbatim);
 * unknown names take the "did you mean" path. Structured vars (a list of
 * maps, a map, numbers, a boolean) feed expressions, filters and loops.
 */
#include <stdint.h>
#include <string.h>

#include "cg/node.h"
#include "cg/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = { "hostname", "fqdn", "ntp_server",
				     "os.id", "web-port", "braces", NULL };
static const char *const values[] = { "web-1", "web-1.example.com",
				      "ntp.example.com", "debian", "8080",
				      "{{ hostname }}", NULL };

static const char *lookup(void *cookie, const char *name)
{
	size_t i;

	(void)cookie;
	for (i = 0; names[i]; i++)
		if (strcmp(names[i], name) == 0)
			return values[i];
	return NULL;
}

static const char *const *get_names(void *cookie)
{
	(void)cookie;
	return names;
}

static struct cg_doc *data_doc;

static const struct cg_node *lookup_node(void *cookie, const char *name)
{
	(void)cookie;
	return data_doc ? cg_map_get(data_doc->root, name) : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char yaml[] =
		"servers: [{name: a, port: 80}, {name: b, port: 8080}]\n"
		"db: {host: db1, port: 5432, opts: [x, y]}\n"
		"count: 3\nenabled: true\nempty: []\n";
	static const struct cg_template_vars vars = {
		.lookup = lookup,
		.names = get_names,
		.lookup_node = lookup_node,
	};
	struct cg_buf out = { 0 };
	struct cg_error err;
	int rc;

	if (!data_doc && cg_doc_load_buf(&data_doc, yaml, sizeof(yaml) - 1,
					 "vars.yaml", &err) < 0)
		__builtin_trap();
	cg_error_clear(&err);
	rc = cg_template_render((const char *)data, size, "templates/fuzz",
				&vars, &out, &err);
	if (rc < 0 &&
	    (!err.msg[0] || strncmp(err.where, "templates/fuzz:", 15) != 0))
		__builtin_trap(); /* an error must say what and where */
	/* Text without a reference, tag or comment comes out as it went in. */
	if (!memmem(data, size, "{{", 2) && !memmem(data, size, "{%", 2) &&
	    !memmem(data, size, "{#", 2) &&
	    (rc < 0 || out.len != size ||
	     (size && memcmp(out.data, data, size) != 0)))
		__builtin_trap();
	cg_buf_release(&out);
	return 0;
}
