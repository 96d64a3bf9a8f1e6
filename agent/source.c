/* source.c: desired state from git: fetch, trust, no rollback, last good commit. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "cg/sshsig.h"

/*
 * Layout under STATE/git:
 *   repo.git/          a bare cache of the branch (refs/congruent/tip is
 *                      the fetched tip, refs/congruent/last-good the last
 *                      applied commit: both count as "have" when fetching,
 *                      so a fetch with nothing new downloads nothing)
 *   trees/COMMIT/      a private checkout of a commit whose policy passed
 *                      check; written under a temporary name, then renamed
 *   last-good          "COMMIT TIME" of the last commit fully evaluated
 *   fetched            "TIME" of the last successful fetch
 *   fetch-failed       "TIME" and the error of the last fetch, when it
 *                      failed (removed by the next successful one)
 *   refused            "TIP TIME VERSION commit|object", the reason and
 *                      the hint: a
 *                      tip refused for what it is (not how it relates to
 *                      the last good commit or the keys), so that the
 *                      same tip is not loaded and checked on every run
 */

#define TIP_REF "refs/congruent/tip"
#define FETCHING_REF "refs/congruent/fetching"
#define GOOD_REF "refs/congruent/last-good"
#define CHECKOUT_MAX_BYTES (1ull << 30)
/* A policy commit is a message and a signature: no reason for more. */
#define COMMIT_MAX_BYTES (1u << 20)

static bool git_ready;

void cg_git_setup(const struct cg_config *c)
{
	(void)c;
	if (git_ready)
		return;
	git_libgit2_init();
	git_ready = true;
}

void cg_git_set_ca(const struct cg_config *c, const char *url)
{
	/*
	 * Only for https: loading the system bundle into mbedTLS costs tens
	 * of milliseconds, which a run with nothing new should not pay.
	 * Debian's libgit2 uses mbedTLS, which finds no CAs by itself; each
	 * call replaces the trust store, so everything goes in one call.
	 */
	if (!cg_str_starts(url, "https://"))
		return;
	if (c && c->ca_file)
		git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, c->ca_file, NULL);
	else
		git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS,
				 "/etc/ssl/certs/ca-certificates.crt",
				 "/etc/ssl/certs");
}

int cg_git_error(struct cg_error *err, const char *fmt, const char *arg)
{
	const git_error *ge = git_error_last();
	char what[512];

	snprintf(what, sizeof(what), fmt, arg);
	return cg_error_set(err, CG_ERR, "%s: %s", what,
			    ge && ge->message ? ge->message : "unknown error");
}

/*
 * libgit2 has no time-out of its own: run fn in a child process and kill
 * it at the deadline. The child reports one line through a pipe.
 */
int cg_git_in_child(unsigned timeout_s,
		    int (*fn)(void *arg, char *msg, size_t size), void *arg,
		    char *msg, size_t size, struct cg_error *err)
{
	uint64_t deadline = cg_now_ns() + (uint64_t)timeout_s * 1000000000u;
	size_t got = 0;
	int fds[2], status = 0, rc;
	pid_t pid, parent;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return cg_error_sys(err, CG_ERR, "pipe");
	fflush(NULL);
	parent = getpid();
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return cg_error_sys(err, CG_ERR, "fork");
	}
	if (pid == 0) {
		char line[1024] = "";

		close(fds[0]);
		/* A second past the parent's deadline, which kills it first. */
		cg_child_of_run(parent, timeout_s + 1);
		setpgid(0, 0);
		rc = fn(arg, line, sizeof(line));
		(void)!write(fds[1], line, strlen(line));
		_exit(rc == 0 ? 0 : 1);
	}
	close(fds[1]);
	setpgid(pid, pid);
	msg[0] = '\0';
	for (;;) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		uint64_t now = cg_now_ns();
		ssize_t n;

		if (now >= deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			close(fds[0]);
			return cg_error_set(err, CG_ETIMEOUT,
					    "no answer within %u s (timeout)",
					    timeout_s);
		}
		rc = poll(&p, 1, (int)((deadline - now) / 1000000u) + 1);
		if (rc < 0 && errno != EINTR)
			break;
		if (rc <= 0)
			continue;
		n = read(fds[0], msg + got, size - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || got + (size_t)n >= size - 1) {
			if (n > 0)
				got += (size_t)n;
			break;
		}
		got += (size_t)n;
	}
	msg[got] = '\0';
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return cg_error_set(err, CG_ERR, "%s",
				    msg[0] ? msg : "the git child failed");
	return 0;
}

int cg_git_child_begin(const struct cg_config *c, const char *url, char *msg,
		       size_t size)
{
	struct cg_error drop;

	/*
	 * What talks to the network needs no privilege: the caches belong
	 * to our uid. Drop every capability before the first byte.
	 */
	if (cg_caps_limit(0, 0, (uid_t)-1, &drop) < 0) {
		snprintf(msg, size, "%s", drop.msg);
		return -1;
	}
	git_libgit2_init();
	cg_git_set_ca(c, url);
	return 0;
}

static char *git_dir(const char *state_dir, const char *name)
{
	return cg_xasprintf("%s/git/%s", state_dir, name);
}

struct fetch_args {
	const char *repo_path;
	const struct cg_config *c;
};

/* --- ssh: a key for us, known_hosts for the server ------------------- */

struct auth {
	const char *key;         /* private key file, or NULL */
	const char *known_hosts; /* or NULL: ssh servers are refused */
	char host[300];          /* "host" or "[host]:port", as known_hosts */
	char plain[256];         /* host without port */
	unsigned tries;          /* key offers on this connection */
	char why[512];           /* a refusal, for the error message */
};

/* "ssh://user@host:port/path" or "user@host:path": host and port. */
static void url_host(const char *url, struct auth *a)
{
	const char *p = url, *end;
	unsigned port = 22;

	if (cg_str_starts(p, "ssh://"))
		p += 6;
	else if (cg_str_starts(p, "git+ssh://"))
		p += 10;
	if (strchr(p, '@') && (!strchr(p, '/') || strchr(p, '@') < strchr(p, '/')))
		p = strchr(p, '@') + 1;
	if (*p == '[') {
		end = strchr(p, ']');
		if (!end)
			end = p + strlen(p);
		snprintf(a->plain, sizeof(a->plain), "%.*s", (int)(end - p - 1),
			 p + 1);
		p = *end ? end + 1 : end;
	} else {
		end = p + strcspn(p, ":/");
		snprintf(a->plain, sizeof(a->plain), "%.*s", (int)(end - p), p);
		p = end;
	}
	if (*p == ':' && cg_str_starts(url, "ssh://"))
		port = (unsigned)strtoul(p + 1, NULL, 10);
	if (port && port != 22)
		snprintf(a->host, sizeof(a->host), "[%s]:%u", a->plain, port);
	else
		snprintf(a->host, sizeof(a->host), "%s", a->plain);
}

static int cred_cb(git_credential **out, const char *url, const char *user,
		   unsigned int allowed, void *payload)
{
	struct auth *a = payload;
	char *pub;
	int rc;

	(void)url;
	if (!(allowed & GIT_CREDENTIAL_SSH_KEY) || !a->key || a->tries++) {
		snprintf(a->why, sizeof(a->why), "%s",
			 a->key ? "the server refused the key in ssh_key"
				: "the server wants a key: set source.ssh_key");
		return GIT_EAUTH;
	}
	pub = cg_xasprintf("%s.pub", a->key);
	rc = git_credential_ssh_key_new(out, user ? user : "git",
					access(pub, R_OK) == 0 ? pub : NULL,
					a->key, NULL);
	free(pub);
	return rc;
}

/* ssh's host patterns: '*' and '?' only ('[' is literal: "[host]:port"). */
static bool wild_match(const char *pat, const char *s)
{
	if (!*pat)
		return !*s;
	if (*pat == '*')
		return wild_match(pat + 1, s) || (*s && wild_match(pat, s + 1));
	if (!*s)
		return false;
	if (*pat == '?' || *pat == *s)
		return wild_match(pat + 1, s + 1);
	return false;
}

/* Does a known_hosts host field ("a,b,[c]:22" or "|1|salt|hash") match? */
static bool host_matches(const char *field, const struct auth *a)
{
	char *copy = cg_xstrdup(field), *p, *save = NULL;
	bool match = false;

	if (cg_str_starts(field, "|1|")) {
		/* Hashed: HMAC-SHA1(salt, name) in base64. */
		char *salt64 = copy + 3, *hash64 = strchr(salt64, '|');
		unsigned char salt[64], hash[64], mac[EVP_MAX_MD_SIZE];
		unsigned int maclen = 0;
		int sl, hl;

		if (hash64) {
			*hash64++ = '\0';
			sl = EVP_DecodeBlock(salt, (const unsigned char *)salt64,
					     (int)strlen(salt64));
			hl = EVP_DecodeBlock(hash, (const unsigned char *)hash64,
					     (int)strlen(hash64));
			if (sl >= 20 && hl >= 20 &&
			    HMAC(EVP_sha1(), salt, 20, (const unsigned char *)a->host,
				 strlen(a->host), mac, &maclen) &&
			    maclen == 20 && memcmp(mac, hash, 20) == 0)
				match = true;
		}
		free(copy);
		return match;
	}
	for (p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		bool neg = *p == '!';

		if (wild_match(neg ? p + 1 : p, a->host)) {
			if (neg) {
				match = false;
				break;
			}
			match = true;
		}
	}
	free(copy);
	return match;
}

static int cert_cb(git_cert *cert, int valid, const char *host, void *payload)
{
	struct auth *a = payload;
	const git_cert_hostkey *hk = (const git_cert_hostkey *)cert;
	struct cg_buf b = { 0 };
	char *line, *save = NULL;
	bool found = false;
	int fd;

	(void)valid;
	(void)host;
	if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2)
		return GIT_PASSTHROUGH; /* TLS: libgit2 checks it against the CAs */
	if (!(hk->type & GIT_CERT_SSH_RAW)) {
		snprintf(a->why, sizeof(a->why), "no raw host key to check");
		return GIT_ECERTIFICATE;
	}
	if (!a->known_hosts) {
		snprintf(a->why, sizeof(a->why),
			 "ssh host keys are only accepted from a known_hosts "
			 "file: set source.known_hosts");
		return GIT_ECERTIFICATE;
	}
	fd = open(a->known_hosts, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || cg_read_fd(fd, &b, 16u << 20, NULL) < 0) {
		snprintf(a->why, sizeof(a->why), "cannot read %s", a->known_hosts);
		if (fd >= 0)
			close(fd);
		cg_buf_release(&b);
		return GIT_ECERTIFICATE;
	}
	close(fd);
	for (line = b.data ? strtok_r(b.data, "\n", &save) : NULL; line && !found;
	     line = strtok_r(NULL, "\n", &save)) {
		char *hosts, *type, *key, *s2 = NULL;
		unsigned char *blob;
		int len;

		if (line[0] == '#' || line[0] == '@')
			continue; /* markers (@revoked, @cert-authority): not ours */
		hosts = strtok_r(line, " \t", &s2);
		type = strtok_r(NULL, " \t", &s2);
		key = strtok_r(NULL, " \t", &s2);
		if (!hosts || !type || !key || !host_matches(hosts, a))
			continue;
		blob = cg_xmalloc(strlen(key) + 4);
		len = EVP_DecodeBlock(blob, (const unsigned char *)key,
				      (int)strlen(key));
		/* EVP_DecodeBlock counts base64 padding as zero bytes. */
		while (len > 0 && key[strlen(key) - 1] == '=' &&
		       (size_t)len > hk->hostkey_len)
			len--;
		if (len >= 0 && (size_t)len == hk->hostkey_len &&
		    memcmp(blob, hk->hostkey, hk->hostkey_len) == 0)
			found = true;
		free(blob);
	}
	cg_buf_release(&b);
	if (found) {
		/*
		 * Each ssh connection checks the host key before it
		 * authenticates: a new connection (the push after the fetch,
		 * with the same callbacks) may offer the key once again.
		 * libgit2 asks again on the same connection only after a
		 * refusal, which tries still stops.
		 */
		a->tries = 0;
		return 0;
	}
	snprintf(a->why, sizeof(a->why), "the host key of %s is not in %s",
		 a->host, a->known_hosts);
	return GIT_ECERTIFICATE;
}

void cg_git_auth_callbacks(git_remote_callbacks *cb, const char *url,
			   const char *ssh_key, const char *known_hosts,
			   void **payload_out)
{
	struct auth *a = cg_xcalloc(1, sizeof(*a));

	a->key = ssh_key;
	a->known_hosts = known_hosts;
	url_host(url, a);
	cb->credentials = cred_cb;
	cb->certificate_check = cert_cb;
	cb->payload = a;
	*payload_out = a;
}

const char *cg_git_auth_why(void *payload)
{
	const struct auth *a = payload;

	return a && a->why[0] ? a->why : NULL;
}

static bool cache_intact(git_repository *repo);

/* A set of object ids: open addressing, for the walk below. */
struct oidset {
	git_oid *v;  /* owned */
	bool *used;  /* owned */
	size_t cap, n;
};

static size_t oid_hash(const git_oid *id)
{
	size_t h;

	memcpy(&h, id->id, sizeof(h)); /* already uniform: a SHA-1 */
	return h;
}

static bool oidset_add(struct oidset *s, const git_oid *id);

static void oidset_grow(struct oidset *s)
{
	struct oidset big = { 0 };
	size_t i;

	big.cap = s->cap ? s->cap * 2 : 256;
	big.v = cg_xcalloc(big.cap, sizeof(*big.v));
	big.used = cg_xcalloc(big.cap, sizeof(*big.used));
	for (i = 0; i < s->cap; i++)
		if (s->used[i])
			oidset_add(&big, &s->v[i]);
	free(s->v);
	free(s->used);
	*s = big;
}

/* Add id; false when it was there already. */
static bool oidset_add(struct oidset *s, const git_oid *id)
{
	size_t i;

	if ((s->n + 1) * 2 > s->cap)
		oidset_grow(s);
	for (i = oid_hash(id) & (s->cap - 1); s->used[i];
	     i = (i + 1) & (s->cap - 1))
		if (git_oid_equal(&s->v[i], id))
			return false;
	s->used[i] = true;
	git_oid_cpy(&s->v[i], id);
	s->n++;
	return true;
}

/*
 * Does tip descend from good? libgit2's walk loads every commit whole; a
 * hostile history could hold commits of any size between the two. Here
 * each commit's size is read from its header before it is loaded.
 * Returns 1 or 0; WALK_TOO_BIG (err set) when a commit on the way is over
 * the bound; CG_ERR when an object cannot be read (a broken cache).
 */
#define WALK_TOO_BIG 2

static int descends_from(git_repository *repo, git_odb *odb, const git_oid *tip,
			 const git_oid *good, struct cg_error *err)
{
	struct oidset seen = { 0 };
	git_oid *stack = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	cg_grow(&stack, &cap, 1, sizeof(*stack));
	git_oid_cpy(&stack[n++], tip);
	oidset_add(&seen, tip);
	while (n && rc == 0) {
		git_oid id = stack[--n];
		git_commit *c = NULL;
		git_object_t type;
		unsigned i, np;
		size_t len;

		if (git_oid_equal(&id, good)) {
			rc = 1;
			break;
		}
		if (git_odb_read_header(&len, &type, odb, &id) < 0) {
			rc = CG_ERR;
			break;
		}
		if (type == GIT_OBJECT_COMMIT && len > COMMIT_MAX_BYTES) {
			char hex[GIT_OID_HEXSZ + 1];

			git_oid_tostr(hex, sizeof(hex), &id);
			cg_error_set(err, CG_ERR,
				     "commit %.12s in its history is %zu bytes, "
				     "more than the limit of %u",
				     hex, len, COMMIT_MAX_BYTES);
			cg_error_hint(err, "rewrite the branch without that "
					   "commit, on the last good one");
			rc = WALK_TOO_BIG;
			break;
		}
		if (git_commit_lookup(&c, repo, &id) < 0) {
			rc = CG_ERR;
			break;
		}
		np = git_commit_parentcount(c);
		for (i = 0; i < np; i++) {
			const git_oid *p = git_commit_parent_id(c, i);

			if (oidset_add(&seen, p)) {
				cg_grow(&stack, &cap, n + 1, sizeof(*stack));
				git_oid_cpy(&stack[n++], p);
			}
		}
		git_commit_free(c);
	}
	free(stack);
	free(seen.v);
	free(seen.used);
	return rc;
}


/*
 * In the child: make sure the cache exists and is sound, fetch, and say
 * "ok OBJECTS BYTES TIP" (TIP "-" when the branch does not exist there),
 * or "corrupt ..." or "fetch ...".
 */
static int fetch_child(void *arg, char *msg, size_t size)
{
	const struct fetch_args *a = arg;
	git_fetch_options opts;
	git_repository *repo = NULL;
	git_remote *remote = NULL;
	git_reference *ref = NULL;
	const git_indexer_progress *st;
	char spec[512], tip[GIT_OID_HEXSZ + 1] = "-";
	char *specs[] = { spec };
	git_strarray refspecs = { specs, 1 };
	const git_error *ge;
	void *auth = NULL;
	struct stat sb;
	int rc;

	if (cg_git_child_begin(a->c, a->c->source_url, msg, size) < 0)
		return -1;
	git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
	if (stat(a->repo_path, &sb) < 0) {
		rc = git_repository_init(&repo, a->repo_path, 1);
	} else {
		rc = git_repository_open_bare(&repo, a->repo_path);
		if (rc == 0 && !cache_intact(repo)) {
			snprintf(msg, size, "corrupt cache %s: the last good "
					    "commit cannot be read from it",
				 a->repo_path);
			git_repository_free(repo);
			return -1;
		}
	}
	if (rc < 0) {
		ge = git_error_last();
		snprintf(msg, size, "corrupt cache %s: %s", a->repo_path,
			 ge ? ge->message : "cannot open");
		return -1;
	}
	/*
	 * libgit2 1.5 ignores "+" (force) in refspecs: fetch into a ref that
	 * does not exist, so any tip is taken; descent from the last applied
	 * commit is checked by us, afterwards. The tip ref itself moves only
	 * once the fetch is complete: a fetch killed at its deadline leaves
	 * the cached tip as it was.
	 */
	if (git_reference_lookup(&ref, repo, FETCHING_REF) == 0) {
		git_reference_delete(ref);
		git_reference_free(ref);
		ref = NULL;
	}
	/*
	 * Every ref is a "have", and libgit2's negotiation loads each commit
	 * it walks whole: a cached tip with a commit over the size bound
	 * between it and the last good one (refused already) is no longer
	 * one.
	 */
	if (git_reference_lookup(&ref, repo, TIP_REF) == 0) {
		git_reference *good_ref = NULL;
		git_odb *odb = NULL;
		git_oid good_oid;

		memset(&good_oid, 0, sizeof(good_oid)); /* none: to the roots */
		if (git_reference_lookup(&good_ref, repo, GOOD_REF) == 0)
			git_oid_cpy(&good_oid, git_reference_target(good_ref));
		git_reference_free(good_ref);
		if (git_repository_odb(&odb, repo) == 0 &&
		    descends_from(repo, odb, git_reference_target(ref),
				  &good_oid, NULL) == WALK_TOO_BIG)
			git_reference_delete(ref);
		git_odb_free(odb);
		git_reference_free(ref);
		ref = NULL;
	}
	snprintf(spec, sizeof(spec), "refs/heads/%s:" FETCHING_REF,
		 a->c->source_branch);
	opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	opts.update_fetchhead = 0;
	cg_git_auth_callbacks(&opts.callbacks, a->c->source_url, a->c->ssh_key,
			      a->c->known_hosts, &auth);
	rc = git_remote_create_anonymous(&remote, repo, a->c->source_url);
	if (rc == 0)
		rc = git_remote_fetch(remote, &refspecs, &opts, "congruent fetch");
	if (rc < 0 && cg_git_auth_why(auth)) {
		snprintf(msg, size, "fetch %s", cg_git_auth_why(auth));
		free(auth);
		git_remote_free(remote);
		git_repository_free(repo);
		return -1;
	}
	free(auth);
	if (rc < 0) {
		ge = git_error_last();
		snprintf(msg, size, "%s %s",
			 ge && (ge->klass == GIT_ERROR_ODB ||
				ge->klass == GIT_ERROR_ZLIB ||
				ge->klass == GIT_ERROR_OBJECT ||
				ge->klass == GIT_ERROR_REFERENCE ||
				ge->klass == GIT_ERROR_REPOSITORY) &&
					 rc != GIT_ENOTFOUND
				 ? "corrupt"
				 : "fetch",
			 ge && ge->message ? ge->message : "fetch failed");
		git_remote_free(remote);
		git_repository_free(repo);
		return -1;
	}
	if (git_reference_lookup(&ref, repo, FETCHING_REF) == 0) {
		git_reference *moved = NULL;
		const git_oid *id = git_reference_target(ref);

		git_oid_tostr(tip, sizeof(tip), id);
		rc = git_reference_create(&moved, repo, TIP_REF, id, 1,
					  "congruent fetch");
		git_reference_free(moved);
		if (rc == 0)
			git_reference_delete(ref);
		git_reference_free(ref);
		if (rc < 0) {
			ge = git_error_last();
			snprintf(msg, size, "corrupt cannot update " TIP_REF
					    ": %s",
				 ge && ge->message ? ge->message : "failed");
			git_remote_free(remote);
			git_repository_free(repo);
			return -1;
		}
	} else if (git_reference_lookup(&ref, repo, TIP_REF) == 0) {
		/* The branch is gone there: so is our tip. */
		git_reference_delete(ref);
		git_reference_free(ref);
	}
	st = git_remote_stats(remote);
	snprintf(msg, size, "ok %u %zu %s", st->received_objects,
		 st->received_bytes, tip);
	git_remote_free(remote);
	git_repository_free(repo);
	return 0;
}

static int read_stamp(const char *path, char *commit, size_t csize,
		      int64_t *when)
{
	char buf[256];
	long long t = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return CG_ENOTFOUND;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return CG_ENOTFOUND;
	buf[n] = '\0';
	if (commit) {
		char id[GIT_OID_HEXSZ + 1];

		if (sscanf(buf, "%40s %lld", id, &t) < 1 ||
		    strlen(id) != GIT_OID_HEXSZ)
			return CG_ENOTFOUND;
		snprintf(commit, csize, "%s", id);
	} else if (sscanf(buf, "%lld", &t) != 1) {
		return CG_ENOTFOUND;
	}
	if (when)
		*when = t;
	return 0;
}

static int write_stamp(const char *path, const char *commit,
		       struct cg_error *err)
{
	char buf[128];

	if (commit)
		snprintf(buf, sizeof(buf), "%s %lld\n", commit,
			 (long long)time(NULL));
	else
		snprintf(buf, sizeof(buf), "%lld\n", (long long)time(NULL));
	return cg_write_file_atomic(path, buf, strlen(buf), 0600, err);
}

/* Remove *.lock files a killed fetch may have left in the cache. */
static void remove_stale_locks(const char *dir, int depth)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		char *p;

		if (de->d_name[0] == '.')
			continue;
		p = cg_xasprintf("%s/%s", dir, de->d_name);
		if (cg_str_ends(de->d_name, ".lock"))
			unlink(p);
		else if (de->d_type == DT_DIR && depth < 6)
			remove_stale_locks(p, depth + 1);
		free(p);
	}
	closedir(d);
}

static int rm_rf_at(int dirfd, const char *name)
{
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return unlinkat(dirfd, name, 0);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type == DT_DIR)
			rm_rf_at(fd, de->d_name);
		else
			unlinkat(fd, de->d_name, 0);
	}
	closedir(d);
	return unlinkat(dirfd, name, AT_REMOVEDIR);
}

/*
 * Can the last good commit and its tree be read from the cache? A fetch
 * negotiates with them as "haves", so a cache that lost them would
 * otherwise look like a server that rewound history.
 */
static bool cache_intact(git_repository *repo)
{
	git_reference *ref = NULL;
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	bool ok;

	if (git_reference_lookup(&ref, repo, GOOD_REF) < 0)
		return true; /* nothing applied from it yet */
	ok = git_commit_lookup(&commit, repo, git_reference_target(ref)) == 0 &&
	     git_commit_tree(&tree, commit) == 0;
	git_tree_free(tree);
	git_commit_free(commit);
	git_reference_free(ref);
	return ok;
}

static void move_aside(const char *repo_path)
{
	char *broken = cg_xasprintf("%s.corrupt-%lld", repo_path,
				    (long long)time(NULL));

	if (rename(repo_path, broken) == 0) {
		/* Keep one broken copy for a post-mortem, not a pile. */
		char *parent = cg_xstrndup(repo_path, strrchr(repo_path, '/') -
							      repo_path);
		int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *de;
		const char *keep = strrchr(broken, '/') + 1;

		while (d && (de = readdir(d)))
			if (strstr(de->d_name, ".corrupt-") &&
			    strcmp(de->d_name, keep) != 0)
				rm_rf_at(dirfd(d), de->d_name);
		if (d)
			closedir(d);
		else if (fd >= 0)
			close(fd);
		free(parent);
	}
	free(broken);
}

struct checkout {
	git_repository *repo;
	uint64_t bytes;
	bool lasting;         /* a failure from what the tree is */
	struct cg_error *err;
};

static bool valid_entry_name(const char *name)
{
	return name[0] && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
	       !strchr(name, '/') && strcmp(name, ".git") != 0;
}

/* Write tree into dirfd: files, executables, symlinks, directories. */
static int write_tree(struct checkout *co, const git_tree *tree, int dirfd,
		      const char *path)
{
	size_t i, n = git_tree_entrycount(tree);

	for (i = 0; i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(e);
		git_filemode_t mode = git_tree_entry_filemode(e);
		git_object *obj = NULL;
		char *sub;
		int rc = 0;

		if (!valid_entry_name(name)) {
			co->lasting = true;
			return cg_error_set(co->err, CG_ERR,
					    "the commit has an entry named "
					    "'%s' in %s/",
					    name, path);
		}
		sub = cg_xasprintf("%s%s%s", path, path[0] ? "/" : "", name);
		if (mode == GIT_FILEMODE_COMMIT) {
			co->lasting = true;
			rc = cg_error_set(co->err, CG_ERR,
					  "%s is a submodule; policies cannot "
					  "use submodules",
					  sub);
			goto next;
		}
		if (git_tree_entry_to_object(&obj, co->repo, e) < 0) {
			rc = cg_git_error(co->err, "cannot read %s", sub);
			goto next;
		}
		if (mode == GIT_FILEMODE_TREE) {
			int fd;

			if (mkdirat(dirfd, name, 0755) < 0 ||
			    (fd = openat(dirfd, name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC)) < 0) {
				rc = cg_error_sys(co->err, CG_ERR,
						  "cannot create %s", sub);
				goto next;
			}
			rc = write_tree(co, (const git_tree *)obj, fd, sub);
			close(fd);
		} else {
			const git_blob *b = (const git_blob *)obj;
			size_t len = (size_t)git_blob_rawsize(b);
			const char *data = git_blob_rawcontent(b);

			co->bytes += len;
			if (co->bytes > CHECKOUT_MAX_BYTES) {
				co->lasting = true;
				rc = cg_error_set(co->err, CG_ERR,
						  "the commit's tree is larger "
						  "than 1 GiB");
			} else if (mode == GIT_FILEMODE_LINK) {
				char *target = cg_xstrndup(data, len);

				if (symlinkat(target, dirfd, name) < 0)
					rc = cg_error_sys(co->err, CG_ERR,
							  "cannot create %s",
							  sub);
				free(target);
			} else {
				int fd = openat(dirfd, name,
						O_WRONLY | O_CREAT | O_EXCL |
							O_NOFOLLOW | O_CLOEXEC,
						mode == GIT_FILEMODE_BLOB_EXECUTABLE
							? 0755
							: 0644);

				if (fd < 0 || cg_write_all(fd, data, len) < 0)
					rc = cg_error_sys(co->err, CG_ERR,
							  "cannot write %s", sub);
				if (fd >= 0 && close(fd) < 0 && rc == 0)
					rc = cg_error_sys(co->err, CG_ERR,
							  "cannot write %s", sub);
			}
		}
next:
		git_object_free(obj);
		free(sub);
		if (rc < 0)
			return rc;
	}
	return 0;
}

#define CHECKOUT_MAX_ENTRIES 1000000u
#define CHECKOUT_MAX_DEPTH 100u

struct tree_size {
	git_repository *repo;
	git_odb *odb;
	uint64_t bytes;       /* blobs and trees, as their headers say */
	unsigned entries;
	bool lasting;         /* a failure from what the tree is */
	struct cg_error *err;
};

static int too_big(struct tree_size *ts)
{
	ts->lasting = true;
	cg_error_set(ts->err, CG_ERR, "the commit's tree is larger than 1 GiB "
				      "(%" PRIu64 " bytes counted from object "
				      "headers so far; no file was loaded)",
		     ts->bytes);
	cg_error_hint(ts->err, "keep large files out of the policy "
			       "repository");
	return CG_ERR;
}

/*
 * What a checkout of the tree id would write, from object headers alone:
 * a tree over the bounds is refused before any blob is loaded (only the
 * tree objects are, each counted before it is).
 */
static int tree_size(struct tree_size *ts, const git_oid *id, const char *path,
		     unsigned depth)
{
	git_tree *tree = NULL;
	git_object_t type;
	size_t i, n, len;
	int rc = 0;

	if (depth > CHECKOUT_MAX_DEPTH) {
		ts->lasting = true;
		return cg_error_set(ts->err, CG_ERR, "the commit's tree has "
						     "directories nested deeper "
						     "than %u (at %s)",
				    CHECKOUT_MAX_DEPTH, path);
	}
	if (git_odb_read_header(&len, &type, ts->odb, id) < 0)
		return cg_git_error(ts->err, "cannot read %s/",
				    path[0] ? path : "the commit's tree");
	ts->bytes += len;
	if (ts->bytes > CHECKOUT_MAX_BYTES)
		return too_big(ts);
	if (git_tree_lookup(&tree, ts->repo, id) < 0)
		return cg_git_error(ts->err, "cannot read %s/",
				    path[0] ? path : "the commit's tree");
	n = git_tree_entrycount(tree);
	for (i = 0; i < n && rc == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		git_filemode_t mode = git_tree_entry_filemode(e);
		char *sub;

		if (++ts->entries > CHECKOUT_MAX_ENTRIES) {
			ts->lasting = true;
			rc = cg_error_set(ts->err, CG_ERR,
					  "the commit's tree has more than %u "
					  "files and directories",
					  CHECKOUT_MAX_ENTRIES);
			break;
		}
		if (mode == GIT_FILEMODE_COMMIT)
			continue; /* write_tree refuses it, by name */
		sub = cg_xasprintf("%s%s%s", path, path[0] ? "/" : "",
				   git_tree_entry_name(e));
		if (mode == GIT_FILEMODE_TREE) {
			rc = tree_size(ts, git_tree_entry_id(e), sub, depth + 1);
		} else if (git_odb_read_header(&len, &type, ts->odb,
					       git_tree_entry_id(e)) < 0) {
			rc = cg_git_error(ts->err, "cannot read %s", sub);
		} else {
			ts->bytes += len;
			if (ts->bytes > CHECKOUT_MAX_BYTES)
				rc = too_big(ts);
		}
		free(sub);
	}
	git_tree_free(tree);
	return rc;
}

/* Describe the first errors of a failed check in one message. */
static void check_failure(const struct cg_diag *d, struct cg_error *err)
{
	const struct cg_error *e = &d->errs[0];

	cg_error_set(err, CG_ERR, "its policy fails check (%zu error%s; the "
				  "first: %s%s%s%s%s)",
		     d->n, d->n == 1 ? "" : "s", e->where,
		     e->where[0] ? ": " : "", e->resource,
		     e->resource[0] ? ": " : "", e->msg);
	cg_error_hint(err, "run congruent check on that commit and fix the "
			   "policy");
}

/*
 * Check out commit into trees/ID (unless done before) after validating its
 * policy. Returns the directory.
 */
static int checkout(git_repository *repo, const git_commit *commit,
		    const char *state_dir, char **dir_out, bool *lasting,
		    struct cg_error *err)
{
	char id[GIT_OID_HEXSZ + 1];
	char *trees = git_dir(state_dir, "trees"), *dir = NULL, *tmp = NULL;
	struct checkout co = { repo, 0, false, err };
	struct cg_diag diag = { 0 };
	git_tree *tree = NULL;
	struct stat st;
	int fd = -1, rc;

	git_oid_tostr(id, sizeof(id), git_commit_id(commit));
	dir = cg_xasprintf("%s/%s", trees, id);
	if (stat(dir, &st) == 0) {
		/* Only a tree that passed check is ever renamed into place. */
		*dir_out = dir;
		free(trees);
		return 0;
	}
	{
		struct tree_size ts = { repo, NULL, 0, 0, false, err };

		if (git_repository_odb(&ts.odb, repo) < 0) {
			rc = cg_git_error(err, "cannot read the tree of %s", id);
			goto out;
		}
		rc = tree_size(&ts, git_commit_tree_id(commit), "", 0);
		git_odb_free(ts.odb);
		*lasting = ts.lasting;
		if (rc < 0)
			goto out;
	}
	rc = cg_mkdir_p(trees, 0700, err);
	if (rc < 0)
		goto out;
	tmp = cg_xasprintf("%s/.tmp-%s-%d", trees, id, (int)getpid());
	{
		int tfd = open(trees, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (tfd >= 0) {
			rm_rf_at(tfd, strrchr(tmp, '/') + 1);
			close(tfd);
		}
	}
	if (mkdir(tmp, 0700) < 0 ||
	    (fd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) <
		    0) {
		rc = cg_error_sys(err, CG_ERR, "cannot create %s", tmp);
		goto out;
	}
	rc = git_commit_tree(&tree, commit);
	if (rc < 0) {
		rc = cg_git_error(err, "cannot read the tree of %s", id);
		goto out;
	}
	rc = write_tree(&co, tree, fd, "");
	*lasting = co.lasting;
	if (rc < 0)
		goto out;
	if (cg_policy_check(tmp, &diag) < 0) {
		*lasting = true;
		check_failure(&diag, err);
		rc = CG_ERR;
		goto out;
	}
	if (rename(tmp, dir) < 0) {
		rc = cg_error_sys(err, CG_ERR, "cannot rename %s", tmp);
		goto out;
	}
	*dir_out = dir;
	dir = NULL;
out:
	if (rc < 0 && tmp) {
		int tfd = open(trees, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (tfd >= 0) {
			rm_rf_at(tfd, strrchr(tmp, '/') + 1);
			close(tfd);
		}
	}
	if (fd >= 0)
		close(fd);
	cg_diag_release(&diag);
	git_tree_free(tree);
	free(tmp);
	free(dir);
	free(trees);
	return rc;
}

/* Is the commit signed by an allowed key? */
static int verify_signature(git_repository *repo, const git_oid *oid,
			    const struct cg_config *c, char *signer,
			    size_t size, struct cg_error *err)
{
	struct cg_signers *signers = NULL;
	struct cg_sshsig_result res;
	git_odb *odb = NULL;
	git_odb_object *obj = NULL;
	int rc;

	rc = cg_signers_load(&signers, c->allowed_signers, err);
	if (rc < 0)
		return rc;
	if (git_repository_odb(&odb, repo) < 0 || git_odb_read(&obj, odb, oid) < 0) {
		rc = cg_git_error(err, "cannot read the commit%s", "");
		goto out;
	}
	rc = cg_sshsig_verify_commit(signers, git_odb_object_data(obj),
				     git_odb_object_size(obj), (int64_t)time(NULL),
				     &res, err);
	if (rc == 0)
		snprintf(signer, size, "%s (%s)", res.principals, res.fingerprint);
	else if (rc != CG_SSHSIG_EUNSIGNED && rc != CG_SSHSIG_EUNKNOWNKEY)
		rc = CG_ERR; /* those two fleet tells apart; the rest is "bad" */
out:
	git_odb_object_free(obj);
	git_odb_free(odb);
	cg_signers_free(signers);
	return rc;
}

/*
 * verify: every_commit: every commit reachable from tip and not from good
 * (nor from verify_from) must carry a trusted signature, so that a commit
 * refused on its own does not go live under a trusted one pushed on top.
 * The walk is bounded: VERIFY_MAX_COMMITS, each at most COMMIT_MAX_BYTES.
 * On refusal, src->refused_commit names the commit at fault.
 */
#define VERIFY_MAX_COMMITS 10000

static int verify_range(git_repository *repo, const git_oid *tip,
			const char *good, const struct cg_config *c,
			struct cg_source *src, bool *corrupt,
			struct cg_error *err)
{
	struct cg_signers *signers = NULL;
	struct cg_sshsig_result res;
	git_revwalk *walk = NULL;
	git_odb *odb = NULL;
	git_oid id, hide, *ids = NULL;
	size_t n = 0, cap = 0, i;
	int rc;

	rc = cg_signers_load(&signers, c->allowed_signers, err);
	if (rc < 0)
		return rc;
	if (git_repository_odb(&odb, repo) < 0 ||
	    git_revwalk_new(&walk, repo) < 0 || git_revwalk_push(walk, tip) < 0) {
		*corrupt = true;
		rc = cg_git_error(err, "cannot walk the history%s", "");
		goto out;
	}
	if (good && git_oid_fromstr(&hide, good) == 0 &&
	    git_odb_exists(odb, &hide) && git_revwalk_hide(walk, &hide) < 0) {
		*corrupt = true;
		rc = cg_git_error(err, "cannot walk the history%s", "");
		goto out;
	}
	if (c->verify_from) {
		if (git_oid_fromstr(&hide, c->verify_from) < 0 ||
		    !git_odb_exists(odb, &hide) ||
		    git_revwalk_hide(walk, &hide) < 0) {
			rc = cg_error_set(err, CG_ERR,
					  "verify_from %s is not a commit of "
					  "the fetched history",
					  c->verify_from);
			cg_error_hint(err, "set source.verify_from to the full "
					   "id of the first signed commit");
			snprintf(src->refusal, sizeof(src->refusal),
				 "bad signature");
			goto out;
		}
	}
	/* The whole range first, ids only: a huge one costs no verifying. */
	while ((rc = git_revwalk_next(&id, walk)) == 0) {
		if (n == VERIFY_MAX_COMMITS) {
			rc = cg_error_set(err, CG_ERR,
					  "more than %u new commits to verify "
					  "(verify: every_commit)",
					  VERIFY_MAX_COMMITS);
			cg_error_hint(err, "%s", good
				      ? "apply a commit in between first, or "
					"verify the range by hand and run "
					"once with verify: tip"
				      : "set source.verify_from to the first "
					"commit to check (the older history "
					"is trusted as it is)");
			snprintf(src->refusal, sizeof(src->refusal),
				 "too many commits");
			goto out;
		}
		cg_grow(&ids, &cap, n + 1, sizeof(*ids));
		ids[n++] = id;
	}
	if (rc != GIT_ITEROVER) {
		*corrupt = true;
		rc = cg_git_error(err, "cannot walk the history%s", "");
		goto out;
	}
	rc = 0;
	/* Oldest first: the refusal names the first commit at fault. */
	for (i = n; i-- > 0 && rc == 0;) {
		char hex[GIT_OID_HEXSZ + 1];
		git_odb_object *obj = NULL;
		git_object_t type;
		size_t len;

		git_oid_tostr(hex, sizeof(hex), &ids[i]);
		if (git_odb_read_header(&len, &type, odb, &ids[i]) < 0) {
			*corrupt = true;
			rc = cg_git_error(err, "cannot read commit %s", hex);
			goto out;
		}
		if (len > COMMIT_MAX_BYTES) {
			rc = cg_error_set(err, CG_ERR,
					  "commit %.12s is %zu bytes, more "
					  "than the limit of %u",
					  hex, len, COMMIT_MAX_BYTES);
			snprintf(src->refused_commit,
				 sizeof(src->refused_commit), "%s", hex);
			snprintf(src->refusal, sizeof(src->refusal), "bad tree");
			goto out;
		}
		if (git_odb_read(&obj, odb, &ids[i]) < 0) {
			*corrupt = true;
			rc = cg_git_error(err, "cannot read commit %s", hex);
			goto out;
		}
		rc = cg_sshsig_verify_commit(signers, git_odb_object_data(obj),
					     git_odb_object_size(obj),
					     (int64_t)time(NULL), &res, err);
		git_odb_object_free(obj);
		if (rc < 0) {
			char tiphex[GIT_OID_HEXSZ + 1];

			git_oid_tostr(tiphex, sizeof(tiphex), tip);
			snprintf(src->refusal, sizeof(src->refusal), "%s",
				 rc == CG_SSHSIG_EUNSIGNED     ? "unsigned"
				 : rc == CG_SSHSIG_EUNKNOWNKEY ? "unknown signer"
							       : "bad signature");
			snprintf(src->refused_commit,
				 sizeof(src->refused_commit), "%s", hex);
			cg_error_prefix(err, "commit %.12s, under the tip "
					     "%.12s (verify: every_commit)",
					hex, tiphex);
			if (!good && !err->hint[0])
				cg_error_hint(err, "on a first run the whole "
						   "history is verified: set "
						   "source.verify_from to the "
						   "first signed commit");
			rc = CG_ERR;
		}
	}
out:
	free(ids);
	git_revwalk_free(walk);
	git_odb_free(odb);
	cg_signers_free(signers);
	return rc;
}

/*
 * Validate and check out a candidate tip. *corrupt says a failure came
 * from the cache (an object that cannot be read), not from the commit.
 */
static int accept_tip(git_repository *repo, const git_oid *tip,
		      const char *good, const struct cg_config *c,
		      const char *state_dir, bool allow_rollback,
		      struct cg_source *src, bool *corrupt, bool *lasting,
		      bool *not_commit, struct cg_error *err)
{
	git_commit *commit = NULL;
	git_odb *hodb = NULL;
	git_object_t type;
	git_oid good_oid;
	size_t len;
	int rc;

	*corrupt = false;
	*lasting = false;
	*not_commit = false;
	/* What the tip is, from its header: nothing is loaded yet. */
	rc = git_repository_odb(&hodb, repo);
	if (rc == 0)
		rc = git_odb_read_header(&len, &type, hodb, tip);
	git_odb_free(hodb);
	if (rc < 0) {
		*corrupt = true;
		return cg_git_error(err, "cannot read the fetched commit%s", "");
	}
	if (type != GIT_OBJECT_COMMIT) {
		char id[GIT_OID_HEXSZ + 1];

		*lasting = true;
		*not_commit = true;
		git_oid_tostr(id, sizeof(id), tip);
		rc = cg_error_set(err, CG_ERR,
				  "branch '%s' points at a %s (%.12s), not a "
				  "commit",
				  c->source_branch, git_object_type2string(type),
				  id);
		cg_error_hint(err, "point the branch at a commit (git push -f "
				   "REMOTE COMMIT:refs/heads/%s)",
			      c->source_branch);
		return rc;
	}
	if (len > COMMIT_MAX_BYTES) {
		*lasting = true;
		rc = cg_error_set(err, CG_ERR,
				  "the commit object is %zu bytes, more than "
				  "the limit of %u (a message and a "
				  "signature need far less)",
				  len, COMMIT_MAX_BYTES);
		cg_error_hint(err, "push a commit with a shorter message");
		return rc;
	}
	rc = git_commit_lookup(&commit, repo, tip);
	if (rc < 0) {
		*corrupt = true;
		return cg_git_error(err, "cannot read the fetched commit%s", "");
	}
	if (c->require_signed) {
		rc = verify_signature(repo, tip, c, src->signer,
				      sizeof(src->signer), err);
		if (rc < 0) {
			snprintf(src->refusal, sizeof(src->refusal), "%s",
				 rc == CG_SSHSIG_EUNSIGNED     ? "unsigned"
				 : rc == CG_SSHSIG_EUNKNOWNKEY ? "unknown signer"
							       : "bad signature");
			rc = CG_ERR;
			cg_error_prefix(err, "signature");
			goto out;
		}
	}
	if (good && git_oid_fromstr(&good_oid, good) == 0 &&
	    !git_oid_equal(&good_oid, tip)) {
		git_odb *odb = NULL;
		int d;

		/*
		 * A last good commit absent from the cache counts as "does
		 * not descend"; an object that is there but unreadable is a
		 * broken cache.
		 */
		if (git_repository_odb(&odb, repo) == 0 &&
		    git_odb_exists(odb, &good_oid))
			d = descends_from(repo, odb, tip, &good_oid, err);
		else
			d = 0;
		git_odb_free(odb);
		if (d == WALK_TOO_BIG) {
			rc = CG_ERR;
			goto out;
		}
		if (d < 0) {
			*corrupt = true;
			rc = cg_git_error(err, "cannot walk the history%s", "");
			goto out;
		}
		if (d == 0 && !allow_rollback) {
			rc = cg_error_set(err, CG_ERR,
					  "it does not descend from the last "
					  "applied commit %.12s (a rollback or "
					  "a force push)",
					  good);
			cg_error_hint(err, "if that is intended, run once with "
					   "--allow-rollback");
			snprintf(src->refusal, sizeof(src->refusal), "rollback");
			goto out;
		}
	}
	if (c->require_signed && c->verify_every_commit) {
		rc = verify_range(repo, tip, good, c, src, corrupt, err);
		if (rc < 0)
			goto out;
	}
	git_error_clear();
	rc = checkout(repo, commit, state_dir, &src->dir, lasting, err);
	if (rc < 0 && git_error_last() &&
	    (git_error_last()->klass == GIT_ERROR_ODB ||
	     git_error_last()->klass == GIT_ERROR_ZLIB ||
	     git_error_last()->klass == GIT_ERROR_OBJECT))
		*corrupt = strstr(err->msg, "cannot read") != NULL;
	if (rc < 0 && !*corrupt)
		snprintf(src->refusal, sizeof(src->refusal), "%s",
			 cg_str_starts(err->msg, "its policy fails check")
				 ? "check failed"
				 : "bad tree");
out:
	git_commit_free(commit);
	return rc;
}

/* The cached tip, read from its loose ref file without libgit2. */
static bool read_tip_file(const char *repo_path, char *tip, size_t size)
{
	char *path = cg_xasprintf("%s/" TIP_REF, repo_path);
	bool ok = read_stamp(path, tip, size, NULL) == 0;

	free(path);
	return ok;
}

/* One line of a record: what err says, without newlines. */
static void one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

/* Remember that tip was refused for what it is (see "refused" above). */
static void remember_refused(const char *path, const char *tip,
			     bool not_commit, const struct cg_error *why)
{
	char msg[sizeof(why->msg)], hint[sizeof(why->hint)];
	char *rec;

	snprintf(msg, sizeof(msg), "%s", why->msg);
	snprintf(hint, sizeof(hint), "%s", why->hint);
	one_line(msg);
	one_line(hint);
	rec = cg_xasprintf("%s %lld %s %s\n%s\n%s\n", tip,
			   (long long)time(NULL), CG_VERSION,
			   not_commit ? "object" : "commit", msg, hint);
	/* Only a saving: a record that cannot be written costs a re-check. */
	cg_write_file_atomic(path, rec, strlen(rec), 0600, NULL);
	free(rec);
}

/*
 * Was tip refused before, by this version of the agent? Then why says so
 * and when, and the tip is not looked at again.
 */
static bool refused_before(const char *path, const char *tip,
			   bool *not_commit, struct cg_error *why)
{
	struct cg_buf b = { 0 };
	char id[GIT_OID_HEXSZ + 1], ver[64], kind[8], when[32];
	char *msg, *hint, *end;
	long long t;
	bool match = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return false;
	if (cg_read_fd(fd, &b, 8192, NULL) < 0 || !b.data)
		goto out;
	msg = strchr(b.data, '\n');
	if (!msg ||
	    sscanf(b.data, "%40s %lld %63s %7s", id, &t, ver, kind) != 4 ||
	    strcmp(id, tip) != 0 || strcmp(ver, CG_VERSION) != 0)
		goto out;
	msg++;
	hint = strchr(msg, '\n');
	if (!hint)
		goto out;
	*hint++ = '\0';
	if ((end = strchr(hint, '\n')))
		*end = '\0';
	*not_commit = strcmp(kind, "object") == 0;
	cg_time_iso(when, (int64_t)t);
	cg_error_set(why, CG_ERR, "still refused, as first at %s: %s", when,
		     msg);
	if (hint[0])
		cg_error_hint(why, "%s", hint);
	match = true;
out:
	close(fd);
	cg_buf_release(&b);
	return match;
}

/* The last fetch failed: when, and why (removed by a good fetch). */
static void remember_fetch_failed(const char *path, const struct cg_error *why)
{
	char msg[sizeof(why->msg)];
	char *rec;

	snprintf(msg, sizeof(msg), "%s", why->msg);
	one_line(msg);
	rec = cg_xasprintf("%lld\n%s\n", (long long)time(NULL), msg);
	cg_write_file_atomic(path, rec, strlen(rec), 0600, NULL);
	free(rec);
}

static bool read_fetch_failed(const char *path, int64_t *when, char *msg,
			      size_t size)
{
	struct cg_buf b = { 0 };
	long long t;
	char *m, *end;
	bool ok = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return false;
	if (cg_read_fd(fd, &b, 8192, NULL) == 0 && b.data &&
	    sscanf(b.data, "%lld", &t) == 1 && (m = strchr(b.data, '\n'))) {
		m++;
		if ((end = strchr(m, '\n')))
			*end = '\0';
		snprintf(msg, size, "%s", m);
		*when = (int64_t)t;
		ok = true;
	}
	close(fd);
	cg_buf_release(&b);
	return ok;
}

static void result_last_good(struct cg_source *src, const char *state_dir,
			     const char *good)
{
	char *trees = git_dir(state_dir, "trees");

	src->commit = cg_xstrdup(good);
	src->dir = cg_xasprintf("%s/%s", trees, good);
	free(trees);
}

int cg_source_prepare(const struct cg_config *c, const char *state_dir,
		      bool pull, bool allow_rollback, struct cg_source *src,
		      struct cg_error *err)
{
	char good[GIT_OID_HEXSZ + 1] = "", tipstr[GIT_OID_HEXSZ + 1];
	char *repo_path = git_dir(state_dir, "repo.git");
	char *good_path = git_dir(state_dir, "last-good");
	char *fetched_path = git_dir(state_dir, "fetched");
	char *failed_path = git_dir(state_dir, "fetch-failed");
	char *refused_path = git_dir(state_dir, "refused");
	char *gitdir = cg_xasprintf("%s/git", state_dir);
	git_repository *repo = NULL;
	git_reference *ref = NULL;
	const git_oid *tip;
	bool have_good, fresh = false, not_commit = false;
	struct stat st;
	int rc = 0;

	memset(src, 0, sizeof(*src));
	cg_error_clear(&src->why);
	tipstr[0] = '\0';
	have_good = read_stamp(good_path, good, sizeof(good), &src->good_time) == 0;
	if (have_good) {
		char *d = cg_xasprintf("%s/git/trees/%s", state_dir, good);

		have_good = stat(d, &st) == 0;
		free(d);
	}
	read_stamp(fetched_path, NULL, 0, &src->fetched_time);
	if (cg_mkdir_p(gitdir, 0700, err) < 0) {
		rc = CG_ERR;
		goto out;
	}
	if (pull) {
		struct fetch_args a = { repo_path, c };
		char msg[1024];
		struct cg_error ferr;
		struct stat sb;

		cg_error_clear(&ferr);
		if (stat(repo_path, &sb) == 0)
			remove_stale_locks(repo_path, 0);
		rc = cg_git_in_child(c->timeout, fetch_child, &a, msg,
				     sizeof(msg), &ferr);
		if (rc < 0) {
			const char *m = ferr.msg;

			if (cg_str_starts(m, "corrupt")) {
				move_aside(repo_path);
				cg_error_hint(&ferr, "the cache was moved aside "
						     "and is fetched anew on "
						     "the next run");
			} else if (cg_str_starts(m, "fetch ")) {
				memmove(ferr.msg, m + 6, strlen(m + 6) + 1);
			}
			/* libgit2 calls a missing path "unsupported URL protocol". */
			if (c->source_url[0] == '/' && stat(c->source_url, &sb) < 0)
				snprintf(ferr.msg, sizeof(ferr.msg),
					 "no repository there");
			src->stale = true;
			src->why = ferr;
			remember_fetch_failed(failed_path, &ferr);
			goto fallback;
		}
		sscanf(msg, "ok %u %zu %40s", &src->objects, &src->bytes,
		       tipstr);
		write_stamp(fetched_path, NULL, NULL);
		unlink(failed_path);
		src->fetched_time = (int64_t)time(NULL);
		fresh = true;
	} else {
		char fmsg[sizeof(src->why.msg)], when[32];
		int64_t t;

		if (!read_tip_file(repo_path, tipstr, sizeof(tipstr)))
			tipstr[0] = '\0';
		/* Not fetching now is no reason to forget the last failure. */
		if (read_fetch_failed(failed_path, &t, fmsg, sizeof(fmsg))) {
			cg_time_iso(when, t);
			src->stale = true;
			cg_error_set(&src->why, CG_ERR,
				     "the last fetch, at %s, failed: %s", when,
				     fmsg);
		}
	}
	/* Nothing new: no libgit2 in this process at all. */
	if (have_good && strcmp(tipstr, good) == 0) {
		result_last_good(src, state_dir, good);
		rc = 0;
		goto out;
	}
	/* The same refused tip again: not loaded, not checked again. */
	if (tipstr[0] &&
	    refused_before(refused_path, tipstr, &not_commit, &src->why)) {
		src->stale = false;
		src->refused = true;
		if (!not_commit)
			snprintf(src->refused_commit,
				 sizeof(src->refused_commit), "%s", tipstr);
		goto fallback;
	}
	cg_git_setup(c);
	if (git_repository_open_bare(&repo, repo_path) < 0 ||
	    git_reference_lookup(&ref, repo, TIP_REF) < 0) {
		char when[32];

		if (!pull && src->stale) {
			/* The failed fetch is the news: src->why says it. */
		} else if (!pull && src->fetched_time) {
			cg_time_iso(when, src->fetched_time);
			cg_error_set(&src->why, CG_ERR,
				     "no cached commit (last fetched at %s)",
				     when);
		} else if (!pull)
			cg_error_set(&src->why, CG_ERR,
				     "no cached commit (the source was never "
				     "fetched)");
		else
			/* libgit2 fetches nothing, quietly, for a refspec
			 * whose source does not exist. */
			cg_error_set(&src->why, CG_ERR,
				     "branch '%s' does not exist there (or "
				     "the repository is empty)",
				     c->source_branch);
		cg_error_hint(&src->why, "check source.branch in the agent "
					 "config");
		src->stale = !fresh;
		src->refused = fresh;
		if (fresh)
			snprintf(src->refusal, sizeof(src->refusal), "no branch");
		goto fallback;
	}
	tip = git_reference_target(ref);
	git_oid_tostr(tipstr, sizeof(tipstr), tip);
	if (have_good && strcmp(tipstr, good) == 0) {
		result_last_good(src, state_dir, good);
		goto out;
	}
	{
		struct cg_error why;
		bool corrupt, lasting;

		cg_error_clear(&why);
		if (accept_tip(repo, tip, have_good ? good : NULL, c, state_dir,
			       allow_rollback, src, &corrupt, &lasting,
			       &not_commit, &why) == 0) {
			src->commit = cg_xstrdup(tipstr);
			goto out;
		}
		if (corrupt) {
			git_reference_free(ref);
			ref = NULL;
			git_repository_free(repo);
			repo = NULL;
			move_aside(repo_path);
			cg_error_prefix(&why, "corrupt cache");
			cg_error_hint(&why, "the cache was moved aside and is "
					    "fetched anew on the next run");
			src->stale = true;
			src->why = why;
			goto fallback;
		}
		if (lasting)
			remember_refused(refused_path, tipstr, not_commit,
					 &why);
		src->stale = false;
		src->refused = true;
		src->why = why;
		/* verify_range names the commit at fault, under the tip. */
		if (!not_commit && !src->refused_commit[0])
			snprintf(src->refused_commit,
				 sizeof(src->refused_commit), "%s", tipstr);
	}
fallback:
	if (!have_good) {
		if (src->refused_commit[0])
			rc = cg_error_set(err, CG_ERR,
					  "no good policy commit to enforce: "
					  "commit %.12s was refused: %s",
					  src->refused_commit, src->why.msg);
		else
			rc = cg_error_set(err, CG_ERR,
					  "no good policy commit to enforce: %s",
					  src->why.msg);
		/* The file at fault (allowed_signers), not source.url. */
		if (src->why.where[0])
			cg_error_where(err, "%s", src->why.where);
		if (src->why.hint[0])
			cg_error_hint(err, "%s", src->why.hint);
		else
			cg_error_hint(err, "check source.url and source.branch "
					   "in the agent config");
		goto out;
	}
	result_last_good(src, state_dir, good);
	rc = 0;
out:
	git_reference_free(ref);
	git_repository_free(repo);
	free(repo_path);
	free(good_path);
	free(fetched_path);
	free(failed_path);
	free(refused_path);
	free(gitdir);
	return rc;
}

int cg_source_mark_good(const char *state_dir, const struct cg_source *src,
			struct cg_error *err)
{
	char *good_path = git_dir(state_dir, "last-good");
	char *repo_path = git_dir(state_dir, "repo.git");
	char *trees = git_dir(state_dir, "trees");
	char old[GIT_OID_HEXSZ + 1] = "";
	git_repository *repo = NULL;
	git_oid oid;
	struct dirent *de;
	DIR *d;
	int rc;

	read_stamp(good_path, old, sizeof(old), NULL);
	rc = write_stamp(good_path, src->commit, err);
	if (rc < 0 || strcmp(old, src->commit) == 0)
		goto out; /* the same commit again: nothing else to do */
	cg_git_setup(NULL);
	if (git_repository_open_bare(&repo, repo_path) == 0 &&
	    git_oid_fromstr(&oid, src->commit) == 0) {
		git_reference *ref = NULL;

		/* A "have" for the next fetch, and it keeps the history. */
		if (git_reference_create(&ref, repo, GOOD_REF, &oid, 1,
					 "congruent: last good") == 0)
			git_reference_free(ref);
	}
	git_repository_free(repo);
	/* Old checkouts: only the last good one is needed. */
	d = opendir(trees);
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' && !cg_str_starts(de->d_name, ".tmp-"))
			continue;
		if (strcmp(de->d_name, src->commit) == 0)
			continue;
		rm_rf_at(dirfd(d), de->d_name);
	}
	if (d)
		closedir(d);
out:
	free(good_path);
	free(repo_path);
	free(trees);
	return rc;
}

void cg_source_release(struct cg_source *src)
{
	if (!src)
		return;
	free(src->dir);
	free(src->commit);
	memset(src, 0, sizeof(*src));
}
