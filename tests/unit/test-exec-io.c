/* test-exec.c: running helpers: output, input, exit status, deadline, limits. */
#include <linux/capability.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cg/exec.h"
#include "tap.h"

static int run(const char *const *argv, const char *in, unsigned timeout_ms,
	       size_t out_max, struct cg_exec_result *res, struct cg_error *err)
{
	struct cg_exec x;

	cg_exec_init(&x, argv);
	if (in) {
		x.in = in;
		x.in_len = strlen(in);
	}
	if (timeout_ms)
		x.timeout_ms = timeout_ms;
	if (out_max)
		x.out_max = out_max;
	cg_error_clear(err);
	return cg_exec_run(&x, res, err);
}

static void test_output_and_status(void)
{
	const char *const echo[] = { "echo", "hello", "world", NULL };
	const char *const fail[] = { "sh", "-c", "echo oops >&2; exit 3",
				     NULL };
	struct cg_exec_result res;
	struct cg_error err;
	char line[64];

	tap_is_int(run(echo, NULL, 0, 0, &res, &err), 0, "echo runs");
	tap_is_str(res.out.data, "hello world\n", "argv reaches it as is");
	tap_is_int(res.status, 0, "exit status 0");
	cg_exec_result_release(&res);

	tap_is_int(run(fail, NULL, 0, 0, &res, &err), 0,
		   "a failing program still ran");
	tap_is_int(res.status, 3, "its exit status is kept");
	cg_exec_first_line(&res, line, sizeof(line));
	tap_is_str(line, "oops", "stderr is captured");
	cg_exec_result_release(&res);
}

static void test_stdin(void)
{
	const char *const cat[] = { "cat", NULL };
	const char *const head[] = { "head", "-c", "1", NULL };
	struct cg_exec_result res;
	struct cg_error err;
	char *big = malloc(1u << 20);

	tap_is_int(run(cat, "line one\nline two\n", 0, 0, &res, &err), 0,
		   "cat runs");
	tap_is_str(res.out.data, "line one\nline two\n", "stdin is written");
	cg_exec_result_release(&res);

	/* A child that stops reading must not kill us with SIGPIPE. */
	memset(big, 'x', (1u << 20) - 1);
	big[(1u << 20) - 1] = '\0';
	tap_is_int(run(head, big, 0, 0, &res, &err), 0,
		   "a child that reads one byte of a megabyte");
	tap_is_str(res.out.data, "x", "and says so");
	cg_exec_result_release(&res);
	free(big);
}

static void test_limits(void)
{
	const char *const sleeper[] = { "sleep", "10", NULL };
	const char *const yes[] = { "yes", NULL };
	const char *const none[] = { "no-such-program-congruent", NULL };
	struct cg_exec_result res;
	struct cg_error err;
	uint64_t t0 = cg_now_ns();

	tap_is_int(run(sleeper, NULL, 200, 0, &res, &err), CG_ETIMEOUT,
		   "a deadline kills it");
	tap_ok(cg_now_ns() - t0 < 5000000000u, "soon after the deadline");
	tap_has_str(err.msg, "did not finish", "and says so");
	cg_exec_result_release(&res);

	tap_is_int(run(yes, NULL, 0, 4096, &res, &err), CG_ERR,
		   "endless output is cut off");
	tap_has_str(err.msg, "more than 4096 bytes", "with the limit named");
	cg_exec_result_release(&res);

	tap_is_int(run(none, NULL, 0, 0, &res, &err), CG_ENOTFOUND,
		   "a missing program is not found");
	tap_has_str(err.msg, "not found", "and says so");
	cg_exec_result_release(&res);
}

static void test_netns(void)
{
	const char *const readlink_[] = { "readlink", "/proc/self/ns/net",
					  NULL };
	struct cg_exec_result mine, scratch;
	struct cg_exec x;
	struct cg_error err;
	int fd;

	if (geteuid() != 0) {
		tap_ok(true, "# SKIP network namespaces need root");
		return;
	}
	if (!tap_have_cap(CAP_SYS_ADMIN)) {
		tap_ok(true, "# SKIP network namespaces need CAP_SYS_ADMIN");
		return;
	}
	tap_is_int(cg_netns_new(&fd, &err), 0, "a scratch namespace");
	cg_exec_init(&x, readlink_);
	cg_exec_run(&x, &mine, &err);
	x.netns_fd = fd;
	tap_is_int(cg_exec_run(&x, &scratch, &err), 0, "runs inside it");
	tap_ok(mine.out.data && scratch.out.data &&
		       strcmp(mine.out.data, scratch.out.data) != 0,
	       "in another network namespace than ours");
	cg_exec_result_release(&mine);
	cg_exec_result_release(&scratch);
	close(fd);

	x.netns_fd = -1;
	x.netns = "congruent-no-such-netns";
	tap_is_int(cg_exec_run(&x, &scratch, &err), CG_ENOTFOUND,
		   "a missing --netns is an error");
	tap_has_str(err.hint, "ip netns add", "with what to do");
	cg_exec_result_release(&scratch);
	x.netns = "../etc";
	tap_is_int(cg_exec_run(&x, &scratch, &err), CG_ERR,
		   "a namespace name is not a path");
	cg_exec_result_release(&scratch);
}

int main(void)
{
	test_output_and_status();
	test_stdin();
	test_limits();
	test_netns();
	return tap_done();
}
