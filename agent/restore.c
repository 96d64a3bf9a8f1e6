/* restore.c: `congruent restore`: put back what congruent overwrote. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "cg/store.h"

static void list(const struct cg_backup *v, size_t n, bool all)
{
	size_t i;

	if (!n) {
		printf("no backups kept\n");
		return;
	}
	for (i = 0; i < n; i++) {
		char when[32];

		cg_time_iso(when, v[i].time);
		if (all)
			printf("%-40s ", v[i].path);
		else
			printf("%3zu  ", i + 1);
		printf("%s  %.12s  %s %04o %u:%u %llu bytes%s\n", when,
		       v[i].hash, v[i].type == 'l' ? "symlink" : "file   ",
		       (unsigned)v[i].mode, (unsigned)v[i].uid,
		       (unsigned)v[i].gid, (unsigned long long)v[i].size,
		       v[i].type == 'h' ? " (hash only: over backup_max_mb)"
					: "");
	}
}

/* BACKUP: a number from the list (1 = newest) or a hash prefix. */
static const struct cg_backup *pick(const struct cg_backup *v, size_t n,
				    const char *which, struct cg_error *err)
{
	const struct cg_backup *found = NULL;
	size_t i, len = strlen(which);
	char *end;
	unsigned long k;

	if (!n) {
		cg_error_set(err, CG_ERR, "no backups are kept for this path");
		return NULL;
	}
	if (!which[0])
		return &v[0];
	k = strtoul(which, &end, 10);
	if (!*end && len < 6) {
		if (k >= 1 && k <= n)
			return &v[k - 1];
		cg_error_set(err, CG_ERR, "there is no backup number %s (1 to %zu)",
			     which, n);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		if (strncmp(v[i].hash, which, len) != 0)
			continue;
		if (found && strcmp(found->hash, v[i].hash) != 0) {
			cg_error_set(err, CG_ERR, "'%s' names more than one backup",
				     which);
			cg_error_hint(err, "give more digits of the hash");
			return NULL;
		}
		if (!found)
			found = &v[i];
	}
	if (!found)
		cg_error_set(err, CG_ERR, "no backup matches '%s'", which);
	return found;
}

static int put_back(struct cg_root *root, struct cg_store *s,
		    const struct cg_backup *b, struct cg_error *err)
{
	struct cg_content c = { .data = NULL, .len = 0, .fd = -1 };
	const char *base;
	struct stat st;
	int dirfd, objfd, oldfd = -1, rc;
	bool exists;

	if (b->type == 'h') {
		cg_error_set(err, CG_ERR,
			     "only the hash of this version was kept (%llu "
			     "bytes, over backup_max_mb): it cannot be put back",
			     (unsigned long long)b->size);
		cg_error_hint(err, "pick another version (restore --list), or "
				   "raise backup_max_mb in the agent config for "
				   "the future");
		return CG_ERR;
	}
	rc = cg_store_open_object(s, b->hash, &objfd, err);
	if (rc < 0)
		return rc;
	rc = cg_root_open_parent(root, b->path, 0, &dirfd, &base, NULL, err);
	if (rc < 0) {
		if (rc == CG_ENOTFOUND)
			cg_error_hint(err, "create the directory first");
		close(objfd);
		return rc;
	}
	exists = fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (exists && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
		rc = cg_error_set(err, CG_ERR,
				  "%s is now neither a file nor a symlink; not "
				  "replacing it",
				  b->path);
		goto out;
	}
	/* What is there now is kept too, so a restore can be undone. */
	if (exists) {
		rc = cg_store_keep(s, dirfd, base, b->path, NULL, err);
		if (rc < 0)
			goto out;
	}
	if (b->type == 'f') {
		c.fd = objfd;
		if (exists && S_ISREG(st.st_mode))
			oldfd = openat(dirfd, base,
				       O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
					       O_CLOEXEC);
		rc = cg_fs_replace(dirfd, base, &c, b->mode, b->uid, b->gid,
				   oldfd, NULL, err);
	} else {
		struct cg_buf target = { 0 };
		char tmp[256];

		rc = cg_read_fd(objfd, &target, 4096, err);
		if (rc == 0) {
			cg_fs_tmpname(tmp, sizeof(tmp), base);
			if (symlinkat(target.data ? target.data : "", dirfd,
				      tmp) < 0 ||
			    fchownat(dirfd, tmp, b->uid, b->gid,
				     AT_SYMLINK_NOFOLLOW) < 0 ||
			    renameat(dirfd, tmp, dirfd, base) < 0) {
				rc = cg_error_sys(err, CG_ERR,
						  "cannot restore symlink %s",
						  b->path);
				unlinkat(dirfd, tmp, 0);
			} else {
				rc = cg_fs_sync_dir(dirfd, b->path, err);
			}
		}
		cg_buf_release(&target);
	}
out:
	if (oldfd >= 0)
		close(oldfd);
	close(objfd);
	close(dirfd);
	return rc;
}

int cg_cmd_restore_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "list", no_argument, NULL, 'l' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *rootdir = NULL, *state_opt = NULL, *config = CG_DEFAULT_CONFIG;
	bool listing = false, config_given = false;
	struct cg_backup *v = NULL;
	const struct cg_backup *b;
	struct cg_store *s = NULL;
	struct cg_config conf;
	struct cg_root root;
	struct cg_error err;
	char *state = NULL, *dir;
	size_t n = 0;
	int c, rc = 1, lockfd = -1;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			cg_usage_print("restore", stdout);
			return 0;
		case 'r':
			rootdir = optarg;
			break;
		case 's':
			state_opt = optarg;
			break;
		case 'l':
			listing = true;
			break;
		case 'c':
			config = optarg;
			config_given = true;
			break;
		default:
			fprintf(stderr, "congruent restore: unknown option "
					"'%s'\n", argv[optind - 1]);
			cg_usage_print("restore", stderr);
			return 1;
		}
	}
	memset(&root, 0, sizeof(root));
	root.fd = -1;
	cg_error_clear(&err);
	if (argc - optind > 2) {
		fprintf(stderr, "congruent restore: too many arguments\n");
		return 1;
	}
	if (cg_config_load(&conf, config, config_given, &err) < 0)
		goto out_err;
	if (state_opt)
		state = cg_xstrdup(state_opt);
	else if (rootdir) {
		/* Never through a symlink in the image (fs.h). */
		if (cg_state_dir_in_root(rootdir, conf.state_dir, false,
					 &state, &err) < 0)
			goto out_err;
	} else
		state = cg_xstrdup(conf.state_dir);
	dir = cg_xasprintf("%s/backups", state);
	cg_store_open(&s, dir, &err);
	cg_store_set_max(s, (uint64_t)conf.backup_max_mb << 20);
	free(dir);
	if (optind < argc && argv[optind][0] != '/') {
		cg_error_set(&err, CG_ERR, "'%s' is not an absolute path",
			     argv[optind]);
		goto out_err;
	}
	if (cg_store_list(s, optind < argc ? argv[optind] : NULL, &v, &n,
			  &err) < 0)
		goto out_err;
	if (listing || optind == argc) {
		list(v, n, optind == argc);
		rc = 0;
		goto out;
	}
	b = pick(v, n, optind + 1 < argc ? argv[optind + 1] : "", &err);
	if (!b) {
		cg_error_where(&err, "%s", argv[optind]);
		goto out_err;
	}
	if (cg_lock_take(state, &lockfd, &err) < 0)
		goto out_err;
	{
		/* A restore writes temporaries too: the same record as run. */
		size_t gone;

		if (cg_leftover_begin(state, &gone, NULL) == 0 && gone)
			fprintf(stderr, "congruent: removed %zu temporary "
					"file%s left by a run that did not "
					"end\n",
				gone, gone == 1 ? "" : "s");
	}
	if (cg_root_open(&root, rootdir ? rootdir : "/", &err) < 0 ||
	    put_back(&root, s, b, &err) < 0)
		goto out_err;
	{
		char when[32];

		cg_time_iso(when, b->time);
		printf("restored %s from backup %.12s (kept %s)\n", b->path,
		       b->hash, when);
		printf("note: the next run changes it back unless the policy "
		       "changes too\n");
	}
	rc = 0;
	goto out;
out_err:
	cg_print_error(stderr, &err, isatty(2) && !getenv("NO_COLOR"));
out:
	cg_leftover_end();
	cg_lock_release(lockfd);
	cg_backups_free(v, n);
	cg_store_free(s);
	cg_root_release(&root);
	cg_config_release(&conf);
	free(state);
	return rc;
}
