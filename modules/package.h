/* package.h: the package resource's generic part and its backends. */
#ifndef CG_MODULES_PACKAGE_H
#define CG_MODULES_PACKAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "cg/error.h"
#include "cg/fs.h"

/* --- the package database, read once per observation ---------------- */

/* Where a package stands, in the words every backend can map to. */
enum pkg_state {
	PKG_ABSENT,       /* not installed, or unknown to the database */
	PKG_CONFIG_FILES, /* removed, its configuration files kept */
	PKG_INSTALLED,    /* installed (triggers may be pending) */
	PKG_BROKEN,       /* half-installed, unpacked, half-configured */
};

/* One package of the database; strings point into pkg_db's text. */
struct pkg_entry {
	const char *name;
	const char *arch;    /* "" when the database says none */
	const char *version; /* "" when none */
	const char *status;  /* the backend's word: "half-configured" */
	enum pkg_state state;
	bool hold;           /* the administrator froze it (apt-mark hold) */
	bool essential;      /* removing it needs special consent */
	bool reinstreq;      /* dpkg: must be reinstalled before anything */
	unsigned seq;        /* order read, for stable sorting */
};

struct pkg_db {
	char **texts; /* owned: the files read, parsed in place */
	size_t ntexts;
	struct pkg_entry *e; /* owned: sorted by name, arch once finished */
	size_t n, cap;
	const char *native; /* the host's architecture, if known, or NULL */
	bool journal;       /* dpkg's journal (updates/) has entries */
	unsigned reads;     /* files read: the status file, journal entries */
};

/* Add an entry (its strings must live as long as db: see keep). */
struct pkg_entry *pkg_db_add(struct pkg_db *db);
/* Hand db a text its entries point into; freed with db. */
void pkg_db_keep(struct pkg_db *db, char *text);
/*
 * Sort for lookups, once all is added. Of two entries for the same
 * package and architecture the later one stays, as dpkg applies its
 * journal over the status file.
 */
void pkg_db_finish(struct pkg_db *db);
/*
 * The entry that stands for name ("cga", or "cga:amd64"): of the entries
 * with that name (and that architecture or "all"), the most installed,
 * the native architecture first. NULL if there is none.
 */
const struct pkg_entry *pkg_db_find(const struct pkg_db *db, const char *name);
/* The first entry in a half-done state (dpkg --audit would list it). */
const struct pkg_entry *pkg_db_first_broken(const struct pkg_db *db,
					    size_t *count);
void pkg_db_release(struct pkg_db *db);

/* --- asking the backend for changes --------------------------------- */

enum pkg_op {
	PKG_OP_INSTALL, /* install, upgrade or downgrade */
	PKG_OP_REMOVE,  /* remove, keeping configuration files */
};

/* One change asked of the backend: the policy's, for one resource. */
struct pkg_req {
	const char *name;    /* borrowed: "cga" or "cga:amd64" */
	const char *version; /* borrowed: exact version, or NULL: candidate */
	unsigned char op;    /* enum pkg_op */
	bool downgrade;      /* to an older version than installed */
};

/* What the package manager did or would do to one package. */
struct pkg_action {
	char op;       /* 'I' install/upgrade/downgrade, 'R' remove, 'P' purge */
	char *name;    /* owned: as the tool printed it ("libc6:i386") */
	char *from;    /* owned: installed version, or NULL */
	char *to;      /* owned: new version, or NULL (removal) */
};

/* The outcome of simulate or apply. */
struct pkg_result {
	bool ok;
	bool locked;      /* another process held the lock: nothing done */
	bool interrupted; /* the tool refused: an interrupted earlier run */
	bool changed;     /* the database may have been changed (dpkg ran) */
	char *reason;     /* owned: what the tool said, for messages */
	/*
	 * owned, one per request: the tool's own words about that request
	 * when it named it as the problem (unknown, unsatisfiable), or NULL.
	 */
	char **why;
	size_t nwhy;
	struct pkg_action *acts; /* owned: simulate: what would be done */
	size_t nacts;
	char *notes;      /* owned: "Note, selecting ..." lines, or NULL */
};

void pkg_result_release(struct pkg_result *res);

/* The package manager of a host: one more backend is one more table. */
struct pkg_backend {
	const char *name; /* "apt" */
	/* Does root have this package manager's database? */
	bool (*detect)(struct cg_root *root);
	/* Read the whole database, once, into db. */
	int (*read_db)(struct cg_root *root, struct pkg_db *db,
		       struct cg_error *err);
	/*
	 * Is the database locked by another process right now? (*pid and
	 * comm say who, when known: 0 and "".) To tell a database being
	 * changed right now from one left half-done.
	 */
	bool (*locked)(struct cg_root *root, long *pid, char *comm,
		       size_t size);
	/* What would the changes do? Never changes anything. */
	int (*simulate)(struct cg_root *root, const struct pkg_req *reqs,
			size_t n, struct pkg_result *res, struct cg_error *err);
	/* Make all the changes in one transaction. */
	int (*apply)(struct cg_root *root, const struct pkg_req *reqs, size_t n,
		     struct pkg_result *res, struct cg_error *err);
	/* <0, 0, >0 as version a is older, the same, newer than b. */
	int (*version_cmp)(const char *a, const char *b);
	/* The command that finishes an interrupted run, for hints. */
	const char *repair;
};

extern const struct pkg_backend pkg_backend_apt;

/*
 * apt-get update in root (with its APT_CONFIG under --root), for
 * apt_source: 0 when it ran, with *reason_out (owned) NULL when every
 * source was read and verified, else apt's first error line.
 */
int pkg_apt_update(struct cg_root *root, char **reason_out,
		   struct cg_error *err);

/* --- apt/dpkg details, exposed for the unit tests ------------------- */

/*
 * Parse text (dpkg's status file or a journal entry in the same format,
 * len bytes, NUL-terminated) into db, which takes text over and splits it
 * in place. where names the file in errors.
 */
int pkg_dpkg_parse(struct pkg_db *db, char *text, size_t len,
		   const char *where, struct cg_error *err);

/* dpkg's version order (epoch, upstream, revision; '~' sorts first). */
int pkg_dpkg_version_cmp(const char *a, const char *b);

/*
 * Parse what `apt-get` printed (out: stdout, err: stderr) into res:
 * the Inst/Remv/Purg lines of a simulation, the requests apt named as
 * the problem (res->why), the lock and an interrupted dpkg.
 */
void pkg_apt_parse(const char *out, const char *err, const struct pkg_req *reqs,
		   size_t n, struct pkg_result *res);

/* The seconds apt waits for the dpkg lock (CONGRUENT_DPKG_LOCK_TIMEOUT). */
unsigned pkg_lock_timeout(void);

#endif
