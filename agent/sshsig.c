/* sshsig.c: git's SSH signatures and allowed signers, checked with OpenSSL. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "cg/sshsig.h"

/*
 * The largest RSA key accepted (16384 bits) makes a blob of about 4.5 KiB
 * and an armored signature of about 6 KiB; anything much larger is not a
 * signature, and refusing it early bounds the work an attacker can cause.
 */
#define SIG_TEXT_MAX (64 * 1024)
#define SIGNERS_FILE_MAX (4 * 1024 * 1024)
#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384

#define MAGIC "SSHSIG"
#define MAGIC_LEN 6

static const char armor_begin[] = "-----BEGIN SSH SIGNATURE-----";
static const char armor_end[] = "-----END SSH SIGNATURE-----";

/* A bounded reader over SSH wire format (RFC 4251 uint32 and string). */
struct reader {
	const unsigned char *p;
	size_t left;
};

static bool rd_u32(struct reader *r, uint32_t *v)
{
	if (r->left < 4)
		return false;
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
	     (uint32_t)r->p[2] << 8 | (uint32_t)r->p[3];
	r->p += 4;
	r->left -= 4;
	return true;
}

static bool rd_string(struct reader *r, struct cg_sshsig_field *f)
{
	struct reader save = *r;
	uint32_t n;

	if (!rd_u32(r, &n) || n > r->left) {
		*r = save;
		return false;
	}
	f->p = r->p;
	f->len = n;
	r->p += n;
	r->left -= n;
	return true;
}

static bool field_is(const struct cg_sshsig_field *f, const char *s)
{
	size_t n = strlen(s);

	return f->len == n && memcmp(f->p, s, n) == 0;
}

/* Copy a field for a message: printable ASCII only, cut to fit. */
static void field_str(char *out, size_t size, const struct cg_sshsig_field *f)
{
	size_t i, n = f->len < size - 1 ? f->len : size - 1;

	for (i = 0; i < n; i++)
		out[i] = f->p[i] >= 0x20 && f->p[i] < 0x7f ? (char)f->p[i]
							    : '?';
	out[n] = '\0';
}

/*
 * A positive mpint in its minimal form: no leading zero byte unless the
 * next byte has its top bit set. OpenSSH refuses the other forms too, and
 * accepting them would let one key have several encodings.
 */
static bool mpint_positive(const struct cg_sshsig_field *f)
{
	if (f->len == 0 || (f->p[0] & 0x80))
		return false;
	if (f->p[0] == 0 && (f->len == 1 || !(f->p[1] & 0x80)))
		return false;
	return true;
}

/* Bits of a positive minimal mpint. */
static unsigned mpint_bits(const struct cg_sshsig_field *f)
{
	size_t i = f->p[0] == 0 ? 1 : 0;
	unsigned bits = (unsigned)(f->len - i) * 8;
	unsigned char top = f->p[i];

	while (!(top & 0x80)) {
		top <<= 1;
		bits--;
	}
	return bits;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Strict base64: padding required and only at the end, unused bits zero,
 * so that each blob has exactly one text form. Blanks and line breaks are
 * skipped when ws is set (armor lines). *out is the caller's to free.
 */
static bool b64_decode(const char *in, size_t len, bool ws,
		       unsigned char **out, size_t *out_len)
{
	unsigned char *buf = cg_xmalloc(len / 4 * 3 + 3);
	size_t i, o = 0, pad = 0;
	uint32_t acc = 0;
	int n = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		int v;

		if (ws && (c == '\n' || c == '\r' || c == ' ' || c == '\t'))
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		v = b64_value(c);
		if (v < 0 || pad)
			goto fail;
		acc = acc << 6 | (uint32_t)v;
		if (++n == 4) {
			buf[o++] = (unsigned char)(acc >> 16);
			buf[o++] = (unsigned char)(acc >> 8);
			buf[o++] = (unsigned char)acc;
			acc = 0;
			n = 0;
		}
	}
	if (n == 0 && pad == 0) {
		/* complete groups only */
	} else if (n == 2 && pad == 2 && (acc & 0xf) == 0) {
		buf[o++] = (unsigned char)(acc >> 4);
	} else if (n == 3 && pad == 1 && (acc & 0x3) == 0) {
		buf[o++] = (unsigned char)(acc >> 10);
		buf[o++] = (unsigned char)(acc >> 2);
	} else {
		goto fail;
	}
	*out = buf;
	*out_len = o;
	return true;
fail:
	free(buf);
	return false;
}

void cg_sshsig_fingerprint(char out[CG_SSHSIG_FP_SIZE], const void *key,
			   size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned char b64[64];
	unsigned int md_len = 0;
	int n;

	if (!EVP_Digest(key, len, md, &md_len, EVP_sha256(), NULL) ||
	    md_len != 32) {
		snprintf(out, CG_SSHSIG_FP_SIZE, "SHA256:?");
		return;
	}
	n = EVP_EncodeBlock(b64, md, (int)md_len);
	while (n > 0 && b64[n - 1] == '=')
		n--;
	snprintf(out, CG_SSHSIG_FP_SIZE, "SHA256:%.*s", n, (const char *)b64);
}

const char *cg_sshsig_strerror(int code)
{
	switch (code) {
	case 0:
		return "ok";
	case CG_SSHSIG_EUNSIGNED:
		return "unsigned";
	case CG_SSHSIG_EMALFORMED:
		return "malformed";
	case CG_SSHSIG_EUNSUPPORTED:
		return "unsupported";
	case CG_SSHSIG_EUNKNOWNKEY:
		return "unknown-key";
	case CG_SSHSIG_ENAMESPACE:
		return "wrong-namespace";
	case CG_SSHSIG_ESHA1:
		return "sha1-refused";
	case CG_SSHSIG_EEXPIRED:
		return "expired";
	case CG_SSHSIG_EBADSIG:
		return "bad-signature";
	default:
		return "error";
	}
}

/* Public keys. */

enum key_kind {
	KEY_ED25519,
	KEY_RSA,
	KEY_ECDSA,
};

static const struct key_type {
	const char *name;
	enum key_kind kind;
	const char *curve;    /* ECDSA: the curve name inside the blob */
	const char *group;    /* ECDSA: OpenSSL's group name */
	size_t point_len;     /* ECDSA: uncompressed point */
	const char *digest;   /* ECDSA: fixed by the curve (RFC 5656) */
} key_types[] = {
	{ .name = "ssh-ed25519", .kind = KEY_ED25519 },
	{ .name = "ssh-rsa", .kind = KEY_RSA },
	{ .name = "ecdsa-sha2-nistp256", .kind = KEY_ECDSA,
	  .curve = "nistp256", .group = "P-256", .point_len = 65,
	  .digest = "SHA256" },
	{ .name = "ecdsa-sha2-nistp384", .kind = KEY_ECDSA,
	  .curve = "nistp384", .group = "P-384", .point_len = 97,
	  .digest = "SHA384" },
	{ .name = "ecdsa-sha2-nistp521", .kind = KEY_ECDSA,
	  .curve = "nistp521", .group = "P-521", .point_len = 133,
	  .digest = "SHA512" },
};

/* A parsed public key; the fields point into the blob it came from. */
struct pubkey {
	const struct key_type *type;
	struct cg_sshsig_field a; /* ed25519: key; RSA: e; ECDSA: point */
	struct cg_sshsig_field b; /* RSA: n */
};

static const struct key_type *key_type_find(const struct cg_sshsig_field *f)
{
	size_t i;

	for (i = 0; i < CG_ARRAY_SIZE(key_types); i++)
		if (field_is(f, key_types[i].name))
			return &key_types[i];
	return NULL;
}

/*
 * Parse a public key blob of a supported type: CG_SSHSIG_EUNSUPPORTED for
 * another type, CG_SSHSIG_EMALFORMED for a broken blob.
 */
static int pubkey_parse(struct pubkey *out, const unsigned char *blob,
			size_t len, struct cg_error *err)
{
	struct reader r = { blob, len };
	struct cg_sshsig_field name, curve;
	struct pubkey k = { 0 };
	char buf[80];

	if (!rd_string(&r, &name))
		return cg_error_set(err, CG_SSHSIG_EMALFORMED,
				    "public key blob has no key type");
	k.type = key_type_find(&name);
	if (!k.type) {
		field_str(buf, sizeof(buf), &name);
		if (cg_str_ends(buf, "-cert-v01@openssh.com"))
			return cg_error_set(err, CG_SSHSIG_EUNSUPPORTED,
					    "the key is an SSH certificate "
					    "(%s); certificates are not "
					    "supported", buf);
		return cg_error_set(err, CG_SSHSIG_EUNSUPPORTED,
				    "key type %s is not supported (only "
				    "ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp*)",
				    buf);
	}
	switch (k.type->kind) {
	case KEY_ED25519:
		if (!rd_string(&r, &k.a) || k.a.len != 32)
			goto malformed;
		break;
	case KEY_RSA:
		if (!rd_string(&r, &k.a) || !rd_string(&r, &k.b) ||
		    !mpint_positive(&k.a) || !mpint_positive(&k.b))
			goto malformed;
		break;
	case KEY_ECDSA:
		if (!rd_string(&r, &curve) ||
		    !field_is(&curve, k.type->curve) ||
		    !rd_string(&r, &k.a) || k.a.len != k.type->point_len ||
		    k.a.p[0] != 0x04)
			goto malformed;
		break;
	}
	if (r.left != 0)
		goto malformed;
	*out = k;
	return 0;
malformed:
	return cg_error_set(err, CG_SSHSIG_EMALFORMED,
			    "malformed %s public key", k.type->name);
}

static EVP_PKEY *evp_from_params(const char *alg, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;

	if (!params)
		return NULL;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

static EVP_PKEY *evp_rsa(const struct pubkey *k)
{
	BIGNUM *e = BN_bin2bn(k->a.p, (int)k->a.len, NULL);
	BIGNUM *n = BN_bin2bn(k->b.p, (int)k->b.len, NULL);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY *pkey = NULL;

	if (e && n && bld &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
		pkey = evp_from_params("RSA", bld);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return pkey;
}

static EVP_PKEY *evp_ecdsa(const struct pubkey *k)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY_CTX *check = NULL;
	EVP_PKEY *pkey = NULL;

	if (bld &&
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					    k->type->group, 0) &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
					     k->a.p, k->a.len))
		pkey = evp_from_params("EC", bld);
	OSSL_PARAM_BLD_free(bld);
	/* A point off the curve must never reach the verifier. */
	if (pkey) {
		check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
		if (!check || EVP_PKEY_public_check(check) != 1) {
			EVP_PKEY_free(pkey);
			pkey = NULL;
		}
		EVP_PKEY_CTX_free(check);
	}
	return pkey;
}

static EVP_PKEY *pubkey_to_evp(const struct pubkey *k)
{
	switch (k->type->kind) {
	case KEY_ED25519:
		return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
						   k->a.p, k->a.len);
	case KEY_RSA:
		return evp_rsa(k);
	case KEY_ECDSA:
		return evp_ecdsa(k);
	}
	return NULL;
}

/* Signatures. */

static int armor_decode(const char *text, size_t len, unsigned char **out,
			size_t *out_len, struct cg_error *err)
{
	size_t blen = strlen(armor_begin), elen = strlen(armor_end);
	const char *body, *end, *p;

	if (len < blen || memcmp(text, armor_begin, blen) != 0) {
		if (len >= 29 &&
		    memcmp(text, "-----BEGIN PGP SIGNATURE-----", 29) == 0) {
			cg_error_set(err, CG_SSHSIG_EUNSUPPORTED,
				     "signed with OpenPGP, not with an SSH "
				     "key");
			cg_error_hint(err, "sign with gpg.format=ssh");
			return CG_SSHSIG_EUNSUPPORTED;
		}
		if (len >= 30 &&
		    memcmp(text, "-----BEGIN SIGNED MESSAGE-----", 30) == 0) {
			cg_error_set(err, CG_SSHSIG_EUNSUPPORTED,
				     "signed with X.509, not with an SSH key");
			cg_error_hint(err, "sign with gpg.format=ssh");
			return CG_SSHSIG_EUNSUPPORTED;
		}
		return cg_error_set(err, CG_SSHSIG_EMALFORMED,
				    "not an SSH signature: it does not start "
				    "with \"%s\"", armor_begin);
	}
	body = text + blen;
	if (body < text + len && *body == '\r')
		body++;
	if (body >= text + len || *body != '\n')
		return cg_error_set(err, CG_SSHSIG_EMALFORMED,
				    "malformed SSH signature: no line break "
				    "after the header");
	body++;
	end = memmem(body, len - (size_t)(body - text), armor_end, elen);
	if (!end || end == body || end[-1] != '\n')
		return cg_error_set(err, CG_SSHSIG_EMALFORMED,
				    "malformed SSH signature: no \"%s\" line",
				    armor_end);
	for (p = end + elen; p < text + len; p++)
		if (*p != '\n' && *p != '\r' && *p != ' ' && *p != '\t')
			return cg_error_set(err, CG_SSHSIG_EMALFORMED,
					    "malformed SSH signature: text "
					    "after \"%s\"", armor_end);
	if (!b64_decode(body, (size_t)(end - body), true, out, out_len))
		return cg_error_set(err, CG_SSHSIG_EMALFORMED,
				    "malformed SSH signature: invalid base64");
	return 0;
}

int cg_sshsig_parse(struct cg_sshsig *out, const char *text, size_t len,
		    struct cg_error *err)
{
	struct cg_sshsig s = { 0 };
	struct cg_sshsig_field reserved, sig, key_type;
	struct reader r, kr, sr;
	uint32_t version;
	size_t i;
	int rc;

	if (len > SIG_TEXT_MAX)
		return cg_error_set(err, CG_SSHSIG_EMALFORMED,
				    "signature of %zu bytes is larger than "
				    "any SSH signature (at most %d)",
				    len, SIG_TEXT_MAX);
	for (i = 0; i < len; i++)
		if (text[i] != '\n' && text[i] != '\r' && text[i] != ' ' &&
		    text[i] != '\t')
			break;
	if (i == len)
		return cg_error_set(err, CG_SSHSIG_EUNSIGNED,
				    "there is no signature");
	rc = armor_decode(text, len, &s.blob, &s.blob_len, err);
	if (rc < 0)
		return rc;

	r.p = s.blob;
	r.left = s.blob_len;
	if (r.left < MAGIC_LEN || memcmp(r.p, MAGIC, MAGIC_LEN) != 0) {
		rc = cg_error_set(err, CG_SSHSIG_EMALFORMED,
				  "malformed SSH signature: no SSHSIG magic");
		goto out_free;
	}
	r.p += MAGIC_LEN;
	r.left -= MAGIC_LEN;
	if (!rd_u32(&r, &version))
		goto malformed;
	if (version != 1) {
		rc = cg_error_set(err, CG_SSHSIG_EUNSUPPORTED,
				  "SSH signature version %u is not supported "
				  "(only 1)", version);
		goto out_free;
	}
	if (!rd_string(&r, &s.key) || !rd_string(&r, &s.ns) ||
	    !rd_string(&r, &reserved) || !rd_string(&r, &s.hash_alg) ||
	    !rd_string(&r, &sig))
		goto malformed;
	if (r.left != 0) {
		rc = cg_error_set(err, CG_SSHSIG_EMALFORMED,
				  "malformed SSH signature: %zu bytes of "
				  "trailing data", r.left);
		goto out_free;
	}
	if (s.ns.len == 0) {
		rc = cg_error_set(err, CG_SSHSIG_EMALFORMED,
				  "malformed SSH signature: empty namespace");
		goto out_free;
	}
	kr.p = s.key.p;
	kr.left = s.key.len;
	if (!rd_string(&kr, &key_type) || key_type.len == 0)
		goto malformed;
	s.key_type = key_type;
	sr.p = sig.p;
	sr.left = sig.len;
	if (!rd_string(&sr, &s.sig_alg) || !rd_string(&sr, &s.sig_blob) ||
	    sr.left != 0 || s.sig_alg.len == 0)
		goto malformed;
	*out = s;
	return 0;

malformed:
	rc = cg_error_set(err, CG_SSHSIG_EMALFORMED,
			  "malformed SSH signature: truncated or inconsistent "
			  "lengths");
out_free:
	free(s.blob);
	return rc;
}

void cg_sshsig_release(struct cg_sshsig *sig)
{
	if (!sig)
		return;
	free(sig->blob);
	memset(sig, 0, sizeof(*sig));
}

/*
 * ssh_config(5) PATTERNS: '*' matches any run, '?' one character, nothing
 * is escaped. Greedy with one backtrack point: linear in practice, never
 * exponential, whatever a hostile namespace looks like.
 */
static bool pattern_match(const char *s, size_t slen, const char *p,
			  size_t plen)
{
	size_t si = 0, pi = 0, star = (size_t)-1, mark = 0;

	while (si < slen) {
		if (pi < plen && p[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < plen && (p[pi] == '?' || p[pi] == s[si])) {
			pi++;
			si++;
		} else if (star != (size_t)-1) {
			pi = star + 1;
			si = ++mark;
		} else {
			return false;
		}
	}
	while (pi < plen && p[pi] == '*')
		pi++;
	return pi == plen;
}

/* A comma-separated pattern list; a matching "!pattern" refuses. */
static bool pattern_list_match(const char *s, size_t slen, const char *list);

bool cg_sshsig_principal_match(const char *name, const char *principals)
{
	return pattern_list_match(name, strlen(name), principals);
}

static bool pattern_list_match(const char *s, size_t slen, const char *list)
{
	bool found = false;

	for (;;) {
		const char *comma = strchr(list, ',');
		size_t n = comma ? (size_t)(comma - list) : strlen(list);
		size_t neg = n > 0 && list[0] == '!';

		if (pattern_match(s, slen, list + neg, n - neg)) {
			if (neg)
				return false;
			found = true;
		}
		if (!comma)
			return found;
		list = comma + 1;
	}
}

/* The digest for an RSA signature algorithm, or NULL. */
static const char *rsa_digest(const struct cg_sshsig_field *alg)
{
	if (field_is(alg, "rsa-sha2-256"))
		return "SHA256";
	if (field_is(alg, "rsa-sha2-512"))
		return "SHA512";
	return NULL;
}

/*
 * Check that the signature algorithm fits the key and return the digest
 * the key signs with (NULL for Ed25519, which hashes internally).
 */
static int sig_alg_check(const struct cg_sshsig *s, const struct pubkey *k,
			 const char **digest, struct cg_error *err)
{
	char alg[64];

	field_str(alg, sizeof(alg), &s->sig_alg);
	switch (k->type->kind) {
	case KEY_ED25519:
		if (!field_is(&s->sig_alg, "ssh-ed25519"))
			break;
		*digest = NULL;
		return 0;
	case KEY_RSA:
		if (field_is(&s->sig_alg, "ssh-rsa")) {
			cg_error_set(err, CG_SSHSIG_ESHA1,
				     "RSA signature with SHA-1 (\"ssh-rsa\") "
				     "refused");
			cg_error_hint(err, "re-sign with a current ssh-keygen, "
				      "which uses rsa-sha2-512");
			return CG_SSHSIG_ESHA1;
		}
		*digest = rsa_digest(&s->sig_alg);
		if (!*digest)
			return cg_error_set(err, CG_SSHSIG_EUNSUPPORTED,
					    "RSA signature algorithm %s is not "
					    "supported", alg);
		return 0;
	case KEY_ECDSA:
		if (!field_is(&s->sig_alg, k->type->name))
			break;
		*digest = k->type->digest;
		return 0;
	}
	return cg_error_set(err, CG_SSHSIG_EMALFORMED,
			    "signature algorithm %s does not fit the %s key",
			    alg, k->type->name);
}

/*
 * Turn the SSH signature blob into what OpenSSL verifies: RSA padded to
 * the modulus length (OpenSSH accepts a shorter S), ECDSA as DER.
 * *out is the caller's to free.
 */
static int sig_to_der(const struct cg_sshsig *s, const struct pubkey *k,
		      unsigned char **out, size_t *out_len,
		      struct cg_error *err)
{
	const struct cg_sshsig_field *blob = &s->sig_blob;
	struct cg_sshsig_field r_f, s_f;
	struct reader rd = { blob->p, blob->len };
	ECDSA_SIG *ec = NULL;
	BIGNUM *r = NULL, *sv = NULL;
	unsigned char *der = NULL;
	size_t modlen;
	int n;

	switch (k->type->kind) {
	case KEY_ED25519:
		if (blob->len != 64)
			break;
		*out = cg_xmalloc(64);
		memcpy(*out, blob->p, 64);
		*out_len = 64;
		return 0;
	case KEY_RSA:
		modlen = (mpint_bits(&k->b) + 7) / 8;
		if (blob->len == 0 || blob->len > modlen)
			break;
		*out = cg_xcalloc(1, modlen);
		memcpy(*out + modlen - blob->len, blob->p, blob->len);
		*out_len = modlen;
		return 0;
	case KEY_ECDSA:
		if (!rd_string(&rd, &r_f) || !rd_string(&rd, &s_f) ||
		    rd.left != 0 || !mpint_positive(&r_f) ||
		    !mpint_positive(&s_f) || r_f.len > 67 || s_f.len > 67)
			break;
		r = BN_bin2bn(r_f.p, (int)r_f.len, NULL);
		sv = BN_bin2bn(s_f.p, (int)s_f.len, NULL);
		ec = ECDSA_SIG_new();
		if (!r || !sv || !ec || !ECDSA_SIG_set0(ec, r, sv)) {
			BN_free(r);
			BN_free(sv);
			ECDSA_SIG_free(ec);
			return cg_error_set(err, CG_ERR,
					    "OpenSSL could not build an ECDSA "
					    "signature");
		}
		n = i2d_ECDSA_SIG(ec, &der);
		ECDSA_SIG_free(ec);
		if (n <= 0)
			return cg_error_set(err, CG_ERR,
					    "OpenSSL could not encode an ECDSA "
					    "signature");
		*out = cg_xmalloc((size_t)n);
		memcpy(*out, der, (size_t)n);
		*out_len = (size_t)n;
		OPENSSL_free(der);
		return 0;
	}
	return cg_error_set(err, CG_SSHSIG_EMALFORMED,
			    "malformed %s signature", k->type->name);
}

/*
 * The key must be on a line that allows this namespace at this time. When
 * it is listed but no line allows it, say why the closest line did not.
 */
static int signers_find(const struct cg_signers *signers,
			const struct cg_sshsig *s, const char *ns,
			int64_t now, const char *fp,
			const char *type, const struct cg_signer **out,
			struct cg_error *err)
{
	const struct cg_signer *refused = NULL, *ca = NULL;
	int why = 0;
	char t[32];
	size_t i;

	for (i = 0; signers && i < signers->n; i++) {
		const struct cg_signer *g = &signers->v[i];

		if (g->key_len != s->key.len ||
		    memcmp(g->key, s->key.p, g->key_len) != 0)
			continue;
		if (g->cert_authority) {
			ca = g;
			continue;
		}
		if (g->namespaces &&
		    !pattern_list_match(ns, strlen(ns), g->namespaces)) {
			if (!why) {
				why = CG_SSHSIG_ENAMESPACE;
				refused = g;
			}
			continue;
		}
		if ((g->has_valid_after && now < g->valid_after) ||
		    (g->has_valid_before && now > g->valid_before)) {
			why = CG_SSHSIG_EEXPIRED;
			refused = g;
			continue;
		}
		*out = g;
		return 0;
	}
	if (why == CG_SSHSIG_ENAMESPACE) {
		cg_error_set(err, why,
			     "key %s (%s) is not allowed to sign for namespace "
			     "\"%s\" (namespaces=\"%s\")",
			     fp, refused->principals, ns, refused->namespaces);
		cg_error_where(err, "%s:%u", signers->name, refused->line);
		cg_error_hint(err, "add %s to the namespaces= of that line if "
			      "this key should sign it", ns);
		return why;
	}
	if (why == CG_SSHSIG_EEXPIRED) {
		if (refused->has_valid_after && now < refused->valid_after) {
			cg_time_iso(t, refused->valid_after);
			cg_error_set(err, why,
				     "key %s (%s) is not valid before %s",
				     fp, refused->principals, t);
		} else {
			cg_time_iso(t, refused->valid_before);
			cg_error_set(err, why,
				     "key %s (%s) expired at %s", fp,
				     refused->principals, t);
		}
		cg_error_where(err, "%s:%u", signers->name, refused->line);
		cg_error_hint(err, "sign with a key that is valid now, or "
			      "change valid-after/valid-before of that line");
		return why;
	}
	if (ca) {
		cg_error_set(err, CG_SSHSIG_EUNKNOWNKEY,
			     "key %s is listed only as a cert-authority, which "
			     "vouches for certificates, not for its own "
			     "signatures", fp);
		cg_error_where(err, "%s:%u", signers->name, ca->line);
		return CG_SSHSIG_EUNKNOWNKEY;
	}
	cg_error_set(err, CG_SSHSIG_EUNKNOWNKEY,
		     "signed by an unknown key %s", fp);
	cg_error_hint(err, "if you trust that key, add a line \"PRINCIPAL "
		      "%s KEY\" to %s", type,
		      signers ? signers->name : "the allowed signers file");
	return CG_SSHSIG_EUNKNOWNKEY;
}

static void put_string(struct cg_buf *b, const void *p, size_t n)
{
	unsigned char l[4] = {
		(unsigned char)(n >> 24), (unsigned char)(n >> 16),
		(unsigned char)(n >> 8), (unsigned char)n,
	};

	cg_buf_add(b, l, 4);
	cg_buf_add(b, p, n);
}

/*
 * SSHSIG "signed data": what the key actually signed (PROTOCOL.sshsig).
 * The reserved field is signed empty whatever the blob carries, as OpenSSH
 * does.
 */
static int signed_data_build(struct cg_buf *b, const char *ns,
			     const char *hash_name, const void *data,
			     size_t len, struct cg_error *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	const EVP_MD *alg;

	alg = strcmp(hash_name, "sha256") == 0 ? EVP_sha256() : EVP_sha512();
	if (!EVP_Digest(data ? data : "", len, md, &md_len, alg, NULL))
		return cg_error_set(err, CG_ERR, "OpenSSL could not hash the "
				    "signed data");
	cg_buf_add(b, MAGIC, MAGIC_LEN);
	put_string(b, ns, strlen(ns));
	put_string(b, "", 0);
	put_string(b, hash_name, strlen(hash_name));
	put_string(b, md, md_len);
	return 0;
}

int cg_sshsig_verify(const struct cg_signers *signers, const char *sig,
		     size_t siglen, const void *data, size_t len,
		     const char *ns, int64_t now, struct cg_sshsig_result *out,
		     struct cg_error *err)
{
	struct cg_sshsig s = { 0 };
	struct cg_buf tbs = { 0 };
	const struct cg_signer *who = NULL;
	const char *digest = NULL;
	unsigned char *raw = NULL;
	size_t raw_len = 0;
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *mctx = NULL;
	char fp[CG_SSHSIG_FP_SIZE], buf[80];
	const char *hash;
	struct pubkey k;
	int rc;

	if (!sig || siglen == 0)
		return cg_error_set(err, CG_SSHSIG_EUNSIGNED,
				    "there is no signature");
	rc = cg_sshsig_parse(&s, sig, siglen, err);
	if (rc < 0)
		return rc;

	if (s.ns.len != strlen(ns) || memcmp(s.ns.p, ns, s.ns.len) != 0) {
		field_str(buf, sizeof(buf), &s.ns);
		rc = cg_error_set(err, CG_SSHSIG_ENAMESPACE,
				  "signature was made for namespace \"%s\", "
				  "not \"%s\"", buf, ns);
		cg_error_hint(err, "this is not a %s signature; sign with the "
			      "tool that uses namespace \"%s\" (for commits: "
			      "git commit -S with gpg.format=ssh)", ns, ns);
		goto out_release;
	}
	if (!field_is(&s.hash_alg, "sha256") &&
	    !field_is(&s.hash_alg, "sha512")) {
		field_str(buf, sizeof(buf), &s.hash_alg);
		rc = cg_error_set(err, CG_SSHSIG_EUNSUPPORTED,
				  "hash algorithm \"%s\" is not supported "
				  "(only sha256, sha512)", buf);
		goto out_release;
	}
	hash = field_is(&s.hash_alg, "sha256") ? "sha256" : "sha512";
	rc = pubkey_parse(&k, s.key.p, s.key.len, err);
	if (rc < 0)
		goto out_release;
	rc = sig_alg_check(&s, &k, &digest, err);
	if (rc < 0)
		goto out_release;
	if (k.type->kind == KEY_RSA &&
	    (mpint_bits(&k.b) < RSA_MIN_BITS ||
	     mpint_bits(&k.b) > RSA_MAX_BITS)) {
		rc = cg_error_set(err, CG_SSHSIG_EUNSUPPORTED,
				  "RSA key of %u bits refused (%d to %d "
				  "accepted)", mpint_bits(&k.b), RSA_MIN_BITS,
				  RSA_MAX_BITS);
		goto out_release;
	}
	cg_sshsig_fingerprint(fp, s.key.p, s.key.len);
	rc = signers_find(signers, &s, ns, now, fp, k.type->name, &who,
			  err);
	if (rc < 0)
		goto out_release;

	rc = sig_to_der(&s, &k, &raw, &raw_len, err);
	if (rc < 0)
		goto out_release;
	rc = signed_data_build(&tbs, ns, hash, data, len, err);
	if (rc < 0)
		goto out_free_raw;
	pkey = pubkey_to_evp(&k);
	mctx = EVP_MD_CTX_new();
	if (!pkey || !mctx ||
	    EVP_DigestVerifyInit_ex(mctx, NULL, digest, NULL, NULL, pkey,
				    NULL) <= 0) {
		/* A key OpenSSL will not build is a bad key, not our bug. */
		rc = cg_error_set(err, CG_SSHSIG_EMALFORMED,
				  "OpenSSL refused the %s key %s",
				  k.type->name, fp);
		goto out_free_evp;
	}
	if (EVP_DigestVerify(mctx, raw, raw_len,
			     (const unsigned char *)tbs.data, tbs.len) != 1) {
		rc = cg_error_set(err, CG_SSHSIG_EBADSIG,
				  "bad signature by %s (%s): the signed data "
				  "was changed, or the signature forged",
				  fp, who->principals);
		cg_error_hint(err, "do not trust this content; find out who "
			      "changed it");
		goto out_free_evp;
	}

	snprintf(out->principals, sizeof(out->principals), "%s",
		 who->principals);
	snprintf(out->fingerprint, sizeof(out->fingerprint), "%s", fp);
	snprintf(out->key_type, sizeof(out->key_type), "%s", k.type->name);
	field_str(out->sig_alg, sizeof(out->sig_alg), &s.sig_alg);
	snprintf(out->hash_alg, sizeof(out->hash_alg), "%s", hash);
	snprintf(out->where, sizeof(out->where), "%s:%u", signers->name,
		 who->line);
	rc = 0;

out_free_evp:
	/* OpenSSL's error queue is per thread; leave it empty for others. */
	ERR_clear_error();
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(pkey);
	cg_buf_release(&tbs);
out_free_raw:
	free(raw);
out_release:
	cg_sshsig_release(&s);
	return rc;
}

/* Commits. */

static bool header_is(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && memcmp(line, name, n) == 0 && line[n] == ' ';
}

int cg_sshsig_commit_split(const char *commit, size_t len, struct cg_buf *sig,
			   struct cg_buf *payload, struct cg_error *err)
{
	struct cg_buf s = { 0 }, p = { 0 };
	size_t pos = 0;
	bool found = false;

	while (pos < len) {
		const char *line = commit + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - line) + 1 : len - pos;
		bool ours = header_is(line, ll, "gpgsig");

		if (line[0] == '\n') {
			/* end of header: the message is kept as it is */
			cg_buf_add(&p, line, len - pos);
			break;
		}
		if (!ours && !header_is(line, ll, "gpgsig-sha256")) {
			cg_buf_add(&p, line, ll);
			pos += ll;
			continue;
		}
		if (ours && found) {
			cg_buf_release(&s);
			cg_buf_release(&p);
			return cg_error_set(err, CG_SSHSIG_EMALFORMED,
					    "commit has more than one gpgsig "
					    "header");
		}
		if (ours) {
			found = true;
			cg_buf_add(&s, line + 7, ll - 7);
		}
		pos += ll;
		/* continuation lines start with a space */
		while (pos < len && commit[pos] == ' ') {
			line = commit + pos;
			nl = memchr(line, '\n', len - pos);
			ll = nl ? (size_t)(nl - line) + 1 : len - pos;
			if (ours)
				cg_buf_add(&s, line + 1, ll - 1);
			pos += ll;
		}
	}
	if (!found) {
		cg_buf_release(&s);
		cg_buf_release(&p);
		return cg_error_set(err, CG_SSHSIG_EUNSIGNED,
				    "commit is not signed (no gpgsig header)");
	}
	cg_buf_release(sig);
	cg_buf_release(payload);
	*sig = s;
	*payload = p;
	return 0;
}

int cg_sshsig_verify_commit(const struct cg_signers *signers,
			    const char *commit, size_t len, int64_t now,
			    struct cg_sshsig_result *out, struct cg_error *err)
{
	struct cg_buf sig = { 0 }, payload = { 0 };
	int rc;

	rc = cg_sshsig_commit_split(commit, len, &sig, &payload, err);
	if (rc < 0)
		return rc;
	rc = cg_sshsig_verify(signers, sig.data, sig.len, payload.data,
			      payload.len, "git", now, out, err);
	cg_buf_release(&sig);
	cg_buf_release(&payload);
	return rc;
}

/* Allowed signers. */

/* Parse YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z] as ssh-keygen(1) does. */
static bool parse_time(const char *s, int64_t *out)
{
	size_t n = strlen(s), i;
	bool utc = false;
	struct tm tm = { 0 }, back;
	int f[6] = { 0, 1, 1, 0, 0, 0 };
	time_t t;

	if (n > 0 && s[n - 1] == 'Z') {
		utc = true;
		n--;
	}
	if (n != 8 && n != 12 && n != 14)
		return false;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	f[0] = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
	       (s[3] - '0');
	for (i = 4; i < n; i += 2)
		f[i / 2 - 1] = (s[i] - '0') * 10 + (s[i + 1] - '0');
	if (f[0] < 1970 || f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 ||
	    f[3] > 23 || f[4] > 59 || f[5] > 59)
		return false;
	tm.tm_year = f[0] - 1900;
	tm.tm_mon = f[1] - 1;
	tm.tm_mday = f[2];
	tm.tm_hour = f[3];
	tm.tm_min = f[4];
	tm.tm_sec = f[5];
	tm.tm_isdst = -1;
	t = utc ? timegm(&tm) : mktime(&tm);
	if (t == (time_t)-1)
		return false;
	/* 20250231 normalises to March: refuse days a month does not have */
	if (utc)
		gmtime_r(&t, &back);
	else
		localtime_r(&t, &back);
	if (back.tm_mday != f[2] || back.tm_mon != f[1] - 1)
		return false;
	*out = (int64_t)t;
	return true;
}

/* The end of a token: the first blank outside double quotes, or NULL. */
static const char *token_end(const char *p)
{
	bool quoted = false;

	for (; *p; p++) {
		if (*p == '"')
			quoted = !quoted;
		else if (!quoted && (*p == ' ' || *p == '\t'))
			break;
	}
	return quoted ? NULL : p;
}

static const char *skip_blank(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* The double-quoted value at p, copied; *end is set past the closing quote. */
static char *dequote(const char *p, const char **end)
{
	const char *q;

	if (*p != '"' || !(q = strchr(p + 1, '"')))
		return NULL;
	*end = q + 1;
	return cg_xstrndup(p + 1, (size_t)(q - p - 1));
}

/* Is the option name at p (n bytes) name, case-insensitively? */
static bool name_is(const char *p, size_t n, const char *name)
{
	return n == strlen(name) && strncasecmp(p, name, n) == 0;
}

static const char *const option_names[] = {
	"cert-authority", "namespaces", "valid-after", "valid-before", NULL,
};

static int time_option(const char *which, char *v, bool *has, int64_t *t,
		       struct cg_error *err)
{
	if (*has) {
		free(v);
		return cg_error_set(err, CG_ERR, "%s= given twice", which);
	}
	if (!parse_time(v, t)) {
		cg_error_set(err, CG_ERR, "%s=\"%.64s\" is not a time", which,
			     v);
		cg_error_hint(err, "write YYYYMMDD or YYYYMMDDHHMM[SS], with a "
			      "trailing Z for UTC (else local time)");
		free(v);
		return CG_ERR;
	}
	free(v);
	*has = true;
	return 0;
}

static int unknown_option(const char *p, size_t n, struct cg_error *err)
{
	char name[64];
	const char *near;

	snprintf(name, sizeof(name), "%.*s", (int)(n < 60 ? n : 60), p);
	cg_error_set(err, CG_ERR, "unknown option \"%s\"", name);
	near = cg_suggest(name, option_names);
	if (near)
		cg_error_hint(err, "did you mean \"%s\"?", near);
	else
		cg_error_hint(err, "the options are cert-authority, "
			      "namespaces=\"...\", valid-after=\"...\", "
			      "valid-before=\"...\"");
	return CG_ERR;
}

/* Comma-separated options, as sshd's authorized_keys writes them. */
static int options_parse(struct cg_signer *g, const char *o,
			 struct cg_error *err)
{
	while (*o) {
		size_t n = strcspn(o, "=,");
		const char *name = o;
		char *v;
		int rc = 0;

		if (o[n] != '=') {
			if (!name_is(name, n, "cert-authority"))
				return unknown_option(name, n, err);
			g->cert_authority = true;
			o += n;
		} else {
			if (!name_is(name, n, "namespaces") &&
			    !name_is(name, n, "valid-after") &&
			    !name_is(name, n, "valid-before"))
				return unknown_option(name, n, err);
			v = dequote(o + n + 1, &o);
			if (!v)
				return cg_error_set(err, CG_ERR,
						    "%.*s= needs a value in "
						    "double quotes", (int)n,
						    name);
			if (name_is(name, n, "namespaces")) {
				if (g->namespaces) {
					free(v);
					return cg_error_set(err, CG_ERR,
							    "namespaces= given "
							    "twice");
				}
				g->namespaces = v;
			} else if (name_is(name, n, "valid-after")) {
				rc = time_option("valid-after", v,
						 &g->has_valid_after,
						 &g->valid_after, err);
			} else {
				rc = time_option("valid-before", v,
						 &g->has_valid_before,
						 &g->valid_before, err);
			}
			if (rc < 0)
				return rc;
		}
		if (*o == ',') {
			o++;
			if (!*o)
				return cg_error_set(err, CG_ERR, "options end "
						    "with a comma");
		} else if (*o) {
			return cg_error_set(err, CG_ERR, "unexpected '%c' in "
					    "options", *o);
		}
	}
	if (g->has_valid_after && g->has_valid_before &&
	    g->valid_before <= g->valid_after)
		return cg_error_set(err, CG_ERR, "valid-before is not after "
				    "valid-after");
	return 0;
}

/*
 * A token in the second field is options when it could not be a key type:
 * options either contain '=' or are the one flag, cert-authority.
 */
static bool token_is_options(const char *t, size_t n)
{
	return memchr(t, '=', n) || memchr(t, '"', n) ||
	       (n >= 14 && strncasecmp(t, "cert-authority", 14) == 0 &&
		(n == 14 || t[14] == ','));
}

static void signer_release(struct cg_signer *g)
{
	free(g->principals);
	free(g->namespaces);
	free(g->key_type);
	free(g->key);
	memset(g, 0, sizeof(*g));
}

/* One non-comment line; line is NUL-terminated, without its newline. */
static int signer_parse(struct cg_signer *out, const char *line,
			struct cg_error *err)
{
	struct cg_signer g = { 0 };
	struct cg_sshsig_field type;
	struct reader r;
	struct pubkey k;
	const char *p = line, *e;
	char *opts = NULL;
	int rc = CG_ERR;

	e = token_end(p);
	if (!e) {
		cg_error_set(err, CG_ERR, "unterminated double quote");
		goto out;
	}
	if (e - p >= 2 && p[0] == '"' && e[-1] == '"')
		g.principals = cg_xstrndup(p + 1, (size_t)(e - p - 2));
	else
		g.principals = cg_xstrndup(p, (size_t)(e - p));
	if (!g.principals[0]) {
		cg_error_set(err, CG_ERR, "empty principals");
		goto out;
	}
	p = skip_blank(e);
	e = token_end(p);
	if (!e) {
		cg_error_set(err, CG_ERR, "unterminated double quote in "
			     "options");
		goto out;
	}
	if (e > p && token_is_options(p, (size_t)(e - p))) {
		opts = cg_xstrndup(p, (size_t)(e - p));
		rc = options_parse(&g, opts, err);
		if (rc < 0)
			goto out;
		rc = CG_ERR;
		p = skip_blank(e);
		e = token_end(p);
		if (!e) {
			cg_error_set(err, CG_ERR, "unterminated double quote");
			goto out;
		}
	}
	if (e == p) {
		cg_error_set(err, CG_ERR, "missing key type and key after the "
			     "principals");
		cg_error_hint(err, "write: PRINCIPALS [OPTIONS] KEYTYPE KEY, "
			      "e.g. the contents of a .pub file after the "
			      "principals");
		goto out;
	}
	g.key_type = cg_xstrndup(p, (size_t)(e - p));
	p = skip_blank(e);
	e = p + strcspn(p, " \t");
	if (e == p) {
		cg_error_set(err, CG_ERR, "missing base64 key after key type "
			     "\"%.64s\"", g.key_type);
		goto out;
	}
	if (!b64_decode(p, (size_t)(e - p), false, &g.key, &g.key_len)) {
		cg_error_set(err, CG_ERR, "key after \"%.64s\" is not valid "
			     "base64", g.key_type);
		cg_error_hint(err, "write: PRINCIPALS [OPTIONS] KEYTYPE KEY, "
			      "e.g. the contents of a .pub file after the "
			      "principals");
		goto out;
	}
	r.p = g.key;
	r.left = g.key_len;
	if (!rd_string(&r, &type)) {
		cg_error_set(err, CG_ERR, "key is not an SSH public key");
		goto out;
	}
	if (!field_is(&type, g.key_type)) {
		char got[64];

		field_str(got, sizeof(got), &type);
		cg_error_set(err, CG_ERR, "key type \"%.64s\" does not match "
			     "the key, which is %s", g.key_type, got);
		cg_error_hint(err, "copy the whole line of the .pub file; if "
			      "\"%.64s\" was meant as an option, options "
			      "are written name=\"value\"", g.key_type);
		goto out;
	}
	/* Types we verify must parse now, not at the first signature. */
	if (key_type_find(&type)) {
		rc = pubkey_parse(&k, g.key, g.key_len, err);
		if (rc < 0) {
			rc = CG_ERR;
			goto out;
		}
		rc = CG_ERR;
	}
	cg_sshsig_fingerprint(g.fingerprint, g.key, g.key_len);
	*out = g;
	memset(&g, 0, sizeof(g));
	rc = 0;
out:
	free(opts);
	signer_release(&g);
	return rc;
}

int cg_signers_parse(struct cg_signers **out, const char *name,
		     const char *text, size_t len, struct cg_error *err)
{
	struct cg_signers *s = cg_xcalloc(1, sizeof(*s));
	size_t pos = 0;
	unsigned lineno = 0;
	int rc = 0;

	s->name = cg_xstrdup(name);
	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - line) : len - pos;
		struct cg_signer g;
		const char *p;
		char *copy;

		pos += ll + (nl ? 1 : 0);
		lineno++;
		if (ll && line[ll - 1] == '\r')
			ll--;
		if (memchr(line, '\0', ll)) {
			rc = cg_error_set(err, CG_ERR, "NUL byte in line");
			cg_error_where(err, "%s:%u", name, lineno);
			goto fail;
		}
		copy = cg_xstrndup(line, ll);
		p = skip_blank(copy);
		if (*p == '\0' || *p == '#') {
			free(copy);
			continue;
		}
		rc = signer_parse(&g, p, err);
		free(copy);
		if (rc < 0) {
			cg_error_where(err, "%s:%u", name, lineno);
			goto fail;
		}
		g.line = lineno;
		cg_grow(&s->v, &s->cap, s->n + 1, sizeof(*s->v));
		s->v[s->n++] = g;
	}
	*out = s;
	return 0;
fail:
	cg_signers_free(s);
	return rc;
}

int cg_signers_load(struct cg_signers **out, const char *path,
		    struct cg_error *err)
{
	struct cg_buf b = { 0 };
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = cg_error_sys(err, CG_ERR, "cannot open allowed signers "
				  "file %s", path);
		cg_error_where(err, "%s", path);
		cg_error_hint(err, "create it with a line per key that may sign "
				   "the policy: 'NAME namespaces=\"git\" "
				   "ssh-ed25519 AAAA...' (the key's .pub, as in "
				   "congruent(8)), or set "
				   "source.allowed_signers in the agent config");
		return rc;
	}
	rc = cg_read_fd(fd, &b, SIGNERS_FILE_MAX, err);
	close(fd);
	if (rc < 0) {
		cg_error_prefix(err, "allowed signers file %s", path);
		cg_error_where(err, "%s", path);
		goto out_free_buf;
	}
	rc = cg_signers_parse(out, path, b.data ? b.data : "", b.len, err);
out_free_buf:
	cg_buf_release(&b);
	return rc;
}

void cg_signers_free(struct cg_signers *signers)
{
	size_t i;

	if (!signers)
		return;
	for (i = 0; i < signers->n; i++)
		signer_release(&signers->v[i]);
	free(signers->v);
	free(signers->name);
	free(signers);
}

/*
 * Signing, for the host's own report commits: the same signed data as
 * verified above, hash sha512 as ssh-keygen -Y sign uses.
 */
int cg_sshsig_sign_ed25519(const unsigned char seed[32],
			   const unsigned char pub[32], const char *ns,
			   const void *data, size_t len, struct cg_buf *out,
			   struct cg_error *err)
{
	struct cg_buf sd = { 0 }, key = { 0 }, sig = { 0 }, blob = { 0 };
	unsigned char raw[64];
	size_t raw_len = sizeof(raw), i;
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *mctx = NULL;
	char *b64 = NULL;
	int rc = 0, n;

	if (signed_data_build(&sd, ns, "sha512", data, len, err) < 0)
		return CG_ERR;
	pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	mctx = EVP_MD_CTX_new();
	if (!pkey || !mctx ||
	    EVP_DigestSignInit(mctx, NULL, NULL, NULL, pkey) != 1 ||
	    EVP_DigestSign(mctx, raw, &raw_len, (const unsigned char *)sd.data,
			   sd.len) != 1) {
		rc = cg_error_set(err, CG_ERR, "OpenSSL could not sign with "
				  "the ed25519 key");
		goto out;
	}
	put_string(&key, "ssh-ed25519", 11);
	put_string(&key, pub, 32);
	put_string(&sig, "ssh-ed25519", 11);
	put_string(&sig, raw, raw_len);
	cg_buf_add(&blob, MAGIC, MAGIC_LEN);
	cg_buf_add(&blob, "\0\0\0\1", 4);
	put_string(&blob, key.data, key.len);
	put_string(&blob, ns, strlen(ns));
	put_string(&blob, "", 0);
	put_string(&blob, "sha512", 6);
	put_string(&blob, sig.data, sig.len);
	b64 = cg_xmalloc(4 * ((blob.len + 2) / 3) + 1);
	n = EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)blob.data,
			    (int)blob.len);
	/* 70 columns, as ssh-keygen writes it. */
	cg_buf_addstr(out, "-----BEGIN SSH SIGNATURE-----\n");
	for (i = 0; i < (size_t)n; i += 70) {
		cg_buf_add(out, b64 + i, (size_t)n - i < 70 ? (size_t)n - i : 70);
		cg_buf_addch(out, '\n');
	}
	cg_buf_addstr(out, "-----END SSH SIGNATURE-----\n");
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	free(b64);
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(pkey);
	cg_buf_release(&sd);
	cg_buf_release(&key);
	cg_buf_release(&sig);
	cg_buf_release(&blob);
	return rc;
}
