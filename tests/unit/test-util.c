/* test-util.c: edit distance, typo suggestions, buffers, the text check. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "cg/util.h"
#include "tap.h"

static void test_edit_distance(void)
{
	char long_a[300], long_b[300];

	tap_is_int((long long)cg_edit_distance("", ""), 0, "distance: empty");
	tap_is_int((long long)cg_edit_distance("mode", "mode"), 0,
		   "distance: equal");
	tap_is_int((long long)cg_edit_distance("", "abc"), 3,
		   "distance: from empty is the length");
	tap_is_int((long long)cg_edit_distance("abc", ""), 3,
		   "distance: to empty is the length");
	tap_is_int((long long)cg_edit_distance("kitten", "sitting"), 3,
		   "distance: kitten/sitting");
	tap_is_int((long long)cg_edit_distance("mode", "moe"), 1,
		   "distance: one deletion");
	tap_is_int((long long)cg_edit_distance("mode", "moder"), 1,
		   "distance: one insertion");
	tap_is_int((long long)cg_edit_distance("mode", "mote"), 1,
		   "distance: one substitution");
	tap_is_int((long long)cg_edit_distance("mode", "mdoe"), 1,
		   "distance: swap of neighbours counts once");
	tap_is_int((long long)cg_edit_distance("ab", "ba"), 1,
		   "distance: swap at the start");
	tap_is_int((long long)cg_edit_distance("owner", "ownre"), 1,
		   "distance: swap at the end");
	tap_is_int((long long)cg_edit_distance("abc", "xyz"), 3,
		   "distance: nothing in common");
	tap_is_int((long long)cg_edit_distance("flaw", "lawn"), 2,
		   "distance: flaw/lawn");
	tap_is_int((long long)cg_edit_distance("sitting", "kitten"),
		   (long long)cg_edit_distance("kitten", "sitting"),
		   "distance: symmetric");

	memset(long_a, 'a', sizeof(long_a) - 1);
	long_a[sizeof(long_a) - 1] = '\0';
	memcpy(long_b, long_a, sizeof(long_b));
	tap_is_int((long long)(cg_edit_distance(long_a, long_b) == (size_t)-1),
		   1, "distance: over 256 bytes is 'far', not computed");
}

static void test_suggest(void)
{
	static const char *const keys[] = { "file", "content", "source",
					    "template", "mode", "owner",
					    "group", "requires", NULL };
	static const char *const two[] = { "id", "to", NULL };
	static const char *const none[] = { NULL };
	const char *arr[] = { "alpha", "beta", "gamma" };

	tap_is_str(cg_suggest("contnet", keys), "content",
		   "suggest: swapped letters");
	tap_is_str(cg_suggest("moed", keys), "mode", "suggest: swap in short word");
	tap_is_str(cg_suggest("ownr", keys), "owner", "suggest: missing letter");
	tap_is_str(cg_suggest("gruop", keys), "group", "suggest: swap");
	tap_is_str(cg_suggest("requiers", keys), "requires",
		   "suggest: swap in long word");
	tap_is_str(cg_suggest("tempalte", keys), "template",
		   "suggest: swap in the middle");
	tap_is_str(cg_suggest("Mode", keys), "mode", "suggest: case typo");
	tap_is_str(cg_suggest("sources", keys), "source",
		   "suggest: extra letter");
	tap_is_str(cg_suggest("mode", keys), "mode",
		   "suggest: exact word is its own best match");
	tap_is_str(cg_suggest("banana", keys), NULL, "suggest: unrelated word");
	tap_is_str(cg_suggest("xyz", keys), NULL, "suggest: unrelated short word");
	tap_is_str(cg_suggest("permissions", keys), NULL,
		   "suggest: unrelated long word");
	tap_is_str(cg_suggest("anything", none), NULL,
		   "suggest: no candidates");
	/* Two letters, both different: nothing typed survives. */
	tap_is_str(cg_suggest("on", two), NULL,
		   "suggest: short word sharing nothing is not a typo");
	tap_is_str(cg_suggest("x", two), NULL,
		   "suggest: one letter sharing nothing is not a typo");
	tap_is_str(cg_suggest("", two), NULL, "suggest: empty word");
	tap_is_str(cg_suggest("it", two), "id",
		   "suggest: short word with one letter wrong");
	tap_is_str(cg_suggest("ot", two), "to", "suggest: short word swapped");
	tap_is_str(cg_suggest_n("gama", arr, 3), "gamma",
		   "suggest_n: found in an array");
	tap_is_str(cg_suggest_n("gama", arr, 2), NULL,
		   "suggest_n: only the first n are candidates");
}

static void test_buf(void)
{
	struct cg_buf b = { 0 };
	char *s, big[5000];
	size_t len = 99;

	s = cg_buf_detach(&b, &len);
	tap_is_str(s, "", "buf: detach of an empty buffer gives \"\"");
	tap_is_int((long long)len, 0, "buf: detach of empty gives length 0");
	free(s);

	cg_buf_addstr(&b, "hello");
	cg_buf_addch(&b, ',');
	cg_buf_addch(&b, ' ');
	cg_buf_add(&b, "world!!", 5);
	tap_is_str(b.data, "hello, world", "buf: add/addstr/addch");
	tap_is_int((long long)b.len, 12, "buf: length counted");
	tap_ok(b.cap > b.len, "buf: room for the NUL");

	cg_buf_addf(&b, " %d-%s", 42, "x");
	tap_is_str(b.data, "hello, world 42-x", "buf: addf appends");

	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cg_buf_addf(&b, "%s|", big);
	tap_is_int((long long)b.len, 17 + 4999 + 1,
		   "buf: addf longer than the capacity grows it");
	tap_ok(b.data[b.len] == '\0' && b.data[b.len - 1] == '|' &&
		       b.data[17] == 'z' && b.data[17 + 4998] == 'z',
	       "buf: long addf content intact and terminated");

	cg_buf_reset(&b);
	tap_is_int((long long)b.len, 0, "buf: reset empties");
	tap_is_str(b.data, "", "buf: reset leaves an empty string");

	cg_buf_add(&b, "a\0b", 3);
	tap_is_int((long long)b.len, 3, "buf: binary data keeps its NUL");
	tap_ok(memcmp(b.data, "a\0b", 4) == 0, "buf: binary data intact");

	s = cg_buf_detach(&b, &len);
	tap_is_int((long long)len, 3, "buf: detach gives the length");
	tap_ok(b.data == NULL && b.len == 0 && b.cap == 0,
	       "buf: detach leaves the buffer empty");
	free(s);

	cg_buf_add(&b, "", 0);
	tap_ok(b.data && b.data[0] == '\0' && b.len == 0,
	       "buf: adding nothing still gives a string");
	cg_buf_release(&b);
	tap_ok(b.data == NULL && b.len == 0 && b.cap == 0,
	       "buf: release zeroes");
	cg_buf_release(&b);
	cg_buf_release(NULL);
	tap_ok(true, "buf: release twice and of NULL is harmless");
}

static void test_read_fd(void)
{
	struct cg_buf b = { 0 };
	struct cg_error err;
	char tmpl[] = "/tmp/cg-test-util.XXXXXX";
	char data[100000];
	size_t i;
	int fd, rc;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (char)('a' + i % 26);
	fd = mkstemp(tmpl);
	if (!tap_ok(fd >= 0, "read_fd: temp file"))
		return;
	unlink(tmpl);
	tap_ok(cg_write_all(fd, data, sizeof(data)) == 0, "write_all");
	lseek(fd, 0, SEEK_SET);
	rc = cg_read_fd(fd, &b, sizeof(data), &err);
	tap_is_int(rc, 0, "read_fd: a file at the limit is read");
	tap_ok(b.len == sizeof(data) && memcmp(b.data, data, b.len) == 0 &&
		       b.data[b.len] == '\0',
	       "read_fd: content intact over several reads");
	cg_buf_release(&b);
	lseek(fd, 0, SEEK_SET);
	rc = cg_read_fd(fd, &b, sizeof(data) - 1, &err);
	tap_is_int(rc, CG_ERR, "read_fd: one byte over the limit fails");
	tap_has_str(err.msg, "limit", "read_fd: message names the limit");
	cg_buf_release(&b);
	close(fd);
}

static void test_str(void)
{
	tap_ok(cg_str_starts("roles/web.yaml", "roles/"), "starts: yes");
	tap_ok(!cg_str_starts("role", "roles/"), "starts: shorter string");
	tap_ok(cg_str_starts("x", ""), "starts: empty prefix");
	tap_ok(cg_str_ends("web.yaml", ".yaml"), "ends: yes");
	tap_ok(!cg_str_ends("yaml", ".yaml"), "ends: shorter string");
	tap_ok(!cg_str_ends("web.yml", ".yaml"), "ends: no");
}

static void test_is_text(void)
{
	static const struct {
		const char *data;
		size_t len;
		bool text;
		const char *name;
	} cases[] = {
		{ "", 0, true, "empty" },
		{ "hello\nworld\n", 12, true, "ASCII lines" },
		{ "tab\there\r\n", 10, true, "tab and CR" },
		{ "a\0b", 3, false, "NUL byte" },
		{ "caf\xc3\xa9", 5, true, "2-byte sequence" },
		{ "\xe2\x82\xac", 3, true, "3-byte sequence (euro)" },
		{ "\xf0\x9f\x98\x80", 4, true, "4-byte sequence (emoji)" },
		{ "\xf4\x8f\xbf\xbf", 4, true, "U+10FFFF, the last code point" },
		{ "\xed\x9f\xbf", 3, true, "U+D7FF, just below surrogates" },
		{ "\xee\x80\x80", 3, true, "U+E000, just above surrogates" },
		{ "\xc3", 1, false, "truncated 2-byte at the end" },
		{ "\xe2\x82", 2, false, "truncated 3-byte at the end" },
		{ "\xf0\x9f\x98", 3, false, "truncated 4-byte at the end" },
		{ "\x80", 1, false, "lone continuation byte" },
		{ "a\xc3(b", 4, false, "lead byte without continuation" },
		{ "\xc0\x80", 2, false, "overlong NUL (C0 80)" },
		{ "\xc1\xbf", 2, false, "overlong 2-byte (C1)" },
		{ "\xe0\x80\x80", 3, false, "overlong 3-byte (E0 80 80)" },
		{ "\xe0\x9f\xbf", 3, false, "overlong 3-byte (E0 9F BF)" },
		{ "\xed\xa0\x80", 3, false, "UTF-16 surrogate (ED A0 80)" },
		{ "\xed\xbf\xbf", 3, false, "UTF-16 surrogate (ED BF BF)" },
		{ "\xf0\x80\x80\x80", 4, false, "overlong 4-byte (F0 80)" },
		{ "\xf0\x8f\xbf\xbf", 4, false, "overlong 4-byte (F0 8F)" },
		{ "\xf4\x90\x80\x80", 4, false, "beyond U+10FFFF (F4 90)" },
		{ "\xf5\x80\x80\x80", 4, false, "F5 lead byte" },
		{ "\xff", 1, false, "FF byte" },
	};
	size_t i;
	char name[128];

	for (i = 0; i < CG_ARRAY_SIZE(cases); i++) {
		snprintf(name, sizeof(name), "is_text: %s", cases[i].name);
		tap_is_int(cg_is_text(cases[i].data, cases[i].len),
			   cases[i].text, name);
	}
	/* The length is honoured: the NUL past len is not looked at. */
	tap_ok(cg_is_text("abc\0", 3), "is_text: only len bytes are checked");
}

static void test_time(void)
{
	char iso[32];
	uint64_t a, b;
	char *s;
	int *v = NULL;
	size_t cap = 0;

	cg_time_iso(iso, 0);
	tap_is_str(iso, "1970-01-01T00:00:00Z", "time_iso: the epoch");
	cg_time_iso(iso, 951782400);
	tap_is_str(iso, "2000-02-29T00:00:00Z", "time_iso: a leap day");
	cg_time_iso(iso, 4102444800);
	tap_is_str(iso, "2100-01-01T00:00:00Z", "time_iso: 2100");
	cg_time_iso(iso, -1);
	tap_is_str(iso, "1969-12-31T23:59:59Z", "time_iso: before the epoch");
	a = cg_now_ns();
	usleep(2000);
	b = cg_now_ns();
	tap_ok(b >= a + 2000000u && b - a < 2000000000u,
	       "now_ns: monotonic nanoseconds");

	s = cg_xasprintf("%s-%05d", "x", 42);
	tap_is_str(s, "x-00042", "xasprintf");
	free(s);
	s = cg_xstrndup("abcdef", 3);
	tap_is_str(s, "abc", "xstrndup");
	free(s);

	cg_grow(&v, &cap, 3, sizeof(*v));
	tap_ok(v && cap >= 3, "grow: room for 3");
	cg_grow(&v, &cap, 1000, sizeof(*v));
	tap_ok(cap >= 1000, "grow: room for 1000");
	v[999] = 7;
	tap_is_int(v[999], 7, "grow: the room is usable");
	free(v);
}

int main(void)
{
	test_edit_distance();
	test_suggest();
	test_buf();
	test_read_fd();
	test_str();
	test_is_text();
	test_time();
	return tap_done();
}
