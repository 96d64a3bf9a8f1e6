/* sshsig.h: verify git's SSH signatures (SSHSIG) against allowed signers. */
#ifndef CG_SSHSIG_H
#define CG_SSHSIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cg/error.h"
#include "cg/util.h"

/*
 * Why a signature was refused. Every verifying function returns 0 or one of
 * these (or CG_ERR for an internal failure such as OpenSSL refusing to build
 * a key); err->msg says the same in words, and err->hint what to do. They
 * sit below error.h's codes so that the two never collide.
 */
enum {
	CG_SSHSIG_EUNSIGNED = -20,    /* no signature at all */
	CG_SSHSIG_EMALFORMED = -21,   /* not a well-formed SSH signature */
	CG_SSHSIG_EUNSUPPORTED = -22, /* OpenPGP/X.509, certificates, sk-*,
					 DSA, RSA under 2048 bits, ... */
	CG_SSHSIG_EUNKNOWNKEY = -23,  /* key not in allowed signers */
	CG_SSHSIG_ENAMESPACE = -24,   /* made for another namespace, or the
					 key's namespaces= does not allow it */
	CG_SSHSIG_ESHA1 = -25,        /* RSA with SHA-1 ("ssh-rsa") */
	CG_SSHSIG_EEXPIRED = -26,     /* outside valid-after/valid-before */
	CG_SSHSIG_EBADSIG = -27,      /* does not verify: data changed or
					 the signature was forged */
};

/*
 * A short stable word for a code above ("unsigned", "malformed",
 * "unsupported", "unknown-key", "wrong-namespace", "sha1-refused",
 * "expired", "bad-signature"), "ok" for 0 and "error" for anything else:
 * for reports and tests, where err->msg is for people.
 */
const char *cg_sshsig_strerror(int code);

/* "SHA256:" + 43 base64 characters, as ssh-keygen -l prints, plus NUL. */
#define CG_SSHSIG_FP_SIZE 64

/* The SHA-256 fingerprint of an SSH public key blob. */
void cg_sshsig_fingerprint(char out[CG_SSHSIG_FP_SIZE], const void *key,
			   size_t len);

/*
 * One line of an allowed signers file (ssh-keygen(1), ALLOWED SIGNERS):
 *
 *     principals [options] keytype base64-key [comment]
 *
 * Options: namespaces="pattern-list", valid-after="time",
 * valid-before="time" (YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z]; local time
 * unless Z), cert-authority. A cert-authority line is kept but never matches
 * a plain key: it vouches for certificates, which this verifier does not
 * accept (OpenSSH behaves the same for a plain signature by a CA key).
 * Lines with key types this verifier cannot check (sk-*, ssh-dss, ...) are
 * kept too, so that a file shared with git loads; a signature by such a key
 * is refused as unsupported.
 */
struct cg_signer {
	char *principals;    /* owned: as written, without surrounding quotes */
	char *namespaces;    /* owned: namespaces= pattern list, or NULL */
	bool has_valid_after;
	bool has_valid_before;
	int64_t valid_after;  /* seconds since the epoch, inclusive */
	int64_t valid_before; /* seconds since the epoch, inclusive */
	bool cert_authority;
	char *key_type;      /* owned: "ssh-ed25519", as written */
	unsigned char *key;  /* owned: the decoded public key blob */
	size_t key_len;
	char fingerprint[CG_SSHSIG_FP_SIZE];
	unsigned line;       /* 1-based line in the file */
};

struct cg_signers {
	char *name;            /* owned: file name for messages */
	struct cg_signer *v;   /* owned */
	size_t n, cap;
};

/*
 * Parse an allowed signers file (at most 4 MiB). Errors name "file:line" in
 * err->where. *out is the caller's, freed with cg_signers_free.
 */
int cg_signers_load(struct cg_signers **out, const char *path,
		    struct cg_error *err);

/* The same from memory; name is used in messages only. */
int cg_signers_parse(struct cg_signers **out, const char *name,
		     const char *text, size_t len, struct cg_error *err);

/* Accepts NULL. */
void cg_signers_free(struct cg_signers *signers);

/* A view into a decoded signature blob. */
struct cg_sshsig_field {
	const unsigned char *p; /* borrowed */
	size_t len;
};

/*
 * A parsed armored SSH signature (PROTOCOL.sshsig). Every field but blob
 * points into blob.
 */
struct cg_sshsig {
	unsigned char *blob; /* owned: the base64-decoded signature */
	size_t blob_len;
	struct cg_sshsig_field key;      /* public key blob */
	struct cg_sshsig_field key_type; /* first string of key */
	struct cg_sshsig_field ns;       /* namespace */
	struct cg_sshsig_field hash_alg; /* "sha256" or "sha512" (unchecked) */
	struct cg_sshsig_field sig_alg;  /* "ssh-ed25519", "rsa-sha2-512" */
	struct cg_sshsig_field sig_blob; /* the raw signature */
};

/*
 * Decode and parse an armored signature ("-----BEGIN SSH SIGNATURE-----")
 * of at most 64 KiB, without verifying anything. Returns
 * CG_SSHSIG_EUNSIGNED for empty input, CG_SSHSIG_EUNSUPPORTED for an
 * OpenPGP or X.509 signature or a version other than 1,
 * CG_SSHSIG_EMALFORMED for anything else that is not a well-formed SSHSIG.
 * On success the caller releases *out with cg_sshsig_release.
 */
int cg_sshsig_parse(struct cg_sshsig *out, const char *text, size_t len,
		    struct cg_error *err);

/* Free and zero. Accepts NULL. */
void cg_sshsig_release(struct cg_sshsig *sig);

/* Who signed: written by the verifying functions on success only. */
struct cg_sshsig_result {
	char principals[512]; /* principals of the allowing line (cut if
				 longer) */
	char fingerprint[CG_SSHSIG_FP_SIZE]; /* "SHA256:..." */
	char key_type[32];    /* "ssh-ed25519" */
	char sig_alg[32];     /* "ssh-ed25519", "rsa-sha2-512" */
	char hash_alg[8];     /* "sha512" */
	char where[288];      /* "allowed_signers:3", the allowing line */
};

/*
 * Verify that sig (armored, siglen bytes) is a signature over data made
 * for namespace ns by a key that signers allows for ns at time now
 * (seconds since the epoch; pass the wall clock, not a time taken from the
 * signed data, which the signer chose). Supported: ssh-ed25519, ssh-rsa
 * with rsa-sha2-256 or rsa-sha2-512 (2048 to 16384 bits),
 * ecdsa-sha2-nistp256/384/521; hashes sha256 and sha512.
 */
int cg_sshsig_verify(const struct cg_signers *signers, const char *sig,
		     size_t siglen, const void *data, size_t len,
		     const char *ns, int64_t now, struct cg_sshsig_result *out,
		     struct cg_error *err);

/*
 * Split a raw commit object (the bytes git hash-object hashes, without the
 * "commit N\0" prefix) into its signature and the signed payload, as git
 * does: the "gpgsig" header (continuation lines unfolded) is the
 * signature; the payload is the commit without it and without any
 * "gpgsig-sha256" header. Only the header is searched, never the message.
 * A second gpgsig header is CG_SSHSIG_EMALFORMED; none is
 * CG_SSHSIG_EUNSIGNED. sig and payload are replaced on success only.
 *
 * (libgit2 1.5's git_commit_extract_signature searches past the header and
 * keeps gpgsig-sha256 in the payload; for commits git makes, the two agree.)
 */
int cg_sshsig_commit_split(const char *commit, size_t len, struct cg_buf *sig,
			   struct cg_buf *payload, struct cg_error *err);

/* cg_sshsig_commit_split, then cg_sshsig_verify with namespace "git". */
int cg_sshsig_verify_commit(const struct cg_signers *signers,
			    const char *commit, size_t len, int64_t now,
			    struct cg_sshsig_result *out, struct cg_error *err);

/*
 * Does name match an allowed signers principals field (a comma-separated
 * ssh_config pattern list, "!pattern" refusing)?
 */
bool cg_sshsig_principal_match(const char *name, const char *principals);

/*
 * Sign data for namespace ns with the ed25519 key seed (its public half
 * pub): an armored SSHSIG, hash sha512, appended to out.
 */
int cg_sshsig_sign_ed25519(const unsigned char seed[32],
			   const unsigned char pub[32], const char *ns,
			   const void *data, size_t len, struct cg_buf *out,
			   struct cg_error *err);

#endif
