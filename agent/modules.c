/* modules.c: the one table of resource types. */
#include <string.h>

#include "cg/module.h"

extern const struct cg_module cg_module_file;
extern const struct cg_module cg_module_directory;
extern const struct cg_module cg_module_symlink;
extern const struct cg_module cg_module_iptables;
extern const struct cg_module cg_module_package;
extern const struct cg_module cg_module_service;
extern const struct cg_module cg_module_group;
extern const struct cg_module cg_module_user;
extern const struct cg_module cg_module_authorized_keys;
extern const struct cg_module cg_module_exec;
extern const struct cg_module cg_module_apt_source;

const struct cg_module *const cg_modules[] = {
	&cg_module_file,
	&cg_module_directory,
	&cg_module_symlink,
	&cg_module_iptables,
	&cg_module_package,
	&cg_module_service,
	&cg_module_group,
	&cg_module_user,
	&cg_module_authorized_keys,
	&cg_module_exec,
	&cg_module_apt_source,
	NULL,
};

const struct cg_module *cg_module_find(const char *type)
{
	size_t i;

	for (i = 0; cg_modules[i]; i++)
		if (strcmp(cg_modules[i]->type, type) == 0)
			return cg_modules[i];
	return NULL;
}
