/* test-secret: secrets round-trip to each recipient, and to nobody else. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../agent/agent.h"
#include "tap.h"

/* Make a key in a fresh directory with `key init`; its public half. */
static struct cg_hostkey *make_key(char *dir, char **pub)
{
	char *argv[] = { "key", "init", "--state-dir", dir, NULL };
	struct cg_hostkey *k = NULL;
	struct cg_error err;
	char *path = cg_hostkey_path(dir);
	int rc, saved, null;

	/* key init prints the public key: keep TAP's stdout clean. */
	fflush(stdout);
	saved = dup(1);
	null = open("/dev/null", O_WRONLY);
	dup2(null, 1);
	close(null);
	rc = cg_cmd_key_main(4, argv);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	if (rc != 0 || cg_hostkey_load(&k, path, &err) < 0) {
		free(path);
		return NULL;
	}
	free(path);
	*pub = cg_hostkey_public(k);
	return k;
}

int main(void)
{
	char tmpl[] = "/tmp/test-secret.XXXXXX";
	char *dir = mkdtemp(tmpl), *a_dir, *b_dir, *c_dir;
	char *pa = NULL, *pb = NULL, *pc = NULL, *line = NULL;
	struct cg_hostkey *a, *b, *c;
	struct cg_buf out = { 0 };
	struct cg_error err;
	const char *to[2];
	char cmd[128];

	if (!dir)
		return 1;
	a_dir = cg_xasprintf("%s/a", dir);
	b_dir = cg_xasprintf("%s/b", dir);
	c_dir = cg_xasprintf("%s/c", dir);
	a = make_key(a_dir, &pa);
	b = make_key(b_dir, &pb);
	c = make_key(c_dir, &pc);
	if (!tap_ok(a && b && c, "three keys made"))
		return tap_done();
	to[0] = pa;
	to[1] = pb;
	tap_is_int(cg_secret_encrypt(to, 2, "s3cret\n", 7, &line, &err), 0,
		   "encrypt to two keys");
	tap_ok(cg_secret_is(line), "it has the prefix");
	tap_ok(!strstr(line, "s3cret"), "no plaintext in it");
	tap_is_int(cg_secret_check(line, &err), 0, "well-formed");
	tap_is_int(cg_secret_decrypt(a, line, &out, &err), 0, "a decrypts");
	tap_ok(out.len == 7 && memcmp(out.data, "s3cret\n", 7) == 0,
	       "to the plaintext");
	tap_is_int(cg_secret_decrypt(b, line, &out, &err), 0, "b decrypts");
	tap_ok(out.len == 7 && memcmp(out.data, "s3cret\n", 7) == 0,
	       "to the plaintext too");
	tap_is_int(cg_secret_decrypt(c, line, &out, &err), CG_ENOTFOUND,
		   "c is no recipient");
	tap_has_str(err.msg, "not one of the secret's 2 recipients",
		    "and is told so");
	/* Flip one base64 character of the sealed body. */
	{
		size_t n = strlen(line) - 6;

		line[n] = line[n] == 'A' ? 'B' : 'A';
		tap_is_int(cg_secret_check(line, &err), 0,
			   "a damaged body still has the form");
		tap_is_int(cg_secret_decrypt(a, line, &out, &err), CG_ERR,
			   "but does not decrypt");
		tap_has_str(err.msg, "changed or damaged", "which it says");
	}
	tap_is_int(cg_secret_check("cg-secret:v1:AAAA", &err), CG_ERR,
		   "too short is malformed");
	tap_is_int(cg_secret_check("cg-secret:v1:not base64!", &err), CG_ERR,
		   "not base64 is malformed");
	tap_is_int(cg_secret_encrypt(to, 0, "x", 1, &line, &err) < 0, 1,
		   "no recipient is refused");
	to[0] = "cg-x25519:short";
	tap_is_int(cg_secret_encrypt(to, 1, "x", 1, &line, &err) < 0, 1,
		   "a bad key is refused");
	tap_has_str(err.msg, "is not a host key", "naming it");
	cg_buf_release(&out);
	free(line);
	cg_hostkey_free(a);
	cg_hostkey_free(b);
	cg_hostkey_free(c);
	free(pa);
	free(pb);
	free(pc);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("cannot remove the temporary directory");
	free(a_dir);
	free(b_dir);
	free(c_dir);
	return tap_done();
}
