/* store.c: keeping old contents by SHA-256 under STATE/backups, with an index. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cg/fs.h"
#include "cg/store.h"
#include "cg/util.h"

/* A keep of a deferred batch: written, not synced, not in place. */
struct pending {
	int fd;                   /* owned: the temporary object, or -1 */
	char tmp[64];             /* its name in objects/ */
	char hex[CG_SHA256_HEX];
};

struct cg_store {
	char *dir;        /* owned */
	uint64_t max;     /* content kept up to this size; above: hash only */
	bool swept;       /* leftovers of killed runs removed */
	bool deferred;    /* cg_store_defer: keeps wait for settle */
	struct pending *p; /* owned */
	size_t np, cap;
	struct cg_buf lines; /* the index lines of the pending keeps */
};

int cg_store_open(struct cg_store **out, const char *dir, struct cg_error *err)
{
	struct cg_store *s = cg_xcalloc(1, sizeof(*s));

	(void)err;
	s->dir = cg_xstrdup(dir);
	s->max = (uint64_t)CG_STORE_MAX_MB << 20;
	*out = s;
	return 0;
}

void cg_store_set_max(struct cg_store *s, uint64_t bytes)
{
	s->max = bytes;
}

/*
 * tmp-PID-NS objects of a run killed while copying. Only ever called
 * under the run's lock, so no live run is writing one.
 */
static void sweep(struct cg_store *s, int objfd)
{
	DIR *d;
	struct dirent *de;
	int fd;

	s->swept = true;
	fd = dup(objfd);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (strncmp(de->d_name, "tmp-", 4) == 0)
			unlinkat(objfd, de->d_name, 0);
	closedir(d);
}

/*
 * Copy in to out and hash it, leaving holes as holes: a 16 GiB sparse
 * file costs its data, not 16 GiB (the hash still covers the zeros).
 * out -1: hash only.
 */
static int copy_sparse(int in, int out, uint64_t size, struct cg_sha256 *h,
		       const char *path, struct cg_error *err)
{
	static const char zeros[65536];
	char buf[65536];
	off_t pos = 0, data, hole;

	while ((uint64_t)pos < size) {
		data = lseek(in, pos, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			data = (off_t)size; /* a hole to the end */
		else if (data < 0)
			data = pos; /* no SEEK_DATA here: copy it all */
		for (; pos < data; ) {
			size_t k = (size_t)(data - pos) < sizeof(zeros)
					   ? (size_t)(data - pos)
					   : sizeof(zeros);

			cg_sha256_update(h, zeros, k);
			pos += (off_t)k;
		}
		if ((uint64_t)pos >= size)
			break;
		hole = lseek(in, pos, SEEK_HOLE);
		if (hole < 0)
			hole = (off_t)size;
		while (pos < hole) {
			size_t want = (size_t)(hole - pos) < sizeof(buf)
					      ? (size_t)(hole - pos)
					      : sizeof(buf);
			ssize_t n = pread(in, buf, want, pos);

			if (n < 0 && errno == EINTR)
				continue;
			if (n == 0)
				return cg_error_set(err, CG_ERR,
						    "%s shrank while being "
						    "backed up",
						    path);
			if (n < 0 ||
			    (out >= 0 && pwrite(out, buf, (size_t)n, pos) != n))
				return cg_error_sys(err, CG_ERR,
						    "cannot copy %s into the "
						    "backup store",
						    path);
			cg_sha256_update(h, buf, (size_t)n);
			pos += n;
		}
	}
	if (out >= 0 && ftruncate(out, (off_t)size) < 0)
		return cg_error_sys(err, CG_ERR, "cannot copy %s into the "
						 "backup store", path);
	return 0;
}


void cg_store_free(struct cg_store *s)
{
	if (!s)
		return;
	cg_store_drop(s);
	free(s->p);
	free(s->dir);
	free(s);
}

/* Escape bytes that would break the one-line-per-entry index. */
static void escape_path(struct cg_buf *b, const char *p)
{
	for (; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= 0x20 || c == '%' || c == 0x7f)
			cg_buf_addf(b, "%%%02X", c);
		else
			cg_buf_addch(b, (char)c);
	}
}

static char *unescape_path(const char *p)
{
	struct cg_buf b = { 0 };

	while (*p) {
		if (p[0] == '%' && p[1] && p[2]) {
			char hex[3] = { p[1], p[2], 0 };

			cg_buf_addch(&b, (char)strtoul(hex, NULL, 16));
			p += 3;
		} else {
			cg_buf_addch(&b, *p++);
		}
	}
	return cg_buf_detach(&b, NULL);
}

static int open_dir(const char *path, int *fd_out, struct cg_error *err)
{
	if (cg_mkdir_p(path, 0700, err) < 0)
		return CG_ERR;
	*fd_out = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd_out < 0)
		return cg_error_sys(err, CG_ERR, "cannot open %s", path);
	return 0;
}

/* Move the finished temporary object into objects/ab/cdef... */
static int place_object(struct cg_store *s, int objfd, const char *tmp,
			const char *hex, struct cg_error *err)
{
	char sub[3] = { hex[0], hex[1], 0 }, *subpath;
	struct stat st;
	int subfd, rc;

	subpath = cg_xasprintf("%s/objects/%s", s->dir, sub);
	rc = open_dir(subpath, &subfd, err);
	free(subpath);
	if (rc < 0) {
		unlinkat(objfd, tmp, 0);
		return rc;
	}
	if (fstatat(subfd, hex + 2, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		/* Content seen before: the object is already there. */
		unlinkat(objfd, tmp, 0);
		close(subfd);
		return 0;
	}
	if (renameat(objfd, tmp, subfd, hex + 2) < 0) {
		rc = cg_error_sys(err, CG_ERR, "cannot store backup object");
		unlinkat(objfd, tmp, 0);
		close(subfd);
		return rc;
	}
	rc = cg_fs_sync_dir(subfd, "backup object", err);
	if (rc == 0)
		rc = cg_fs_sync_dir(objfd, "backup object", err);
	close(subfd);
	return rc;
}

static void index_line(struct cg_buf *line, char type, const struct stat *st,
		       uint64_t size, const char *hex, const char *path)
{
	cg_buf_addf(line, "%" PRId64 " %c %04o %u %u %" PRIu64 " %s ",
		    (int64_t)time(NULL), type, (unsigned)(st->st_mode & 07777),
		    (unsigned)st->st_uid, (unsigned)st->st_gid, size, hex);
	escape_path(line, path);
	cg_buf_addch(line, '\n');
}

/* Append lines to the index and fsync it. */
static int write_index(struct cg_store *s, const struct cg_buf *line,
		       struct cg_error *err)
{
	char *ipath;
	int fd, rc = 0;

	ipath = cg_xasprintf("%s/index", s->dir);
	fd = open(ipath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0) {
		rc = cg_error_sys(err, CG_ERR, "cannot open %s", ipath);
		goto out;
	}
	if (cg_write_all(fd, line->data, line->len) < 0 || fsync(fd) < 0)
		rc = cg_error_sys(err, CG_ERR, "cannot write %s", ipath);
	close(fd);
out:
	free(ipath);
	return rc;
}

static int append_index(struct cg_store *s, char type, const struct stat *st,
			uint64_t size, const char *hex, const char *path,
			struct cg_error *err)
{
	struct cg_buf line = { 0 };
	int rc;

	index_line(&line, type, st, size, hex, path);
	rc = write_index(s, &line, err);
	cg_buf_release(&line);
	return rc;
}

int cg_store_keep(struct cg_store *s, int dirfd, const char *name,
		  const char *path, struct cg_kept *kept, struct cg_error *err)
{
	unsigned char digest[CG_SHA256_LEN];
	char hex[CG_SHA256_HEX], tmp[64], *objpath;
	struct cg_sha256 h;
	struct stat st, st2;
	uint64_t size = 0;
	int objfd = -1, in = -1, out = -1, rc = CG_ERR;
	char type;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return cg_error_sys(err, CG_ERR, "cannot stat %s to back it up",
				    path);
	if (S_ISREG(st.st_mode))
		type = (uint64_t)st.st_size > s->max ? 'h' : 'f';
	else if (S_ISLNK(st.st_mode))
		type = 'l';
	else
		return cg_error_set(err, CG_ERR,
				    "%s is neither a file nor a symlink; only "
				    "those can be backed up",
				    path);
	objpath = cg_xasprintf("%s/objects", s->dir);
	rc = open_dir(objpath, &objfd, err);
	free(objpath);
	if (rc < 0)
		return rc;
	if (!s->swept)
		sweep(s, objfd);
	rc = CG_ERR;
	snprintf(tmp, sizeof(tmp), "tmp-%d-%" PRIu64, (int)getpid(),
		 cg_now_ns());
	if (type != 'h') {
		out = openat(objfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			     0600);
		if (out < 0) {
			cg_error_sys(err, CG_ERR,
				     "cannot create a backup object");
			goto out_close;
		}
	}
	cg_sha256_init(&h);
	if (type == 'l') {
		char target[4096];
		ssize_t n = readlinkat(dirfd, name, target, sizeof(target));

		if (n < 0 || (size_t)n >= sizeof(target)) {
			cg_sha256_release(&h);
			cg_error_sys(err, CG_ERR, "cannot read link %s", path);
			goto out_unlink;
		}
		size = (uint64_t)n;
		cg_sha256_update(&h, target, (size_t)n);
		if (cg_write_all(out, target, (size_t)n) < 0) {
			cg_sha256_release(&h);
			cg_error_sys(err, CG_ERR, "cannot write backup object");
			goto out_unlink;
		}
	} else {
		in = openat(dirfd, name,
			    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (in < 0 || fstat(in, &st2) < 0 || st2.st_ino != st.st_ino ||
		    st2.st_dev != st.st_dev) {
			cg_sha256_release(&h);
			cg_error_sys(err, CG_ERR, "cannot open %s to back it up",
				     path);
			goto out_unlink;
		}
		size = (uint64_t)st2.st_size;
		if (copy_sparse(in, out, size, &h, path, err) < 0) {
			cg_sha256_release(&h);
			goto out_unlink;
		}
	}
	cg_sha256_final(&h, digest);
	cg_hex(digest, sizeof(digest), hex);
	if (s->deferred) {
		struct pending *pd;

		cg_grow(&s->p, &s->cap, s->np + 1, sizeof(*s->p));
		pd = &s->p[s->np++];
		pd->fd = out;
		snprintf(pd->tmp, sizeof(pd->tmp), "%s", tmp);
		memcpy(pd->hex, hex, sizeof(hex));
		out = -1; /* the batch's now */
		index_line(&s->lines, type, &st, size, hex, path);
		if (kept) {
			memcpy(kept->hash, hex, sizeof(hex));
			kept->hash_only = type == 'h';
		}
		rc = 0;
		goto out_close;
	}
	if (out >= 0) {
		if (fsync(out) < 0) {
			cg_error_sys(err, CG_ERR,
				     "fsync of backup object failed");
			goto out_unlink;
		}
		close(out);
		out = -1;
		if (place_object(s, objfd, tmp, hex, err) < 0)
			goto out_close;
	}
	if (append_index(s, type, &st, size, hex, path, err) < 0)
		goto out_close;
	if (kept) {
		memcpy(kept->hash, hex, sizeof(hex));
		kept->hash_only = type == 'h';
	}
	rc = 0;
	goto out_close;

out_unlink:
	if (out >= 0)
		unlinkat(objfd, tmp, 0);
out_close:
	if (out >= 0)
		close(out);
	if (in >= 0)
		close(in);
	close(objfd);
	return rc;
}

void cg_store_defer(struct cg_store *s)
{
	cg_store_drop(s);
	s->deferred = true;
}

size_t cg_store_pending_fds(struct cg_store *s, int **fds)
{
	size_t i, n = 0;

	*fds = cg_xcalloc(s->np + 1, sizeof(**fds));
	for (i = 0; i < s->np; i++)
		if (s->p[i].fd >= 0)
			(*fds)[n++] = s->p[i].fd;
	return n;
}

void cg_store_drop(struct cg_store *s)
{
	int objfd = -1;
	size_t i;

	for (i = 0; i < s->np; i++) {
		if (s->p[i].fd < 0)
			continue;
		close(s->p[i].fd);
		if (objfd < 0) {
			char *objpath = cg_xasprintf("%s/objects", s->dir);

			objfd = open(objpath, O_RDONLY | O_DIRECTORY |
						      O_CLOEXEC);
			free(objpath);
		}
		if (objfd >= 0)
			unlinkat(objfd, s->p[i].tmp, 0);
	}
	if (objfd >= 0)
		close(objfd);
	s->np = 0;
	cg_buf_release(&s->lines);
	s->deferred = false;
}

/*
 * The pending objects, durable already (the caller synced their fds):
 * each renamed into objects/ab/ unless there, each directory touched
 * synced once (objects/ too when a subdirectory was made), then the
 * index lines appended in one write and one fsync.
 */
int cg_store_settle(struct cg_store *s, struct cg_error *err)
{
	int subfd[256], objfd = -1, rc = 0;
	bool made = false;
	size_t i;
	char *objpath;

	if (!s->deferred || (!s->np && !s->lines.len)) {
		cg_store_drop(s);
		return 0;
	}
	for (i = 0; i < 256; i++)
		subfd[i] = -1;
	objpath = cg_xasprintf("%s/objects", s->dir);
	objfd = open(objpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(objpath);
	if (objfd < 0) {
		rc = cg_error_sys(err, CG_ERR, "cannot open the backup store");
		goto out;
	}
	for (i = 0; i < s->np && rc == 0; i++) {
		struct pending *pd = &s->p[i];
		char sub[3] = { pd->hex[0], pd->hex[1], 0 };
		unsigned k = (unsigned)strtoul(sub, NULL, 16) & 0xff;
		struct stat st;

		if (pd->fd < 0)
			continue;
		if (subfd[k] < 0) {
			if (mkdirat(objfd, sub, 0700) == 0)
				made = true;
			else if (errno != EEXIST) {
				rc = cg_error_sys(err, CG_ERR, "cannot create "
							       "a backup "
							       "directory");
				break;
			}
			subfd[k] = openat(objfd, sub, O_RDONLY | O_DIRECTORY |
							      O_NOFOLLOW |
							      O_CLOEXEC);
			if (subfd[k] < 0) {
				rc = cg_error_sys(err, CG_ERR,
						  "cannot open a backup "
						  "directory");
				break;
			}
		}
		close(pd->fd);
		pd->fd = -1;
		if (fstatat(subfd[k], pd->hex + 2, &st, AT_SYMLINK_NOFOLLOW) ==
		    0) {
			/* Content seen before: the object is there. */
			unlinkat(objfd, pd->tmp, 0);
			continue;
		}
		if (renameat(objfd, pd->tmp, subfd[k], pd->hex + 2) < 0) {
			rc = cg_error_sys(err, CG_ERR,
					  "cannot store backup object");
			unlinkat(objfd, pd->tmp, 0);
		}
	}
	/*
	 * Objects spread over up to 256 directories: many of them are one
	 * syncfs (cg_fs_sync_many), few an fsync each.
	 */
	if (rc == 0) {
		int dfd[257];
		size_t nd = 0;

		for (i = 0; i < 256; i++)
			if (subfd[i] >= 0)
				dfd[nd++] = subfd[i];
		if (made)
			dfd[nd++] = objfd;
		if (nd && cg_fs_sync_many(dfd, nd, err) < 0) {
			cg_error_prefix(err, "backup objects");
			rc = CG_ERR;
		}
	}
	if (rc == 0 && s->lines.len)
		rc = write_index(s, &s->lines, err);
out:
	for (i = 0; i < 256; i++)
		if (subfd[i] >= 0)
			close(subfd[i]);
	if (objfd >= 0)
		close(objfd);
	cg_store_drop(s);
	return rc;
}

static bool parse_line(char *line, struct cg_backup *b)
{
	char type, hash[CG_SHA256_HEX], *path;
	unsigned mode, uid, gid;
	int64_t t;
	uint64_t size;
	int off = 0;

	if (sscanf(line, "%" SCNd64 " %c %o %u %u %" SCNu64 " %64s %n", &t,
		   &type, &mode, &uid, &gid, &size, hash, &off) < 7 ||
	    off == 0 || (type != 'f' && type != 'l' && type != 'h') ||
	    strlen(hash) != CG_SHA256_HEX - 1)
		return false;
	path = line + off;
	if (path[0] != '/')
		return false;
	b->time = t;
	b->type = type;
	b->mode = (mode_t)mode;
	b->uid = (uid_t)uid;
	b->gid = (gid_t)gid;
	b->size = size;
	memcpy(b->hash, hash, sizeof(b->hash));
	b->path = unescape_path(path);
	return true;
}

int cg_store_list(struct cg_store *s, const char *path,
		  struct cg_backup **out, size_t *n_out, struct cg_error *err)
{
	struct cg_backup *v = NULL, b;
	size_t n = 0, cap = 0, i;
	struct cg_buf buf = { 0 };
	char *ipath, *line, *save = NULL;
	int fd;

	ipath = cg_xasprintf("%s/index", s->dir);
	fd = open(ipath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		free(ipath);
		if (errno == ENOENT) {
			*out = NULL;
			*n_out = 0;
			return 0;
		}
		return cg_error_sys(err, CG_ERR, "cannot open backup index");
	}
	free(ipath);
	if (cg_read_fd(fd, &buf, 1u << 30, err) < 0) {
		close(fd);
		cg_buf_release(&buf);
		return CG_ERR;
	}
	close(fd);
	for (line = buf.data ? strtok_r(buf.data, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!parse_line(line, &b))
			continue;
		if (path && strcmp(path, b.path) != 0) {
			free(b.path);
			continue;
		}
		cg_grow(&v, &cap, n + 1, sizeof(*v));
		v[n++] = b;
	}
	cg_buf_release(&buf);
	/* The index is in time order; newest first is more useful. */
	for (i = 0; i < n / 2; i++) {
		b = v[i];
		v[i] = v[n - 1 - i];
		v[n - 1 - i] = b;
	}
	*out = v;
	*n_out = n;
	return 0;
}

void cg_backups_free(struct cg_backup *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}

int cg_store_open_object(struct cg_store *s, const char *hash, int *fd_out,
			 struct cg_error *err)
{
	char *p;
	size_t i;
	int fd;

	if (strlen(hash) != CG_SHA256_HEX - 1)
		return cg_error_set(err, CG_ERR, "bad object name '%s'", hash);
	for (i = 0; hash[i]; i++)
		if (!strchr("0123456789abcdef", hash[i]))
			return cg_error_set(err, CG_ERR, "bad object name '%s'",
					    hash);
	p = cg_xasprintf("%s/objects/%.2s/%s", s->dir, hash, hash + 2);
	fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		cg_error_sys(err, CG_ENOTFOUND, "backup object %s is missing", p);
		free(p);
		return CG_ENOTFOUND;
	}
	free(p);
	*fd_out = fd;
	return 0;
}
