/* fuzz-sshsig.c: a libFuzzer target for signatures, allowed signers and commits. */
/*
 * Built and run by `make fuzz` like the other targets (tests/fuzz/run.sh).
 *
 * The first input byte picks what the rest is fed to: 0 a signature
 * (verified against fx_msg), 1 an allowed signers file, 2 a raw commit;
 * the seeds in tests/fuzz/corpus/sshsig/ are that byte and the fixtures
 * of sshsig-fixtures.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg/sshsig.h"
#include "sshsig-fixtures.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct cg_signers *signers;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char text[2048];
	struct cg_error err;

	(void)argc;
	(void)argv;
	snprintf(text, sizeof(text), "a@x %s\nb@x %s\nc@x %s\n", fx_ed_pub,
		 fx_rsa_pub, fx_ec_pub);
	if (cg_signers_parse(&signers, "fuzz", text, strlen(text), &err) < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cg_sshsig_result res;
	struct cg_signers *s = NULL;
	struct cg_error err;
	const char *text = (const char *)data + 1;
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		cg_sshsig_verify(signers, text, size - 1, fx_msg,
				 strlen(fx_msg), "git", 1700000000, &res, &err);
		break;
	case 1:
		if (cg_signers_parse(&s, "fuzz", text, size - 1, &err) == 0) {
			cg_sshsig_verify(s, fx_ed_sig, strlen(fx_ed_sig),
					 fx_msg, strlen(fx_msg), "git",
					 1700000000, &res, &err);
			cg_signers_free(s);
		}
		break;
	default:
		cg_sshsig_verify_commit(signers, text, size - 1, 1700000000,
					&res, &err);
		break;
	}
	return 0;
}
