/* test-package.c: dpkg's status file, its version order, apt's messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../modules/package.h"
#include "cg/exec.h"
#include "cg/util.h"
#include "tap.h"

/* Parse a literal (copied: the parser splits it in place). */
static int parse(struct pkg_db *db, const char *text, struct cg_error *err)
{
	return pkg_dpkg_parse(db, cg_xstrdup(text), strlen(text), "status",
			      err);
}

static const char status_text[] =
	"Package: dpkg\n"
	"Essential: yes\n"
	"Status: install ok installed\n"
	"Priority: required\n"
	"Architecture: amd64\n"
	"Version: 1.21.22\n"
	"Description: Debian package management system\n"
	" This package provides the low-level infrastructure for handling\n"
	" .\n"
	" the installation and removal of Debian software packages.\n"
	"\n"
	"Package: libc6\n"
	"Status: install ok installed\n"
	"Architecture: i386\n"
	"Multi-Arch: same\n"
	"Version: 2.36-9+deb12u4\n"
	"\n"
	"Package: libc6\n"
	"Status: install ok installed\n"
	"Architecture: amd64\n"
	"Multi-Arch: same\n"
	"Version: 2.36-9+deb12u7\n"
	"Conffiles:\n"
	" /etc/ld.so.conf.d/x86_64-linux-gnu.conf d4e7a7b88a71b5ffd9e2644e71a0cfab\n"
	"\n"
	"Package: oldpkg\n"
	"Status: deinstall ok config-files\n"
	"Architecture: all\n"
	"Version: 0.9-1\n"
	"\n"
	"Package: frozen\n"
	"Status: hold ok installed\n"
	"Architecture: all\n"
	"Version: 3.0\n"
	"\n"
	"Package: halfway\n"
	"Status: install ok half-configured\n"
	"Architecture: all\n"
	"Version: 1.0\n"
	"\n"
	"\n"
	"package: lowercase\n"
	"STATUS: install ok triggers-pending\n"
	"architecture: all\n"
	"version: 5\r\n"
	"\n"
	"Package: gone\n"
	"Status: purge ok not-installed\n"
	"Architecture: all\n"
	"\n"
	"Package: broken-reinst\n"
	"Status: install reinstreq installed\n"
	"Architecture: all\n"
	"Version: 2\n"
	"\n"
	"Package: last\n"
	"Status: install ok installed\n"
	"Version: 7"; /* no newline at the end */

static void test_status(void)
{
	struct pkg_db db;
	struct cg_error err;
	const struct pkg_entry *e;
	size_t nb;

	memset(&db, 0, sizeof(db));
	cg_error_clear(&err);
	tap_is_int(parse(&db, status_text, &err), 0, "status: parses");
	pkg_db_finish(&db);
	db.native = "amd64";
	tap_is_int((long long)db.n, 10, "status: ten packages");

	e = pkg_db_find(&db, "dpkg");
	tap_ok(e && e->state == PKG_INSTALLED && e->essential,
	       "status: dpkg installed, essential");
	tap_is_str(e ? e->version : NULL, "1.21.22", "status: dpkg version");

	e = pkg_db_find(&db, "libc6");
	tap_is_str(e ? e->arch : NULL, "amd64",
		   "multi-arch: the native architecture first");
	tap_is_str(e ? e->version : NULL, "2.36-9+deb12u7",
		   "multi-arch: its version");
	e = pkg_db_find(&db, "libc6:i386");
	tap_is_str(e ? e->version : NULL, "2.36-9+deb12u4",
		   "multi-arch: name:arch picks that one");
	tap_ok(pkg_db_find(&db, "libc6:arm64") == NULL,
	       "multi-arch: an architecture not installed is not found");
	e = pkg_db_find(&db, "oldpkg:amd64");
	tap_ok(e && e->state == PKG_CONFIG_FILES,
	       "name:arch finds a package for all; config-files");

	e = pkg_db_find(&db, "frozen");
	tap_ok(e && e->hold && e->state == PKG_INSTALLED, "hold ok installed");
	e = pkg_db_find(&db, "halfway");
	tap_ok(e && e->state == PKG_BROKEN, "half-configured is broken");
	tap_is_str(e ? e->status : NULL, "half-configured",
		   "the status word is kept");
	e = pkg_db_find(&db, "lowercase");
	tap_ok(e && e->state == PKG_INSTALLED,
	       "field names in any case; triggers-pending is installed");
	tap_is_str(e ? e->version : NULL, "5", "a CR at the end is trimmed");
	e = pkg_db_find(&db, "gone");
	tap_ok(e && e->state == PKG_ABSENT, "purge ok not-installed is absent");
	e = pkg_db_find(&db, "broken-reinst");
	tap_ok(e && e->state == PKG_BROKEN, "reinstreq is broken");
	e = pkg_db_find(&db, "last");
	tap_ok(e && e->state == PKG_INSTALLED && strcmp(e->version, "7") == 0,
	       "the last stanza without a final newline");
	tap_ok(pkg_db_find(&db, "nosuch") == NULL, "unknown: NULL");
	tap_ok(pkg_db_find(&db, "dpk") == NULL && pkg_db_find(&db, "dpkgx") == NULL,
	       "prefixes do not match");

	e = pkg_db_first_broken(&db, &nb);
	tap_ok(e && nb == 2, "two packages in a half-done state");
	pkg_db_release(&db);
}

static void test_journal(void)
{
	struct pkg_db db;
	struct cg_error err;
	const struct pkg_entry *e;

	memset(&db, 0, sizeof(db));
	parse(&db,
	      "Package: a\nStatus: install ok installed\nVersion: 1\n"
	      "Architecture: all\n\n"
	      "Package: b\nStatus: install ok installed\nVersion: 1\n"
	      "Architecture: all\n",
	      &err);
	/* dpkg's journal entries, in order: the last one counts. */
	parse(&db,
	      "Package: a\nStatus: install reinstreq half-installed\n"
	      "Version: 2\nArchitecture: all\n",
	      &err);
	parse(&db,
	      "Package: a\nStatus: install ok unpacked\nVersion: 2\n"
	      "Architecture: all\n",
	      &err);
	pkg_db_finish(&db);
	tap_is_int((long long)db.n, 2, "journal: replaces, not adds");
	e = pkg_db_find(&db, "a");
	tap_ok(e && e->state == PKG_BROKEN && strcmp(e->status, "unpacked") == 0,
	       "journal: the last entry wins");
	tap_is_str(e ? e->version : NULL, "2", "journal: its version");
	e = pkg_db_find(&db, "b");
	tap_ok(e && e->state == PKG_INSTALLED, "journal: others untouched");
	pkg_db_release(&db);
}

static void test_status_errors(void)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ "Package: a\nStatus: install ok\n", "status:2: package a" },
		{ "Package: a\nStatus: install ok exploded\n", "Status" },
		{ "Package: a\nStatus: install ok installed extra\n", "Status" },
		{ "Package: a\nthis is not a field\n", "status:2: not a" },
	};
	size_t i;

	for (i = 0; i < CG_ARRAY_SIZE(cases); i++) {
		struct pkg_db db;
		struct cg_error err;
		char name[64];

		memset(&db, 0, sizeof(db));
		cg_error_clear(&err);
		snprintf(name, sizeof(name), "status error %zu fails", i + 1);
		tap_ok(parse(&db, cases[i].text, &err) < 0, name);
		snprintf(name, sizeof(name), "status error %zu says where", i + 1);
		tap_has_str(err.msg, cases[i].msg, name);
		pkg_db_release(&db);
	}
	{
		struct pkg_db db;
		struct cg_error err;
		char text[] = "Package: a\nStatus: install ok installed\n\0x\n";

		memset(&db, 0, sizeof(db));
		tap_ok(pkg_dpkg_parse(&db, cg_xstrndup(text, sizeof(text) - 1),
				      sizeof(text) - 1, "status", &err) < 0,
		       "a NUL byte is an error");
		pkg_db_release(&db);
	}
}

static void test_versions(void)
{
	static const struct {
		const char *a, *b;
		int want;
	} cases[] = {
		{ "1.0", "1.0", 0 },
		{ "1.0", "1.0-0", 0 },
		{ "0:1.0", "1.0", 0 },
		{ "1.0", "1.1", -1 },
		{ "1.10", "1.9", 1 },
		{ "1.0~rc1", "1.0", -1 },
		{ "1.0~~", "1.0~", -1 },
		{ "1.0", "1.0+b1", -1 },
		{ "1.0a", "1.0", 1 },
		{ "1.0-1", "1.0-2", -1 },
		{ "1.0-10", "1.0-9", 1 },
		{ "1:0.1", "2.0", 1 },
		{ "2.36-9+deb12u4", "2.36-9+deb12u7", -1 },
		{ "1.001", "1.1", 0 },
		{ "a", "1", 1 },
		{ "1.0-1ubuntu1", "1.0-1", 1 },
		{ "", "0", 0 },
	};
	size_t i;

	for (i = 0; i < CG_ARRAY_SIZE(cases); i++) {
		char name[128];

		snprintf(name, sizeof(name), "version: %s vs %s", cases[i].a,
			 cases[i].b);
		tap_is_int(pkg_dpkg_version_cmp(cases[i].a, cases[i].b),
			   cases[i].want, name);
		snprintf(name, sizeof(name), "version: %s vs %s", cases[i].b,
			 cases[i].a);
		tap_is_int(pkg_dpkg_version_cmp(cases[i].b, cases[i].a),
			   -cases[i].want, name);
	}
}

static const struct pkg_req reqs4[] = {
	{ "cgapp", NULL, PKG_OP_INSTALL, false },
	{ "cg-nope", NULL, PKG_OP_INSTALL, false },
	{ "cga", "9.9", PKG_OP_INSTALL, false },
	{ "cgbroken:amd64", NULL, PKG_OP_INSTALL, false },
};

static void test_apt_simulation(void)
{
	static const char out[] =
		"Reading package lists...\n"
		"Building dependency tree...\n"
		"The following additional packages will be installed:\n"
		"  cglib\n"
		"The following packages will be REMOVED:\n"
		"  cgold\n"
		"Inst cga [1.0] (2.0 congruent-testbed:localhost [all])\n"
		"Remv cgold [0.5]\n"
		"Purg cgconf [1.1]\n"
		"Inst cglib (1.0 congruent-testbed:localhost [all])\n"
		"Inst libfoo:i386 (3.1-2 Debian:12.5/stable [i386]) []\n"
		"Conf cga (2.0 congruent-testbed:localhost [all])\n"
		"Conf cglib (1.0 congruent-testbed:localhost [all])\n";
	struct pkg_result res;

	memset(&res, 0, sizeof(res));
	pkg_apt_parse(out, "", reqs4, 4, &res);
	tap_is_int((long long)res.nacts, 5, "sim: five actions, Conf ignored");
	if (res.nacts == 5) {
		tap_ok(res.acts[0].op == 'I', "sim: Inst");
		tap_is_str(res.acts[0].name, "cga", "sim: name");
		tap_is_str(res.acts[0].from, "1.0", "sim: [old]");
		tap_is_str(res.acts[0].to, "2.0", "sim: (new ...)");
		tap_ok(res.acts[1].op == 'R' && !res.acts[1].to,
		       "sim: Remv has no new version");
		tap_is_str(res.acts[1].from, "0.5", "sim: Remv [old]");
		tap_ok(res.acts[2].op == 'P', "sim: Purg");
		tap_ok(!res.acts[3].from, "sim: a new package has no [old]");
		tap_is_str(res.acts[4].name, "libfoo:i386", "sim: name:arch");
		tap_is_str(res.acts[4].to, "3.1-2", "sim: version before origin");
	}
	tap_ok(!res.locked && !res.changed && !res.reason,
	       "sim: no lock, no change, no error");
	pkg_result_release(&res);
}

static void test_apt_errors(void)
{
	static const char out[] =
		"Reading state information...\n"
		"Package cga is not available, but is referred to by another package.\n"
		"Some packages could not be installed. This may mean that you have\n"
		"requested an impossible situation.\n"
		"The following information may help to resolve the situation:\n"
		"\n"
		"The following packages have unmet dependencies:\n"
		" cgbroken : Depends: cg-missing-dep but it is not installable\n"
		"            Depends: cg-other (>= 2) but it is not going to be installed\n"
		" cgdep : Depends: x\n"
		"\n";
	static const char err[] =
		"E: Unable to locate package cg-nope\n"
		"E: Version '9.9' for 'cga' was not found\n"
		"E: Unable to correct problems, you have held broken packages.\n";
	struct pkg_result res;

	memset(&res, 0, sizeof(res));
	pkg_apt_parse(out, err, reqs4, 4, &res);
	tap_ok(res.nwhy == 4 && !res.why[0], "errors: cgapp not named");
	tap_is_str(res.why[1], "Unable to locate package cg-nope",
		   "errors: unknown package named");
	tap_is_str(res.why[2], "Version '9.9' for 'cga' was not found",
		   "errors: missing version named");
	tap_is_str(res.why[3],
		   "cgbroken : Depends: cg-missing-dep but it is not installable; "
		   "Depends: cg-other (>= 2) but it is not going to be installed",
		   "errors: unmet dependencies, both lines, for name:arch");
	tap_has_str(res.reason, "Unable to correct problems",
		    "errors: every E: line in the reason");
	tap_ok(!res.locked && !res.interrupted && !res.changed,
	       "errors: not a lock, nothing changed");
	pkg_result_release(&res);
}

static void test_apt_lock(void)
{
	static const char out[] =
		"Waiting for cache lock: Could not get lock "
		"/var/lib/dpkg/lock-frontend. It is held by process 297 "
		"(perl)...\n";
	static const char err[] =
		"E: Unable to acquire the dpkg frontend lock "
		"(/var/lib/dpkg/lock-frontend), is another process using it?\n";
	static const char err2[] =
		"E: Could not get lock /var/lib/dpkg/lock-frontend. It is held "
		"by process 4242 (apt-get)\n"
		"N: Be aware that removing the lock file is not a solution\n";
	struct pkg_result res;

	memset(&res, 0, sizeof(res));
	pkg_apt_parse(out, err, reqs4, 1, &res);
	tap_ok(res.locked, "lock: seen");
	tap_is_str(res.reason,
		   "the dpkg lock is held by another process: perl (pid 297)",
		   "lock: who holds it, from the waiting message");
	pkg_result_release(&res);

	memset(&res, 0, sizeof(res));
	pkg_apt_parse("", err2, reqs4, 1, &res);
	tap_ok(res.locked, "lock: without waiting");
	tap_has_str(res.reason, "apt-get (pid 4242)", "lock: holder from E:");
	pkg_result_release(&res);

	memset(&res, 0, sizeof(res));
	pkg_apt_parse("", "E: dpkg was interrupted, you must manually run "
			  "'dpkg --configure -a' to correct the problem.\n",
		      reqs4, 1, &res);
	tap_ok(res.interrupted && !res.locked, "interrupted dpkg: seen");
	pkg_result_release(&res);
}

static void test_apt_dpkg_failure(void)
{
	static const struct pkg_req reqs[] = {
		{ "cgfail", NULL, PKG_OP_INSTALL, false },
		{ "cglib", NULL, PKG_OP_INSTALL, false },
		{ "cgbad", NULL, PKG_OP_INSTALL, false },
		{ "cgnet", NULL, PKG_OP_INSTALL, false },
	};
	static const char out[] =
		"Unpacking cgfail (1.0) ...\n"
		"Setting up cglib (1.0) ...\n"
		"Setting up cgfail (1.0) ...\n";
	static const char err[] =
		"dpkg: error processing package cgfail (--configure):\n"
		" installed cgfail package post-installation script subprocess "
		"returned error exit status 1\n"
		"dpkg: error processing archive /var/cache/apt/archives/"
		"cgbad_2.0_all.deb (--unpack):\n"
		" trying to overwrite '/usr/bin/x', which is also in package y\n"
		"E: Failed to fetch http://deb.example/pool/cgnet_1.0-1_amd64.deb"
		"  404  Not Found [IP: 10.0.0.1 80]\n"
		"Errors were encountered while processing:\n"
		" cgfail\n"
		" /var/cache/apt/archives/cgbad_2.0_all.deb\n"
		"E: Sub-process /usr/bin/dpkg returned an error code (1)\n";
	struct pkg_result res;

	memset(&res, 0, sizeof(res));
	pkg_apt_parse(out, err, reqs, 4, &res);
	tap_ok(res.changed, "dpkg failure: dpkg ran");
	tap_is_str(res.why[0],
		   "dpkg: error processing package cgfail (--configure): "
		   "installed cgfail package post-installation script "
		   "subprocess returned error exit status 1",
		   "dpkg failure: the script's failure, for its package");
	tap_ok(!res.why[1], "dpkg failure: the others are not blamed");
	tap_has_str(res.why[2], "trying to overwrite",
		    "dpkg failure: an archive's package from its file name");
	tap_has_str(res.why[3], "404", "fetch failure: named from the URL");
	tap_has_str(res.reason, "Sub-process", "dpkg failure: the reason");
	pkg_result_release(&res);

	memset(&res, 0, sizeof(res));
	pkg_apt_parse("Chrooting into /srv/img/root/\n",
		      "dpkg: error: cannot access archive '/srv/repo/./cga_2.0_all"
		      ".deb': No such file or directory\n"
		      "E: Sub-process /usr/bin/dpkg returned an error code (2)\n",
		      reqs, 1, &res);
	tap_is_str(res.reason,
		   "dpkg: error: cannot access archive '/srv/repo/./cga_2.0_all"
		   ".deb': No such file or directory; Sub-process /usr/bin/dpkg "
		   "returned an error code (2)",
		   "dpkg's own error leads the reason");
	pkg_result_release(&res);
}

static void test_apt_notes(void)
{
	static const struct pkg_req reqs[] = {
		{ "mail-transport-agent", NULL, PKG_OP_INSTALL, false },
	};
	struct pkg_result res;

	memset(&res, 0, sizeof(res));
	pkg_apt_parse("Note, selecting 'exim4-daemon-light' instead of "
		      "'mail-transport-agent'\n"
		      "Inst exim4-daemon-light (4.96-15 Debian:12 [amd64])\n",
		      "", reqs, 1, &res);
	tap_has_str(res.notes, "Note, selecting 'exim4-daemon-light'",
		    "virtual package: apt's note is kept");
	tap_ok(res.nacts == 1 && !res.why[0], "virtual package: not an error");
	pkg_result_release(&res);
}

/* cg_exec's in_fd: a memfd as stdin (how apt gets APT_CONFIG). */
static void test_exec_in_fd(void)
{
	static const char *const argv[] = { "cat", "/dev/stdin", NULL };
	static const char text[] = "Dir \"/x/\";\n";
	struct cg_exec x;
	struct cg_exec_result r;
	struct cg_error err;
	int fd = memfd_create("test", MFD_CLOEXEC);

	if (fd < 0 || write(fd, text, sizeof(text) - 1) < 0) {
		tap_ok(false, "exec: memfd");
		return;
	}
	cg_exec_init(&x, argv);
	tap_is_int(x.in_fd, -1, "exec: in_fd is -1 by default");
	x.in_fd = fd;
	tap_is_int(cg_exec_run(&x, &r, &err), 0, "exec: runs with in_fd");
	tap_is_str(r.out.data, text,
		   "exec: /dev/stdin reopens the file from its start");
	cg_exec_result_release(&r);
	close(fd);
}

int main(void)
{
	test_status();
	test_journal();
	test_status_errors();
	test_versions();
	test_apt_simulation();
	test_apt_errors();
	test_apt_lock();
	test_apt_dpkg_failure();
	test_apt_notes();
	test_exec_in_fd();
	return tap_done();
}
