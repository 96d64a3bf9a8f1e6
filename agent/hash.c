/* hash.c: SHA-256 through OpenSSL's EVP interface. */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cg/hash.h"

static void openssl_failed(const char *what)
{
	/* Only a broken OpenSSL install gets here. */
	fprintf(stderr, "congruent: OpenSSL %s failed\n", what);
	abort();
}

/*
 * Fetched once: OpenSSL 3 looks the algorithm up in its provider tables
 * on every EVP_sha256() use, which costs more than hashing a small file.
 * congruent is single-threaded.
 */
static EVP_MD *sha256_md(void)
{
	static EVP_MD *md;

	if (!md) {
		md = EVP_MD_fetch(NULL, "SHA256", NULL);
		if (!md)
			openssl_failed("SHA-256 fetch");
	}
	return md;
}

void cg_sha256_init(struct cg_sha256 *h)
{
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || !EVP_DigestInit_ex2(h->ctx, sha256_md(), NULL))
		openssl_failed("SHA-256 init");
}

void cg_sha256_update(struct cg_sha256 *h, const void *data, size_t len)
{
	if (len && !EVP_DigestUpdate(h->ctx, data, len))
		openssl_failed("SHA-256 update");
}

void cg_sha256_final(struct cg_sha256 *h, unsigned char out[CG_SHA256_LEN])
{
	unsigned int n = 0;

	if (!EVP_DigestFinal_ex(h->ctx, out, &n) || n != CG_SHA256_LEN)
		openssl_failed("SHA-256 final");
	cg_sha256_release(h);
}

void cg_sha256_release(struct cg_sha256 *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

void cg_sha256_buf(const void *data, size_t len,
		   unsigned char out[CG_SHA256_LEN])
{
	static EVP_MD_CTX *ctx;
	unsigned int n = 0;

	if (!ctx && !(ctx = EVP_MD_CTX_new()))
		openssl_failed("SHA-256 context");
	if (!EVP_DigestInit_ex2(ctx, sha256_md(), NULL) ||
	    !EVP_DigestUpdate(ctx, data, len) ||
	    !EVP_DigestFinal_ex(ctx, out, &n))
		openssl_failed("SHA-256");
}

int cg_sha256_fd(int fd, unsigned char out[CG_SHA256_LEN],
		 struct cg_error *err)
{
	struct cg_sha256 h;
	char buf[65536];
	off_t off = 0;

	cg_sha256_init(&h);
	for (;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			cg_sha256_release(&h);
			return cg_error_sys(err, CG_ERR, "read failed");
		}
		if (n == 0)
			break;
		cg_sha256_update(&h, buf, (size_t)n);
		off += n;
	}
	cg_sha256_final(&h, out);
	return 0;
}

void cg_hex(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}
