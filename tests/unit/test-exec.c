/* test-exec.c: helper programs with a deadline: a hung one is killed, its resource fails, the run goes on. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../agent/agent.h"
#include "cg/exec.h"
#include "tap.h"

static double seconds_since(uint64_t t0)
{
	return (double)(cg_now_ns() - t0) / 1e9;
}

/* Gone, or a zombie nobody reaped yet: either way, not running. */
static bool is_gone(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int i;

	for (i = 0; i < 100; i++) {
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		f = fopen(path, "r");
		if (!f)
			return true;
		p = fgets(buf, sizeof(buf), f);
		fclose(f);
		p = p ? strrchr(buf, ')') : NULL;
		if (p && (p[2] == 'Z' || p[2] == 'X'))
			return true;
		usleep(10000);
	}
	return false;
}

static int run(const char *const *argv, unsigned timeout_ms,
	       struct cg_exec_result *res, struct cg_error *err)
{
	struct cg_exec x;

	cg_exec_init(&x, argv);
	x.timeout_ms = timeout_ms;
	cg_error_clear(err);
	return cg_exec_run(&x, res, err);
}

static void test_runner(void)
{
	static const char *const echo[] = { "sh", "-c", "echo hi; exit 3",
					    NULL };
	static const char *const sleeper[] = { "sleep", "30", NULL };
	static const char *const family[] = {
		"sh", "-c", "sleep 30 & echo $!; sleep 30", NULL,
	};
	static const char *const quiet[] = {
		"sh", "-c", "exec >/dev/null 2>&1; trap '' TERM; sleep 30",
		NULL,
	};
	static const char *const missing[] = { "no-such-helper-cg", NULL };
	struct cg_exec_result res;
	struct cg_error err;
	uint64_t t0;
	int rc;

	rc = run(echo, 5000, &res, &err);
	tap_is_int(rc, 0, "a helper that ends: 0");
	tap_is_int(res.status, 3, "its exit status comes back");
	tap_is_str(res.out.data, "hi\n", "and its output");
	cg_exec_result_release(&res);

	t0 = cg_now_ns();
	rc = run(sleeper, 300, &res, &err);
	tap_is_int(rc, CG_ETIMEOUT, "a helper that hangs: CG_ETIMEOUT");
	tap_ok(seconds_since(t0) < 2.0, "killed at the deadline, not later");
	tap_is_int(res.status, 128 + SIGKILL, "by SIGKILL");
	tap_is_str(err.msg, "sleep did not finish within 1 s; killed it",
		   "the message names it and the deadline");
	cg_exec_result_release(&res);

	t0 = cg_now_ns();
	rc = run(family, 500, &res, &err);
	tap_is_int(rc, CG_ETIMEOUT,
		   "a helper whose child holds its output: CG_ETIMEOUT");
	tap_ok(seconds_since(t0) < 2.5, "at the deadline");
	{
		pid_t grandchild = (pid_t)atoi(res.out.data ? res.out.data : "0");

		tap_ok(grandchild > 0 && is_gone(grandchild),
		       "what it started was killed with it");
	}
	cg_exec_result_release(&res);

	t0 = cg_now_ns();
	rc = run(quiet, 300, &res, &err);
	tap_is_int(rc, CG_ETIMEOUT,
		   "a helper that closed its output and ignores SIGTERM");
	tap_ok(seconds_since(t0) < 2.0, "is killed at the deadline too");
	cg_exec_result_release(&res);

	rc = run(missing, 1000, &res, &err);
	tap_is_int(rc, CG_ENOTFOUND, "a missing helper: CG_ENOTFOUND");
	cg_exec_result_release(&res);
}

static void test_ctx_exec(void)
{
	static const char *const sleeper[] = { "sleep", "30", NULL };
	struct cg_exec_result res;
	struct cg_ctx ctx;
	struct cg_error err;
	struct cg_exec x;
	uint64_t t0;
	int rc;

	memset(&ctx, 0, sizeof(ctx));
	ctx.helper_timeout_ms = 400;
	cg_exec_init(&x, sleeper);
	x.timeout_ms = 60000; /* the agent's deadline wins */
	cg_error_clear(&err);
	t0 = cg_now_ns();
	rc = cg_ctx_exec(&ctx, &x, &res, &err);
	tap_is_int(rc, CG_ETIMEOUT, "cg_ctx_exec: the agent's helper_timeout");
	tap_ok(seconds_since(t0) < 2.0, "applies, whatever the module set");
	tap_has_str(err.hint, "helper_timeout",
		    "and the hint says where to raise it");
	cg_exec_result_release(&res);
}

/*
 * Two made-up resource types through the real engine: "hang", whose
 * apply runs a helper that never ends, and "quick", whose apply just
 * works. The first must fail with the helper's message, the second be
 * repaired: a hung helper costs its own resources, not the run.
 */
static bool quick_done;

static int fake_observe(struct cg_ctx *ctx, struct cg_resource **res,
			size_t n, struct cg_error *err)
{
	size_t i;

	(void)ctx;
	(void)err;
	for (i = 0; i < n; i++)
		res[i]->observed = &quick_done;
	return 0;
}

static int fake_diff(struct cg_ctx *ctx, struct cg_resource *r,
		     struct cg_error *err)
{
	(void)ctx;
	(void)err;
	if (strcmp(r->mod->type, "quick") == 0 && quick_done)
		return 0;
	r->change.action = CG_ACTION_CREATE;
	cg_change_add(&r->change, "state", NULL, "done");
	return 0;
}

static int hang_apply(struct cg_ctx *ctx, struct cg_resource **res, size_t n,
		      struct cg_error *err)
{
	static const char *const sleeper[] = { "sleep", "30", NULL };
	struct cg_exec_result out;
	struct cg_exec x;
	int rc;

	(void)res;
	(void)n;
	cg_exec_init(&x, sleeper);
	rc = cg_ctx_exec(ctx, &x, &out, err);
	cg_exec_result_release(&out);
	return rc < 0 ? rc : 0;
}

static int quick_apply(struct cg_ctx *ctx, struct cg_resource **res,
		       size_t n, struct cg_error *err)
{
	(void)ctx;
	(void)res;
	(void)n;
	(void)err;
	quick_done = true;
	return 0;
}

static void fake_release(struct cg_resource *r)
{
	r->observed = NULL;
}

static const struct cg_module hang_mod = {
	.type = "hang",
	.observe = fake_observe,
	.diff = fake_diff,
	.apply = hang_apply,
	.release = fake_release,
};

static const struct cg_module quick_mod = {
	.type = "quick",
	.observe = fake_observe,
	.diff = fake_diff,
	.apply = quick_apply,
	.release = fake_release,
};

static void test_engine_goes_on(void)
{
	struct cg_resource res[2];
	size_t order[2] = { 0, 1 };
	struct cg_policy p;
	struct cg_counts counts;
	struct cg_ctx ctx;
	uint64_t t0;
	size_t i;

	memset(&p, 0, sizeof(p));
	memset(res, 0, sizeof(res));
	memset(&ctx, 0, sizeof(ctx));
	res[0].mod = &hang_mod;
	cg_resource_set_id(&res[0], "hang", "apt-get");
	res[1].mod = &quick_mod;
	cg_resource_set_id(&res[1], "quick", "after");
	for (i = 0; i < 2; i++)
		res[i].where = cg_xasprintf("roles/r.yaml:%zu", i + 1);
	p.res = res;
	p.n = 2;
	p.order = order;
	ctx.helper_timeout_ms = 500;
	t0 = cg_now_ns();
	cg_engine_run(&p, &ctx, false, &counts);
	tap_ok(seconds_since(t0) < 3.0, "the engine is held up only until "
					 "the deadline");
	tap_is_int(res[0].status, CG_STATUS_FAILED,
		   "the resource whose helper hung failed");
	tap_is_str(res[0].err ? res[0].err->msg : NULL,
		   "sleep did not finish within 1 s; killed it",
		   "with a message naming the helper and the deadline");
	tap_has_str(res[0].err ? res[0].err->resource : NULL, "hang:apt-get",
		    "and the resource");
	tap_is_int(res[1].status, CG_STATUS_REPAIRED,
		   "the run went on: the next resource was repaired");
	tap_is_int(cg_exit_status(&counts, false), 6,
		   "exit status 6: changes and a failure");
	for (i = 0; i < 2; i++)
		cg_resource_release(&res[i]);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_runner();
	test_ctx_exec();
	test_engine_goes_on();
	return tap_done();
}
