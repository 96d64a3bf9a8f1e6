/* test-state.c: STATE/records: the format, its bounds, atomic updates. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../agent/agent.h"
#include "tap.h"

static char dir[64];

static char *slurp(const char *path)
{
	struct cg_buf b = { 0 };
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	if (cg_read_fd(fd, &b, 1 << 20, NULL) < 0)
		cg_buf_release(&b);
	close(fd);
	return b.data ? cg_buf_detach(&b, NULL) : cg_xstrdup("");
}

/* What parse() read last. */
static struct cg_state pst;

static int parse(const char *text, struct cg_error *err)
{
	cg_state_release(&pst);
	return cg_state_parse(&pst, text, strlen(text), "records", err);
}

int main(void)
{
	struct cg_state st, again;
	struct cg_error err;
	char *path, *text;
	const char *kv1[] = { "refresh", "reload", "refresh.error",
			      "line one\n\tline two \\ end" };
	const char *kv2[] = { "refresh.error", NULL };
	const char *bad_key[] = { "Refresh", "x" };
	struct cg_buf big = { 0 };
	size_t i;

	snprintf(dir, sizeof(dir), "/tmp/test-state.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	path = cg_xasprintf("%s/records", dir);

	tap_ok(cg_state_load(&st, dir, true, &err) == 0 && st.n == 0,
	       "no file: no records");
	tap_ok(cg_state_set(&st, "service:nginx", kv1, 2, &err) == 0,
	       "set two keys at once");
	text = slurp(path);
	tap_is_str(text,
		   "congruent-records 1\n"
		   "service:nginx\trefresh\treload\n"
		   "service:nginx\trefresh.error\tline one\\n\\tline two "
		   "\\\\ end\n",
		   "the file: magic line, sorted records, escapes");
	free(text);
	tap_ok(cg_state_load(&again, dir, false, &err) == 0 && again.n == 2,
	       "read back");
	tap_is_str(cg_state_get(&again, "service:nginx", "refresh.error"),
		   "line one\n\tline two \\ end", "a value round-trips");
	tap_ok(cg_state_get(&again, "service:nginx", "nope") == NULL &&
		       cg_state_get(&again, "service:x", "refresh") == NULL,
	       "what is not there is NULL");
	tap_ok(cg_state_set(&again, "service:nginx", kv2, 1, &err) < 0,
	       "a read-only store refuses to write");
	tap_has_str(err.msg, "changes nothing", "and says why");
	cg_state_release(&again);

	tap_ok(cg_state_set(&st, "service:nginx", bad_key, 1, &err) < 0,
	       "a key must be [a-z0-9_.-]");
	tap_ok(cg_state_set(&st, "file:/a", kv1, 1, &err) == 0 &&
		       cg_state_set(&st, "service:nginx", kv2, 1, &err) == 0,
	       "another id; a NULL value removes a key");
	text = slurp(path);
	tap_is_str(text,
		   "congruent-records 1\nfile:/a\trefresh\treload\n"
		   "service:nginx\trefresh\treload\n",
		   "sorted by id");
	free(text);

	/* Values only: appended, not rewritten; compacted on request. */
	{
		const char *kv3[] = { "refresh", "restart" };

		tap_ok(cg_state_set(&st, "a:first", kv3, 1, &err) == 0 &&
			       st.tail,
		       "a put with a value is appended");
		text = slurp(path);
		tap_is_str(text,
			   "congruent-records 1\nfile:/a\trefresh\treload\n"
			   "service:nginx\trefresh\treload\n"
			   "a:first\trefresh\trestart\n",
			   "the file: the sorted records, then the new line");
		free(text);
		tap_ok(cg_state_load(&again, dir, false, &err) == 0 &&
			       again.n == 3 && again.tail &&
			       strcmp(cg_state_get(&again, "a:first",
						   "refresh"),
				      "restart") == 0,
		       "read back with the appended line");
		cg_state_release(&again);
		tap_ok(cg_state_compact(&st, &err) == 0 && !st.tail,
		       "compact");
		text = slurp(path);
		tap_is_str(text,
			   "congruent-records 1\na:first\trefresh\trestart\n"
			   "file:/a\trefresh\treload\n"
			   "service:nginx\trefresh\treload\n",
			   "compacted: whole and sorted");
		free(text);
		kv3[1] = NULL;
		tap_ok(cg_state_set(&st, "a:first", kv3, 1, &err) == 0 &&
			       st.n == 2,
		       "and removed again");
	}

	/* A write that cannot happen leaves memory as the disk is. */
	{
		struct cg_state gone;
		char *nodir = cg_xasprintf("%s/gone", dir);

		tap_ok(cg_state_load(&gone, nodir, true, &err) == 0 &&
			       cg_state_set(&gone, "file:/b", kv1, 1, &err) < 0 &&
			       cg_state_get(&gone, "file:/b", "refresh") ==
				       NULL &&
			       gone.n == 0,
		       "a failed write changes nothing in memory");
		tap_has_str(err.msg, "gone", "and names the place");
		cg_state_release(&gone);
		free(nodir);
	}

	for (i = 0; i <= CG_STATE_KEYS_MAX; i++) {
		char key[16];
		const char *kv[2] = { key, "v" };

		snprintf(key, sizeof(key), "k%zu", i);
		if (cg_state_set(&st, "many", kv, 1, &err) < 0)
			break;
	}
	tap_is_int((long long)i, CG_STATE_KEYS_MAX, "at most 16 keys per id");

	{
		const char *clear[] = { "refresh", NULL };

		tap_ok(cg_state_set(&st, "file:/a", clear, 1, &err) == 0 &&
			       cg_state_set(&st, "service:nginx", clear, 1,
					    &err) == 0,
		       "clear");
	}
	for (i = 0; i < CG_STATE_KEYS_MAX; i++) {
		char key[16];
		const char *kv[2] = { key, NULL };

		snprintf(key, sizeof(key), "k%zu", i);
		cg_state_set(&st, "many", kv, 1, &err);
	}
	tap_ok(st.n == 0 && access(path, F_OK) != 0,
	       "no records left: no file");
	tap_ok(cg_state_set(&st, "file:/c", kv1, 1, &err) == 0 &&
		       access(path, F_OK) == 0,
	       "a record after that writes the file anew");
	{
		const char *clear[] = { "refresh", NULL };

		cg_state_set(&st, "file:/c", clear, 1, &err);
	}
	cg_state_release(&st);

	tap_ok(parse("congruent-records 1\n", &err) == 0, "empty is fine");
	tap_ok(parse("congruent-records 2\n", &err) < 0, "another version");
	tap_has_str(err.msg, "records:1:", "file:line");
	tap_ok(parse("congruent-records 1\na\tb\tc\nd\te\tf", &err) == 0 &&
		       cg_state_get(&pst, "a", "b") &&
		       !cg_state_get(&pst, "d", "e") && pst.tail,
	       "a last line cut short (an append a crash interrupted) is "
	       "ignored");
	tap_ok(parse("congruent-records 1\na\tb\tc\nz\tb\tc\na\tb\td\n",
		     &err) == 0 &&
		       strcmp(cg_state_get(&pst, "a", "b"), "d") == 0 &&
		       pst.tail,
	       "an appended line replaces an earlier one, out of order");
	tap_ok(parse("congruent-records 1\nz\tb\tc\n", &err) == 0 &&
		       !pst.tail,
	       "a sorted file has no tail");
	tap_ok(parse("congruent-records 1\na\tb\n", &err) < 0, "two fields");
	tap_ok(parse("congruent-records 1\na\tB\tc\n", &err) < 0, "a bad key");
	tap_ok(parse("congruent-records 1\na\tb\tc\\x\n", &err) < 0,
	       "a bad escape");
	cg_buf_addstr(&big, "congruent-records 1\na\tb\t");
	for (i = 0; i <= CG_STATE_VALUE_MAX; i++)
		cg_buf_addch(&big, 'x');
	cg_buf_addch(&big, '\n');
	tap_ok(parse(big.data, &err) < 0, "a value over 4096 bytes");
	cg_buf_release(&big);

	/* After a crash cut an append short: the next set writes whole. */
	{
		const char *kv4[] = { "refresh", "reload" };
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		static const char torn[] = "congruent-records 1\n"
					   "a:x\trefresh\treload\nb:y\tref";

		tap_ok(fd >= 0 && write(fd, torn, sizeof(torn) - 1) ==
					  (ssize_t)(sizeof(torn) - 1),
		       "a records file cut short");
		if (fd >= 0)
			close(fd);
		tap_ok(cg_state_load(&st, dir, true, &err) == 0 && st.n == 1 &&
			       cg_state_set(&st, "c:z", kv4, 1, &err) == 0,
		       "read, and a record set");
		cg_state_release(&st);
		text = slurp(path);
		tap_is_str(text,
			   "congruent-records 1\na:x\trefresh\treload\n"
			   "c:z\trefresh\treload\n",
			   "written whole: the cut line is gone, not joined");
		free(text);
	}

	cg_state_release(&pst);
	unlink(path);
	rmdir(dir);
	free(path);
	return tap_done();
}
