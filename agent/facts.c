/* facts.c: what the agent knows about the host (or the --root image). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "agent.h"

const char *const cg_fact_names[] = {
	"hostname", "fqdn",     "domain", "os_id",   "os_version",
	"os_codename", "os_like", "os_name", "arch", "kernel",
	"cpus",     "memory_mb", "init", "interfaces", "ipv4", "ipv6",
	"default_interface", "default_gateway", "virtualization",
	"disk_total_mb", NULL,
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

/* "a,b" lists: the order of the kernel's, without repeats. */
static void list_add(struct cg_buf *b, const char *item)
{
	size_t len = strlen(item);
	const char *p = b->data;

	while (p && *p) {
		size_t n = strcspn(p, ",");

		if (n == len && strncmp(p, item, len) == 0)
			return;
		p += n + (p[n] == ',');
	}
	if (b->len)
		cg_buf_addch(b, ',');
	cg_buf_addstr(b, item);
}

/*
 * The network of the running host (the namespace congruent runs in):
 * interfaces that are up, other than loopback, and their addresses.
 */
static void read_addresses(struct cg_facts *f)
{
	struct cg_buf ifs = { 0 }, v4 = { 0 }, v6 = { 0 };
	struct ifaddrs *all = NULL, *a;
	char addr[INET6_ADDRSTRLEN];

	if (getifaddrs(&all) < 0)
		return;
	for (a = all; a; a = a->ifa_next) {
		if ((a->ifa_flags & IFF_LOOPBACK) || !(a->ifa_flags & IFF_UP))
			continue;
		list_add(&ifs, a->ifa_name);
		if (!a->ifa_addr)
			continue;
		if (a->ifa_addr->sa_family == AF_INET &&
		    inet_ntop(AF_INET,
			      &((struct sockaddr_in *)(void *)a->ifa_addr)
				       ->sin_addr,
			      addr, sizeof(addr)))
			list_add(&v4, addr);
		else if (a->ifa_addr->sa_family == AF_INET6 &&
			 !IN6_IS_ADDR_LINKLOCAL(
				 &((struct sockaddr_in6 *)(void *)a->ifa_addr)
					  ->sin6_addr) &&
			 inet_ntop(AF_INET6,
				   &((struct sockaddr_in6 *)(void *)a->ifa_addr)
					    ->sin6_addr,
				   addr, sizeof(addr)))
			list_add(&v6, addr);
	}
	freeifaddrs(all);
	cg_kvs_set(&f->kv, "interfaces", ifs.data ? ifs.data : "");
	cg_kvs_set(&f->kv, "ipv4", v4.data ? v4.data : "");
	cg_kvs_set(&f->kv, "ipv6", v6.data ? v6.data : "");
	cg_buf_release(&ifs);
	cg_buf_release(&v4);
	cg_buf_release(&v6);
}

/* The IPv4 default route, from the kernel's table (/proc/net/route). */
static void read_default_route(struct cg_facts *f)
{
	char line[512], ifname[64], gw[INET_ADDRSTRLEN] = "";
	unsigned long dest, gateway, flags, best_metric = (unsigned long)-1;
	unsigned long metric;
	bool found = false;
	FILE *in = fopen("/proc/net/route", "re");

	if (!in)
		return;
	while (fgets(line, sizeof(line), in)) {
		char name[64];
		struct in_addr ia;

		/* Iface Destination Gateway Flags RefCnt Use Metric ... */
		if (sscanf(line, "%63s %lx %lx %lx %*s %*s %lu", name, &dest,
			   &gateway, &flags, &metric) != 5 ||
		    dest != 0 || !(flags & 1 /* RTF_UP */) ||
		    (found && metric >= best_metric))
			continue;
		found = true;
		best_metric = metric;
		snprintf(ifname, sizeof(ifname), "%s", name);
		ia.s_addr = (in_addr_t)gateway;
		if (!(flags & 2 /* RTF_GATEWAY */) ||
		    !inet_ntop(AF_INET, &ia, gw, sizeof(gw)))
			gw[0] = '\0';
	}
	fclose(in);
	cg_kvs_set(&f->kv, "default_interface", found ? ifname : "");
	cg_kvs_set(&f->kv, "default_gateway", found ? gw : "");
}

/*
 * A container, as systemd-detect-virt --container tells it: what the
 * container manager says in /run/systemd/container, else the usual
 * marks of docker and podman; else "none". Machines (KVM, Xen) are not
 * told apart: this is about what may be managed, like the firewall.
 */
static void read_virtualization(struct cg_facts *f)
{
	char buf[64] = "";
	FILE *in = fopen("/run/systemd/container", "re");
	const char *v = "none";

	if (in) {
		if (fgets(buf, sizeof(buf), in)) {
			buf[strcspn(buf, "\n")] = '\0';
			if (buf[0])
				v = buf;
		}
		fclose(in);
	} else if (access("/.dockerenv", F_OK) == 0) {
		v = "docker";
	} else if (access("/run/.containerenv", F_OK) == 0) {
		v = "podman";
	}
	cg_kvs_set(&f->kv, "virtualization", v);
}

int cg_facts_gather(struct cg_facts *f, struct cg_root *root,
		    const char *hostname, struct cg_error *err)
{
	struct utsname u;
	struct sysinfo si;
	struct statvfs vfs;
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
	read_addresses(f);
	read_default_route(f);
	read_virtualization(f);
	/* The file system of the root enforced into (--root: the image's). */
	if (fstatvfs(root->fd, &vfs) == 0) {
		snprintf(num, sizeof(num), "%llu",
			 (unsigned long long)vfs.f_blocks * vfs.f_frsize >> 20);
		cg_kvs_set(&f->kv, "disk_total_mb", num);
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
	cg_facts_read_custom(f, root);
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

bool cg_fact_is_name(const char *name)
{
	size_t i;

	if (cg_str_starts(name, CG_FACT_CUSTOM_PREFIX) &&
	    name[strlen(CG_FACT_CUSTOM_PREFIX)])
		return true;
	for (i = 0; cg_fact_names[i]; i++)
		if (strcmp(cg_fact_names[i], name) == 0)
			return true;
	return false;
}

const char *cg_facts_get(struct cg_facts *f, const char *name)
{
	size_t i;

	if (cg_str_starts(name, CG_FACT_CUSTOM_PREFIX) &&
	    name[strlen(CG_FACT_CUSTOM_PREFIX)]) {
		name = cg_kvs_get(&f->kv, name);
		return name ? name : "";
	}
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
