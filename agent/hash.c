/* hash.c: SHA-256 through OpenSSL's low-level SHA256 functions. */
/*
 * OpenSSL 3 deprecates these in favour of EVP, but EVP loads its provider
 * machinery on first use, which costs about 1.7 MiB of resident memory and
 * a few microseconds per digest: more than a whole no-op run over a
 * thousand files otherwise needs. SHA-256 itself is the same code.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cg/hash.h"
#include "cg/util.h"

void cg_sha256_init(struct cg_sha256 *h)
{
	h->ctx = cg_xmalloc(sizeof(SHA256_CTX));
	SHA256_Init(h->ctx);
}

void cg_sha256_update(struct cg_sha256 *h, const void *data, size_t len)
{
	if (len)
		SHA256_Update(h->ctx, data, len);
}

void cg_sha256_final(struct cg_sha256 *h, unsigned char out[CG_SHA256_LEN])
{
	SHA256_Final(out, h->ctx);
	cg_sha256_release(h);
}

void cg_sha256_release(struct cg_sha256 *h)
{
	free(h->ctx);
	h->ctx = NULL;
}

void cg_sha256_buf(const void *data, size_t len,
		   unsigned char out[CG_SHA256_LEN])
{
	SHA256(data, len, out);
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
