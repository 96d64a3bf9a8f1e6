/* tap.h: a tiny TAP producer for the C unit tests, run under prove. */
#ifndef CG_TAP_H
#define CG_TAP_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/*
 * Assertions are functions, not macros, so every argument is evaluated
 * exactly once. Each prints one "ok N" or "not ok N" line; tap_done()
 * prints the plan and returns the exit status for main().
 */
static int tap_n, tap_failed;

static inline bool tap_ok(bool cond, const char *name)
{
	tap_n++;
	printf("%sok %d - %s\n", cond ? "" : "not ", tap_n, name);
	if (!cond)
		tap_failed++;
	return cond;
}

static inline bool tap_is_int(long long got, long long want, const char *name)
{
	bool ok = tap_ok(got == want, name);

	if (!ok)
		printf("#   got %lld, want %lld\n", got, want);
	return ok;
}

static inline bool tap_is_str(const char *got, const char *want,
			      const char *name)
{
	bool ok = tap_ok(got && want ? strcmp(got, want) == 0 : got == want,
			 name);

	if (!ok)
		printf("#   got  \"%s\"\n#   want \"%s\"\n", got ? got : "(null)",
		       want ? want : "(null)");
	return ok;
}

static inline bool tap_has_str(const char *got, const char *needle,
			       const char *name)
{
	bool ok = tap_ok(got && strstr(got, needle), name);

	if (!ok)
		printf("#   \"%s\"\n#   does not contain \"%s\"\n",
		       got ? got : "(null)", needle);
	return ok;
}

/*
 * Whether this process holds capability cap (CAP_SYS_ADMIN, ...) in its
 * effective set: a root in a container may not. A test that needs it
 * skips, naming it, instead of failing.
 */
static inline bool tap_have_cap(int cap)
{
	unsigned long long eff = 0;
	char line[256];
	bool found = false;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "CapEff: %llx", &eff) == 1;
	fclose(f);
	return found && ((eff >> cap) & 1);
}

static inline void tap_diag(const char *msg)
{
	printf("# %s\n", msg);
}

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
