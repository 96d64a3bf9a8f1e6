/* confine.c: run one check program (validate:) in plan's read-only sandbox, in plan and run alike. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "cg/exec.h"

#define MAGIC "congruent-confined-1\n"

/* The content as an in-memory file that nobody can change any more. */
static int sealed_memfd(const void *in, size_t in_len, struct cg_error *err)
{
	int fd = memfd_create("congruent-new-content",
			      MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return cg_error_sys(err, CG_ERR, "memfd_create failed");
	if (cg_write_all(fd, in, in_len) < 0 ||
	    fcntl(fd, F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0 ||
	    lseek(fd, 0, SEEK_SET) < 0) {
		cg_error_sys(err, CG_ERR, "cannot fill the in-memory file");
		close(fd);
		return CG_ERR;
	}
	return fd;
}

static void put_u64(struct cg_buf *b, uint64_t v)
{
	cg_buf_add(b, &v, sizeof(v));
}

static void put_buf(struct cg_buf *b, const struct cg_buf *s)
{
	put_u64(b, s->len);
	if (s->len)
		cg_buf_add(b, s->data, s->len);
}

static void __attribute__((noreturn))
child(const struct cg_ctx *ctx, const struct cg_exec *x, const void *in,
      size_t in_len, int out)
{
	struct cg_exec_result res;
	struct cg_exec y = *x;
	struct cg_error err;
	struct cg_buf b = { 0 };
	char summary[256];
	int null = open("/dev/null", O_RDWR | O_CLOEXEC), fd, rc;

	/* stdin and stdout are not the check's; stderr stays, for crashes. */
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0)
		_exit(1);
	close(null);
	memset(&res, 0, sizeof(res));
	cg_error_clear(&err);
	rc = cg_sandbox_enter_in(out, x->root, summary, sizeof(summary), &err);
	y.root = NULL; /* entered already */
	if (rc == 0 && chdir("/") < 0)
		rc = cg_error_sys(&err, CG_ERR, "cannot change to /");
	if (rc == 0) {
		/* After entering: the sandbox closes every fd it did not make. */
		fd = sealed_memfd(in, in_len, &err);
		rc = fd < 0 ? fd : 0;
		if (rc == 0) {
			y.in = NULL;
			y.in_fd = fd;
			rc = cg_ctx_exec(ctx, &y, &res, &err);
			close(fd);
		}
	}
	cg_buf_add(&b, MAGIC, strlen(MAGIC));
	put_u64(&b, (uint64_t)(int64_t)rc);
	cg_buf_add(&b, &err, sizeof(err));
	put_u64(&b, (uint64_t)(int64_t)res.status);
	put_buf(&b, &res.out);
	put_buf(&b, &res.err);
	(void)!cg_write_all(out, b.data, b.len);
	/* No atexit handlers, no stdio flush: the parent does the rest. */
	_exit(0);
}

struct reader {
	const char *p, *end;
	bool bad;
};

static uint64_t get_u64(struct reader *rd)
{
	uint64_t v = 0;

	if (rd->bad || (size_t)(rd->end - rd->p) < sizeof(v)) {
		rd->bad = true;
		return 0;
	}
	memcpy(&v, rd->p, sizeof(v));
	rd->p += sizeof(v);
	return v;
}

static void get_buf(struct reader *rd, struct cg_buf *out)
{
	uint64_t len = get_u64(rd);

	if (rd->bad || len > (uint64_t)(rd->end - rd->p)) {
		rd->bad = true;
		return;
	}
	cg_buf_add(out, rd->p, (size_t)len);
	rd->p += len;
}

int cg_ctx_exec_confined(const struct cg_ctx *ctx, const struct cg_exec *x,
			 const void *in, size_t in_len,
			 struct cg_exec_result *res, struct cg_error *err)
{
	struct cg_buf b = { 0 };
	struct reader rd;
	struct cg_error cerr;
	int fds[2], status = 0, rc = CG_ERR;
	size_t max = x->out_max + x->err_max + sizeof(cerr) + 4096;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	if (pipe2(fds, O_CLOEXEC) < 0)
		return cg_error_sys(err, CG_ERR, "pipe failed");
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return cg_error_sys(err, CG_ERR, "fork failed");
	}
	if (pid == 0) {
		close(fds[0]);
		child(ctx, x, in, in_len, fds[1]);
	}
	close(fds[1]);
	/* Read to EOF before waiting: the child blocks on a full pipe. */
	rc = cg_read_fd(fds[0], &b, max, err);
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc < 0)
		goto out;
	rc = CG_ERR;
	rd.p = b.data ? b.data : "";
	rd.end = rd.p + b.len;
	rd.bad = b.len < strlen(MAGIC) + 8 + sizeof(cerr) ||
		 memcmp(rd.p, MAGIC, strlen(MAGIC)) != 0;
	if (!rd.bad) {
		rd.p += strlen(MAGIC);
		rc = (int)(int64_t)get_u64(&rd);
		memcpy(&cerr, rd.p, sizeof(cerr));
		rd.p += sizeof(cerr);
		res->status = (int)(int64_t)get_u64(&rd);
		get_buf(&rd, &res->out);
		get_buf(&rd, &res->err);
	}
	if (rd.bad) {
		cg_exec_result_release(res);
		rc = cg_error_set(err, CG_ERR,
				  "the sandbox for %s ended without an answer "
				  "(status %d)",
				  x->argv[0], status);
		goto out;
	}
	if (rc < 0 && err) {
		cerr.where[sizeof(cerr.where) - 1] = '\0';
		cerr.resource[sizeof(cerr.resource) - 1] = '\0';
		cerr.msg[sizeof(cerr.msg) - 1] = '\0';
		cerr.hint[sizeof(cerr.hint) - 1] = '\0';
		*err = cerr;
	}
out:
	cg_buf_release(&b);
	return rc;
}
