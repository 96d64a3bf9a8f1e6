/* fuzz-template.c: a libFuzzer target for the template engine. */
/*
 * The input is a template. A few names are known (one of them expands to
 * something that looks like a reference, which must come out verbatim);
 * unknown names take the "did you mean" path.
 */
#include <stdint.h>
#include <string.h>

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct cg_template_vars vars = { lookup, get_names,
						      NULL };
	struct cg_buf out = { 0 };
	struct cg_error err;
	int rc;

	cg_error_clear(&err);
	rc = cg_template_render((const char *)data, size, "templates/fuzz",
				&vars, &out, &err);
	if (rc < 0 &&
	    (!err.msg[0] || strncmp(err.where, "templates/fuzz:", 15) != 0))
		__builtin_trap(); /* an error must say what and where */
	/* Text without a reference comes out as it went in. */
	if (!memmem(data, size, "{{", 2) &&
	    (rc < 0 || out.len != size ||
	     (size && memcmp(out.data, data, size) != 0)))
		__builtin_trap();
	cg_buf_release(&out);
	return 0;
}
