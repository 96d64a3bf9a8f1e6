/* capprobe.c: limit privileges as the agent does, then run a program with the agent's runner (for t8000). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <unistd.h>

#include "../../agent/agent.h"
#include "cg/exec.h"

/*
 *   capprobe KEEP SELF [UID] -- PROGRAM [ARGS...]
 *   capprobe --naive KEEP -- PROGRAM [ARGS...]
 *
 * KEEP and SELF are capability masks in hex, as in /proc/PID/status. The
 * first form calls cg_caps_limit(KEEP, SELF, UID) and runs PROGRAM with
 * cg_exec_run, as a module runs its helpers; PROGRAM's stdout is copied
 * to ours. The --naive form only sets the permitted and effective sets
 * to KEEP with cap_set_proc (what a program that forgets the bounding set
 * and SECBIT_NOROOT does), to show what execve gives back then. Our own
 * state after the limit goes to stderr, as "self: CapEff ...".
 */
static int naive(uint64_t keep)
{
	cap_t cap = cap_init();
	cap_value_t v[1];
	int c;

	for (c = 0; c < 64; c++) {
		if (!(keep & (UINT64_C(1) << c)))
			continue;
		v[0] = (cap_value_t)c;
		cap_set_flag(cap, CAP_PERMITTED, 1, v, CAP_SET);
		cap_set_flag(cap, CAP_EFFECTIVE, 1, v, CAP_SET);
	}
	c = cap_set_proc(cap);
	cap_free(cap);
	return c;
}

int main(int argc, char **argv)
{
	struct cg_caps_state st;
	struct cg_exec_result res;
	struct cg_error err;
	struct cg_exec x;
	uid_t uid = (uid_t)-1;
	int i = 1, rc;

	cg_error_clear(&err);
	if (argc > 4 && strcmp(argv[1], "--naive") == 0) {
		if (strcmp(argv[3], "--") != 0 ||
		    naive(strtoull(argv[2], NULL, 16)) < 0) {
			perror("capprobe: cap_set_proc");
			return 2;
		}
		i = 4;
	} else {
		if (argc < 5) {
			fprintf(stderr, "usage: capprobe KEEP SELF [UID] -- "
					"PROGRAM [ARGS...]\n");
			return 2;
		}
		if (strcmp(argv[3], "--") != 0) {
			uid = (uid_t)strtoul(argv[3], NULL, 10);
			i = 4;
		} else {
			i = 3;
		}
		if (strcmp(argv[i], "--") != 0) {
			fprintf(stderr, "capprobe: -- expected\n");
			return 2;
		}
		if (cg_caps_limit(strtoull(argv[1], NULL, 16),
				  strtoull(argv[2], NULL, 16), uid, &err) < 0) {
			fprintf(stderr, "capprobe: %s\n", err.msg);
			return 1;
		}
		i++;
	}
	if (cg_caps_read(0, &st, &err) == 0)
		fprintf(stderr,
			"self: CapInh %016llx CapPrm %016llx CapEff %016llx "
			"CapBnd %016llx CapAmb %016llx NoNewPrivs %d\n",
			(unsigned long long)st.inh, (unsigned long long)st.prm,
			(unsigned long long)st.eff, (unsigned long long)st.bnd,
			(unsigned long long)st.amb, st.no_new_privs);
	cg_exec_init(&x, (const char *const *)(argv + i));
	rc = cg_exec_run(&x, &res, &err);
	if (rc < 0) {
		fprintf(stderr, "capprobe: %s\n", err.msg);
		cg_exec_result_release(&res);
		return 1;
	}
	fwrite(res.out.data ? res.out.data : "", 1, res.out.len, stdout);
	rc = res.status;
	cg_exec_result_release(&res);
	return rc;
}
