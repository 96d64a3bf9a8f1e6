/* facts.c: what the agent knows about the host (or the --root image). */
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "agent.h"

const char *const cg_fact_names[] = {
	"hostname", "fqdn",     "domain", "os_id",   "os_version",
	"os_codename", "os_like", "os_name", "arch", "kernel",
	"cpus",     "memory_mb", "init",  NULL,
};

/* Strip the quotes of an os-release value ("Debian GNU/Linux 12"). */
static void unquote(char *v)
{
	size_t len = strlen(v);

	if (len >= 2 && (v[0] == '"' || v[0] == '\'') && v[len - 1] == v[0]) {
		memmove(v, v + 1, len - 2);
		v[len - 2] = '\0';
	}
}

static void read_os_release(struct cg_facts *f, struct cg_root *root)
{
	static const char *const paths[] = { "/etc/os-release",
					     "/usr/lib/os-release" };
	static const struct {
		const char *key, *fact;
	} map[] = {
		{ "ID", "os_id" },
		{ "VERSION_ID", "os_version" },
		{ "VERSION_CODENAME", "os_codename" },
		{ "ID_LIKE", "os_like" },
		{ "PRETTY_NAME", "os_name" },
	};
	struct cg_buf b = { 0 };
	char *line, *save = NULL;
	size_t i, k;
	int dirfd, fd = -1;
	const char *base;

	for (i = 0; i < CG_ARRAY_SIZE(paths) && fd < 0; i++) {
		/* os-release is often a symlink into /usr/lib: follow it,
		 * but inside the root, through the root's own resolver. */
		if (cg_root_open_parent(root, paths[i], 0, &dirfd, &base, NULL,
					NULL) < 0)
			continue;
		fd = openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		close(dirfd);
	}
	if (fd < 0) {
		/* /etc/os-release -> ../usr/lib/os-release: read the target. */
		if (cg_root_open_parent(root, "/usr/lib/os-release", 0, &dirfd,
					&base, NULL, NULL) == 0) {
			fd = openat(dirfd, base,
				    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			close(dirfd);
		}
	}
	if (fd < 0)
		return;
	if (cg_read_fd(fd, &b, 65536, NULL) == 0 && b.data) {
		for (line = strtok_r(b.data, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			char *eq = strchr(line, '=');

			if (!eq)
				continue;
			*eq = '\0';
			unquote(eq + 1);
			for (k = 0; k < CG_ARRAY_SIZE(map); k++)
				if (strcmp(line, map[k].key) == 0)
					cg_kvs_set(&f->kv, map[k].fact, eq + 1);
		}
	}
	close(fd);
	cg_buf_release(&b);
}

static bool root_has_dir(struct cg_root *root, const char *path)
{
	const char *base;
	struct stat st;
	int dirfd;
	bool ok;

	if (cg_root_open_parent(root, path, 0, &dirfd, &base, NULL, NULL) < 0)
		return false;
	ok = fstatat(dirfd, base, &st, 0) == 0;
	close(dirfd);
	return ok;
}

int cg_facts_gather(struct cg_facts *f, struct cg_root *root,
		    const char *hostname, struct cg_error *err)
{
	struct utsname u;
	struct sysinfo si;
	char host[256], num[32];
	char *dot;

	memset(f, 0, sizeof(*f));
	f->root = root;
	if (hostname) {
		snprintf(host, sizeof(host), "%s", hostname);
	} else if (gethostname(host, sizeof(host)) < 0) {
		return cg_error_sys(err, CG_ERR, "cannot get the host name");
	}
	host[sizeof(host) - 1] = '\0';
	if (hostname && strchr(hostname, '.')) {
		/* --hostname web-1.example.com: that is the fqdn too. */
		cg_kvs_set(&f->kv, "fqdn", hostname);
		cg_kvs_set(&f->kv, "domain", strchr(hostname, '.') + 1);
		f->fqdn_done = true;
	}
	dot = strchr(host, '.');
	if (dot)
		*dot = '\0';
	cg_kvs_set(&f->kv, "hostname", host);
	if (hostname && !f->fqdn_done) {
		cg_kvs_set(&f->kv, "fqdn", host);
		cg_kvs_set(&f->kv, "domain", "");
		f->fqdn_done = true;
	}
	read_os_release(f, root);
	if (uname(&u) == 0) {
		cg_kvs_set(&f->kv, "arch", u.machine);
		cg_kvs_set(&f->kv, "kernel", u.release);
	}
	snprintf(num, sizeof(num), "%ld", sysconf(_SC_NPROCESSORS_ONLN));
	cg_kvs_set(&f->kv, "cpus", num);
	if (sysinfo(&si) == 0) {
		snprintf(num, sizeof(num), "%llu",
			 (unsigned long long)si.totalram * si.mem_unit >> 20);
		cg_kvs_set(&f->kv, "memory_mb", num);
	}
	/*
	 * A running host uses systemd when /run/systemd/system exists (what
	 * sd_booted() checks); an image under --root when it ships systemd.
	 */
	if (root->host)
		cg_kvs_set(&f->kv, "init",
			   access("/run/systemd/system", F_OK) == 0 ? "systemd"
								    : "sysvinit");
	else
		cg_kvs_set(&f->kv, "init",
			   root_has_dir(root, "/lib/systemd/systemd") ||
					   root_has_dir(root,
							"/usr/lib/systemd/systemd")
				   ? "systemd"
				   : "sysvinit");
	return 0;
}

static void lookup_fqdn(struct cg_facts *f)
{
	const char *host = cg_kvs_get(&f->kv, "hostname");
	struct addrinfo hints, *res = NULL;
	const char *fqdn = host;
	char name[256];

	f->fqdn_done = true;
	/* The full name as the system's resolver knows it (/etc/hosts). */
	if (gethostname(name, sizeof(name)) == 0) {
		name[sizeof(name) - 1] = '\0';
		memset(&hints, 0, sizeof(hints));
		hints.ai_flags = AI_CANONNAME;
		if (getaddrinfo(name, NULL, &hints, &res) == 0 && res &&
		    res->ai_canonname && strchr(res->ai_canonname, '.'))
			fqdn = res->ai_canonname;
		else if (strchr(name, '.'))
			fqdn = name;
	}
	cg_kvs_set(&f->kv, "fqdn", fqdn);
	cg_kvs_set(&f->kv, "domain",
		   strchr(fqdn, '.') ? strchr(fqdn, '.') + 1 : "");
	if (res)
		freeaddrinfo(res);
}

const char *cg_facts_get(struct cg_facts *f, const char *name)
{
	size_t i;

	for (i = 0; cg_fact_names[i]; i++)
		if (strcmp(cg_fact_names[i], name) == 0)
			break;
	if (!cg_fact_names[i])
		return NULL;
	if (!f->fqdn_done &&
	    (strcmp(name, "fqdn") == 0 || strcmp(name, "domain") == 0))
		lookup_fqdn(f);
	name = cg_kvs_get(&f->kv, name);
	return name ? name : "";
}

void cg_facts_release(struct cg_facts *f)
{
	if (!f)
		return;
	cg_kvs_release(&f->kv);
	memset(f, 0, sizeof(*f));
}
