/* fuzz-iptables.c: a libFuzzer target for the iptables-save reader. */
/*
 * The input is what iptables-save printed. Once parsed, every rule goes
 * through what the module does with rules it read (split into words, its
 * target and owner), each chain is planned against the first chain of its
 * table, and the text is read as iptables-restore's complaint too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../modules/iptables.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void each_rule(const char *spec)
{
	char **words;
	size_t n;
	char *target;

	if (ipt_split(spec, &words, &n) == 0) {
		if (words[n] != NULL)
			__builtin_trap(); /* not NULL-terminated */
		ipt_words_free(words);
	}
	target = ipt_rule_target(spec);
	if (target)
		(void)ipt_chain_owner(target);
	free(target);
	(void)ipt_rule_owner(spec);
}

/* Plan chain c of t from the rules of t's first chain (distinct ones). */
static void plan(const struct ipt_chain *c, const struct ipt_chain *from)
{
	static const char *const ignore[] = { "-j DOCKER", "f2b-" };
	const char **have = calloc(c->n + 1, sizeof(*have));
	const char **want = calloc(from->n + 1, sizeof(*want));
	struct ipt_plan_in in = { 0 };
	struct ipt_plan out = { 0 };
	size_t i, j, nwant = 0;

	if (!have || !want)
		abort();
	for (i = 0; i < c->n; i++)
		have[i] = c->rules[i].spec;
	for (i = 0; i < from->n && nwant < 64; i++) {
		for (j = 0; j < nwant; j++)
			if (strcmp(want[j], from->rules[i].spec) == 0)
				break;
		if (j == nwant)
			want[nwant++] = from->rules[i].spec;
	}
	in.have = have;
	in.nhave = c->n;
	in.want = want;
	in.nwant = nwant;
	in.purge = c->n % 2 == 1;
	in.ignore = ignore;
	in.nignore = 2;
	ipt_plan_chain(&in, &out);
	ipt_plan_release(&out);
	free(have);
	free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipt_ruleset rs = { 0 };
	struct cg_error err;
	char *text = malloc(size + 1);
	char msg[512];
	size_t i, j, k, nrules;
	const char *why;

	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	if (ipt_ruleset_parse(&rs, text, &err) == 0) {
		(void)ipt_ruleset_in_use(&rs, &nrules);
		for (i = 0; i < rs.n; i++) {
			const struct ipt_table *t = &rs.tables[i];

			(void)ipt_table_is_known(t->name);
			(void)ipt_builtin_chains(t->name);
			for (j = 0; j < t->n; j++) {
				const struct ipt_chain *c = &t->chains[j];

				if (ipt_table_chain(t, c->name) == NULL)
					__builtin_trap();
				(void)ipt_chain_is_builtin(t->name, c->name);
				(void)ipt_chain_name_ok(c->name, &why);
				for (k = 0; k < c->n; k++)
					each_rule(c->rules[k].spec);
				plan(c, &t->chains[0]);
			}
		}
	}
	ipt_ruleset_release(&rs);
	ipt_restore_message(text, msg, sizeof(msg));
	(void)ipt_restore_line(text);
	free(text);
	return 0;
}
