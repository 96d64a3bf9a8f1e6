/* test-reportkey: the report key: made, read back, signing commits that verify for its host only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../agent/agent.h"
#include "cg/reportkey.h"
#include "cg/sshsig.h"
#include "tap.h"

/* A commit object as git writes one, signed by k (or unsigned: k NULL). */
static void signed_commit(const struct cg_reportkey *k, const char *msg,
			  struct cg_buf *out)
{
	struct cg_buf body = { 0 }, sig = { 0 };
	const char *hdr = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
			  "author web-1 <congruent@report> 1700000000 +0000\n"
			  "committer web-1 <congruent@report> 1700000000 +0000\n";
	size_t i;

	cg_buf_addf(&body, "%s\n%s", hdr, msg);
	if (!k) {
		cg_buf_add(out, body.data, body.len);
		cg_buf_release(&body);
		return;
	}
	cg_reportkey_sign(k, "git", body.data, body.len, &sig, NULL);
	cg_buf_addstr(out, hdr);
	cg_buf_addstr(out, "gpgsig ");
	for (i = 0; i + 1 < sig.len; i++) {
		cg_buf_addch(out, sig.data[i]);
		if (sig.data[i] == '\n')
			cg_buf_addch(out, ' ');
	}
	cg_buf_addf(out, "\n\n%s", msg);
	cg_buf_release(&body);
	cg_buf_release(&sig);
}

static struct cg_signers *signers(const char *text)
{
	struct cg_signers *s = NULL;
	struct cg_error err;

	if (cg_signers_parse(&s, "host_keys", text, strlen(text), &err) < 0)
		printf("# %s\n", err.msg);
	return s;
}

int main(void)
{
	char tmpl[] = "/tmp/test-reportkey.XXXXXX";
	char *dir = mkdtemp(tmpl), *path, *line;
	struct cg_reportkey a, b, again;
	struct cg_buf pa = { 0 }, pb = { 0 }, c = { 0 };
	struct cg_signers *keys;
	struct cg_error err;
	bool created = false;
	FILE *f;
	int64_t now = (int64_t)time(NULL);

	path = cg_xasprintf("%s/report.key", dir);
	tap_is_int(cg_reportkey_load(&a, path, true, &created, &err), 0,
		   "a missing key is made");
	tap_ok(created, "and says so");
	tap_is_int(cg_reportkey_load(&again, path, false, &created, &err), 0,
		   "and reads back");
	tap_ok(!created && memcmp(a.pub, again.pub, 32) == 0 &&
		       memcmp(a.seed, again.seed, 32) == 0,
	       "the same key");
	cg_reportkey_release(&again);
	free(path);
	path = cg_xasprintf("%s/other.key", dir);
	cg_reportkey_load(&b, path, true, NULL, &err);
	cg_reportkey_public(&a, &pa);
	cg_reportkey_public(&b, &pb);
	tap_ok(strncmp(pa.data, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", 32) == 0,
	       "the public line is an ssh-ed25519 key");

	line = cg_xasprintf("web-1 namespaces=\"git\" %s\n"
			    "web-2,web-3 namespaces=\"git\" %s\n",
			    pa.data, pb.data);
	keys = signers(line);
	signed_commit(&a, "web-1: congruent\n", &c);
	tap_is_int(cg_reportkey_verify_report(keys, "web-1", c.data, c.len, now,
					      &err),
		   0, "web-1's commit verifies for web-1");
	tap_is_int(cg_reportkey_verify_report(keys, "web-2", c.data, c.len, now,
					      &err),
		   CG_SSHSIG_EUNKNOWNKEY, "and not for web-2");
	tap_is_int(cg_reportkey_verify_report(keys, "web-9", c.data, c.len, now,
					      &err),
		   CG_SSHSIG_EUNKNOWNKEY, "nor for a host not listed");
	tap_ok(strstr(err.msg, "no key for host web-9") != NULL,
	       "which the error says");
	c.data[c.len - 3] ^= 1;
	tap_is_int(cg_reportkey_verify_report(keys, "web-1", c.data, c.len, now,
					      &err),
		   CG_SSHSIG_EBADSIG, "a changed commit does not verify");
	cg_buf_reset(&c);
	signed_commit(&b, "web-3: congruent\n", &c);
	tap_is_int(cg_reportkey_verify_report(keys, "web-3", c.data, c.len, now,
					      &err),
		   0, "a key listed for two hosts verifies for either");
	cg_buf_reset(&c);
	signed_commit(NULL, "web-1: congruent\n", &c);
	tap_is_int(cg_reportkey_verify_report(keys, "web-1", c.data, c.len, now,
					      &err),
		   CG_SSHSIG_EUNSIGNED, "an unsigned commit is unsigned");
	cg_signers_free(keys);
	free(line);

	free(path);
	path = cg_xasprintf("%s/bad.key", dir);
	f = fopen(path, "w");
	fputs("not a key\n", f);
	fclose(f);
	tap_is_int(cg_reportkey_load(&again, path, true, NULL, &err), CG_ERR,
		   "a file that is not a key is refused, not replaced");
	tap_ok(strstr(err.msg, "is not an OpenSSH private key") != NULL,
	       "saying so");
	f = fopen(path, "w");
	fputs("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
	      "-----END OPENSSH PRIVATE KEY-----\n", f);
	fclose(f);
	tap_is_int(cg_reportkey_load(&again, path, false, NULL, &err), CG_ERR,
		   "a truncated key is refused");
	free(path);
	path = cg_xasprintf("%s/none", dir);
	tap_is_int(cg_reportkey_load(&again, path, false, NULL, &err), CG_ERR,
		   "a missing key without create is an error");

	cg_buf_release(&pa);
	cg_buf_release(&pb);
	cg_buf_release(&c);
	cg_reportkey_release(&a);
	cg_reportkey_release(&b);
	free(path);
	path = cg_xasprintf("rm -rf '%s'", dir);
	if (system(path) != 0)
		printf("# could not remove %s\n", dir);
	free(path);
	return tap_done();
}
