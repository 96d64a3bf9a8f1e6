/* secret.c: values encrypted to host keys (X25519, HKDF, ChaCha20-Poly1305). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "cg/hash.h"
#include "cg/reportkey.h"

/*
 * A secret is CG_SECRET_PREFIX and the base64 of:
 *
 *   epk[32]  an ephemeral X25519 public key, one per secret
 *   n[1]     recipients, 1 to SECRET_MAX_TO
 *   n times: id[8]       the first 8 bytes of SHA-256(recipient's key)
 *            wrapped[48] the content key, sealed with ChaCha20-Poly1305
 *                        under HKDF-SHA256(X25519(esk, rpk),
 *                        salt epk || rpk, info WRAP_INFO)
 *   body     the plaintext sealed under the content key, with everything
 *            before it as associated data (so no recipient can be
 *            swapped in or out), and its 16-byte tag at the end
 *
 * Each key seals exactly one message, so the nonce is all zeros.
 */
#define KEY_LEN 32
#define TAG_LEN 16
#define ID_LEN 8
#define WRAPPED_LEN (KEY_LEN + TAG_LEN)
#define SLOT_LEN (ID_LEN + WRAPPED_LEN)
#define SECRET_MAX_TO 64
#define SECRET_MAX_PLAIN (64u << 10)
#define WRAP_INFO "congruent secret v1 key"

struct cg_hostkey {
	EVP_PKEY *pkey;
	unsigned char pub[KEY_LEN];
};

bool cg_secret_is(const char *s)
{
	return s && strncmp(s, CG_SECRET_PREFIX, strlen(CG_SECRET_PREFIX)) == 0;
}

static char *b64_encode(const unsigned char *data, size_t len)
{
	char *out = cg_xmalloc(4 * ((len + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

/* Strict base64 (no whitespace); *out is the caller's. */
static int b64_decode(const char *s, unsigned char **out, size_t *len_out)
{
	size_t len = strlen(s), pad = 0;
	unsigned char *buf;
	int n;

	if (len == 0 || len % 4 || len > 4 * (SECRET_MAX_PLAIN + 8192) / 3)
		return CG_ERR;
	if (s[len - 1] == '=')
		pad++;
	if (s[len - 2] == '=')
		pad++;
	buf = cg_xmalloc(len / 4 * 3 + 1);
	n = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)len);
	if (n < 0 || (size_t)n < pad) {
		free(buf);
		return CG_ERR;
	}
	*out = buf;
	*len_out = (size_t)n - pad;
	return 0;
}

/* "cg-x25519:BASE64" to 32 bytes. */
static int parse_pub(const char *s, unsigned char pub[KEY_LEN],
		     struct cg_error *err)
{
	unsigned char *raw = NULL;
	size_t len = 0;

	if (strncmp(s, CG_KEY_PREFIX, strlen(CG_KEY_PREFIX)) != 0 ||
	    b64_decode(s + strlen(CG_KEY_PREFIX), &raw, &len) < 0 ||
	    len != KEY_LEN) {
		free(raw);
		cg_error_set(err, CG_ERR, "'%.60s' is not a host key", s);
		cg_error_hint(err, "a host key is one line like %s... as "
				   "'congruent key show' prints it",
			      CG_KEY_PREFIX);
		return CG_ERR;
	}
	memcpy(pub, raw, KEY_LEN);
	free(raw);
	return 0;
}

static void key_id(const unsigned char pub[KEY_LEN], unsigned char id[ID_LEN])
{
	unsigned char h[32];

	cg_sha256_buf(pub, KEY_LEN, h);
	memcpy(id, h, ID_LEN);
}

/* X25519 then HKDF: the key that wraps the content key for one recipient. */
static int wrap_key(EVP_PKEY *priv, const unsigned char peer[KEY_LEN],
		    const unsigned char epk[KEY_LEN],
		    const unsigned char rpk[KEY_LEN], unsigned char out[KEY_LEN])
{
	unsigned char shared[KEY_LEN], salt[2 * KEY_LEN], zero[KEY_LEN] = { 0 };
	EVP_PKEY *peer_key;
	EVP_PKEY_CTX *c = NULL;
	size_t slen = sizeof(shared), olen = KEY_LEN;
	int ok = 0;

	peer_key = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer,
					       KEY_LEN);
	if (!peer_key)
		return CG_ERR;
	c = EVP_PKEY_CTX_new(priv, NULL);
	ok = c && EVP_PKEY_derive_init(c) > 0 &&
	     EVP_PKEY_derive_set_peer(c, peer_key) > 0 &&
	     EVP_PKEY_derive(c, shared, &slen) > 0 && slen == KEY_LEN &&
	     CRYPTO_memcmp(shared, zero, KEY_LEN) != 0;
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(peer_key);
	if (!ok)
		goto out;
	memcpy(salt, epk, KEY_LEN);
	memcpy(salt + KEY_LEN, rpk, KEY_LEN);
	c = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	ok = c && EVP_PKEY_derive_init(c) > 0 &&
	     EVP_PKEY_CTX_set_hkdf_md(c, EVP_sha256()) > 0 &&
	     EVP_PKEY_CTX_set1_hkdf_salt(c, salt, sizeof(salt)) > 0 &&
	     EVP_PKEY_CTX_set1_hkdf_key(c, shared, KEY_LEN) > 0 &&
	     EVP_PKEY_CTX_add1_hkdf_info(c, (const unsigned char *)WRAP_INFO,
					 strlen(WRAP_INFO)) > 0 &&
	     EVP_PKEY_derive(c, out, &olen) > 0 && olen == KEY_LEN;
	EVP_PKEY_CTX_free(c);
out:
	OPENSSL_cleanse(shared, sizeof(shared));
	return ok ? 0 : CG_ERR;
}

/* ChaCha20-Poly1305 with a zero nonce; out gets len bytes and the tag. */
static int seal(const unsigned char key[KEY_LEN], const unsigned char *aad,
		size_t aadlen, const unsigned char *in, size_t len,
		unsigned char *out)
{
	unsigned char nonce[12] = { 0 };
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, ok;

	ok = c && EVP_EncryptInit_ex(c, EVP_chacha20_poly1305(), NULL, key,
				     nonce) > 0 &&
	     (!aadlen || EVP_EncryptUpdate(c, NULL, &n, aad, (int)aadlen) > 0) &&
	     EVP_EncryptUpdate(c, out, &n, in, (int)len) > 0 &&
	     EVP_EncryptFinal_ex(c, out + n, &n) > 0 &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, out + len) > 0;
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : CG_ERR;
}

static int open_sealed(const unsigned char key[KEY_LEN],
		       const unsigned char *aad, size_t aadlen,
		       const unsigned char *in, size_t len, unsigned char *out)
{
	unsigned char nonce[12] = { 0 }, tag[TAG_LEN];
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, ok;

	memcpy(tag, in + len, TAG_LEN);
	ok = c && EVP_DecryptInit_ex(c, EVP_chacha20_poly1305(), NULL, key,
				     nonce) > 0 &&
	     (!aadlen || EVP_DecryptUpdate(c, NULL, &n, aad, (int)aadlen) > 0) &&
	     EVP_DecryptUpdate(c, out, &n, in, (int)len) > 0 &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, tag) > 0 &&
	     EVP_DecryptFinal_ex(c, out + n, &n) > 0;
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : CG_ERR;
}

/* Decode s into raw, checking the layout; *nto recipients. */
static int decode(const char *s, unsigned char **raw, size_t *len,
		  size_t *nto, struct cg_error *err)
{
	if (!cg_secret_is(s) ||
	    b64_decode(s + strlen(CG_SECRET_PREFIX), raw, len) < 0) {
		cg_error_set(err, CG_ERR, "malformed secret: not base64 after "
					  "'%s'", CG_SECRET_PREFIX);
		goto bad;
	}
	if (*len < KEY_LEN + 1 || (*raw)[KEY_LEN] == 0 ||
	    (*raw)[KEY_LEN] > SECRET_MAX_TO ||
	    *len < KEY_LEN + 1 + (size_t)(*raw)[KEY_LEN] * SLOT_LEN + TAG_LEN) {
		cg_error_set(err, CG_ERR, "malformed secret: truncated or no "
					  "recipient");
		free(*raw);
		*raw = NULL;
		goto bad;
	}
	*nto = (*raw)[KEY_LEN];
	return 0;
bad:
	cg_error_hint(err, "paste the whole line 'congruent secret encrypt' "
			   "printed, as one string");
	return CG_ERR;
}

int cg_secret_check(const char *s, struct cg_error *err)
{
	unsigned char *raw = NULL;
	size_t len, nto;
	int rc = decode(s, &raw, &len, &nto, err);

	free(raw);
	return rc;
}

int cg_secret_encrypt(const char *const *to, size_t nto, const void *plain,
		      size_t len, char **out, struct cg_error *err)
{
	unsigned char ckey[KEY_LEN], wkey[KEY_LEN], epk[KEY_LEN];
	unsigned char (*pubs)[KEY_LEN] = NULL;
	EVP_PKEY *eph = NULL;
	EVP_PKEY_CTX *kc = NULL;
	struct cg_buf b = { 0 };
	size_t i, hdr, plen = KEY_LEN;
	int rc = CG_ERR;

	if (nto == 0 || nto > SECRET_MAX_TO)
		return cg_error_set(err, CG_ERR, "a secret needs 1 to %d "
						 "recipients, not %zu",
				    SECRET_MAX_TO, nto);
	if (len > SECRET_MAX_PLAIN)
		return cg_error_set(err, CG_ERR, "a secret is at most %u "
						 "bytes, not %zu",
				    SECRET_MAX_PLAIN, len);
	pubs = cg_xcalloc(nto, sizeof(*pubs));
	for (i = 0; i < nto; i++)
		if (parse_pub(to[i], pubs[i], err) < 0)
			goto out;
	kc = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, NULL);
	if (!kc || EVP_PKEY_keygen_init(kc) <= 0 ||
	    EVP_PKEY_keygen(kc, &eph) <= 0 ||
	    EVP_PKEY_get_raw_public_key(eph, epk, &plen) <= 0 ||
	    RAND_bytes(ckey, KEY_LEN) != 1) {
		cg_error_set(err, CG_ERR, "cannot make a key (OpenSSL)");
		goto out;
	}
	cg_buf_add(&b, epk, KEY_LEN);
	cg_buf_addch(&b, (char)nto);
	for (i = 0; i < nto; i++) {
		unsigned char slot[SLOT_LEN];

		key_id(pubs[i], slot);
		if (wrap_key(eph, pubs[i], epk, pubs[i], wkey) < 0 ||
		    seal(wkey, NULL, 0, ckey, KEY_LEN, slot + ID_LEN) < 0) {
			cg_error_set(err, CG_ERR, "cannot encrypt to %s", to[i]);
			cg_error_hint(err, "is it a key 'congruent key show' "
					   "printed?");
			goto out;
		}
		cg_buf_add(&b, slot, SLOT_LEN);
	}
	hdr = b.len;
	cg_grow(&b.data, &b.cap, hdr + len + TAG_LEN + 1, 1);
	if (seal(ckey, (unsigned char *)b.data, hdr, plain, len,
		 (unsigned char *)b.data + hdr) < 0) {
		cg_error_set(err, CG_ERR, "cannot encrypt (OpenSSL)");
		goto out;
	}
	b.len = hdr + len + TAG_LEN;
	{
		char *enc = b64_encode((unsigned char *)b.data, b.len);

		*out = cg_xasprintf("%s%s", CG_SECRET_PREFIX, enc);
		free(enc);
	}
	rc = 0;
out:
	OPENSSL_cleanse(ckey, sizeof(ckey));
	OPENSSL_cleanse(wkey, sizeof(wkey));
	EVP_PKEY_free(eph);
	EVP_PKEY_CTX_free(kc);
	cg_buf_release(&b);
	free(pubs);
	return rc;
}

int cg_secret_decrypt(const struct cg_hostkey *k, const char *s,
		      struct cg_buf *out, struct cg_error *err)
{
	unsigned char *raw = NULL, id[ID_LEN], wkey[KEY_LEN], ckey[KEY_LEN];
	size_t len, nto, i, hdr, blen;
	int rc;

	if (decode(s, &raw, &len, &nto, err) < 0)
		return CG_ERR;
	key_id(k->pub, id);
	hdr = KEY_LEN + 1 + nto * SLOT_LEN;
	for (i = 0; i < nto; i++)
		if (memcmp(raw + KEY_LEN + 1 + i * SLOT_LEN, id, ID_LEN) == 0)
			break;
	if (i == nto) {
		free(raw);
		cg_error_set(err, CG_ENOTFOUND, "this host's key is not one of "
						"the secret's %zu recipient%s",
			     nto, nto == 1 ? "" : "s");
		cg_error_hint(err, "encrypt it again with 'congruent secret "
				   "encrypt --to KEY', adding this host's key "
				   "('congruent key show' on it)");
		return CG_ENOTFOUND;
	}
	blen = len - hdr - TAG_LEN;
	cg_buf_reset(out);
	cg_grow(&out->data, &out->cap, blen + 1, 1);
	rc = wrap_key(k->pkey, raw, raw, k->pub, wkey);
	if (rc == 0)
		rc = open_sealed(wkey, NULL, 0,
				 raw + KEY_LEN + 1 + i * SLOT_LEN + ID_LEN,
				 KEY_LEN, ckey);
	if (rc == 0)
		rc = open_sealed(ckey, raw, hdr, raw + hdr, blen,
				 (unsigned char *)out->data);
	OPENSSL_cleanse(wkey, sizeof(wkey));
	OPENSSL_cleanse(ckey, sizeof(ckey));
	free(raw);
	if (rc < 0) {
		OPENSSL_cleanse(out->data, blen);
		cg_error_set(err, CG_ERR, "the secret does not decrypt with "
					  "this host's key: it was changed or "
					  "damaged");
		cg_error_hint(err, "encrypt it again with 'congruent secret "
				   "encrypt'");
		return CG_ERR;
	}
	out->len = blen;
	out->data[blen] = '\0';
	return 0;
}

void cg_hostkey_free(struct cg_hostkey *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

int cg_hostkey_load(struct cg_hostkey **out, const char *path,
		    struct cg_error *err)
{
	struct cg_hostkey *k;
	struct cg_buf b = { 0 };
	struct stat st;
	size_t plen = KEY_LEN;
	BIO *bio;
	int fd, rc;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		rc = errno == ENOENT ? CG_ENOTFOUND : CG_ERR;
		cg_error_sys(err, rc, "cannot open the host key %s", path);
		cg_error_hint(err, "make one with 'congruent key init'");
		return rc;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 077)) {
		close(fd);
		cg_error_set(err, CG_ERR, "the host key %s is not a regular "
					  "file of mode 0600",
			     path);
		cg_error_hint(err, "chmod 0600 %s", path);
		return CG_ERR;
	}
	rc = cg_read_fd(fd, &b, 16384, err);
	close(fd);
	if (rc < 0)
		return rc;
	k = cg_xcalloc(1, sizeof(*k));
	bio = BIO_new_mem_buf(b.data, (int)b.len);
	k->pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	OPENSSL_cleanse(b.data, b.len);
	cg_buf_release(&b);
	if (!k->pkey || EVP_PKEY_get_id(k->pkey) != EVP_PKEY_X25519 ||
	    EVP_PKEY_get_raw_public_key(k->pkey, k->pub, &plen) <= 0) {
		cg_hostkey_free(k);
		cg_error_set(err, CG_ERR, "%s is not an X25519 private key",
			     path);
		cg_error_hint(err, "move it away and run 'congruent key init'");
		return CG_ERR;
	}
	*out = k;
	return 0;
}

char *cg_hostkey_public(const struct cg_hostkey *k)
{
	char *enc = b64_encode(k->pub, KEY_LEN);
	char *s = cg_xasprintf("%s%s", CG_KEY_PREFIX, enc);

	free(enc);
	return s;
}

/* A new key at path, 0600, never replacing one (link(2) refuses). */
static int key_create(const char *path, struct cg_error *err)
{
	EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, NULL);
	EVP_PKEY *pkey = NULL;
	char *tmp = cg_xasprintf("%s.new", path);
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem;
	long len;
	int fd = -1, rc = CG_ERR;

	if (!kc || !bio || EVP_PKEY_keygen_init(kc) <= 0 ||
	    EVP_PKEY_keygen(kc, &pkey) <= 0 ||
	    PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) <= 0) {
		cg_error_set(err, CG_ERR, "cannot make a key (OpenSSL)");
		goto out;
	}
	len = BIO_get_mem_data(bio, &pem);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0) {
		cg_error_sys(err, CG_ERR, "cannot create %s", tmp);
		goto out;
	}
	if (cg_write_all(fd, pem, (size_t)len) < 0 || fsync(fd) < 0) {
		cg_error_sys(err, CG_ERR, "cannot write %s", tmp);
		goto out;
	}
	if (link(tmp, path) < 0) {
		rc = errno == EEXIST ? CG_ELOCKED : CG_ERR;
		cg_error_sys(err, rc, "cannot create %s", path);
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	free(tmp);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(kc);
	return rc;
}

/* --- the commands ------------------------------------------------------ */

static int cmd_usage(const char *cmd, const char *fmt, const char *arg)
{
	fprintf(stderr, "congruent %s: ", cmd);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'congruent help %s'.\n", cmd);
	return 1;
}

char *cg_hostkey_path(const char *state_dir)
{
	return cg_xasprintf("%s/host.key", state_dir);
}

/*
 * key report: this host's line for the fleet's host key list (allowed
 * signers, the host name as principal), the key made if it is the
 * agent's own and missing.
 */
static int report_key_line(const struct cg_config *conf, const char *state,
			   const char *hostname, struct cg_error *err)
{
	struct cg_reportkey k = { 0 };
	struct cg_buf pub = { 0 };
	char host[256];
	char *dot;
	int rc;

	if (hostname)
		snprintf(host, sizeof(host), "%s", hostname);
	else if (gethostname(host, sizeof(host)) < 0)
		return cg_error_sys(err, CG_ERR, "cannot get the host name");
	host[sizeof(host) - 1] = '\0';
	dot = strchr(host, '.');
	if (dot)
		*dot = '\0';
	rc = cg_report_signing_key(conf, state, true, &k, NULL, err);
	if (rc < 0)
		return rc;
	cg_reportkey_public(&k, &pub);
	printf("%s namespaces=\"git\" %s\n", host, pub.data);
	cg_buf_release(&pub);
	cg_reportkey_release(&k);
	return 0;
}

int cg_cmd_key_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "root", required_argument, NULL, 'r' },
		{ "hostname", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = CG_DEFAULT_CONFIG, *state_opt = NULL, *root = NULL;
	const char *hostname = NULL;
	bool given = false, init, report;
	struct cg_config conf;
	struct cg_hostkey *k = NULL;
	struct cg_error err;
	char *state = NULL, *path = NULL, *pub;
	const char *sub = NULL;
	int c, rc = 1;

	/* The subcommand first: congruent key init --state-dir DIR. */
	if (argc > 1 && argv[1][0] != '-') {
		sub = argv[1];
		argv++;
		argc--;
	}
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			given = true;
			break;
		case 's':
			state_opt = optarg;
			break;
		case 'r':
			root = optarg;
			break;
		case 'H':
			hostname = optarg;
			break;
		case 'h':
			cg_usage_print("key", stdout);
			return 0;
		default:
			return cmd_usage("key", "unknown option '%s'",
					 argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cmd_usage("key", "unexpected argument '%s'",
				 argv[optind]);
	if (!sub || (strcmp(sub, "init") != 0 && strcmp(sub, "show") != 0 &&
		     strcmp(sub, "report") != 0))
		return cmd_usage("key", "say init, show or report, not '%s'",
				 sub ? sub : "");
	report = strcmp(sub, "report") == 0;
	/* The report key is made on first use, as a run would. */
	init = strcmp(sub, "init") == 0 || report;
	cg_error_clear(&err);
	if (cg_config_load(&conf, config, given, &err) < 0) {
		cg_print_error(stderr, &err, false);
		return 1;
	}
	if (state_opt) {
		state = cg_xstrdup(state_opt);
		if (init && cg_mkdir_p(state, 0700, &err) < 0)
			goto fail;
	} else if (root) {
		if (cg_state_dir_in_root(root, conf.state_dir, init, &state,
					 &err) < 0)
			goto fail;
	} else {
		state = cg_xstrdup(conf.state_dir);
		if (init && cg_mkdir_p(state, 0700, &err) < 0)
			goto fail;
	}
	if (report) {
		rc = report_key_line(&conf, state, hostname, &err) < 0 ? 1 : 0;
		if (rc)
			goto fail;
		goto out;
	}
	path = cg_hostkey_path(state);
	if (init) {
		int made = key_create(path, &err);

		if (made == CG_ELOCKED)
			fprintf(stderr, "congruent key: %s exists: kept it\n",
				path);
		else if (made < 0)
			goto fail;
	}
	if (cg_hostkey_load(&k, path, &err) < 0)
		goto fail;
	pub = cg_hostkey_public(k);
	printf("%s\n", pub);
	free(pub);
	rc = 0;
	goto out;
fail:
	cg_print_error(stderr, &err, false);
out:
	cg_hostkey_free(k);
	free(path);
	free(state);
	cg_config_release(&conf);
	return rc;
}

int cg_cmd_secret_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char **to = NULL;
	size_t nto = 0, cap = 0;
	struct cg_buf in = { 0 };
	struct cg_error err;
	char *line = NULL;
	const char *sub = NULL;
	int c, rc = 1;

	if (argc > 1 && argv[1][0] != '-') {
		sub = argv[1];
		argv++;
		argc--;
	}
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			cg_grow(&to, &cap, nto + 1, sizeof(*to));
			to[nto++] = optarg;
			break;
		case 'h':
			cg_usage_print("secret", stdout);
			free(to);
			return 0;
		default:
			free(to);
			return cmd_usage("secret", "unknown option '%s'",
					 argv[optind - 1]);
		}
	}
	if (optind < argc || !sub || strcmp(sub, "encrypt") != 0) {
		free(to);
		return cmd_usage("secret", "say encrypt --to KEY%s",
				 " (the plaintext on stdin)");
	}
	if (!nto) {
		free(to);
		return cmd_usage("secret", "encrypt needs --to KEY%s",
				 " (as 'congruent key show' prints it)");
	}
	cg_error_clear(&err);
	if (cg_read_fd(0, &in, SECRET_MAX_PLAIN, &err) < 0 ||
	    cg_secret_encrypt(to, nto, in.data ? in.data : "", in.len, &line,
			      &err) < 0) {
		cg_print_error(stderr, &err, false);
	} else {
		printf("%s\n", line);
		rc = 0;
	}
	if (in.data)
		OPENSSL_cleanse(in.data, in.len);
	cg_buf_release(&in);
	free(line);
	free(to);
	return rc;
}

/* --- the secrets of a run --------------------------------------------- */

struct plain {
	const struct cg_node *n;
	struct cg_buf text;
};

int cg_secrets_reveal(struct cg_secrets *s, const struct cg_node *n,
		      const char **plain, size_t *len, struct cg_error *err)
{
	struct plain *p;
	char where[256];
	size_t i;
	int rc;

	for (i = 0; i < s->n; i++) {
		if (s->v[i].n == n) {
			*plain = s->v[i].text.data;
			*len = s->v[i].text.len;
			return 0;
		}
	}
	cg_node_where(n, where, sizeof(where));
	if (!s->key && !s->key_rc)
		s->key_rc = cg_hostkey_load(&s->key, s->key_path, &s->key_err);
	if (!s->key) {
		*err = s->key_err;
		cg_error_prefix(err, "cannot decrypt the secret at %s", where);
		return s->key_rc;
	}
	cg_grow(&s->v, &s->cap, s->n + 1, sizeof(*s->v));
	p = &s->v[s->n];
	memset(p, 0, sizeof(*p));
	rc = cg_secret_decrypt(s->key, n->str, &p->text, err);
	if (rc < 0) {
		cg_buf_release(&p->text);
		cg_error_prefix(err, "cannot decrypt the secret at %s", where);
		return rc;
	}
	p->n = n;
	s->n++;
	*plain = p->text.data;
	*len = p->text.len;
	return 0;
}

void cg_secrets_release(struct cg_secrets *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n; i++) {
		OPENSSL_cleanse(s->v[i].text.data, s->v[i].text.cap);
		cg_buf_release(&s->v[i].text);
	}
	free(s->v);
	cg_hostkey_free(s->key);
	free(s->key_path);
	memset(s, 0, sizeof(*s));
}
