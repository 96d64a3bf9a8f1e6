/* reportkey.c: the host's ed25519 report key: OpenSSH key files, signing and verifying report commits. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "cg/fs.h"
#include "cg/reportkey.h"

#define PEM_BEGIN "-----BEGIN OPENSSH PRIVATE KEY-----"
#define PEM_END "-----END OPENSSH PRIVATE KEY-----"
#define KEY_MAGIC "openssh-key-v1" /* and a NUL */
#define KEY_FILE_MAX (16u << 10)

static void put_u32(struct cg_buf *b, uint32_t v)
{
	unsigned char l[4] = {
		(unsigned char)(v >> 24), (unsigned char)(v >> 16),
		(unsigned char)(v >> 8), (unsigned char)v,
	};

	cg_buf_add(b, l, 4);
}

static void put_str(struct cg_buf *b, const void *p, size_t n)
{
	put_u32(b, (uint32_t)n);
	cg_buf_add(b, p, n);
}

/* A reader over a decoded key blob: every get fails past the end. */
struct rd {
	const unsigned char *p;
	size_t n;
};

static bool get_u32(struct rd *r, uint32_t *out)
{
	if (r->n < 4)
		return false;
	*out = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
	       (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	r->n -= 4;
	return true;
}

static bool get_str(struct rd *r, struct rd *out)
{
	uint32_t n;

	if (!get_u32(r, &n) || n > r->n)
		return false;
	out->p = r->p;
	out->n = n;
	r->p += n;
	r->n -= n;
	return true;
}

static bool rd_is(const struct rd *r, const char *s)
{
	return r->n == strlen(s) && memcmp(r->p, s, r->n) == 0;
}

static void pubkey_blob(const unsigned char pub[32], struct cg_buf *b)
{
	put_str(b, "ssh-ed25519", 11);
	put_str(b, pub, 32);
}

void cg_reportkey_public(const struct cg_reportkey *k, struct cg_buf *out)
{
	struct cg_buf blob = { 0 };
	char *b64;

	pubkey_blob(k->pub, &blob);
	b64 = cg_xmalloc(4 * ((blob.len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)blob.data,
			(int)blob.len);
	cg_buf_addf(out, "ssh-ed25519 %s", b64);
	free(b64);
	cg_buf_release(&blob);
}

/* The armored file to the raw blob: base64 between the markers. */
static int unarmor(const char *path, const char *text, size_t len,
		   struct cg_buf *out, struct cg_error *err)
{
	const char *b = memmem(text, len, PEM_BEGIN, strlen(PEM_BEGIN));
	const char *e = b ? memmem(b, len - (size_t)(b - text), PEM_END,
				   strlen(PEM_END))
			  : NULL;
	struct cg_buf clean = { 0 };
	const char *p;
	int n, pad = 0, rc = 0;

	if (!b || !e) {
		cg_error_set(err, CG_ERR, "%s is not an OpenSSH private key",
			     path);
		cg_error_hint(err, "give an ed25519 key as ssh-keygen "
				     "-t ed25519 -N \"\" writes it");
		return CG_ERR;
	}
	for (p = b + strlen(PEM_BEGIN); p < e; p++)
		if (*p != '\n' && *p != '\r' && *p != ' ' && *p != '\t')
			cg_buf_addch(&clean, *p);
	if (clean.len % 4 || !clean.len)
		goto bad;
	if (clean.data[clean.len - 1] == '=')
		pad++;
	if (clean.len > 1 && clean.data[clean.len - 2] == '=')
		pad++;
	cg_buf_add(out, "", 0);
	{
		unsigned char *raw = cg_xmalloc(clean.len / 4 * 3 + 1);

		n = EVP_DecodeBlock(raw, (unsigned char *)clean.data,
				    (int)clean.len);
		if (n < pad) {
			free(raw);
			goto bad;
		}
		cg_buf_add(out, raw, (size_t)(n - pad));
		free(raw);
	}
	goto out;
bad:
	rc = cg_error_set(err, CG_ERR, "%s: the key is not valid base64",
			  path);
out:
	cg_buf_release(&clean);
	return rc;
}

static int parse_key(struct cg_reportkey *k, const char *path,
		     const unsigned char *blob, size_t len,
		     struct cg_error *err)
{
	struct rd r = { blob, len }, cipher, kdf, kdfopt, pub, priv, type,
		  kpub, kpriv;
	uint32_t nkeys, c1, c2;

	if (len < sizeof(KEY_MAGIC) ||
	    memcmp(blob, KEY_MAGIC, sizeof(KEY_MAGIC)) != 0)
		goto bad;
	r.p += sizeof(KEY_MAGIC);
	r.n -= sizeof(KEY_MAGIC);
	if (!get_str(&r, &cipher) || !get_str(&r, &kdf) ||
	    !get_str(&r, &kdfopt) || !get_u32(&r, &nkeys) ||
	    !get_str(&r, &pub))
		goto bad;
	if (!rd_is(&cipher, "none") || !rd_is(&kdf, "none")) {
		cg_error_set(err, CG_ERR, "%s is encrypted with a passphrase",
			     path);
		cg_error_hint(err, "the agent signs unattended: remove "
				     "the passphrase (ssh-keygen -p -N \"\" "
				     "-f %s)",
				     path);
		return CG_ERR;
	}
	if (nkeys != 1 || !get_str(&r, &priv))
		goto bad;
	r = priv;
	if (!get_u32(&r, &c1) || !get_u32(&r, &c2) || c1 != c2 ||
	    !get_str(&r, &type))
		goto bad;
	if (!rd_is(&type, "ssh-ed25519")) {
		cg_error_set(err, CG_ERR, "%s is a %.*s key, not ssh-ed25519",
			     path, (int)(type.n > 32 ? 32 : type.n),
			     (const char *)type.p);
		cg_error_hint(err, "give an ed25519 key (ssh-keygen -t "
				     "ed25519), such as "
				     "/etc/ssh/ssh_host_ed25519_key");
		return CG_ERR;
	}
	if (!get_str(&r, &kpub) || kpub.n != 32 || !get_str(&r, &kpriv) ||
	    kpriv.n != 64 || memcmp(kpriv.p + 32, kpub.p, 32) != 0)
		goto bad;
	memcpy(k->seed, kpriv.p, 32);
	memcpy(k->pub, kpub.p, 32);
	k->loaded = true;
	return 0;
bad:
	return cg_error_set(err, CG_ERR, "%s: a malformed OpenSSH private key",
			    path);
}

/* The seed's public half, from OpenSSL. */
static int derive_public(struct cg_reportkey *k, struct cg_error *err)
{
	EVP_PKEY *pkey;
	size_t n = 32;
	int ok;

	pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, k->seed, 32);
	ok = pkey && EVP_PKEY_get_raw_public_key(pkey, k->pub, &n) == 1 &&
	     n == 32;
	EVP_PKEY_free(pkey);
	if (!ok)
		return cg_error_set(err, CG_ERR, "OpenSSL could not derive the "
				    "ed25519 public key");
	return 0;
}

/* The key file, as ssh-keygen writes it, and PATH.pub. */
static int write_key(const struct cg_reportkey *k, const char *path,
		     struct cg_error *err)
{
	struct cg_buf blob = { 0 }, priv = { 0 }, pem = { 0 }, pubkey = { 0 };
	unsigned char check[4];
	char *b64 = NULL, *pubpath = NULL;
	unsigned char kp[64];
	size_t i;
	int n, rc;

	if (RAND_bytes(check, sizeof(check)) != 1)
		return cg_error_set(err, CG_ERR, "no random bytes from OpenSSL");
	cg_buf_add(&priv, check, 4);
	cg_buf_add(&priv, check, 4);
	put_str(&priv, "ssh-ed25519", 11);
	put_str(&priv, k->pub, 32);
	memcpy(kp, k->seed, 32);
	memcpy(kp + 32, k->pub, 32);
	put_str(&priv, kp, 64);
	OPENSSL_cleanse(kp, sizeof(kp));
	put_str(&priv, "congruent report key", 20);
	for (i = 1; priv.len % 8; i++)
		cg_buf_addch(&priv, (char)i);
	cg_buf_add(&blob, KEY_MAGIC, sizeof(KEY_MAGIC));
	put_str(&blob, "none", 4);
	put_str(&blob, "none", 4);
	put_str(&blob, "", 0);
	put_u32(&blob, 1);
	pubkey_blob(k->pub, &pubkey);
	put_str(&blob, pubkey.data, pubkey.len);
	put_str(&blob, priv.data, priv.len);
	b64 = cg_xmalloc(4 * ((blob.len + 2) / 3) + 1);
	n = EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)blob.data,
			    (int)blob.len);
	cg_buf_addstr(&pem, PEM_BEGIN "\n");
	for (i = 0; i < (size_t)n; i += 70) {
		cg_buf_add(&pem, b64 + i, (size_t)n - i < 70 ? (size_t)n - i : 70);
		cg_buf_addch(&pem, '\n');
	}
	cg_buf_addstr(&pem, PEM_END "\n");
	rc = cg_write_file_atomic(path, pem.data, pem.len, 0600, err);
	if (rc == 0) {
		cg_buf_reset(&pubkey);
		cg_reportkey_public(k, &pubkey);
		cg_buf_addstr(&pubkey, " congruent report key\n");
		pubpath = cg_xasprintf("%s.pub", path);
		rc = cg_write_file_atomic(pubpath, pubkey.data, pubkey.len,
					  0644, err);
	}
	OPENSSL_cleanse(blob.data, blob.len);
	OPENSSL_cleanse(priv.data, priv.len);
	OPENSSL_cleanse(pem.data, pem.len);
	OPENSSL_cleanse(b64, (size_t)n);
	free(b64);
	free(pubpath);
	cg_buf_release(&blob);
	cg_buf_release(&priv);
	cg_buf_release(&pem);
	cg_buf_release(&pubkey);
	return rc;
}

int cg_reportkey_load(struct cg_reportkey *k, const char *path, bool create,
		    bool *created, struct cg_error *err)
{
	struct cg_buf text = { 0 }, blob = { 0 };
	int fd, rc;

	memset(k, 0, sizeof(*k));
	if (created)
		*created = false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT && create) {
		if (RAND_priv_bytes(k->seed, sizeof(k->seed)) != 1)
			return cg_error_set(err, CG_ERR, "no random bytes from "
					    "OpenSSL");
		rc = derive_public(k, err);
		if (rc == 0)
			rc = write_key(k, path, err);
		if (rc < 0) {
			cg_reportkey_release(k);
			return rc;
		}
		k->loaded = true;
		if (created)
			*created = true;
		return 0;
	}
	if (fd < 0) {
		rc = cg_error_sys(err, CG_ERR, "cannot open the report signing "
				  "key %s", path);
		cg_error_hint(err, "set reports.signing_key to an ed25519 key, "
			      "or leave it unset for the agent's own");
		return rc;
	}
	rc = cg_read_fd(fd, &text, KEY_FILE_MAX, err);
	close(fd);
	if (rc == 0)
		rc = unarmor(path, text.data ? text.data : "", text.len, &blob,
			     err);
	if (rc == 0)
		rc = parse_key(k, path, (unsigned char *)blob.data, blob.len,
			       err);
	if (text.data)
		OPENSSL_cleanse(text.data, text.len);
	if (blob.data)
		OPENSSL_cleanse(blob.data, blob.len);
	cg_buf_release(&text);
	cg_buf_release(&blob);
	if (rc < 0)
		cg_reportkey_release(k);
	return rc;
}

int cg_reportkey_sign(const struct cg_reportkey *k, const char *ns,
		    const void *data, size_t len, struct cg_buf *out,
		    struct cg_error *err)
{
	return cg_sshsig_sign_ed25519(k->seed, k->pub, ns, data, len, out, err);
}

void cg_reportkey_release(struct cg_reportkey *k)
{
	if (k)
		OPENSSL_cleanse(k, sizeof(*k));
}

int cg_reportkey_verify_report(const struct cg_signers *keys, const char *host,
			     const char *commit, size_t len, int64_t now,
			     struct cg_error *err)
{
	struct cg_signers mine = { 0 };
	struct cg_sshsig_result res;
	size_t i;
	int rc;

	/*
	 * Only the lines naming this host: another host's key is then as
	 * unknown as a stranger's. The view borrows the lines.
	 */
	mine.name = keys->name;
	mine.v = cg_xcalloc(keys->n ? keys->n : 1, sizeof(*mine.v));
	for (i = 0; i < keys->n; i++)
		if (cg_sshsig_principal_match(host, keys->v[i].principals))
			mine.v[mine.n++] = keys->v[i];
	rc = cg_sshsig_verify_commit(&mine, commit, len, now, &res, err);
	if (rc == CG_SSHSIG_EUNKNOWNKEY && !mine.n)
		cg_error_set(err, rc, "no key for host %s in %s", host,
			     keys->name);
	free(mine.v);
	return rc;
}
