/* sshsig-verify: check a commit's SSH signature with cg_sshsig_* (test helper). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>

#include "cg/sshsig.h"
#include "cg/util.h"

/*
 * usage: sshsig-verify [--time EPOCH] ALLOWED_SIGNERS REPO [REV]
 *        sshsig-verify [--time EPOCH] --file ALLOWED_SIGNERS SIG DATA NS
 *
 * Prints "good principals=... key=... fingerprint=... sig=... hash=...
 * line=..." and exits 0, or "refused REASON: message" (REASON from
 * cg_sshsig_strerror) and exits 1; 2 for usage or setup errors, 3 when
 * libgit2's git_commit_extract_signature and cg_sshsig_commit_split
 * disagree about a commit.
 */

static void usage(void)
{
	fprintf(stderr,
		"usage: sshsig-verify [--time EPOCH] ALLOWED_SIGNERS REPO [REV]\n"
		"       sshsig-verify [--time EPOCH] --file ALLOWED_SIGNERS SIG "
		"DATA NS\n");
	exit(2);
}

static int report(int rc, const struct cg_sshsig_result *res,
		  const struct cg_error *err)
{
	if (rc == 0) {
		printf("good principals=%s key=%s fingerprint=%s sig=%s "
		       "hash=%s line=%s\n",
		       res->principals, res->key_type, res->fingerprint,
		       res->sig_alg, res->hash_alg, res->where);
		return 0;
	}
	printf("refused %s: %s%s%s\n", cg_sshsig_strerror(rc), err->msg,
	       err->where[0] ? " at " : "", err->where);
	if (err->hint[0])
		printf("hint: %s\n", err->hint);
	return 1;
}

static int read_file(const char *path, struct cg_buf *b)
{
	struct cg_error err;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0) {
		perror(path);
		return -1;
	}
	rc = cg_read_fd(fd, b, 64 << 20, &err);
	close(fd);
	if (rc < 0)
		fprintf(stderr, "%s: %s\n", path, err.msg);
	return rc;
}

static int verify_file(const struct cg_signers *signers, const char *sig_path,
		       const char *data_path, const char *ns, int64_t now)
{
	struct cg_buf sig = { 0 }, data = { 0 };
	struct cg_sshsig_result res;
	struct cg_error err;
	int rc = 2;

	if (read_file(sig_path, &sig) < 0 || read_file(data_path, &data) < 0)
		goto out;
	rc = report(cg_sshsig_verify(signers, sig.data, sig.len, data.data,
				     data.len, ns, now, &res, &err),
		    &res, &err);
out:
	cg_buf_release(&sig);
	cg_buf_release(&data);
	return rc;
}

static int verify_commit(const struct cg_signers *signers, const char *path,
			 const char *rev, int64_t now)
{
	git_buf sig = { 0 }, data = { 0 };
	git_repository *repo = NULL;
	git_object *obj = NULL, *commit = NULL;
	git_odb_object *raw = NULL;
	git_odb *odb = NULL;
	git_oid oid;
	struct cg_sshsig_result res, res2;
	struct cg_error err, err2;
	int rc = 2, rc1, rc2, x;

	if (git_repository_open(&repo, path) < 0 ||
	    git_revparse_single(&obj, repo, rev) < 0 ||
	    git_object_peel(&commit, obj, GIT_OBJECT_COMMIT) < 0) {
		fprintf(stderr, "sshsig-verify: %s\n",
			git_error_last() ? git_error_last()->message : "?");
		goto out;
	}
	git_oid_cpy(&oid, git_object_id(commit));

	/* The way the agent is expected to get them: libgit2 splits. */
	x = git_commit_extract_signature(&sig, &data, repo, &oid, NULL);
	if (x < 0 && x != GIT_ENOTFOUND) {
		fprintf(stderr, "sshsig-verify: %s\n",
			git_error_last() ? git_error_last()->message : "?");
		goto out;
	}
	if (x == GIT_ENOTFOUND)
		rc1 = cg_sshsig_verify(signers, NULL, 0, NULL, 0, "git", now,
				       &res, &err);
	else
		rc1 = cg_sshsig_verify(signers, sig.ptr, sig.size, data.ptr,
				       data.size, "git", now, &res, &err);

	/* Our own split of the raw object must come to the same verdict. */
	if (git_repository_odb(&odb, repo) < 0 ||
	    git_odb_read(&raw, odb, &oid) < 0) {
		fprintf(stderr, "sshsig-verify: %s\n",
			git_error_last() ? git_error_last()->message : "?");
		goto out;
	}
	rc2 = cg_sshsig_verify_commit(signers, git_odb_object_data(raw),
				      git_odb_object_size(raw), now, &res2,
				      &err2);
	if (rc1 != rc2) {
		printf("mismatch: libgit2 split gives %s, "
		       "cg_sshsig_commit_split gives %s (%s)\n",
		       cg_sshsig_strerror(rc1), cg_sshsig_strerror(rc2),
		       err2.msg);
		rc = 3;
		goto out;
	}
	rc = report(rc1, &res, &err);
out:
	git_odb_object_free(raw);
	git_odb_free(odb);
	git_buf_dispose(&sig);
	git_buf_dispose(&data);
	git_object_free(commit);
	git_object_free(obj);
	git_repository_free(repo);
	return rc;
}

int main(int argc, char **argv)
{
	struct cg_signers *signers = NULL;
	struct cg_error err;
	int64_t now = (int64_t)time(NULL);
	bool file_mode = false;
	int i = 1, rc;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--time") == 0 && i + 1 < argc)
			now = strtoll(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--file") == 0)
			file_mode = true;
		else
			usage();
	}
	if (file_mode ? argc - i != 4 : (argc - i != 2 && argc - i != 3))
		usage();
	if (cg_signers_load(&signers, argv[i], &err) < 0) {
		fprintf(stderr, "sshsig-verify: %s%s%s\n", err.where,
			err.where[0] ? ": " : "", err.msg);
		return 2;
	}
	if (file_mode) {
		rc = verify_file(signers, argv[i + 1], argv[i + 2], argv[i + 3],
				 now);
	} else {
		git_libgit2_init();
		rc = verify_commit(signers, argv[i + 1],
				   argc - i == 3 ? argv[i + 2] : "HEAD", now);
		git_libgit2_shutdown();
	}
	cg_signers_free(signers);
	return rc;
}
