/* exec.c: the exec resource: a command run when its guards say so. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg/exec.h"
#include "cg/fs.h"
#include "cg/module.h"
#include "cg/util.h"

#define GUARD_OUT_MAX (1u << 20)
#define TIMEOUT_MAX 86400ul /* a day, in seconds */
#define TAIL_LINES 5

struct want {
	char **argv;       /* owned, NULL-terminated */
	char *text;        /* owned: the command as the policy wrote it */
	char *creates;     /* owned, or NULL */
	char **unless;     /* owned, NULL-terminated, or NULL */
	char **onlyif;     /* owned, NULL-terminated, or NULL */
	char **refresh_on; /* owned, NULL-terminated, or NULL */
	char *user;        /* owned, or NULL */
	char *group;       /* owned, or NULL */
	char *cwd;         /* owned, or NULL */
	char **env;        /* owned: "K=V", NULL-terminated, or NULL */
	unsigned timeout_ms; /* 0: the agent's helper deadline */
	bool shell;
	bool refresh_only;
};

struct seen {
	/* owned, or NULL: why it need not run (creates exists, a guard) */
	char *kept;
	uid_t uid;
	gid_t gid;
	char *home; /* owned, or NULL: user's home directory */
	/*
	 * owned, or NULL: user or group is not in the root (yet): diff
	 * fails with it, unless a resource earlier makes that user or group
	 * (then run looks again at the exec's turn).
	 */
	struct cg_error *id_err;
	bool ran;   /* apply ran it, with exit status 0 */
};

static const char *const exec_keys[] = {
	"command", "shell", "creates", "unless", "onlyif", "refresh_only",
	"refresh_on", "user", "group", "cwd", "environment", "timeout", NULL,
};

static int at_node(struct cg_error *err, const struct cg_node *n)
{
	cg_error_where(err, "%s:%u", n->doc->name, n->line);
	return CG_ERR;
}

static void free_strv(char **v)
{
	size_t i;

	for (i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* Words of s split on spaces and tabs only: no quoting, no shell. */
static char **split_words(const char *s)
{
	char **v = cg_xcalloc(strlen(s) / 2 + 2, sizeof(*v));
	size_t n = 0;

	while (*s) {
		size_t len;

		while (*s == ' ' || *s == '\t')
			s++;
		len = strcspn(s, " \t");
		if (len)
			v[n++] = cg_xstrndup(s, len);
		s += len;
	}
	return v;
}

/* A command or guard: a list as argv, or a string split on whitespace. */
static int parse_argv(const struct cg_node *n, const char *key, bool shell,
		      char ***out, struct cg_error *err)
{
	char **v;
	size_t i;

	if (n->kind == CG_NODE_SCALAR) {
		if (shell) {
			v = cg_xcalloc(4, sizeof(*v));
			v[0] = cg_xstrdup("/bin/sh");
			v[1] = cg_xstrdup("-c");
			v[2] = cg_xstrdup(n->str);
		} else {
			v = split_words(n->str);
		}
	} else if (n->kind == CG_NODE_SEQ) {
		if (shell) {
			cg_error_set(err, CG_ERR, "shell: true takes %s as one "
						  "string, not a list", key);
			cg_error_hint(err, "write %s: \"cmd | other\", or drop "
					   "shell: and keep the list as argv",
				      key);
			return at_node(err, n);
		}
		v = cg_xcalloc(n->len + 1, sizeof(*v));
		for (i = 0; i < n->len; i++) {
			if (n->items[i]->kind != CG_NODE_SCALAR) {
				free_strv(v);
				cg_error_set(err, CG_ERR, "%s: each argument "
					     "is a string, not %s", key,
					     cg_node_kind_name(n->items[i]));
				return at_node(err, n->items[i]);
			}
			v[i] = cg_xstrdup(n->items[i]->str);
		}
	} else {
		cg_error_set(err, CG_ERR, "%s must be a list (argv) or a "
					  "string, not %s",
			     key, cg_node_kind_name(n));
		return at_node(err, n);
	}
	if (!v[0] || !v[0][0]) {
		free_strv(v);
		cg_error_set(err, CG_ERR, "%s is empty", key);
		cg_error_hint(err, "give the program and its arguments: "
				   "[sysctl, --system]");
		return at_node(err, n);
	}
	*out = v;
	return 0;
}

static int opt_string(const struct cg_node *item, const char *key,
		      char **out, struct cg_error *err)
{
	const struct cg_node *n = cg_map_get(item, key);
	const char *s;

	if (!n)
		return 0;
	if (cg_node_string(n, key, &s, err) < 0)
		return CG_ERR;
	if (!s[0]) {
		cg_error_set(err, CG_ERR, "%s is empty", key);
		return at_node(err, n);
	}
	*out = cg_xstrdup(s);
	return 0;
}

static int opt_path(const struct cg_node *item, const char *key, char **out,
		    struct cg_error *err)
{
	const char *why;

	if (opt_string(item, key, out, err) < 0)
		return CG_ERR;
	if (*out && strcmp(*out, "/") != 0 && !cg_path_is_clean(*out, &why)) {
		cg_error_set(err, CG_ERR, "%s: \"%s\" is not a clean absolute "
					  "path: %s",
			     key, *out, why);
		return at_node(err, cg_map_get(item, key));
	}
	return 0;
}

static bool env_name_ok(const char *s)
{
	size_t i;

	if (!s[0] || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (i = 0; s[i]; i++)
		if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

static int parse_env(struct want *w, const struct cg_node *item,
		     struct cg_error *err)
{
	const struct cg_node *n = cg_map_get(item, "environment");
	size_t i, k = 0;

	if (!n)
		return 0;
	if (n->kind != CG_NODE_MAP) {
		cg_error_set(err, CG_ERR, "environment must be a map "
					  "(NAME: value), not %s",
			     cg_node_kind_name(n));
		return at_node(err, n);
	}
	w->env = cg_xcalloc(n->len + 1, sizeof(*w->env));
	for (i = 0; i < n->len; i++) {
		const struct cg_node *key = n->items[2 * i];
		const struct cg_node *val = n->items[2 * i + 1];

		if (!env_name_ok(key->str)) {
			cg_error_set(err, CG_ERR, "environment: '%s' is not a "
						  "variable name",
				     key->str);
			cg_error_hint(err, "letters, digits and _, not "
					   "starting with a digit");
			return at_node(err, key);
		}
		if (val->kind != CG_NODE_SCALAR) {
			cg_error_set(err, CG_ERR, "environment: %s must be a "
						  "string, not %s",
				     key->str, cg_node_kind_name(val));
			return at_node(err, val);
		}
		w->env[k++] = cg_xasprintf("%s=%s", key->str, val->str);
	}
	return 0;
}

static int exec_parse(struct cg_resource *r, const struct cg_node *item,
		      const struct cg_node *value,
		      const struct cg_parse_ctx *pc, struct cg_error *err)
{
	const struct cg_node *n;
	const char *name;
	struct want *w;
	unsigned long t;
	size_t nrefresh;

	(void)pc;
	if (cg_node_string(value, "exec", &name, err) < 0)
		return CG_ERR;
	if (!name[0] || strchr(name, '\n')) {
		cg_error_set(err, CG_ERR, "an exec needs a name on one line");
		cg_error_hint(err, "exec: reload-sysctl");
		return at_node(err, value);
	}
	cg_resource_set_id(r, "exec", name);
	w = cg_xcalloc(1, sizeof(*w));
	r->desired = w;
	n = cg_map_get(item, "shell");
	if (n && cg_node_bool(n, "shell", &w->shell, err) < 0)
		return CG_ERR;
	n = cg_map_get(item, "command");
	if (!n) {
		cg_error_set(err, CG_ERR, "exec %s has no command", name);
		cg_error_hint(err, "add command: [program, arg, ...]");
		return at_node(err, value);
	}
	if (parse_argv(n, "command", w->shell, &w->argv, err) < 0)
		return CG_ERR;
	if (n->kind == CG_NODE_SCALAR) {
		w->text = cg_xstrdup(n->str);
	} else {
		struct cg_buf b = { 0 };
		size_t i;

		for (i = 0; w->argv[i]; i++)
			cg_buf_addf(&b, "%s%s", i ? " " : "", w->argv[i]);
		w->text = cg_buf_detach(&b, NULL);
	}
	n = cg_map_get(item, "unless");
	if (n && parse_argv(n, "unless", false, &w->unless, err) < 0)
		return CG_ERR;
	n = cg_map_get(item, "onlyif");
	if (n && parse_argv(n, "onlyif", false, &w->onlyif, err) < 0)
		return CG_ERR;
	n = cg_map_get(item, "refresh_only");
	if (n && cg_node_bool(n, "refresh_only", &w->refresh_only, err) < 0)
		return CG_ERR;
	if (opt_path(item, "creates", &w->creates, err) < 0 ||
	    opt_path(item, "cwd", &w->cwd, err) < 0 ||
	    opt_string(item, "user", &w->user, err) < 0 ||
	    opt_string(item, "group", &w->group, err) < 0 ||
	    parse_env(w, item, err) < 0 ||
	    cg_parse_watch_list(r, item, "refresh_on",
				"file:/etc/sysctl.d/local.conf", &w->refresh_on,
				&nrefresh, err) < 0)
		return CG_ERR;
	n = cg_map_get(item, "timeout");
	if (n) {
		if (cg_node_uint(n, "timeout", TIMEOUT_MAX, &t, err) < 0)
			return CG_ERR;
		if (t == 0) {
			cg_error_set(err, CG_ERR, "timeout is in seconds, at "
						  "least 1");
			return at_node(err, n);
		}
		w->timeout_ms = (unsigned)t * 1000u;
	}
	if (w->refresh_only && !w->refresh_on) {
		cg_error_set(err, CG_ERR, "refresh_only: true needs "
					  "refresh_on: the ids it runs after");
		cg_error_hint(err, "add refresh_on: [file:/etc/...]");
		return at_node(err, cg_map_get(item, "refresh_only"));
	}
	if (w->refresh_on && !w->refresh_only) {
		cg_error_set(err, CG_ERR, "refresh_on only says when a "
					  "refresh_only exec runs");
		cg_error_hint(err, "add refresh_only: true (or drop "
				   "refresh_on: to run whenever the guards "
				   "say so)");
		return at_node(err, cg_map_get(item, "refresh_on"));
	}
	return 0;
}

static void seen_free(struct seen *s)
{
	if (!s)
		return;
	free(s->kept);
	free(s->home);
	free(s->id_err);
	free(s);
}

static void exec_release(struct cg_resource *r)
{
	struct want *w = r->desired;

	if (w) {
		free_strv(w->argv);
		free(w->text);
		free(w->creates);
		free_strv(w->unless);
		free_strv(w->onlyif);
		free_strv(w->refresh_on);
		free(w->user);
		free(w->group);
		free(w->cwd);
		free_strv(w->env);
		free(w);
	}
	seen_free(r->observed);
	r->desired = r->observed = NULL;
}

static char *join_argv(char *const *v)
{
	struct cg_buf b = { 0 };
	size_t i;

	for (i = 0; v[i]; i++)
		cg_buf_addf(&b, "%s%s", i ? " " : "", v[i]);
	return cg_buf_detach(&b, NULL);
}

/* user in root's /etc/passwd (NSS for the host): uid, gid, home. */
static int lookup_user(struct cg_root *root, const char *user,
		       struct seen *s, struct cg_error *err)
{
	struct cg_buf b = { 0 };
	const char *base, *p;
	int dirfd, fd, rc;

	if (root->host) {
		struct passwd pw, *res = NULL;
		char buf[4096];

		if (getpwnam_r(user, &pw, buf, sizeof(buf), &res) != 0 || !res)
			goto unknown;
		s->uid = pw.pw_uid;
		s->gid = pw.pw_gid;
		s->home = cg_xstrdup(pw.pw_dir);
		return 0;
	}
	rc = cg_root_open_parent(root, "/etc/passwd", 0, &dirfd, &base, NULL,
				 err);
	if (rc < 0)
		return rc;
	fd = openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	close(dirfd);
	if (fd < 0)
		return cg_error_sys(err, CG_ERR, "cannot read %s/etc/passwd",
				    root->path);
	rc = cg_read_fd(fd, &b, 16u << 20, err);
	close(fd);
	if (rc < 0)
		return rc;
	cg_buf_addch(&b, '\0');
	for (p = b.data; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1
						      : NULL) {
		/* name:password:uid:gid:gecos:home:shell */
		char *line = cg_xstrndup(p, strcspn(p, "\n")), *f[7], *q = line;
		size_t k;

		for (k = 0; k < 7 && q; k++) {
			f[k] = q;
			q = strchr(q, ':');
			if (q)
				*q++ = '\0';
		}
		if (k >= 6 && strcmp(f[0], user) == 0 && f[2][0] && f[3][0]) {
			s->uid = (uid_t)strtoul(f[2], NULL, 10);
			s->gid = (gid_t)strtoul(f[3], NULL, 10);
			s->home = cg_xstrdup(f[5][0] ? f[5] : "/");
			free(line);
			cg_buf_release(&b);
			return 0;
		}
		free(line);
	}
	cg_buf_release(&b);
unknown:
	cg_error_set(err, CG_ERR, "user %s does not exist in %s", user,
		     root->path);
	cg_error_hint(err, "create the user first, or fix user:");
	return CG_ERR;
}

/* Put "NAME=value" into env (n entries), replacing one of the same NAME. */
static void env_put(char **env, size_t *n, char *kv)
{
	size_t i, len = strcspn(kv, "=") + 1;

	for (i = 0; i < *n; i++)
		if (strncmp(env[i], kv, len) == 0) {
			free(env[i]);
			env[i] = kv;
			return;
		}
	env[(*n)++] = kv;
}

/*
 * The environment a command and its guards get: a known one, not ours,
 * then the policy's environment, which may replace any of it.
 */
static char **make_env(const struct want *w, const struct seen *s, bool guard)
{
	size_t n = 0, i;
	char **env;

	while (w->env && w->env[n])
		n++;
	env = cg_xcalloc(n + 5, sizeof(*env));
	i = 0;
	env_put(env, &i, cg_xstrdup("PATH=/usr/local/sbin:/usr/local/bin:"
				    "/usr/sbin:/usr/bin:/sbin:/bin"));
	env_put(env, &i, cg_xstrdup("LC_ALL=C"));
	env_put(env, &i, cg_xasprintf("HOME=%s", s->home ? s->home : "/"));
	if (w->user)
		env_put(env, &i, cg_xasprintf("USER=%s", w->user));
	for (n = 0; w->env && w->env[n]; n++)
		env_put(env, &i, cg_xstrdup(w->env[n]));
	/* A guard's errors are read in the C library's own words. */
	if (guard)
		env_put(env, &i, cg_xstrdup("LC_ALL=C"));
	return env;
}

/* The last lines of what a program said (stderr, else stdout). */
static void tail_lines(const struct cg_exec_result *res, char *buf,
		       size_t size)
{
	const struct cg_buf *b = res->err.len ? &res->err : &res->out;
	const char *start, *end;
	size_t lines = 0, k = 0;

	buf[0] = '\0';
	if (!b->len)
		return;
	end = b->data + b->len;
	while (end > b->data && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	start = end;
	while (start > b->data && lines < TAIL_LINES) {
		start--;
		if (*start == '\n')
			lines++;
	}
	if (*start == '\n')
		start++;
	for (; start < end && k + 4 < size; start++) {
		if (*start == '\n') {
			buf[k++] = ' ';
			buf[k++] = '|';
			buf[k++] = ' ';
		} else {
			buf[k++] = (*start >= ' ' || *start == '\t') ? *start
								     : '?';
		}
	}
	buf[k] = '\0';
}

/*
 * Did a guard fail because of the sandbox rather than give its answer?
 * With LC_ALL=C, programs say so with the C library's words for the
 * errors the sandbox causes: a read-only mount, no capability, uid
 * nobody, no network.
 */
static bool sandbox_refused(const struct cg_exec_result *res)
{
	static const int errs[] = { EROFS, EPERM, EACCES, ENETUNREACH };
	const struct cg_buf *bufs[2] = { &res->err, &res->out };
	size_t i, k;

	for (k = 0; k < 2; k++) {
		char *text;

		if (!bufs[k]->len)
			continue;
		text = cg_xstrndup(bufs[k]->data, bufs[k]->len);
		for (i = 0; i <= CG_ARRAY_SIZE(errs); i++) {
			/* and the resolver's word for "no network" */
			const char *what =
				i < CG_ARRAY_SIZE(errs)
					? strerror(errs[i])
					: "Temporary failure in name resolution";

			if (strstr(text, what)) {
				free(text);
				return true;
			}
		}
		free(text);
	}
	return false;
}

/*
 * Run a guard in the read-only sandbox: *yes is whether it exited 0. A
 * guard that could not run, was killed, or failed for a reason of the
 * sandbox is an error: it gave no answer, in plan nor in run.
 */
static int run_guard(struct cg_ctx *ctx, const struct want *w,
		     const struct seen *s, const char *key, char *const *argv,
		     const char *root, bool *yes, struct cg_error *err)
{
	struct cg_exec_result res;
	struct cg_exec x;
	char **env = make_env(w, s, true), *text = join_argv(argv), tail[512];
	int rc;

	cg_exec_init(&x, (const char *const *)argv);
	x.envp = (const char *const *)env;
	x.out_max = GUARD_OUT_MAX;
	x.root = root;
	x.cwd = w->cwd;
	if (w->timeout_ms) {
		x.timeout_ms = w->timeout_ms;
		x.own_timeout = true;
	}
	rc = cg_ctx_exec_confined(ctx, &x, "", 0, &res, err);
	if (rc < 0) {
		cg_error_prefix(err, "%s [%s] could not run", key, text);
		if (rc == CG_ENOTFOUND)
			cg_error_hint(err, "install the program%s, or give its "
					   "full path",
				      root ? " in the root" : "");
		rc = CG_ERR;
		goto out;
	}
	tail_lines(&res, tail, sizeof(tail));
	if (res.status >= 126 || (res.status != 0 && sandbox_refused(&res))) {
		rc = cg_error_set(err, CG_ERR,
				  "%s [%s] gave no answer: exit %d%s%s", key,
				  text, res.status, tail[0] ? ": " : "", tail);
		cg_error_hint(err, "guards run in a read-only sandbox (as "
				   "nobody, no capabilities, no network), in "
				   "plan and run alike: make the guard only "
				   "read what anybody may");
		goto out;
	}
	*yes = res.status == 0;
out:
	cg_exec_result_release(&res);
	free_strv(env);
	free(text);
	return rc;
}

/* The root a command is chrooted into: NULL for the host. *own frees it. */
static const char *root_dir(const struct cg_ctx *ctx, char **own)
{
	*own = NULL;
	if (ctx->root->host)
		return NULL;
	*own = realpath(ctx->root->path, NULL);
	return *own ? *own : ctx->root->path;
}

/* Is there a file (or link) at path inside root? */
static bool in_root(struct cg_root *root, const char *path)
{
	const char *base;
	struct stat st;
	int dirfd;
	bool there;

	if (cg_root_open_parent(root, path, 0, &dirfd, &base, NULL, NULL) < 0)
		return false;
	there = fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		(S_ISREG(st.st_mode) || S_ISLNK(st.st_mode));
	close(dirfd);
	return there;
}

/*
 * Can the command's program be found where it will run? Asked here, so
 * that plan says what run would find (chrooted: inside the root, in
 * the directories cg_exec_run looks in there).
 */
static int check_program(struct cg_ctx *ctx, const char *key,
			 const char *name, struct cg_error *err)
{
	static const char *const dirs[] = {
		"/usr/sbin", "/usr/bin", "/sbin", "/bin", NULL,
	};
	char *path = NULL;
	size_t i;
	bool found = false;
	int rc;

	if (ctx->root->host) {
		rc = cg_exec_find(name, &path, err);
		free(path);
		if (rc < 0)
			cg_error_prefix(err, "%s", key);
		return rc;
	}
	if (name[0] == '/') {
		found = in_root(ctx->root, name);
	} else if (strchr(name, '/')) {
		return cg_error_set(err, CG_ERR, "%s: '%s' is a relative path: "
					     "give a full one, or a bare name",
				    key, name);
	} else {
		for (i = 0; dirs[i] && !found; i++) {
			path = cg_xasprintf("%s/%s", dirs[i], name);
			found = in_root(ctx->root, path);
			free(path);
		}
	}
	if (found)
		return 0;
	cg_error_set(err, CG_ENOTFOUND, "%s: %s is not in %s, where the "
					"command runs chrooted",
		     key, name, ctx->root->path);
	cg_error_hint(err, "under --root, commands and guards run inside the "
			   "root: install the program there (or give its path "
			   "there)");
	return CG_ENOTFOUND;
}

static int observe_one(struct cg_ctx *ctx, struct cg_resource *r,
		       struct cg_error *err)
{
	const struct want *w = r->desired;
	struct seen *s = cg_xcalloc(1, sizeof(*s));
	char *own, *text;
	const char *root = root_dir(ctx, &own);
	bool yes;
	int rc = 0;

	s->uid = (uid_t)-1;
	s->gid = (gid_t)-1;
	seen_free(r->observed);
	r->observed = s;
	if ((w->user && lookup_user(ctx->root, w->user, s, err) < 0) ||
	    (w->group && cg_root_gid(ctx->root, w->group, &s->gid, err) < 0)) {
		s->id_err = cg_xmalloc(sizeof(*s->id_err));
		*s->id_err = *err;
		cg_error_clear(err);
	}
	if (w->creates) {
		const char *base;
		struct stat st;
		int dirfd;

		rc = cg_root_open_parent(ctx->root, w->creates, 0, &dirfd,
					 &base, NULL, err);
		if (rc == 0) {
			bool there = fstatat(dirfd, base, &st,
					     AT_SYMLINK_NOFOLLOW) == 0;

			close(dirfd);
			if (there) {
				s->kept = cg_xasprintf("%s exists", w->creates);
				goto out;
			}
		} else if (rc != CG_ENOTFOUND) {
			goto out;
		}
		rc = 0;
	}
	/* A program that is not there fails plan as it would fail run. */
	if (w->onlyif) {
		rc = check_program(ctx, "onlyif", w->onlyif[0], err);
		if (rc < 0)
			goto out;
		rc = run_guard(ctx, w, s, "onlyif", w->onlyif, root, &yes, err);
		if (rc < 0)
			goto out;
		if (!yes) {
			text = join_argv(w->onlyif);
			s->kept = cg_xasprintf("onlyif [%s] failed", text);
			free(text);
			goto out;
		}
	}
	if (w->unless) {
		rc = check_program(ctx, "unless", w->unless[0], err);
		if (rc < 0)
			goto out;
		rc = run_guard(ctx, w, s, "unless", w->unless, root, &yes, err);
		if (rc < 0)
			goto out;
		if (yes) {
			text = join_argv(w->unless);
			s->kept = cg_xasprintf("unless [%s] succeeded", text);
			free(text);
			goto out;
		}
	}
	rc = check_program(ctx, "command", w->argv[0], err);
out:
	free(own);
	return rc;
}

static int exec_observe(struct cg_ctx *ctx, struct cg_resource **res,
			size_t n, struct cg_error *err)
{
	struct cg_error e;
	size_t i;

	(void)err;
	for (i = 0; i < n; i++) {
		cg_error_clear(&e);
		if (observe_one(ctx, res[i], &e) < 0)
			cg_resource_fail(res[i], &e);
	}
	return 0;
}

static int exec_diff(struct cg_ctx *ctx, struct cg_resource *r,
		     struct cg_error *err)
{
	const struct want *w = r->desired;
	const struct seen *s = r->observed;
	const char *why = NULL;
	size_t i;

	char idnote[600] = "";

	if (s && s->id_err && !s->ran) {
		char id[300];
		const char *by = NULL;

		snprintf(id, sizeof(id), "user:%s", w->user ? w->user : "");
		if (w->user && ctx->made_before)
			by = ctx->made_before(ctx, r, id);
		if (!by && w->group && ctx->made_before) {
			snprintf(id, sizeof(id), "group:%s", w->group);
			by = ctx->made_before(ctx, r, id);
		}
		if (!by) {
			*err = *s->id_err;
			return CG_ERR;
		}
		snprintf(idnote, sizeof(idnote),
			 "; %s does not exist yet: %s, earlier, creates it", id,
			 by);
	}
	if (!s || s->ran || s->kept)
		return 0;
	if (w->refresh_only) {
		for (i = 0; w->refresh_on[i] && !why; i++)
			if (ctx->changed && ctx->changed(ctx, w->refresh_on[i]))
				why = w->refresh_on[i];
		if (!why)
			return 0;
		cg_change_note(&r->change, "would run: %s changed", why);
	} else if (w->unless || w->onlyif) {
		cg_change_note(&r->change, "would run: %s",
			       w->onlyif && w->unless
				       ? "onlyif succeeded, unless failed"
			       : w->onlyif ? "onlyif succeeded"
					   : "unless failed");
	} else if (w->creates) {
		cg_change_note(&r->change, "would run: %s does not exist",
			       w->creates);
	} else {
		cg_change_note(&r->change, "would run: no guard");
	}
	if (idnote[0]) {
		char *note = cg_xasprintf("%s%s", r->change.note, idnote);

		cg_change_note(&r->change, "%s", note);
		free(note);
	}
	cg_change_add(&r->change, "command", NULL, w->text);
	r->change.action = CG_ACTION_UPDATE;
	return 0;
}

static int apply_one(struct cg_ctx *ctx, struct cg_resource *r,
		     struct cg_error *err)
{
	const struct want *w = r->desired;
	struct seen *s = r->observed;
	struct cg_exec_result res;
	struct cg_exec x;
	char **env, *own, tail[600];
	int rc;

	/* Never as root in place of a user that is not there. */
	if (s->id_err) {
		*err = *s->id_err;
		return CG_ERR;
	}
	env = make_env(w, s, false);
	cg_exec_init(&x, (const char *const *)w->argv);
	x.envp = (const char *const *)env;
	x.out_max = 16u << 20;
	x.root = root_dir(ctx, &own);
	x.cwd = w->cwd;
	x.uid = s->uid;
	x.gid = s->gid;
	if (w->timeout_ms) {
		x.timeout_ms = w->timeout_ms;
		x.own_timeout = true;
	}
	rc = cg_ctx_exec(ctx, &x, &res, err);
	if (rc < 0) {
		cg_error_prefix(err, "command [%s]", w->text);
		if (rc == CG_ETIMEOUT && w->timeout_ms)
			cg_error_hint(err, "it ran longer than its timeout "
					   "(%u s): raise timeout: if it needs "
					   "longer",
				      w->timeout_ms / 1000u);
		rc = CG_ERR;
	} else if (res.status != 0) {
		tail_lines(&res, tail, sizeof(tail));
		rc = cg_error_set(err, CG_ERR,
				  "command [%s] failed (exit %d)%s%s", w->text,
				  res.status, tail[0] ? ": " : "", tail);
		cg_error_hint(err, "the guards will run it again next time; "
				   "fix what it reports");
	} else {
		s->ran = true;
	}
	cg_exec_result_release(&res);
	free_strv(env);
	free(own);
	return rc;
}

/*
 * What a host's state is, as far as this exec goes: done (its guards say
 * it need not run, or it just ran) or due. Not the status: an exec that
 * ran in this run and one kept are the same state.
 */
static void exec_fingerprint(const struct cg_resource *r,
			     unsigned char out[16])
{
	const struct seen *s = r->observed;
	char *text = cg_xasprintf("%s\n%s", r->id,
				  s->kept || s->ran ? "done" : "due");

	cg_hash128(text, strlen(text), out);
	free(text);
}

static void exec_forget(struct cg_resource *r)
{
	seen_free(r->observed);
	r->observed = NULL;
}

static bool exec_confines(const struct cg_resource *r)
{
	const struct want *w = r->desired;

	return w && (w->unless || w->onlyif);
}

/* A command that ran cannot be unrun: say so, and release it. */
static int exec_revert(struct cg_ctx *ctx, struct cg_revert *const *v,
		       size_t n, bool apply, struct cg_error *err)
{
	size_t i;

	(void)ctx;
	(void)apply;
	(void)err;
	for (i = 0; i < n; i++) {
		v[i]->verdict = CG_REVERT_FORGET;
		snprintf(v[i]->what, sizeof(v[i]->what),
			 "nothing to revert: what a command did is not known "
			 "to congruent; it leaves the ledger");
	}
	return 0;
}

const struct cg_module cg_module_exec = {
	.type = "exec",
	.keys = exec_keys,
	.parse = exec_parse,
	.observe = exec_observe,
	.diff = exec_diff,
	.apply_one = apply_one,
	.release = exec_release,
	.forget = exec_forget,
	.fingerprint = exec_fingerprint,
	.confines = exec_confines,
	.revert = exec_revert,
	/* Just before its turn: guards see what earlier resources made. */
	.observe_window = 1,
	/*
	 * The command is the policy's own code, like a maintainer script:
	 * run keeps every capability for it. apply() says how it went
	 * (ran, exit 0) instead of a second look, which would run the
	 * guards again and ask the question anew.
	 */
	.flags = CG_MODULE_ALL_CAPS | CG_MODULE_VERIFIES,
	.caps = { CAP_SYS_CHROOT, CAP_SETUID, CAP_SETGID },
	.ncaps = 3,
};
