/* fs.h: safe paths under a root, atomic durable writes, user and group ids. */
#ifndef CG_FS_H
#define CG_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "cg/error.h"

struct cg_idcache;

/*
 * The tree resources live in: "/" for the host, or --root DIR. Every path
 * of a resource is resolved inside it, never by string prefix.
 */
struct cg_root {
	int fd;     /* owned: O_PATH directory */
	char *path; /* owned: as given, for messages */
	bool host;  /* path is "/": ids come from NSS, not ROOT/etc/passwd */
	struct cg_idcache *ids; /* owned: users and groups looked up */
	/*
	 * owned through accounts_free: what the user and group modules read
	 * of the account files, kept while the files do not change.
	 */
	void *accounts;
	void (*accounts_free)(void *accounts);
};

int cg_root_open(struct cg_root *root, const char *path, struct cg_error *err);
/* Accepts NULL; leaves root zeroed (fd -1). */
void cg_root_release(struct cg_root *root);

/*
 * Is path absolute and plain: no "." or ".." parts, no "//", no trailing
 * "/", not "/" itself, not too long? *why says what is wrong.
 */
bool cg_path_is_clean(const char *path, const char **why);

enum {
	CG_WALK_MKDIR = 1u << 0, /* create missing directories (0755) */
};

/*
 * Open the directory that holds path inside root. Directories on the way
 * are followed when they are symlinks only if the link belongs to root
 * (uid 0) or to us: a link an unprivileged user planted is never followed.
 * ".." and absolute link targets never leave root, even when a directory
 * on the way is renamed out of it meanwhile: a path of real directories
 * is opened in one openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), and a
 * ".." in a link's target goes up by name from the root, never by
 * openat(fd, ".."). Before Linux 5.6 (no openat2) each step is an openat
 * with O_NOFOLLOW instead, as safe and slower. The last component is
 * not looked at: callers lstat it (fstatat AT_SYMLINK_NOFOLLOW) and never
 * follow it. *dirfd_out is O_RDONLY|O_DIRECTORY (fsync-able); *base_out
 * points into path. CG_ENOTFOUND when a directory on the way is missing;
 * *created_out (may be NULL) counts directories made with CG_WALK_MKDIR.
 */
int cg_root_open_parent(struct cg_root *root, const char *path, unsigned flags,
			int *dirfd_out, const char **base_out,
			unsigned *created_out, struct cg_error *err);

/*
 * The last directory cg_root_parent_cached opened, kept for the next path
 * in the same directory: an observation of many files in few directories
 * resolves each directory once. Use it within one observation, when
 * nothing is changed in between.
 */
struct cg_dircache {
	char *dir; /* owned: the path of the directory, or NULL */
	int fd;    /* owned */
};

#define CG_DIRCACHE_INIT { NULL, -1 }

/*
 * As cg_root_open_parent (without CG_WALK_MKDIR), but *dirfd_out belongs
 * to dc: do not close it.
 */
int cg_root_parent_cached(struct cg_root *root, struct cg_dircache *dc,
			  const char *path, int *dirfd_out,
			  const char **base_out, struct cg_error *err);
void cg_dircache_release(struct cg_dircache *dc);

/*
 * Open relpath under dirfd (the policy tree) so that nothing, not even a
 * symlink inside the tree, leads out of it (openat2 RESOLVE_BENEATH).
 */
int cg_open_beneath(int dirfd, const char *relpath, int flags, int *fd_out,
		    struct cg_error *err);

/* Bytes to write: data/len, or when fd >= 0 the whole file fd from 0. */
struct cg_content {
	const char *data;
	size_t len;
	int fd;
};

enum {
	CG_REPLACE_IN_PLACE = 1u << 0,      /* rename was impossible (EBUSY) */
	CG_REPLACE_FCAPS_DROPPED = 1u << 1, /* the old file had capabilities */
	CG_REPLACE_XATTR_LOST = 1u << 2,    /* the kernel refused some: lost */
};

/* How cg_fs_replace went, beyond success. */
struct cg_replace_info {
	unsigned flags;  /* CG_REPLACE_* */
	int lost_errno;  /* why the last one in lost was refused */
	char lost[160];  /* "security.foo, trusted.x": not kept */
};

/*
 * Replace name in dirfd with content, atomically and durably: a temporary
 * file in the same directory, fchown, the extended attributes of the file
 * being replaced unless old_fd is -1, fchmod, fsync, rename, fsync of the
 * directory. A failing fsync stops the change (the old file stays).
 * uid/gid (uid_t)-1 keep the process's; mode is applied as given.
 * Extended attributes: security.capability is dropped (as a write drops
 * it), all others are copied, and one the kernel refuses to set is named
 * in info->lost rather than failing the change. When the target is a
 * mount point (rename fails with EBUSY) the finished temporary file is
 * copied over it in place, not atomically, and info says so. info may be
 * NULL.
 */
int cg_fs_replace(int dirfd, const char *name, const struct cg_content *c,
		  mode_t mode, uid_t uid, gid_t gid, int old_fd,
		  struct cg_replace_info *info, struct cg_error *err);

/*
 * cg_fs_replace in steps, so that many files share their syncs (the file
 * module's batches): cg_fs_stage writes the complete temporary (content,
 * owner, extended attributes, mode) without syncing it; once every
 * temporary of the batch is on disk (cg_fs_sync_many over their fds),
 * cg_fs_commit renames each into place (for a mount point: writes it in
 * place and fsyncs it), and the caller then syncs each directory touched
 * once. cg_fs_unstage drops a temporary not committed. dirfd must stay
 * open until then; name is copied.
 */
struct cg_staged {
	int dirfd;      /* not owned */
	int fd;         /* the temporary, open for reading back */
	char *name;     /* owned: the final name in dirfd */
	char tmp[256];  /* the temporary's name; "" once gone */
	mode_t mode;
	uid_t uid;
	gid_t gid;
};

int cg_fs_stage(int dirfd, const char *name, const struct cg_content *c,
		mode_t mode, uid_t uid, gid_t gid, int old_fd,
		struct cg_staged *s, struct cg_replace_info *info,
		struct cg_error *err);
/* Sets CG_REPLACE_IN_PLACE in info (not cleared) when it wrote in place. */
int cg_fs_commit(struct cg_staged *s, struct cg_replace_info *info,
		 struct cg_error *err);
/* Accepts a committed or zeroed-by-stage s. */
void cg_fs_unstage(struct cg_staged *s);

/*
 * Make what was written through n fds durable: one syncfs(2) per file
 * system among them (each fd's file system is flushed whole), or an
 * fsync of each when there are few (under 16) or before Linux 5.8,
 * whose syncfs reports no error. A failure is an error (never retried).
 */
int cg_fs_sync_many(const int *fds, size_t n, struct cg_error *err);

/* fsync a directory fd; a failure is an error (never retried). */
int cg_fs_sync_dir(int dirfd, const char *what, struct cg_error *err);

/*
 * Create a uniquely named temporary entry in dirfd: fills tmp (size >= 64)
 * with ".NAME.cg-XXXXXXXX" (name shortened if needed).
 */
void cg_fs_tmpname(char *tmp, size_t size, const char *name);

/*
 * Say that the temporary entry name was just made in dirfd, so that if
 * this run is killed before it is renamed or removed the next run removes
 * it (agent/leftover.c). A no-op unless the run keeps a record.
 */
void cg_fs_temp_made(int dirfd, const char *name);

/*
 * Users and groups by name or number, looked up in root's /etc/passwd and
 * /etc/group (or NSS for the host), cached per root.
 */
int cg_root_uid(struct cg_root *root, const char *name, uid_t *out,
		struct cg_error *err);
int cg_root_gid(struct cg_root *root, const char *name, gid_t *out,
		struct cg_error *err);
/*
 * Forget what was looked up in root (ids, and accounts): a user or group
 * resource changed its passwd or group, and later lookups must see that.
 */
void cg_root_ids_forget(struct cg_root *root);
/* The name of uid/gid in root, or its number, into buf. */
void cg_root_user_name(struct cg_root *root, uid_t uid, char *buf, size_t size);
void cg_root_group_name(struct cg_root *root, gid_t gid, char *buf,
			size_t size);

/*
 * The state directory rel (absolute, like /var/lib/congruent) inside the
 * image root: each component is opened without following symlinks (a
 * symlink or non-directory is refused with a hint to pass --state-dir),
 * missing ones are made when create is set (the last 0700), and the last
 * must be ours and not writable by others. *out is ROOTrel, the caller's.
 * Without create a missing directory is fine: there is nothing to read.
 */
int cg_state_dir_in_root(const char *root, const char *rel, bool create,
			 char **out, struct cg_error *err);

/* Create dir (with mode) and missing parents (0755); a real path. */
int cg_mkdir_p(const char *dir, mode_t mode, struct cg_error *err);

/*
 * A file written under a temporary name in its directory and put in place
 * by cg_atomic_commit (fsync, rename, fsync of the directory), so that
 * readers see the old file or the whole new one, never half of it.
 */
struct cg_atomic {
	int dirfd;
	int fd;          /* write the content here */
	char *name;      /* owned: the final name */
	char tmp[256];
	/*
	 * Set before commit: rename without fsync (of the file or the
	 * directory), for what may be lost to a power cut: readers still
	 * see the old file or the whole new one while the system runs.
	 */
	bool no_sync;
};

int cg_atomic_begin(struct cg_atomic *a, const char *path, mode_t mode,
		    struct cg_error *err);
int cg_atomic_commit(struct cg_atomic *a, struct cg_error *err);
/* Drop the temporary file. Accepts a finished or zeroed a. */
void cg_atomic_abort(struct cg_atomic *a);

/* Write a whole small file atomically and durably at a real path. */
int cg_write_file_atomic(const char *path, const void *data, size_t len,
			 mode_t mode, struct cg_error *err);

#endif
