/* hash.h: SHA-256 through OpenSSL, as raw bytes and as hex. */
#ifndef CG_HASH_H
#define CG_HASH_H

#include <stddef.h>

#include "cg/error.h"

#define CG_SHA256_LEN 32
#define CG_SHA256_HEX (2 * CG_SHA256_LEN + 1)

struct cg_sha256 {
	void *ctx; /* owned: EVP_MD_CTX */
};

void cg_sha256_init(struct cg_sha256 *h);
void cg_sha256_update(struct cg_sha256 *h, const void *data, size_t len);
/* Write the digest and release h. */
void cg_sha256_final(struct cg_sha256 *h, unsigned char out[CG_SHA256_LEN]);
/* Release h without a digest (error paths). Accepts a zeroed h. */
void cg_sha256_release(struct cg_sha256 *h);

void cg_sha256_buf(const void *data, size_t len,
		   unsigned char out[CG_SHA256_LEN]);

/* Hash all of fd from offset 0 (pread, so fd's position is kept). */
int cg_sha256_fd(int fd, unsigned char out[CG_SHA256_LEN],
		 struct cg_error *err);

void cg_hex(const unsigned char *in, size_t len, char *out);

#endif
