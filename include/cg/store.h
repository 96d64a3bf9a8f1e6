/* store.h: the content-addressed store of everything congruent overwrote. */
#ifndef CG_STORE_H
#define CG_STORE_H

#include <stdint.h>
#include <sys/types.h>

#include "cg/error.h"
#include "cg/hash.h"

struct cg_store;

/* One kept version of a path. */
struct cg_backup {
	int64_t time;  /* when it was kept, seconds since the epoch */
	/*
	 * 'f' regular file, 'l' symlink (content: target), 'h' a regular
	 * file over the size bound: only its hash was kept, no content.
	 */
	char type;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	uint64_t size;
	char hash[CG_SHA256_HEX]; /* SHA-256 of the content */
	char *path;    /* owned: absolute path inside the root */
};

/*
 * Open the store in dir (STATE/backups). Nothing is created until the
 * first cg_store_keep().
 */
int cg_store_open(struct cg_store **out, const char *dir, struct cg_error *err);
void cg_store_free(struct cg_store *s);

/* Content is kept up to this size by default (agent config backup_max_mb). */
#define CG_STORE_MAX_MB 64

/* Keep content up to bytes in size; above, only its hash (0: never). */
void cg_store_set_max(struct cg_store *s, uint64_t bytes);

/* What cg_store_keep kept. */
struct cg_kept {
	char hash[CG_SHA256_HEX]; /* SHA-256 of the content, hex */
	int hash_only;            /* over the bound: no content kept */
};

/*
 * Keep what is at name in dirfd (a regular file's content, or a symlink's
 * target) as a version of path, durably, before the caller changes it. The
 * object is named by its SHA-256, written once however often it is kept;
 * holes of a sparse file stay holes. A file over the size bound is hashed
 * and indexed, not copied. The first keep of a run removes objects left
 * half-written by a killed run (call it under the run's lock).
 * *out (may be NULL) says what was kept.
 */
int cg_store_keep(struct cg_store *s, int dirfd, const char *name,
		  const char *path, struct cg_kept *out, struct cg_error *err);

/*
 * Keeps that share their syncs with a batch of changes (the file
 * module's): after cg_store_defer, cg_store_keep writes each object
 * without syncing it and holds its index line. The caller makes the
 * objects durable with its own data (cg_store_pending_fds: fds to sync
 * with cg_fs_sync_many), then cg_store_settle puts them in place and
 * appends their index lines, syncing each object directory touched and
 * the index once. Nothing a kept version is of may change before settle
 * returned 0. cg_store_drop abandons what is pending. Both end the
 * deferral.
 */
void cg_store_defer(struct cg_store *s);
/* The pending objects' fds, into *fds (caller frees); their count. */
size_t cg_store_pending_fds(struct cg_store *s, int **fds);
int cg_store_settle(struct cg_store *s, struct cg_error *err);
void cg_store_drop(struct cg_store *s);

/*
 * The versions kept for path (all paths when NULL), newest first. Free
 * with cg_backups_free().
 */
int cg_store_list(struct cg_store *s, const char *path,
		  struct cg_backup **out, size_t *n_out, struct cg_error *err);
void cg_backups_free(struct cg_backup *v, size_t n);

/* Open the object with this hash for reading. */
int cg_store_open_object(struct cg_store *s, const char *hash, int *fd_out,
			 struct cg_error *err);

#endif
