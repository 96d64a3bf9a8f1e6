/* reportkey.h: the host's ed25519 key that signs its report commits (SSHSIG). */
#ifndef CG_REPORTKEY_H
#define CG_REPORTKEY_H

#include <stdbool.h>
#include <stddef.h>

#include "cg/error.h"
#include "cg/sshsig.h"
#include "cg/util.h"

struct cg_reportkey {
	unsigned char seed[32]; /* the private key; zeroed on release */
	unsigned char pub[32];
	bool loaded;
};

/*
 * Read an unencrypted OpenSSH ed25519 private key ("-----BEGIN OPENSSH
 * PRIVATE KEY-----", as ssh-keygen -t ed25519 -N "" writes it, and as
 * /etc/ssh/ssh_host_ed25519_key is). With create, a path that does not
 * exist gets a new key, written 0600 atomically in the same format (and
 * PATH.pub beside it); *created says so. Errors name the path; other key
 * types and encrypted keys are refused with a hint.
 */
int cg_reportkey_load(struct cg_reportkey *k, const char *path, bool create,
		    bool *created, struct cg_error *err);

/* "ssh-ed25519 BASE64" (an authorized_keys / allowed_signers key). */
void cg_reportkey_public(const struct cg_reportkey *k, struct cg_buf *out);

/*
 * An armored SSH signature ("-----BEGIN SSH SIGNATURE-----", sha512) of
 * data for namespace ns, appended to out, as ssh-keygen -Y sign makes.
 */
int cg_reportkey_sign(const struct cg_reportkey *k, const char *ns,
		    const void *data, size_t len, struct cg_buf *out,
		    struct cg_error *err);

/* Zero the key. Accepts NULL. */
void cg_reportkey_release(struct cg_reportkey *k);

/*
 * Is this report commit (raw object, as cg_sshsig_verify_commit takes it)
 * signed, for namespace "git", by a key the host key list allows for the
 * principal host? 0, or a CG_SSHSIG_* code with err saying why; a
 * signature by another host's key is CG_SSHSIG_EUNKNOWNKEY.
 */
int cg_reportkey_verify_report(const struct cg_signers *keys, const char *host,
			     const char *commit, size_t len, int64_t now,
			     struct cg_error *err);

#endif
