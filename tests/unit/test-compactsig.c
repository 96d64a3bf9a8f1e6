/* test-compactsig: compacted report commits: the records written, and the signed original rebuilt byte for byte. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/agent.h"
#include "cg/compactsig.h"
#include "cg/sshsig.h"
#include "tap.h"

#define P1 "1111111111111111111111111111111111111111"
#define P2 "2222222222222222222222222222222222222222"
#define NEW "3333333333333333333333333333333333333333"
#define NEW2 "4444444444444444444444444444444444444444"

static const char *signed_merge =
	"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
	"parent " P1 "\n"
	"parent " P2 "\n"
	"author web-1 <congruent@report> 1700000000 +0000\n"
	"committer web-1 <congruent@report> 1700000000 +0000\n"
	"encoding ISO-8859-1\n"
	"x-other first line\n second line\n"
	"gpgsig -----BEGIN SSH SIGNATURE-----\n"
	" U1NIU0lHAAAAAQ==\n"
	" -----END SSH SIGNATURE-----\n"
	"\n"
	"web-1: repaired\n\nCongruent-State: 00\n";

static const char *signed_root =
	"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
	"author web-1 <congruent@report> 1700000000 +0000\n"
	"committer web-1 <congruent@report> 1700000000 +0000\n"
	"gpgsig -----BEGIN SSH SIGNATURE-----\n"
	" -----END SSH SIGNATURE-----\n"
	"\n"
	"web-1: congruent\n";

static const char *unsigned_one =
	"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
	"parent " P1 "\n"
	"author web-1 <congruent@report> 1700000000 +0000\n"
	"committer web-1 <congruent@report> 1700000000 +0000\n"
	"\n"
	"heartbeat web-1: congruent\n";

static void round_trip(void)
{
	struct cg_buf once = { 0 }, twice = { 0 }, orig = { 0 };
	struct cg_error err;

	tap_is_int(cg_compact_rewrite(signed_merge, strlen(signed_merge), NEW,
				      &once, &err),
		   0, "a signed merge is rewritten");
	tap_has_str(once.data, "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
			       "parent " NEW "\nauthor ",
		    "its tree, then the one new parent");
	tap_ok(!strstr(once.data, "\ngpgsig "), "no gpgsig of its own");
	tap_has_str(once.data, "x-other first line\n second line\n"
			       CG_COMPACT_PARENT " " P1 "\n"
			       CG_COMPACT_PARENT " " P2 "\n"
			       CG_COMPACT_GPGSIG " -----BEGIN SSH SIGNATURE-----\n"
			       " U1NIU0lHAAAAAQ==\n"
			       " -----END SSH SIGNATURE-----\n"
			       "\nweb-1: repaired\n",
		    "the other headers, then the records, then the message");
	tap_is_int(cg_compact_original(once.data, once.len, &orig, &err), 1,
		   "the rewritten one is compacted");
	tap_is_str(orig.data, signed_merge, "the original, byte for byte");
	cg_buf_reset(&orig);
	tap_is_int(cg_compact_rewrite(once.data, once.len, NEW2, &twice, &err),
		   0, "rewritten again");
	tap_ok(strstr(twice.data, "parent " NEW2 "\n") &&
		       !strstr(twice.data, NEW),
	       "the new parent replaces the last, not recorded");
	tap_is_int(cg_compact_original(twice.data, twice.len, &orig, &err), 1,
		   "still compacted");
	tap_is_str(orig.data, signed_merge, "and still the original");
	cg_buf_release(&once);
	cg_buf_release(&twice);
	cg_buf_release(&orig);
}

static void root_and_unsigned(void)
{
	struct cg_buf b = { 0 }, orig = { 0 };
	struct cg_error err;

	/* A commit whose parent was dropped becomes a root. */
	tap_is_int(cg_compact_rewrite(signed_merge, strlen(signed_merge), NULL,
				      &b, &err),
		   0, "rewritten as a root");
	tap_ok(!strstr(b.data, "\nparent "), "no parent");
	tap_is_int(cg_compact_original(b.data, b.len, &orig, &err), 1,
		   "compacted");
	tap_is_str(orig.data, signed_merge, "the original has its parents");
	cg_buf_reset(&b);
	cg_buf_reset(&orig);
	tap_is_int(cg_compact_rewrite(signed_root, strlen(signed_root), NEW, &b,
				      &err),
		   0, "a signed root gets a parent");
	tap_ok(!strstr(b.data, CG_COMPACT_PARENT), "no parent to record");
	tap_is_int(cg_compact_original(b.data, b.len, &orig, &err), 1,
		   "compacted");
	tap_is_str(orig.data, signed_root, "the original root");
	cg_buf_reset(&b);
	cg_buf_reset(&orig);
	tap_is_int(cg_compact_rewrite(unsigned_one, strlen(unsigned_one), NEW,
				      &b, &err),
		   0, "an unsigned commit is rewritten");
	tap_ok(!strstr(b.data, "congruent-original"), "with no record");
	tap_has_str(b.data, "parent " NEW "\nauthor", "only its parent changed");
	tap_is_int(cg_compact_original(b.data, b.len, &orig, &err), 0,
		   "and is not compacted");
	tap_is_int((long long)orig.len, 0, "out untouched");
	cg_buf_release(&b);
	cg_buf_release(&orig);
}

static void malformed(void)
{
	struct cg_buf b = { 0 }, orig = { 0 }, bad = { 0 };
	struct cg_error err;
	char *p;

	tap_is_int(cg_compact_rewrite("author x\n\nmsg\n", 14, NEW, &b, &err),
		   CG_ERR, "rewrite: no tree first");
	tap_is_int((long long)b.len, 0, "out untouched");
	cg_compact_rewrite(signed_merge, strlen(signed_merge), NEW, &b, &err);
	/* the record twice */
	p = strstr(b.data, CG_COMPACT_GPGSIG);
	cg_buf_add(&bad, b.data, (size_t)(p - b.data));
	cg_buf_addstr(&bad, CG_COMPACT_GPGSIG " x\n");
	cg_buf_addstr(&bad, p);
	tap_is_int(cg_compact_original(bad.data, bad.len, &orig, &err),
		   CG_SSHSIG_EMALFORMED, "two original signatures");
	tap_has_str(err.msg, "two original signatures", "said so");
	/* beside a gpgsig of its own */
	cg_buf_reset(&bad);
	cg_buf_add(&bad, b.data, (size_t)(p - b.data));
	cg_buf_addstr(&bad, "gpgsig x\n");
	cg_buf_addstr(&bad, p);
	tap_is_int(cg_compact_original(bad.data, bad.len, &orig, &err),
		   CG_SSHSIG_EMALFORMED, "a signature of its own too");
	/* a parent record that is no object id */
	cg_buf_reset(&bad);
	cg_buf_addstr(&bad, b.data);
	p = strstr(bad.data, CG_COMPACT_PARENT " ") + strlen(CG_COMPACT_PARENT) + 1;
	p[5] = 'g';
	tap_is_int(cg_compact_original(bad.data, bad.len, &orig, &err),
		   CG_SSHSIG_EMALFORMED, "a parent record not hex");
	tap_is_int((long long)orig.len, 0, "out untouched");
	cg_buf_release(&b);
	cg_buf_release(&orig);
	cg_buf_release(&bad);
}

int main(void)
{
	round_trip();
	root_and_unsigned();
	malformed();
	return tap_done();
}
