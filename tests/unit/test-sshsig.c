/* test-sshsig.c: allowed signers, SSHSIG parsing and verification, commit splitting, fuzzing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "cg/sshsig.h"
#include "cg/util.h"
#include "sshsig-fixtures.h"
#include "tap.h"

#define FP_ED "SHA256:e45OUMwkYvsVrM3xY134mgC688RAbANnEYCqRFXGH8I"
#define FP_RSA "SHA256:Edge6e/kqjH34DwL7jSNFtM4esTqKNth/c0WPjDLe1Q"
#define FP_EC "SHA256:wqcrZQxpVtc6wOI4hZvoFr39vEPgl00R3/M+z3t8XiI"
#define NOW 1700000000

/* Parse text as allowed signers; NULL (with err filled) on failure. */
static struct cg_signers *signers(const char *text, struct cg_error *err)
{
	struct cg_signers *s = NULL;

	cg_error_clear(err);
	if (cg_signers_parse(&s, "allowed", text, strlen(text), err) < 0)
		return NULL;
	return s;
}

static struct cg_signers *signers_f(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static struct cg_signers *signers_f(const char *fmt, ...)
{
	struct cg_signers *s;
	struct cg_error err;
	va_list ap;
	char *text;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		abort();
	va_end(ap);
	s = signers(text, &err);
	if (!s)
		printf("# signers_f: %s: %s\n", err.where, err.msg);
	free(text);
	return s;
}

static int verify(const struct cg_signers *s, const char *sig,
		  const char *msg, const char *ns, int64_t now,
		  struct cg_sshsig_result *res, struct cg_error *err)
{
	cg_error_clear(err);
	return cg_sshsig_verify(s, sig, sig ? strlen(sig) : 0, msg,
				strlen(msg), ns, now, res, err);
}

static void is_code(int got, int want, const char *name)
{
	if (!tap_is_str(cg_sshsig_strerror(got), cg_sshsig_strerror(want),
			name))
		printf("#   (code %d)\n", got);
}

/* Allowed signers parsing. */

static void test_signers_parse(void)
{
	struct cg_signers *s;
	struct cg_error err;
	char *text;

	if (asprintf(&text,
		     "# a comment\n"
		     "\n"
		     "   \t# an indented comment\n"
		     "alice@example.com %s ed25519 key comment\r\n"
		     "  \"bob smith@example.com\",carol@* "
		     "namespaces=\"git,file\",VALID-AFTER=\"20240101Z\","
		     "valid-before=\"202501011230Z\" %s\n"
		     "*@example.com cert-authority %s\n"
		     "dave@example.com %s",
		     fx_ed_pub, fx_rsa_pub, fx_ec_pub, fx_ec_pub) < 0)
		abort();
	s = signers(text, &err);
	free(text);
	if (!tap_ok(s != NULL, "allowed signers: a file with comments, "
		    "options, CRLF and no final newline parses")) {
		printf("# %s: %s\n", err.where, err.msg);
		return;
	}
	tap_is_int((long long)s->n, 4, "four entries");
	tap_is_str(s->v[0].principals, "alice@example.com", "principals");
	tap_is_str(s->v[0].key_type, "ssh-ed25519", "key type");
	tap_is_str(s->v[0].fingerprint, FP_ED, "fingerprint as ssh-keygen -l");
	tap_is_int(s->v[0].line, 4, "line number");
	tap_ok(!s->v[0].namespaces && !s->v[0].has_valid_after &&
	       !s->v[0].has_valid_before && !s->v[0].cert_authority,
	       "no options");
	tap_is_str(s->v[1].principals, "\"bob smith@example.com\",carol@*",
		   "quoted principal in a list is kept as written");
	tap_is_str(s->v[1].namespaces, "git,file", "namespaces=");
	tap_ok(s->v[1].has_valid_after && s->v[1].valid_after == 1704067200,
	       "valid-after=YYYYMMDDZ (option names case-insensitive)");
	tap_ok(s->v[1].has_valid_before && s->v[1].valid_before == 1735734600,
	       "valid-before=YYYYMMDDHHMMZ");
	tap_is_str(s->v[1].fingerprint, FP_RSA, "RSA fingerprint");
	tap_ok(s->v[2].cert_authority, "cert-authority");
	tap_is_str(s->v[3].fingerprint, FP_EC, "ECDSA fingerprint");
	tap_is_int(s->v[3].line, 7, "last line without newline");
	cg_signers_free(s);

	s = signers_f("\"alice smith\" %s\n", fx_ed_pub);
	tap_ok(s && strcmp(s->v[0].principals, "alice smith") == 0,
	       "a quoted principal loses its quotes");
	cg_signers_free(s);

	/* sk-ssh-ed25519@openssh.com: a type we cannot check, still loads */
	s = signers_f("x@y sk-ssh-ed25519@openssh.com "
		      "AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAAA==\n");
	tap_ok(s && s->n == 1, "a line with an unsupported key type loads");
	cg_signers_free(s);

	s = signers_f("x@y valid-after=\"20240101123456Z\" %s\n", fx_ed_pub);
	tap_ok(s && s->v[0].valid_after == 1704067200 + 12 * 3600 + 34 * 60 + 56,
	       "valid-after=YYYYMMDDHHMMSSZ");
	cg_signers_free(s);

	s = signers_f("x@y valid-after=\"20240101\" %s\n", fx_ed_pub);
	tap_ok(s && s->v[0].has_valid_after, "local time without Z");
	cg_signers_free(s);

	cg_signers_free(NULL);
	tap_ok(true, "cg_signers_free(NULL)");
}

static const struct {
	const char *line; /* %s is the ed25519 public key */
	const char *msg;
	const char *hint;
} bad_lines[] = {
	{ "a@b namespace=\"git\" %s", "unknown option \"namespace\"",
	  "did you mean \"namespaces\"" },
	{ "a@b namespaces=\"git\",namespaces=\"x\" %s", "given twice", NULL },
	{ "a@b namespaces=git %s", "needs a value in double quotes", NULL },
	{ "a@b valid-after=\"2024-01-01\" %s", "is not a time",
	  "YYYYMMDD" },
	{ "a@b valid-after=\"20230230Z\" %s", "is not a time", NULL },
	{ "a@b valid-after=\"20230101Z\",valid-after=\"20230102Z\" %s",
	  "given twice", NULL },
	{ "a@b valid-after=\"20240101Z\",valid-before=\"20230101Z\" %s",
	  "valid-before is not after valid-after", NULL },
	{ "a@b namespaces=\"git\", %s", "options end with a comma", NULL },
	{ "a@b namespaces=\"git\"x %s", "unexpected 'x' in options", NULL },
	{ "a@b", "missing key type", NULL },
	{ "a@b ssh-ed25519", "missing base64 key", NULL },
	{ "a@b ssh-ed25519 AAAA$$$$", "not valid base64", NULL },
	{ "a@b ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMU=", "malformed", NULL },
	{ "a@b ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIMU/T71g7JaUgZ+hIWFugjO/lqOs8"
	  "ScOPe2O7b5vioWV",
	  "does not match the key, which is ssh-ed25519", NULL },
	{ "a@b foo %s", "key after \"foo\" is not valid base64",
	  "PRINCIPALS [OPTIONS] KEYTYPE KEY" },
	{ "\"a@b %s", "unterminated double quote", NULL },
	{ "a@b namespaces=\"git %s", "unterminated double quote", NULL },
};

static void test_signers_errors(void)
{
	struct cg_signers *s;
	struct cg_error err;
	char name[160], *text;
	size_t i;

	for (i = 0; i < CG_ARRAY_SIZE(bad_lines); i++) {
		/* the bad line is line 3, after a good one and a comment */
		if (asprintf(&text, "ok@x %s\n# c\n", fx_ed_pub) < 0)
			abort();
		{
			char *line, *all;

			if (asprintf(&line, bad_lines[i].line, fx_ed_pub) < 0 ||
			    asprintf(&all, "%s%s\n", text, line) < 0)
				abort();
			free(line);
			free(text);
			text = all;
		}
		s = signers(text, &err);
		free(text);
		snprintf(name, sizeof(name), "refused: %s", bad_lines[i].line);
		tap_ok(s == NULL, name);
		cg_signers_free(s);
		snprintf(name, sizeof(name), "  says: %s", bad_lines[i].msg);
		tap_has_str(err.msg, bad_lines[i].msg, name);
		tap_is_str(err.where, "allowed:3", "  names file:line");
		if (bad_lines[i].hint)
			tap_has_str(err.hint, bad_lines[i].hint, "  hint");
	}

	{
		static const char nul[] = "a@b ssh-ed\0 AAAA\n";

		s = NULL;
		tap_ok(cg_signers_parse(&s, "allowed", nul, sizeof(nul) - 1,
					&err) < 0 &&
		       strstr(err.msg, "NUL byte") &&
		       strcmp(err.where, "allowed:1") == 0,
		       "a NUL byte in a line is refused with file:line");
	}

	tap_ok(cg_signers_load(&s, "/nonexistent/allowed", &err) < 0 &&
	       strstr(err.msg, "cannot open") &&
	       strcmp(err.where, "/nonexistent/allowed") == 0,
	       "a missing file is an error naming it");
}

/* Verification with signatures made by ssh-keygen. */

static void test_verify_real(void)
{
	struct cg_sshsig_result res;
	struct cg_signers *s, *only_rsa;
	struct cg_error err;
	int rc;

	s = signers_f("alice@example.com %s\nbob@example.com %s\n"
		      "carol@example.com %s\n",
		      fx_ed_pub, fx_rsa_pub, fx_ec_pub);
	rc = verify(s, fx_ed_sig, fx_msg, "git", NOW, &res, &err);
	is_code(rc, 0, "ssh-keygen ed25519 signature verifies");
	tap_is_str(res.principals, "alice@example.com", "  principal");
	tap_is_str(res.fingerprint, FP_ED, "  fingerprint");
	tap_is_str(res.key_type, "ssh-ed25519", "  key type");
	tap_is_str(res.sig_alg, "ssh-ed25519", "  signature algorithm");
	tap_is_str(res.hash_alg, "sha512", "  hash");
	tap_is_str(res.where, "allowed:1", "  allowing line");

	rc = verify(s, fx_rsa_sig, fx_msg, "git", NOW, &res, &err);
	is_code(rc, 0, "ssh-keygen RSA signature verifies");
	tap_is_str(res.sig_alg, "rsa-sha2-512", "  rsa-sha2-512");
	tap_is_str(res.fingerprint, FP_RSA, "  fingerprint");

	rc = verify(s, fx_ec_sig, fx_msg, "git", NOW, &res, &err);
	is_code(rc, 0, "ssh-keygen ECDSA P-256 signature verifies");
	tap_is_str(res.principals, "carol@example.com", "  principal");

	rc = verify(s, fx_ed_sig, "congruent test message!\n", "git", NOW,
		    &res, &err);
	is_code(rc, CG_SSHSIG_EBADSIG, "changed data: bad signature");
	tap_has_str(err.msg, FP_ED, "  message names the key");
	rc = verify(s, fx_rsa_sig, "Congruent test message\n", "git", NOW,
		    &res, &err);
	is_code(rc, CG_SSHSIG_EBADSIG, "changed data, RSA: bad signature");
	rc = verify(s, fx_ec_sig, "", "git", NOW, &res, &err);
	is_code(rc, CG_SSHSIG_EBADSIG, "changed data, ECDSA: bad signature");

	rc = verify(s, fx_ed_file_sig, fx_msg, "git", NOW, &res, &err);
	is_code(rc, CG_SSHSIG_ENAMESPACE, "namespace file: refused for git");
	tap_has_str(err.msg, "namespace \"file\", not \"git\"",
		    "  says which namespaces");
	rc = verify(s, fx_ed_file_sig, fx_msg, "file", NOW, &res, &err);
	is_code(rc, 0, "namespace file: verifies for file");

	only_rsa = signers_f("bob@example.com %s\n", fx_rsa_pub);
	rc = verify(only_rsa, fx_ed_sig, fx_msg, "git", NOW, &res, &err);
	is_code(rc, CG_SSHSIG_EUNKNOWNKEY, "unknown key refused");
	tap_has_str(err.msg, FP_ED, "  message names its fingerprint");
	tap_has_str(err.hint, "ssh-ed25519", "  hint says how to add it");
	rc = verify(NULL, fx_ed_sig, fx_msg, "git", NOW, &res, &err);
	is_code(rc, CG_SSHSIG_EUNKNOWNKEY, "no signers at all: unknown key");
	cg_signers_free(only_rsa);

	rc = verify(s, NULL, fx_msg, "git", NOW, &res, &err);
	is_code(rc, CG_SSHSIG_EUNSIGNED, "no signature: unsigned");
	rc = verify(s, " \n\t\r\n", fx_msg, "git", NOW, &res, &err);
	is_code(rc, CG_SSHSIG_EUNSIGNED, "blank signature: unsigned");
	rc = verify(s, "-----BEGIN PGP SIGNATURE-----\n\niQ==\n"
		    "-----END PGP SIGNATURE-----\n", fx_msg, "git", NOW, &res,
		    &err);
	is_code(rc, CG_SSHSIG_EUNSUPPORTED, "OpenPGP signature: unsupported");
	tap_has_str(err.msg, "OpenPGP", "  says OpenPGP");
	rc = verify(s, "hello", fx_msg, "git", NOW, &res, &err);
	is_code(rc, CG_SSHSIG_EMALFORMED, "garbage: malformed");
	cg_signers_free(s);
}

static void test_verify_options(void)
{
	struct cg_sshsig_result res;
	struct cg_signers *s;
	struct cg_error err;
	int rc;

	s = signers_f("a@x namespaces=\"file\" %s\n", fx_ed_pub);
	rc = verify(s, fx_ed_sig, fx_msg, "git", NOW, &res, &err);
	is_code(rc, CG_SSHSIG_ENAMESPACE, "namespaces=\"file\": git refused");
	tap_is_str(err.where, "allowed:1", "  names the line");
	cg_signers_free(s);

	s = signers_f("a@x namespaces=\"!git,*\" %s\n", fx_ed_pub);
	rc = verify(s, fx_ed_sig, fx_msg, "git", NOW, &res, &err);
	is_code(rc, CG_SSHSIG_ENAMESPACE, "namespaces=\"!git,*\": refused");
	cg_signers_free(s);

	s = signers_f("a@x namespaces=\"file,g?*\" %s\n", fx_ed_pub);
	rc = verify(s, fx_ed_sig, fx_msg, "git", NOW, &res, &err);
	is_code(rc, 0, "namespaces=\"file,g?*\": allowed");
	cg_signers_free(s);

	s = signers_f("a@x namespaces=\"file\" %s\nb@x %s\n", fx_ed_pub,
		      fx_ed_pub);
	rc = verify(s, fx_ed_sig, fx_msg, "git", NOW, &res, &err);
	is_code(rc, 0, "key listed twice: the line that allows it wins");
	tap_is_str(res.principals, "b@x", "  principal of that line");
	tap_is_str(res.where, "allowed:2", "  and its line");
	cg_signers_free(s);

	/* 1700000000 is 2023-11-14T22:13:20Z */
	s = signers_f("a@x valid-before=\"20231114221319Z\" %s\n", fx_ed_pub);
	rc = verify(s, fx_ed_sig, fx_msg, "git", NOW, &res, &err);
	is_code(rc, CG_SSHSIG_EEXPIRED, "valid-before passed: expired");
	tap_has_str(err.msg, "expired at 2023-11-14T22:13:19Z",
		    "  says when");
	cg_signers_free(s);

	s = signers_f("a@x valid-before=\"20231114221320Z\" %s\n", fx_ed_pub);
	rc = verify(s, fx_ed_sig, fx_msg, "git", NOW, &res, &err);
	is_code(rc, 0, "valid-before is inclusive");
	cg_signers_free(s);

	s = signers_f("a@x valid-after=\"20231114221321Z\" %s\n", fx_ed_pub);
	rc = verify(s, fx_ed_sig, fx_msg, "git", NOW, &res, &err);
	is_code(rc, CG_SSHSIG_EEXPIRED, "valid-after ahead: refused");
	tap_has_str(err.msg, "not valid before", "  says not yet valid");
	cg_signers_free(s);

	s = signers_f("a@x valid-after=\"20231114221320Z\" %s\n", fx_ed_pub);
	rc = verify(s, fx_ed_sig, fx_msg, "git", NOW, &res, &err);
	is_code(rc, 0, "valid-after is inclusive");
	cg_signers_free(s);

	s = signers_f("*@x cert-authority %s\n", fx_ed_pub);
	rc = verify(s, fx_ed_sig, fx_msg, "git", NOW, &res, &err);
	is_code(rc, CG_SSHSIG_EUNKNOWNKEY,
		"a cert-authority key's own signature is not accepted");
	tap_has_str(err.msg, "cert-authority", "  says why");
	cg_signers_free(s);
}

/* Signatures made here with OpenSSL, to reach what ssh-keygen never makes. */

struct tkey {
	EVP_PKEY *pkey;
	struct cg_buf blob;
	const char *type;
};

static void put_u32(struct cg_buf *b, uint32_t v)
{
	unsigned char l[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 8), (unsigned char)v };

	cg_buf_add(b, l, 4);
}

static void put_str(struct cg_buf *b, const void *p, size_t n)
{
	put_u32(b, (uint32_t)n);
	cg_buf_add(b, p, n);
}

static void put_cstr(struct cg_buf *b, const char *s)
{
	put_str(b, s, strlen(s));
}

static void put_mpint(struct cg_buf *b, const BIGNUM *bn)
{
	int n = BN_num_bytes(bn);
	unsigned char *p = cg_xmalloc((size_t)n + 1);

	p[0] = 0;
	BN_bn2bin(bn, p + 1);
	if (p[1] & 0x80)
		put_str(b, p, (size_t)n + 1);
	else
		put_str(b, p + 1, (size_t)n);
	free(p);
}

static void tkey_ed25519(struct tkey *k)
{
	unsigned char pub[32];
	size_t len = sizeof(pub);

	memset(k, 0, sizeof(*k));
	k->type = "ssh-ed25519";
	k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!k->pkey || !EVP_PKEY_get_raw_public_key(k->pkey, pub, &len))
		abort();
	put_cstr(&k->blob, k->type);
	put_str(&k->blob, pub, len);
}

static void tkey_rsa(struct tkey *k, size_t bits)
{
	BIGNUM *n = NULL, *e = NULL;

	memset(k, 0, sizeof(*k));
	k->type = "ssh-rsa";
	k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);
	if (!k->pkey ||
	    !EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_E, &e))
		abort();
	put_cstr(&k->blob, k->type);
	put_mpint(&k->blob, e);
	put_mpint(&k->blob, n);
	BN_free(n);
	BN_free(e);
}

static void tkey_free(struct tkey *k)
{
	EVP_PKEY_free(k->pkey);
	cg_buf_release(&k->blob);
}

/* "principal keytype base64" for an allowed signers file. */
static char *tkey_line(const struct tkey *k, const char *principal)
{
	unsigned char *b64 = cg_xmalloc(k->blob.len * 2 + 4);
	char *line;

	EVP_EncodeBlock(b64, (const unsigned char *)k->blob.data,
			(int)k->blob.len);
	line = cg_xasprintf("%s %s %s\n", principal, k->type,
			    (const char *)b64);
	free(b64);
	return line;
}

struct craft {
	uint32_t version;      /* 1 */
	const char *blob_ns;   /* namespace written into the blob */
	const char *signed_ns; /* namespace actually signed */
	const char *reserved;
	const char *hash;      /* "sha512" */
	const char *sig_alg;   /* "ssh-ed25519", "rsa-sha2-512", ... */
	const char *md;        /* RSA digest: "SHA512", "SHA1"; NULL for Ed25519 */
	const char *trailing;  /* appended to the blob */
};

static char *armor(const struct cg_buf *blob)
{
	unsigned char *b64 = cg_xmalloc(blob->len * 2 + 4);
	struct cg_buf out = { 0 };
	size_t i, n;

	n = (size_t)EVP_EncodeBlock(b64, (const unsigned char *)blob->data,
				    (int)blob->len);
	cg_buf_addstr(&out, "-----BEGIN SSH SIGNATURE-----\n");
	for (i = 0; i < n; i += 70) {
		cg_buf_add(&out, b64 + i, n - i < 70 ? n - i : 70);
		cg_buf_addch(&out, '\n');
	}
	cg_buf_addstr(&out, "-----END SSH SIGNATURE-----\n");
	free(b64);
	return cg_buf_detach(&out, NULL);
}

static char *craft_sig(const struct tkey *k, const struct craft *c,
		       const char *msg)
{
	struct cg_buf tbs = { 0 }, sig = { 0 }, blob = { 0 };
	unsigned char md[64], raw[2048];
	unsigned int md_len = 0;
	size_t raw_len = sizeof(raw);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char *out;

	EVP_Digest(msg, strlen(msg), md, &md_len,
		   strcmp(c->hash, "sha256") == 0 ? EVP_sha256() :
						    EVP_sha512(),
		   NULL);
	cg_buf_add(&tbs, "SSHSIG", 6);
	put_cstr(&tbs, c->signed_ns);
	put_cstr(&tbs, "");
	put_cstr(&tbs, c->hash);
	put_str(&tbs, md, md_len);
	if (!ctx ||
	    EVP_DigestSignInit_ex(ctx, NULL, c->md, NULL, NULL, k->pkey,
				  NULL) <= 0 ||
	    EVP_DigestSign(ctx, raw, &raw_len, (unsigned char *)tbs.data,
			   tbs.len) <= 0)
		abort();
	EVP_MD_CTX_free(ctx);
	put_cstr(&sig, c->sig_alg);
	put_str(&sig, raw, raw_len);

	cg_buf_add(&blob, "SSHSIG", 6);
	put_u32(&blob, c->version);
	put_str(&blob, k->blob.data, k->blob.len);
	put_cstr(&blob, c->blob_ns);
	put_cstr(&blob, c->reserved);
	put_cstr(&blob, c->hash);
	put_str(&blob, sig.data, sig.len);
	if (c->trailing)
		cg_buf_addstr(&blob, c->trailing);
	out = armor(&blob);
	cg_buf_release(&tbs);
	cg_buf_release(&sig);
	cg_buf_release(&blob);
	return out;
}

static void test_verify_crafted(void)
{
	static const struct craft ed = {
		.version = 1, .blob_ns = "git", .signed_ns = "git",
		.reserved = "", .hash = "sha512", .sig_alg = "ssh-ed25519",
	};
	static const struct craft rsa = {
		.version = 1, .blob_ns = "git", .signed_ns = "git",
		.reserved = "", .hash = "sha512", .sig_alg = "rsa-sha2-512",
		.md = "SHA512",
	};
	static const struct {
		const char *name;
		bool rsa;
		struct craft c;
		int want;
		const char *msg;
	} cases[] = {
		{ "crafted Ed25519 signature verifies", false, ed, 0, NULL },
		{ "non-empty reserved field is ignored", false,
		  { 1, "git", "git", "future", "sha512", "ssh-ed25519", NULL,
		    NULL }, 0, NULL },
		{ "sha256 message hash verifies", false,
		  { 1, "git", "git", "", "sha256", "ssh-ed25519", NULL, NULL },
		  0, NULL },
		{ "version 2 unsupported", false,
		  { 2, "git", "git", "", "sha512", "ssh-ed25519", NULL, NULL },
		  CG_SSHSIG_EUNSUPPORTED, "version 2" },
		{ "namespace git in the blob but file signed: bad", false,
		  { 1, "git", "file", "", "sha512", "ssh-ed25519", NULL, NULL },
		  CG_SSHSIG_EBADSIG, NULL },
		{ "hash md5 unsupported", false,
		  { 1, "git", "git", "", "md5", "ssh-ed25519", NULL, NULL },
		  CG_SSHSIG_EUNSUPPORTED, "md5" },
		{ "signature algorithm not fitting the key: malformed", false,
		  { 1, "git", "git", "", "sha512", "rsa-sha2-512", NULL, NULL },
		  CG_SSHSIG_EMALFORMED, "does not fit" },
		{ "empty namespace: malformed", false,
		  { 1, "", "", "", "sha512", "ssh-ed25519", NULL, NULL },
		  CG_SSHSIG_EMALFORMED, "empty namespace" },
		{ "trailing data after the blob: malformed", false,
		  { 1, "git", "git", "", "sha512", "ssh-ed25519", NULL, "xx" },
		  CG_SSHSIG_EMALFORMED, "trailing" },
		{ "crafted rsa-sha2-512 verifies", true, rsa, 0, NULL },
		{ "rsa-sha2-256 verifies", true,
		  { 1, "git", "git", "", "sha512", "rsa-sha2-256", "SHA256",
		    NULL }, 0, NULL },
		{ "RSA with SHA-1 (ssh-rsa) refused", true,
		  { 1, "git", "git", "", "sha512", "ssh-rsa", "SHA1", NULL },
		  CG_SSHSIG_ESHA1, "SHA-1" },
		{ "rsa-sha2-256 label over a SHA-512 signature: bad", true,
		  { 1, "git", "git", "", "sha512", "rsa-sha2-256", "SHA512",
		    NULL }, CG_SSHSIG_EBADSIG, NULL },
	};
	struct tkey ked, krsa, ksmall;
	struct cg_sshsig_result res;
	struct cg_signers *s;
	struct cg_error err;
	char *l1, *l2, *l3, *sig;
	size_t i;
	int rc;

	tkey_ed25519(&ked);
	tkey_rsa(&krsa, 2048);
	tkey_rsa(&ksmall, 1024);
	l1 = tkey_line(&ked, "ed@x");
	l2 = tkey_line(&krsa, "rsa@x");
	l3 = tkey_line(&ksmall, "small@x");
	s = signers_f("%s%s%s", l1, l2, l3);
	free(l1);
	free(l2);
	free(l3);

	for (i = 0; i < CG_ARRAY_SIZE(cases); i++) {
		sig = craft_sig(cases[i].rsa ? &krsa : &ked, &cases[i].c,
				fx_msg);
		rc = verify(s, sig, fx_msg, "git", NOW, &res, &err);
		is_code(rc, cases[i].want, cases[i].name);
		if (cases[i].msg)
			tap_has_str(err.msg, cases[i].msg, "  message");
		free(sig);
	}

	sig = craft_sig(&ksmall, &rsa, fx_msg);
	rc = verify(s, sig, fx_msg, "git", NOW, &res, &err);
	is_code(rc, CG_SSHSIG_EUNSUPPORTED, "RSA 1024 refused");
	tap_has_str(err.msg, "1024 bits", "  says how small");
	free(sig);

	cg_signers_free(s);
	tkey_free(&ked);
	tkey_free(&krsa);
	tkey_free(&ksmall);
}

static void test_parse(void)
{
	struct cg_sshsig sig;
	struct cg_error err;
	char *big, *text;
	size_t n;

	tap_is_int(cg_sshsig_parse(&sig, fx_rsa_sig, strlen(fx_rsa_sig), &err),
		   0, "parse an RSA signature");
	tap_ok(sig.ns.len == 3 && memcmp(sig.ns.p, "git", 3) == 0,
	       "  namespace");
	tap_ok(sig.key_type.len == 7 && memcmp(sig.key_type.p, "ssh-rsa", 7) == 0,
	       "  key type");
	tap_ok(sig.sig_alg.len == 12 &&
	       memcmp(sig.sig_alg.p, "rsa-sha2-512", 12) == 0,
	       "  signature algorithm");
	tap_is_int((long long)sig.sig_blob.len, 256, "  2048-bit signature");
	cg_sshsig_release(&sig);
	cg_sshsig_release(&sig);
	cg_sshsig_release(NULL);
	tap_ok(sig.blob == NULL, "release twice and NULL");

	/* the armor without its final newline, as libgit2 hands it over */
	n = strlen(fx_ed_sig) - 1;
	tap_is_int(cg_sshsig_parse(&sig, fx_ed_sig, n, &err), 0,
		   "armor without the final newline");
	cg_sshsig_release(&sig);

	text = cg_xasprintf("%sjunk\n", fx_ed_sig);
	is_code(cg_sshsig_parse(&sig, text, strlen(text), &err),
		CG_SSHSIG_EMALFORMED, "text after the footer: malformed");
	free(text);

	text = cg_xstrdup(fx_ed_sig);
	text[40] = '*';
	is_code(cg_sshsig_parse(&sig, text, strlen(text), &err),
		CG_SSHSIG_EMALFORMED, "bad base64 character: malformed");
	free(text);

	/* "U1NIU0lH" with a non-zero unused bit in the padding: U1NIU0lI= */
	text = cg_xstrdup("-----BEGIN SSH SIGNATURE-----\nU1NIU0lI\n"
			  "-----END SSH SIGNATURE-----\n");
	is_code(cg_sshsig_parse(&sig, text, strlen(text), &err),
		CG_SSHSIG_EMALFORMED, "magic only: malformed");
	free(text);

	text = cg_xstrdup("-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAA=\n"
			  "-----END SSH SIGNATURE-----\n");
	is_code(cg_sshsig_parse(&sig, text, strlen(text), &err),
		CG_SSHSIG_EMALFORMED, "non-canonical base64 padding: malformed");
	free(text);

	text = cg_xstrdup("-----BEGIN SSH SIGNATURE-----\n"
			  "-----END SSH SIGNATURE-----\n");
	is_code(cg_sshsig_parse(&sig, text, strlen(text), &err),
		CG_SSHSIG_EMALFORMED, "empty body: malformed");
	free(text);

	/* a length field claiming 4 GiB right after the version */
	text = cg_xstrdup("-----BEGIN SSH SIGNATURE-----\n"
			  "U1NIU0lHAAAAAf////8=\n"
			  "-----END SSH SIGNATURE-----\n");
	is_code(cg_sshsig_parse(&sig, text, strlen(text), &err),
		CG_SSHSIG_EMALFORMED, "length of 4 GiB: malformed, no over-read");
	free(text);

	big = cg_xmalloc(70 * 1024);
	memset(big, 'A', 70 * 1024);
	memcpy(big, "-----BEGIN SSH SIGNATURE-----\n", 30);
	is_code(cg_sshsig_parse(&sig, big, 70 * 1024, &err),
		CG_SSHSIG_EMALFORMED, "70 KiB: refused before decoding");
	free(big);
}

/* Commits. */

static void test_commit(void)
{
	struct cg_buf sig = { 0 }, payload = { 0 };
	struct cg_sshsig_result res;
	struct cg_signers *s;
	struct cg_error err;
	char *c;
	int rc;

	rc = cg_sshsig_commit_split(fx_commit, strlen(fx_commit), &sig,
				    &payload, &err);
	tap_is_int(rc, 0, "split a signed commit");
	tap_is_str(payload.data,
		   "tree a1dffc7a64c0b2d395484bf452e9aeb1da3a18f2\n"
		   "author T <t@example.com> 1700000000 +0000\n"
		   "committer T <t@example.com> 1700000000 +0000\n"
		   "\n"
		   "signed commit\n",
		   "  payload is the commit without gpgsig");
	tap_ok(cg_str_starts(sig.data, "-----BEGIN SSH SIGNATURE-----\nU1NI") &&
	       cg_str_ends(sig.data, "\n-----END SSH SIGNATURE-----\n"),
	       "  signature unfolded");

	s = signers_f("t@example.com %s\n", fx_ed_pub);
	rc = cg_sshsig_verify_commit(s, fx_commit, strlen(fx_commit), NOW, &res,
				     &err);
	is_code(rc, 0, "git's signed commit verifies");
	tap_is_str(res.principals, "t@example.com", "  principal");

	c = cg_xstrdup(fx_commit);
	*strstr(c, "signed commit") = 'S';
	rc = cg_sshsig_verify_commit(s, c, strlen(c), NOW, &res, &err);
	is_code(rc, CG_SSHSIG_EBADSIG, "changed message: bad signature");
	free(c);

	c = cg_xstrdup(fx_commit);
	*strstr(c, "1700000000 +0000\ngpgsig") = '2';
	rc = cg_sshsig_verify_commit(s, c, strlen(c), NOW, &res, &err);
	is_code(rc, CG_SSHSIG_EBADSIG, "changed committer date: bad signature");
	free(c);

	c = cg_xstrdup(fx_commit);
	memcpy(strstr(c, "gpgsig "), "gpgsag ", 7);
	rc = cg_sshsig_verify_commit(s, c, strlen(c), NOW, &res, &err);
	is_code(rc, CG_SSHSIG_EUNSIGNED, "no gpgsig header: unsigned");
	tap_has_str(err.msg, "not signed", "  says so");
	free(c);

	/* gpgsig-sha256 is someone else's: dropped from the payload */
	c = cg_xasprintf("%.*sgpgsig-sha256 xyz\n continued\n%s",
			 (int)(strstr(fx_commit, "gpgsig ") - fx_commit),
			 fx_commit, strstr(fx_commit, "gpgsig "));
	rc = cg_sshsig_verify_commit(s, c, strlen(c), NOW, &res, &err);
	is_code(rc, 0, "gpgsig-sha256 header is left out of the payload");
	free(c);

	c = cg_xasprintf("%.*sgpgsig x\n%s",
			 (int)(strstr(fx_commit, "gpgsig ") - fx_commit),
			 fx_commit, strstr(fx_commit, "gpgsig "));
	rc = cg_sshsig_verify_commit(s, c, strlen(c), NOW, &res, &err);
	is_code(rc, CG_SSHSIG_EMALFORMED, "two gpgsig headers: malformed");
	free(c);
	cg_signers_free(s);

	/* a gpgsig line in the message is message, not signature */
	c = cg_xstrdup("tree a1dffc7a64c0b2d395484bf452e9aeb1da3a18f2\n\n"
		       "gpgsig -----BEGIN SSH SIGNATURE-----\n");
	rc = cg_sshsig_commit_split(c, strlen(c), &sig, &payload, &err);
	is_code(rc, CG_SSHSIG_EUNSIGNED, "gpgsig in the message is ignored");
	free(c);

	rc = cg_sshsig_commit_split("tree x\ngpgsig abc\n def", 22, &sig,
				    &payload, &err);
	tap_ok(rc == 0 && strcmp(sig.data, "abc\ndef") == 0 &&
	       strcmp(payload.data, "tree x\n") == 0,
	       "header-only commit without a final newline");
	rc = cg_sshsig_commit_split("", 0, &sig, &payload, &err);
	is_code(rc, CG_SSHSIG_EUNSIGNED, "empty commit: unsigned");
	cg_buf_release(&sig);
	cg_buf_release(&payload);
}

/* Fuzzing: hostile input must never crash, over-read or verify. */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return n ? (uint32_t)(rng_state % n) : 0;
}

static bool known_code(int rc)
{
	return rc == 0 || (rc <= CG_SSHSIG_EUNSIGNED && rc >= CG_SSHSIG_EBADSIG);
}

/* Apply one random edit to buf (len bytes, room for len + 8). */
static size_t mutate(unsigned char *buf, size_t len)
{
	size_t at = len ? rnd((uint32_t)len) : 0;

	switch (rnd(6)) {
	case 0: /* flip a bit */
		if (len)
			buf[at] ^= (unsigned char)(1u << rnd(8));
		return len;
	case 1: /* random byte */
		if (len)
			buf[at] = (unsigned char)rnd(256);
		return len;
	case 2: /* truncate */
		return at;
	case 3: /* delete a byte */
		if (len) {
			memmove(buf + at, buf + at + 1, len - at - 1);
			return len - 1;
		}
		return len;
	case 4: /* insert a byte */
		memmove(buf + at + 1, buf + at, len - at);
		buf[at] = (unsigned char)rnd(256);
		return len + 1;
	default: /* a huge or off-by-one length at a random place */
		if (len >= 4) {
			static const uint32_t v[] = { 0xffffffffu, 0x80000000u,
						      0x7fffffffu, 0x10000u, 0, 1 };
			uint32_t x = v[rnd(CG_ARRAY_SIZE(v))];

			at = rnd((uint32_t)(len - 3));
			buf[at] = (unsigned char)(x >> 24);
			buf[at + 1] = (unsigned char)(x >> 16);
			buf[at + 2] = (unsigned char)(x >> 8);
			buf[at + 3] = (unsigned char)x;
		}
		return len;
	}
}

/* Would this mutant, if it verified, be the original signature? */
static bool same_signature(const char *a, size_t alen, const char *b)
{
	struct cg_sshsig x, y;
	struct cg_error err;
	bool same = false;

	if (cg_sshsig_parse(&x, a, alen, &err) < 0)
		return false;
	if (cg_sshsig_parse(&y, b, strlen(b), &err) == 0) {
		same = x.key.len == y.key.len &&
		       memcmp(x.key.p, y.key.p, x.key.len) == 0 &&
		       x.sig_blob.len == y.sig_blob.len &&
		       memcmp(x.sig_blob.p, y.sig_blob.p, x.sig_blob.len) == 0;
		cg_sshsig_release(&y);
	}
	cg_sshsig_release(&x);
	return same;
}

static void test_fuzz(void)
{
	const char *sigs[] = { fx_ed_sig, fx_rsa_sig, fx_ec_sig };
	struct cg_sshsig_result res;
	struct cg_signers *s, *s2;
	struct cg_error err;
	unsigned long iters = 20000, i, bad = 0, forged = 0, verified = 0;
	const char *env = getenv("CG_FUZZ_ITERATIONS");
	char name[128];
	size_t k, n;
	int rc;

	if (env)
		iters = strtoul(env, NULL, 10);
	if (getenv("CG_FUZZ_SEED"))
		rng_state = strtoull(getenv("CG_FUZZ_SEED"), NULL, 0) * 2 + 1;
	s = signers_f("a@x %s\nb@x %s\nc@x %s\n", fx_ed_pub, fx_rsa_pub,
		      fx_ec_pub);

	/* every truncation of every signature */
	for (k = 0; k < CG_ARRAY_SIZE(sigs); k++) {
		size_t len = strlen(sigs[k]);

		for (n = 0; n < len; n++) {
			char *t = cg_xmalloc(n ? n : 1);

			memcpy(t, sigs[k], n);
			rc = cg_sshsig_verify(s, t, n, fx_msg, strlen(fx_msg),
					      "git", NOW, &res, &err);
			if (!known_code(rc) || (rc == 0 && n + 1 < len))
				bad++;
			free(t);
		}
	}
	tap_is_int((long long)bad, 0,
		   "every truncation of every signature is refused");

	/* random edits of the decoded blob, re-armored: reach deep */
	bad = 0;
	for (i = 0; i < iters; i++) {
		const char *orig = sigs[rnd(CG_ARRAY_SIZE(sigs))];
		struct cg_sshsig p;
		struct cg_buf blob = { 0 };
		unsigned char *buf;
		size_t len;
		char *text;
		int edits = 1 + (int)rnd(3);

		if (cg_sshsig_parse(&p, orig, strlen(orig), &err) < 0)
			abort();
		buf = cg_xmalloc(p.blob_len + 16);
		memcpy(buf, p.blob, p.blob_len);
		len = p.blob_len;
		cg_sshsig_release(&p);
		while (edits--)
			len = mutate(buf, len);
		cg_buf_add(&blob, buf, len);
		free(buf);
		text = armor(&blob);
		cg_buf_release(&blob);
		rc = cg_sshsig_verify(s, text, strlen(text), fx_msg,
				      strlen(fx_msg), "git", NOW, &res, &err);
		if (!known_code(rc))
			bad++;
		if (rc == 0) {
			verified++;
			if (!same_signature(text, strlen(text), orig))
				forged++;
		}
		free(text);
	}
	snprintf(name, sizeof(name),
		 "%lu blob mutants: no unknown result codes", iters);
	tap_is_int((long long)bad, 0, name);
	tap_is_int((long long)forged, 0,
		   "  and none verifies unless key and signature are intact");
	printf("# %lu mutants verified (edits in ignored fields)\n", verified);

	/* random edits of the armored text */
	bad = forged = 0;
	for (i = 0; i < iters / 2; i++) {
		const char *orig = sigs[rnd(CG_ARRAY_SIZE(sigs))];
		size_t len = strlen(orig);
		unsigned char *buf = cg_xmalloc(len + 16);
		int edits = 1 + (int)rnd(3);

		memcpy(buf, orig, len);
		while (edits--)
			len = mutate(buf, len);
		rc = cg_sshsig_verify(s, (char *)buf, len, fx_msg,
				      strlen(fx_msg), "git", NOW, &res, &err);
		if (!known_code(rc))
			bad++;
		if (rc == 0 && !same_signature((char *)buf, len, orig))
			forged++;
		free(buf);
	}
	tap_ok(bad == 0 && forged == 0, "armored-text mutants: refused or "
	       "intact");

	/* random edits of allowed signers and commits */
	{
		char *text = cg_xasprintf("a@x namespaces=\"git,f*\","
					  "valid-after=\"20200101Z\","
					  "valid-before=\"20300101Z\" %s\n"
					  "\"b c\"@x cert-authority %s\n"
					  "# comment\nc@x %s x\n",
					  fx_ed_pub, fx_rsa_pub, fx_ec_pub);
		size_t tlen = strlen(text), clen = strlen(fx_commit);
		unsigned long parsed = 0;

		for (i = 0; i < iters / 2; i++) {
			unsigned char *buf = cg_xmalloc(tlen + 16);
			struct cg_buf sig = { 0 }, payload = { 0 };
			size_t len = tlen;
			int edits = 1 + (int)rnd(3);

			memcpy(buf, text, tlen);
			while (edits--)
				len = mutate(buf, len);
			s2 = NULL;
			if (cg_signers_parse(&s2, "fuzz", (char *)buf, len,
					     &err) == 0) {
				parsed++;
				rc = cg_sshsig_verify(s2, fx_ed_sig,
						      strlen(fx_ed_sig), fx_msg,
						      strlen(fx_msg), "git",
						      NOW, &res, &err);
				if (!known_code(rc))
					bad++;
				cg_signers_free(s2);
			} else if (!err.where[0] || !err.msg[0]) {
				bad++;
			}
			free(buf);

			buf = cg_xmalloc(clen + 16);
			memcpy(buf, fx_commit, clen);
			len = mutate(buf, clen);
			rc = cg_sshsig_verify_commit(s, (char *)buf, len, NOW,
						     &res, &err);
			if (!known_code(rc))
				bad++;
			cg_sshsig_commit_split((char *)buf, len, &sig,
					       &payload, &err);
			cg_buf_release(&sig);
			cg_buf_release(&payload);
			free(buf);
		}
		free(text);
		tap_is_int((long long)bad, 0, "allowed-signers and commit "
			   "mutants: no crash, errors name file:line");
		printf("# %lu signers mutants still parsed\n", parsed);
	}
	cg_signers_free(s);
}

int main(void)
{
	test_signers_parse();
	test_signers_errors();
	test_verify_real();
	test_verify_options();
	test_verify_crafted();
	test_parse();
	test_commit();
	test_fuzz();
	return tap_done();
}
