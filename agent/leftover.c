/* leftover.c: the temporaries a killed run left next to its files, recorded as made and removed by the next run. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "cg/fs.h"

/*
 * STATE/temporaries: one line per temporary entry made by this run, as
 * "DIRDEV DIRINO DEV INO BIRTH HEX(DIR) HEX(NAME)" (BIRTH: the entry's
 * birth time in ns, 0 where the file system keeps none; an inode number
 * freed and given to a new file does not keep it). It exists only while a run
 * is changing things, and is removed when the run ends, however it ends,
 * short of being killed: a journal found at the start of a run is the
 * previous run's, which did not end. Each line costs one write(2) with no
 * fsync on top of the temporary file it names (which is written and
 * fsynced anyway): nothing a normal run would notice.
 */
#define JOURNAL "temporaries"
#define JOURNAL_MAX (64u << 20)

static int journal_fd = -1;
static char *journal_path; /* owned: set while we keep a journal */
static pid_t journal_pid;  /* ours, not a forked child's, to remove */

static void hex_put(struct cg_buf *b, const char *s)
{
	static const char digits[] = "0123456789abcdef";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		cg_buf_addf(b, "%c%c", digits[c >> 4], digits[c & 15]);
	}
}

static char *hex_get(const char *s)
{
	size_t n = strlen(s), i;
	char *out;

	if (n == 0 || n % 2)
		return NULL;
	out = cg_xmalloc(n / 2 + 1);
	for (i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1 || v == 0) {
			free(out);
			return NULL;
		}
		out[i] = (char)v;
	}
	out[n / 2] = '\0';
	return out;
}

static uint64_t birth_ns(int dirfd, const char *name)
{
	struct statx stx;

	if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_BTIME, &stx) < 0 ||
	    !(stx.stx_mask & STATX_BTIME))
		return 0;
	return (uint64_t)stx.stx_btime.tv_sec * 1000000000u +
	       stx.stx_btime.tv_nsec;
}

void cg_fs_temp_made(int dirfd, const char *name)
{
	char link[64], dir[4096];
	struct stat dst, st;
	struct cg_buf b = { 0 };
	ssize_t len;

	if (journal_fd < 0)
		return;
	if (fstat(dirfd, &dst) < 0 ||
	    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	/* The directory's path as the kernel knows it: a host path. */
	snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
	len = readlink(link, dir, sizeof(dir) - 1);
	if (len <= 0 || dir[0] != '/')
		return; /* no /proc: the temporary cannot be found again */
	dir[len] = '\0';
	cg_buf_addf(&b,
		    "%" PRIx64 " %" PRIx64 " %" PRIx64 " %" PRIx64 " %" PRIx64
		    " ",
		    (uint64_t)dst.st_dev, (uint64_t)dst.st_ino,
		    (uint64_t)st.st_dev, (uint64_t)st.st_ino,
		    birth_ns(dirfd, name));
	hex_put(&b, dir);
	cg_buf_addf(&b, " ");
	hex_put(&b, name);
	cg_buf_addf(&b, "\n");
	/* O_APPEND: one write, one whole line, even from a child. */
	if (cg_write_all(journal_fd, b.data, b.len) < 0) {
		/* A record we cannot keep: stop, rather than half-lines. */
		close(journal_fd);
		journal_fd = -1;
	}
	cg_buf_release(&b);
}

/*
 * Remove one recorded temporary if it is still exactly the entry we made:
 * the directory is the same inode (whatever its path leads to now), and
 * the name there is still the same inode, born at the same time, a file
 * or symlink.
 */
static bool sweep_one(char *line)
{
	uint64_t v[5];
	char *f[7], *save = NULL, *dir = NULL, *name = NULL, *end;
	struct stat st;
	bool removed = false;
	int i, dirfd;

	for (i = 0; i < 7; i++) {
		f[i] = strtok_r(i ? NULL : line, " ", &save);
		if (!f[i])
			return false;
	}
	for (i = 0; i < 5; i++) {
		errno = 0;
		v[i] = strtoull(f[i], &end, 16);
		if (errno || *end)
			return false;
	}
	dir = hex_get(f[5]);
	name = hex_get(f[6]);
	if (!dir || !name || strchr(name, '/') || !cg_str_starts(name, "."))
		goto out;
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0)
		goto out;
	if (fstat(dirfd, &st) == 0 && (uint64_t)st.st_dev == v[0] &&
	    (uint64_t)st.st_ino == v[1] &&
	    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (uint64_t)st.st_dev == v[2] && (uint64_t)st.st_ino == v[3] &&
	    (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) &&
	    birth_ns(dirfd, name) == v[4] && unlinkat(dirfd, name, 0) == 0) {
		removed = true;
		fsync(dirfd);
	}
	close(dirfd);
out:
	free(dir);
	free(name);
	return removed;
}

int cg_leftover_begin(const char *state_dir, size_t *removed_out,
		      struct cg_error *err)
{
	struct cg_buf b = { 0 };
	char *line, *save = NULL;
	size_t removed = 0;
	int fd;

	*removed_out = 0;
	cg_leftover_end();
	journal_path = cg_xasprintf("%s/%s", state_dir, JOURNAL);
	fd = open(journal_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		/* A bounded read: the lines past it are lost, not trusted. */
		/* Bounded: past JOURNAL_MAX, what was read is swept. */
		if (cg_read_fd(fd, &b, JOURNAL_MAX, err) < 0 && b.len == 0) {
			close(fd);
			cg_leftover_end();
			return CG_ERR;
		}
		close(fd);
		cg_error_clear(err);
		cg_buf_addf(&b, "%s", "");
		for (line = strtok_r(b.data, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save))
			removed += sweep_one(line);
		cg_buf_release(&b);
	} else if (errno != ENOENT) {
		cg_error_sys(err, CG_ERR, "cannot open %s", journal_path);
		cg_leftover_end();
		return CG_ERR;
	}
	*removed_out = removed;
	journal_fd = open(journal_path,
			  O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_NOFOLLOW |
				  O_CLOEXEC,
			  0600);
	if (journal_fd < 0) {
		cg_error_sys(err, CG_ERR, "cannot create %s", journal_path);
		cg_leftover_end();
		return CG_ERR;
	}
	journal_pid = getpid();
	return 0;
}

void cg_leftover_end(void)
{
	if (journal_fd >= 0)
		close(journal_fd);
	journal_fd = -1;
	if (journal_path && journal_pid == getpid())
		unlink(journal_path);
	free(journal_path);
	journal_path = NULL;
	journal_pid = 0;
}
