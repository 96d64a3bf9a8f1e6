/* usage.c: what each command takes, for help, --help and usage errors. */
#include <stdio.h>
#include <string.h>

#include "agent.h"

/*
 * One entry per command, in the order help lists them; the first line of
 * each is its synopsis, the rest says what it does.
 */
static const struct {
	const char *name;
	const char *text;
} usages[] = {
	{ "run",
	  "run    [-c FILE] [--policy DIR] [--root DIR] [--netns NAME]\n"
	  "       [--splay SECONDS] [--hostname NAME] [--state-dir DIR]\n"
	  "       [--no-pull] [--no-report] [--format text|json] [-v]\n"
	  "       [--only TYPE] [--skip TYPE]... [--allow-rollback]\n"
	  "       enforce the policy (--only: only resources of one type,\n"
	  "       like iptables for the firewall at boot; --skip: all but\n"
	  "       that type, like iptables when building an image)" },
	{ "plan",
	  "plan   [-c FILE] [--policy DIR] [--root DIR] [--netns NAME]\n"
	  "       [--hostname NAME] [--state-dir DIR] [--no-pull]\n"
	  "       [--no-report] [--format text|json] [-v] [--only TYPE]\n"
	  "       [--skip TYPE]... [--allow-rollback]\n"
	  "       show what run would change; changes nothing (with\n"
	  "       reports.url it delivers its report, marked plan)" },
	{ "check",
	  "check  [--format text|json] [DIR]\n"
	  "       validate a policy tree; needs no root (json: the errors as\n"
	  "       objects with file, line, column, resource, message, hint)" },
	{ "facts",
	  "facts  [--root DIR] [--hostname NAME] [--format text|json]\n"
	  "       print the facts templates and classes can use" },
	{ "fleet",
	  "fleet  [-c FILE] [--reports URL|DIR] [--prefix PREFIX]\n"
	  "       [--format text|json|html|prometheus] [--stale HOURS]\n"
	  "       [--history N] [--max-report-kb KB] [--timeout SECONDS]\n"
	  "       [--host-keys FILE] [--cache DIR] [--shards N]\n"
	  "       the fleet from the central reports repository: each host's\n"
	  "       state, policy commit, last report, resources and since when;\n"
	  "       exit 0 all congruent, 2 drift repaired, 4 failed, refused,\n"
	  "       stale, or (--host-keys) a last report not signed by its host\n"
	  "fleet forget HOST [-c FILE] [--reports URL|DIR] [--prefix PREFIX]\n"
	  "       delete a decommissioned host's ref from the reports repository\n"
	  "fleet compact [--reports DIR] [--prefix PREFIX] [--heartbeat-ttl DAYS]\n"
	  "       [--report-ttl DAYS]\n"
	  "       retention, on the server: drop heartbeats older than DAYS\n"
	  "       (7), and with --report-ttl every older report; state\n"
	  "       changes kept" },
	{ "restore",
	  "restore [-c FILE] [--root DIR] [--state-dir DIR] [--list]\n"
	  "       [PATH [BACKUP]]\n"
	  "       put back a file congruent overwrote (newest by default),\n"
	  "       or list what is kept" },
	{ "state",
	  "state  [-c FILE] [--root DIR] [--state-dir DIR] [--format text|json]\n"
	  "       the outcomes kept in STATE/records for later runs (a\n"
	  "       restart or reload still pending because it failed) and\n"
	  "       the ledger: what congruent manages, since which commit,\n"
	  "       what was there before, and which are orphans" },
	{ "forget",
	  "forget [-c FILE] [--root DIR] [--state-dir DIR] ID...\n"
	  "       release resources from the ledger without reverting them\n"
	  "       (file:/etc/app.conf): congruent no longer owns them" },
	{ "vars",
	  "vars   [-c FILE] [--policy DIR] [--root DIR] [--hostname NAME]\n"
	  "       [--format text|json]\n"
	  "       a host's merged vars (hierarchy data, class, site), each\n"
	  "       with the file:line it came from" },
	{ "key",
	  "key    init|show [-c FILE] [--root DIR] [--state-dir DIR]\n"
	  "       make (init, if there is none) or print the public half of\n"
	  "       this host's key, STATE/host.key, that secrets are\n"
	  "       encrypted to\n"
	  "key    report [-c FILE] [--root DIR] [--state-dir DIR] [--hostname NAME]\n"
	  "       this host's line for fleet --host-keys: the ed25519 key\n"
	  "       that signs its report commits (reports.signing_key, or\n"
	  "       STATE/report.key, made if missing)" },
	{ "secret",
	  "secret encrypt --to KEY [--to KEY]...\n"
	  "       encrypt stdin to host keys (as 'key show' prints them);\n"
	  "       prints one line to paste as a var's value" },
	{ "version",
	  "version\n       print the version" },
	{ "help",
	  "help   [COMMAND]\n"
	  "       this text, or the usage of COMMAND" },
};

const char *cg_usage_text(const char *cmd)
{
	size_t i;

	for (i = 0; i < CG_ARRAY_SIZE(usages); i++)
		if (strcmp(usages[i].name, cmd) == 0)
			return usages[i].text;
	return NULL;
}

void cg_usage_print(const char *cmd, FILE *out)
{
	const char *u = cg_usage_text(cmd);

	if (!u)
		return;
	/* "run    [-c FILE]": the name's padding is for help's list only. */
	fprintf(out, "usage: congruent %s", cmd);
	u += strlen(cmd);
	while (*u == ' ')
		u++;
	if (*u && *u != '\n')
		fputc(' ', out);
	for (; *u; u++) {
		fputc(*u, out);
		if (*u == '\n')
			fprintf(out, "  ");
	}
	fprintf(out, "\n\nSee congruent(8) for every option.\n");
}
