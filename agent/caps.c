/* caps.c: least privilege: keep only the capabilities the work needs, then verify. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/securebits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <syslog.h>
#include <unistd.h>

#include "agent.h"

#define BIT(c) (UINT64_C(1) << (c))

/* Locked so that nothing later can turn uid 0 into full privilege again. */
#define SECBITS_BASE                                                       \
	(SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED | \
	 SECBIT_KEEP_CAPS_LOCKED)
#define SECBITS_NO_AMBIENT                                                 \
	(SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED)

uint64_t cg_caps_for_policy(const struct cg_policy *p,
			    const struct cg_ctx *ctx)
{
	uint64_t set = 0;
	size_t i, k;

	for (i = 0; i < p->n; i++) {
		const struct cg_module *m = p->res[i].mod;

		if ((m->flags & CG_MODULE_ALL_CAPS) ||
		    (m->all_caps && m->all_caps(ctx)))
			return CG_CAPS_ALL;
		for (k = 0; k < m->ncaps && k < CG_ARRAY_SIZE(m->caps); k++)
			if (m->caps[k] >= 0 && m->caps[k] < 64)
				set |= BIT(m->caps[k]);
	}
	/* Orphans to revert: their modules' too. */
	for (i = 0; cg_modules[i]; i++) {
		const struct cg_module *m = cg_modules[i];

		if (i >= 32 || !(p->revert_types & (1u << i)))
			continue;
		if (m->flags & CG_MODULE_ALL_CAPS)
			return CG_CAPS_ALL;
		for (k = 0; k < m->ncaps && k < CG_ARRAY_SIZE(m->caps); k++)
			if (m->caps[k] >= 0 && m->caps[k] < 64)
				set |= BIT(m->caps[k]);
	}
	return set;
}

static int parse_hex(const char *line, const char *key, uint64_t *out)
{
	size_t n = strlen(key);
	char *end;

	if (strncmp(line, key, n) != 0)
		return 0;
	*out = strtoull(line + n, &end, 16);
	return 1;
}

/* /proc, when it is no longer at /proc (chrooted): cg_caps_proc_at. */
static int proc_fd = -1;

void cg_caps_proc_at(int fd)
{
	proc_fd = fd;
}

int cg_caps_read(int pid, struct cg_caps_state *out, struct cg_error *err)
{
	char path[64], *line, *save = NULL;
	struct cg_buf b = { 0 };
	unsigned seen = 0;
	int fd, rc;

	memset(out, 0, sizeof(*out));
	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/status", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/status");
	fd = proc_fd >= 0 ? openat(proc_fd, path + strlen("/proc/"),
				   O_RDONLY | O_CLOEXEC)
			  : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cg_error_sys(err, CG_ERR, "cannot read %s", path);
	rc = cg_read_fd(fd, &b, 1u << 20, err);
	close(fd);
	if (rc < 0)
		return rc;
	for (line = strtok_r(b.data ? b.data : (char *)"", "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		uint64_t nnp = 0;

		seen |= (unsigned)parse_hex(line, "CapInh:", &out->inh) << 0;
		seen |= (unsigned)parse_hex(line, "CapPrm:", &out->prm) << 1;
		seen |= (unsigned)parse_hex(line, "CapEff:", &out->eff) << 2;
		seen |= (unsigned)parse_hex(line, "CapBnd:", &out->bnd) << 3;
		seen |= (unsigned)parse_hex(line, "CapAmb:", &out->amb) << 4;
		if (parse_hex(line, "NoNewPrivs:", &nnp)) {
			out->no_new_privs = nnp != 0;
			seen |= 1u << 5;
		}
	}
	cg_buf_release(&b);
	if (seen != 0x3f)
		return cg_error_set(err, CG_ERR,
				    "%s lacks the capability lines (kernel "
				    "too old?)",
				    path);
	return 0;
}

void cg_caps_names(uint64_t set, char *buf, size_t size)
{
	size_t len = 0;
	int c;

	buf[0] = '\0';
	if (!set) {
		snprintf(buf, size, "none");
		return;
	}
	for (c = 0; c < 64 && len + 1 < size; c++) {
		char *name;

		if (!(set & BIT(c)))
			continue;
		name = cap_to_name((cap_value_t)c);
		len += (size_t)snprintf(buf + len, size - len, "%s%s",
					len ? "," : "", name ? name : "?");
		cap_free(name);
		if (len >= size)
			len = size - 1;
	}
}

/* Drop every capability not in keep from the bounding set. */
static int drop_bound(uint64_t keep, struct cg_error *err)
{
	int c, max = (int)cap_max_bits();

	for (c = 0; c < max && c < 64; c++) {
		if ((keep & BIT(c)) || cap_get_bound((cap_value_t)c) <= 0)
			continue;
		if (cap_drop_bound((cap_value_t)c) < 0) {
			char *name = cap_to_name((cap_value_t)c);

			cg_error_sys(err, CG_ERR,
				     "cannot drop %s from the bounding set",
				     name ? name : "?");
			cap_free(name);
			return CG_ERR;
		}
	}
	return 0;
}

static int set_proc(uint64_t prm, uint64_t inh, struct cg_error *err)
{
	cap_t cap = cap_init();
	cap_value_t v[1];
	int c, rc = 0;

	if (!cap)
		return cg_error_sys(err, CG_ERR, "cap_init failed");
	for (c = 0; c < 64 && rc == 0; c++) {
		v[0] = (cap_value_t)c;
		if (prm & BIT(c))
			rc = cap_set_flag(cap, CAP_PERMITTED, 1, v, CAP_SET) |
			     cap_set_flag(cap, CAP_EFFECTIVE, 1, v, CAP_SET);
		if (rc == 0 && (inh & BIT(c)))
			rc = cap_set_flag(cap, CAP_INHERITABLE, 1, v, CAP_SET);
	}
	if (rc == 0 && cap_set_proc(cap) < 0)
		rc = -1;
	if (rc < 0)
		cg_error_sys(err, CG_ERR, "cannot set the capabilities");
	cap_free(cap);
	return rc < 0 ? CG_ERR : 0;
}

static int switch_user(uid_t uid, struct cg_error *err)
{
	gid_t gid = (gid_t)uid;

	if (setgroups(0, NULL) < 0)
		return cg_error_sys(err, CG_ERR, "cannot drop the groups");
	if (setresgid(gid, gid, gid) < 0)
		return cg_error_sys(err, CG_ERR, "cannot switch to gid %u",
				    (unsigned)gid);
	if (setresuid(uid, uid, uid) < 0)
		return cg_error_sys(err, CG_ERR, "cannot switch to uid %u",
				    (unsigned)uid);
	return 0;
}

static int check_user(uid_t uid, struct cg_error *err)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;

	if (getresuid(&r, &e, &s) < 0 || getresgid(&rg, &eg, &sg) < 0)
		return cg_error_sys(err, CG_ERR, "cannot read the user ids");
	if (r != uid || e != uid || s != uid || rg != (gid_t)uid ||
	    eg != (gid_t)uid || sg != (gid_t)uid || getgroups(0, NULL) != 0)
		return cg_error_set(err, CG_ERR,
				    "the switch to uid %u did not hold",
				    (unsigned)uid);
	return 0;
}

int cg_caps_limit(uint64_t keep, uint64_t self, uid_t uid,
		  struct cg_error *err)
{
	struct cg_caps_state before, after;
	uint64_t prm, bnd;
	bool setpcap;
	char want[512], got[512];
	int c;

	if (cg_caps_read(0, &before, err) < 0)
		goto fail;
	/* What we do not have, we cannot keep. */
	keep &= before.prm;
	self &= before.prm & ~keep;
	prm = keep | self;
	setpcap = (before.eff & BIT(CAP_SETPCAP)) != 0;
	bnd = before.bnd;
	/*
	 * Without CAP_SETPCAP (an unprivileged user, or a unit's bounding
	 * set) the bounding set and securebits stay as they are: there is
	 * nothing in them an execve could give back once no_new_privs is
	 * set, which caps what any exec can gain at what we hold.
	 */
	if (setpcap) {
		unsigned bits = (unsigned)cap_get_secbits() | SECBITS_BASE;

		bits &= ~(unsigned)SECBIT_KEEP_CAPS;
		if (!keep)
			bits |= SECBITS_NO_AMBIENT;
		if (cap_set_secbits(bits) < 0) {
			cg_error_sys(err, CG_ERR, "cannot set the securebits");
			goto fail;
		}
		if (drop_bound(prm, err) < 0)
			goto fail;
		bnd &= prm;
	}
	if (cap_reset_ambient() < 0) {
		cg_error_sys(err, CG_ERR, "cannot clear the ambient set");
		goto fail;
	}
	if (uid != (uid_t)-1) {
		/* A switch away from uid 0 clears what we hold. */
		if (switch_user(uid, err) < 0)
			goto fail;
		prm = keep = 0;
	}
	if (set_proc(prm, keep, err) < 0)
		goto fail;
	/* Ambient: what the helpers we run keep across execve. */
	for (c = 0; c < 64; c++) {
		if (!(keep & BIT(c)))
			continue;
		if (cap_set_ambient((cap_value_t)c, CAP_SET) < 0) {
			cg_error_sys(err, CG_ERR,
				     "cannot make the capabilities ambient");
			goto fail;
		}
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) < 0) {
		cg_error_sys(err, CG_ERR, "cannot set no_new_privs");
		goto fail;
	}

	/* Trust, but verify: what the kernel says we hold now. */
	if (cg_caps_read(0, &after, err) < 0)
		goto fail;
	if (after.prm != prm || after.eff != prm || after.inh != keep ||
	    after.amb != keep || after.bnd != bnd || !after.no_new_privs) {
		cg_caps_names(prm, want, sizeof(want));
		cg_caps_names(after.prm | after.eff | after.amb, got,
			      sizeof(got));
		cg_error_set(err, CG_ERR,
			     "dropping capabilities did not hold: want %s, "
			     "hold %s (bounding %llx, no_new_privs %d)",
			     want, got, (unsigned long long)after.bnd,
			     after.no_new_privs);
		goto fail;
	}
	if (setpcap &&
	    (cap_get_secbits() & SECBITS_BASE) != SECBITS_BASE) {
		cg_error_set(err, CG_ERR,
			     "the securebits did not hold (SECBIT_NOROOT)");
		goto fail;
	}
	if (uid != (uid_t)-1 && check_user(uid, err) < 0)
		goto fail;
	return 0;
fail:
	cg_error_prefix(err, "cannot limit privileges");
	if (!err || !err->hint[0])
		cg_error_hint(err, "nothing was changed; this is a bug or an "
				   "unusual kernel: report it with "
				   "/proc/self/status");
	return CG_ERR;
}

/* Does a module run a program for a resource in the sandbox? */
static bool policy_confines(const struct cg_policy *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (p->res[i].mod->confines &&
		    p->res[i].mod->confines(&p->res[i]))
			return true;
	return false;
}

int cg_engine_run_confined(struct cg_policy *p, struct cg_ctx *ctx,
			   bool dry_run, bool verbose, struct cg_counts *counts,
			   struct cg_error *err)
{
	uint64_t keep = cg_caps_for_policy(p, ctx);
	struct cg_caps_state st;
	char names[1024], summary[256];

	memset(counts, 0, sizeof(*counts));
	/*
	 * plan keeps what it needs to build its sandbox, for itself only;
	 * so does run when it validates in one (cg_ctx_exec_confined).
	 */
	if (cg_caps_limit(keep,
			  dry_run || policy_confines(p) ? cg_sandbox_caps()
							: 0,
			  (uid_t)-1, err) < 0)
		return CG_ERR;
	if (verbose && cg_caps_read(0, &st, NULL) == 0) {
		cg_caps_names(st.amb, names, sizeof(names));
		fprintf(stderr, "%scongruent: capabilities kept for the "
				"modules: %s\n",
			cg_log_level(stderr, LOG_INFO), names);
	}
	if (!dry_run) {
		cg_engine_run(p, ctx, false, counts);
		return 0;
	}
	if (cg_plan_readonly(p, ctx, counts, summary, sizeof(summary), err) <
	    0)
		return CG_ERR;
	if (verbose)
		fprintf(stderr, "%scongruent: plan diffed in a sandbox: %s\n",
			cg_log_level(stderr, LOG_INFO), summary);
	return 0;
}
