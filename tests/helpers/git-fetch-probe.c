/* git-fetch-probe: clone a URL with libgit2 and say how it went (test helper). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>

/*
 * usage: git-fetch-probe [--ca-file FILE | --ca-dir DIR | --ca FILE DIR]...
 *                        [--deadline SEC] URL DEST
 *
 * Each --ca-file, --ca-dir or --ca is one call of
 * git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, file, dir) (NULL for
 * the one not given), in order, so that tests can see whether a later call
 * replaces an earlier one. Without any, libgit2 keeps the trust store it
 * was built with.
 *
 * Clones URL into DEST (bare) and prints "ok HEAD OID" (exit 0) or
 * "refused code=NAME class=N: message" (exit 1); 2 for usage or set-up
 * errors. NAME is "certificate" for GIT_ECERTIFICATE, else the number.
 * libgit2 1.5 has no server time-out: the deadline (default 60 s) ends
 * the process with SIGALRM instead of letting a test hang.
 */

/*
 * Debian's libgit2 1.5 leaks PCRE2 match data on every clone, whatever the
 * transport: with ASAN_OPTIONS=fast_unwind_on_malloc=0 the stack reads
 * git_remote_create -> (libgit2) -> pcre2_match_data_create. Not ours to
 * fix, so LeakSanitizer is told (this hook is read only in a SANITIZE=1
 * build). The default unwinder sees no further than the stripped PCRE2
 * library, hence the match on its module.
 */
const char *__lsan_default_suppressions(void);

const char *__lsan_default_suppressions(void)
{
	return "leak:libpcre2-8.so\n";
}

static void usage(void)
{
	fprintf(stderr, "usage: git-fetch-probe [--ca-file FILE | --ca-dir "
		"DIR | --ca FILE DIR]... [--deadline SEC] URL DEST\n");
	exit(2);
}

static const char *code_name(int code, char *buf, size_t size)
{
	switch (code) {
	case GIT_ECERTIFICATE:
		return "certificate";
	case GIT_ENOTFOUND:
		return "notfound";
	case GIT_EAUTH:
		return "auth";
	default:
		snprintf(buf, size, "%d", code);
		return buf;
	}
}

int main(int argc, char **argv)
{
	git_clone_options opts;
	git_repository *repo = NULL;
	git_object *head = NULL;
	const git_error *e;
	unsigned deadline = 60;
	char oid[GIT_OID_HEXSZ + 1], num[16];
	int i, n, rc, status = 2;

	git_libgit2_init();
	for (i = 1; i < argc && argv[i][0] == '-'; i += n) {
		const char *opt = argv[i], *file = NULL, *dir = NULL;

		n = strcmp(opt, "--ca") == 0 ? 3 : 2;
		if (i + n > argc)
			usage();
		if (strcmp(opt, "--ca") == 0) {
			file = argv[i + 1];
			dir = argv[i + 2];
		} else if (strcmp(opt, "--ca-file") == 0) {
			file = argv[i + 1];
		} else if (strcmp(opt, "--ca-dir") == 0) {
			dir = argv[i + 1];
		} else if (strcmp(opt, "--deadline") == 0) {
			deadline = (unsigned)atoi(argv[i + 1]);
			if (!deadline)
				usage();
			continue;
		} else {
			usage();
		}
		if (git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, file,
				     dir) < 0) {
			e = git_error_last();
			fprintf(stderr, "git-fetch-probe: %s: %s\n", opt,
				e ? e->message : "failed");
			goto out;
		}
	}
	if (argc - i != 2)
		usage();
	alarm(deadline);

	git_clone_options_init(&opts, GIT_CLONE_OPTIONS_VERSION);
	opts.bare = 1;
	rc = git_clone(&repo, argv[i], argv[i + 1], &opts);
	if (rc < 0) {
		e = git_error_last();
		printf("refused code=%s class=%d: %s\n",
		       code_name(rc, num, sizeof(num)), e ? e->klass : 0,
		       e ? e->message : "?");
		status = 1;
		goto out;
	}
	if (git_revparse_single(&head, repo, "HEAD") < 0) {
		e = git_error_last();
		printf("refused code=nohead class=%d: %s\n", e ? e->klass : 0,
		       e ? e->message : "?");
		status = 1;
		goto out;
	}
	git_oid_tostr(oid, sizeof(oid), git_object_id(head));
	printf("ok HEAD %s\n", oid);
	status = 0;
out:
	git_object_free(head);
	git_repository_free(repo);
	git_libgit2_shutdown();
	return status;
}
