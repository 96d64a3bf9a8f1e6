/* iptables-objects.c: the ipset sets and nfacct objects that rules name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iptables.h"

/* The options after which a rule names a set, or an accounting object. */
static const char *const set_opts[] = {
	"--match-set", "--add-set", "--del-set", "--map-set",
};

static bool known(char **v, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], name) == 0)
			return true;
	return false;
}

static void add_name(char ***v, size_t *n, const char *name)
{
	if (known(*v, *n, name))
		return;
	*v = cg_xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = cg_xstrdup(name);
}

void ipt_rule_objects(const char *text, char ***sets, size_t *nsets,
		      char ***accts, size_t *naccts)
{
	char **words;
	size_t n, i, k;

	if (!strstr(text, "set") && !strstr(text, "nfacct"))
		return;
	if (ipt_split(text, &words, &n) < 0)
		return;
	for (i = 0; i + 1 < n; i++) {
		for (k = 0; k < CG_ARRAY_SIZE(set_opts); k++)
			if (strcmp(words[i], set_opts[k]) == 0)
				add_name(sets, nsets, words[i + 1]);
		if (strcmp(words[i], "--nfacct-name") == 0)
			add_name(accts, naccts, words[i + 1]);
	}
	ipt_words_free(words);
}

/* Run argv where w says; its stdout in out (NULL: not wanted). */
static int run(const char *const *argv, const struct ipt_where *w,
	       const char *in, struct cg_buf *out, struct cg_error *err)
{
	struct cg_exec_result res;
	struct cg_exec x;
	int rc;

	cg_exec_init(&x, argv);
	x.netns = w->netns;
	x.netns_fd = w->netns_fd;
	x.timeout_ms = w->timeout_ms ? w->timeout_ms : 10000;
	x.out_max = 1u << 20;
	if (in) {
		x.in = in;
		x.in_len = strlen(in);
	}
	rc = cg_exec_run(&x, &res, err);
	if (rc == 0 && res.status != 0) {
		char msg[512];

		cg_exec_first_line(&res, msg, sizeof(msg));
		rc = cg_error_set(err, CG_ENOTFOUND, "%s", msg);
	}
	if (rc == 0 && out)
		cg_buf_addstr(out, res.out.data ? res.out.data : "");
	cg_exec_result_release(&res);
	return rc;
}

/*
 * "create NAME TYPE HEADER" from `ipset list -t NAME` (terse: the
 * header only, however many members), or why not.
 */
static int set_definition(const char *name, const struct ipt_where *w,
			  struct cg_buf *out, struct cg_error *err)
{
	const char *argv[] = { "ipset", "list", "-t", name, NULL };
	struct cg_buf b = { 0 };
	const char *type, *head, *e1, *e2;
	int rc;

	rc = run(argv, w, NULL, &b, err);
	if (rc < 0)
		goto out;
	type = b.data ? strstr(b.data, "\nType: ") : NULL;
	head = b.data ? strstr(b.data, "\nHeader: ") : NULL;
	if (!type || !head) {
		rc = cg_error_set(err, CG_ERR, "ipset list -t %s: no type "
					       "and header in what it printed",
				  name);
		goto out;
	}
	type += 7;
	head += 9;
	e1 = strchr(type, '\n');
	e2 = strchr(head, '\n');
	cg_buf_addf(out, "create %s %.*s %.*s\n", name,
		    (int)(e1 ? e1 - type : (long)strlen(type)), type,
		    (int)(e2 ? e2 - head : (long)strlen(head)), head);
out:
	cg_buf_release(&b);
	return rc;
}

static void fail(struct ipt_canon_rule *r, const char *kind, const char *name,
		 const char *hint, const char *why)
{
	r->failed = true;
	cg_error_clear(&r->err);
	snprintf(r->err.msg, sizeof(r->err.msg),
		 "the rule names %s %.128s, which does not exist on this host "
		 "(%.512s)",
		 kind, name, why);
	cg_error_hint(&r->err, "%s", hint);
}

void ipt_objects_gather(struct ipt_canon_job *job, const struct ipt_where *w)
{
	char **ok_sets = NULL, **bad_sets = NULL, **ok_accts = NULL,
	     **bad_accts = NULL;
	size_t nok_sets = 0, nbad_sets = 0, nok_accts = 0, nbad_accts = 0;
	size_t i, k;

	for (i = 0; i < job->nrules; i++) {
		struct ipt_canon_rule *r = &job->rules[i];
		char **sets = NULL, **accts = NULL;
		size_t nsets = 0, naccts = 0;
		struct cg_error e;

		if (r->failed)
			continue;
		ipt_rule_objects(r->text, &sets, &nsets, &accts, &naccts);
		for (k = 0; k < nsets && !r->failed; k++) {
			if (known(ok_sets, nok_sets, sets[k]))
				continue;
			cg_error_clear(&e);
			if (!known(bad_sets, nbad_sets, sets[k]) &&
			    set_definition(sets[k], w, &job->ipset_script,
					   &e) == 0) {
				add_name(&ok_sets, &nok_sets, sets[k]);
				continue;
			}
			add_name(&bad_sets, &nbad_sets, sets[k]);
			fail(r, "the ipset set", sets[k],
			     "create the set first (ipset create NAME TYPE, "
			     "by the software or unit that fills it, before "
			     "congruent runs), or fix the name",
			     e.msg[0] ? e.msg : "ipset list -t says so");
		}
		for (k = 0; k < naccts && !r->failed; k++) {
			const char *argv[] = { "nfacct", "get", accts[k], NULL };

			if (known(ok_accts, nok_accts, accts[k]))
				continue;
			cg_error_clear(&e);
			if (!known(bad_accts, nbad_accts, accts[k]) &&
			    run(argv, w, NULL, NULL, &e) == 0) {
				add_name(&ok_accts, &nok_accts, accts[k]);
				continue;
			}
			add_name(&bad_accts, &nbad_accts, accts[k]);
			fail(r, "the nfacct object", accts[k],
			     "create it first (nfacct add NAME), or fix the "
			     "name",
			     e.msg[0] ? e.msg : "nfacct get says so");
		}
		ipt_names_free(sets, nsets);
		ipt_names_free(accts, naccts);
	}
	job->nfacct = ok_accts;
	job->nnfacct = nok_accts;
	ipt_names_free(ok_sets, nok_sets);
	ipt_names_free(bad_sets, nbad_sets);
	ipt_names_free(bad_accts, nbad_accts);
}

int ipt_objects_make(const struct ipt_canon_job *job,
		     const struct ipt_where *scratch, struct cg_error *err)
{
	const char *restore[] = { "ipset", "restore", NULL };
	size_t i;
	int rc;

	if (job->ipset_script.len) {
		rc = run(restore, scratch, job->ipset_script.data, NULL, err);
		if (rc < 0) {
			cg_error_prefix(err, "cannot make the ipset sets in "
					     "the scratch namespace");
			return CG_ERR;
		}
	}
	for (i = 0; i < job->nnfacct; i++) {
		const char *argv[] = { "nfacct", "add", job->nfacct[i], NULL };

		rc = run(argv, scratch, NULL, NULL, err);
		if (rc < 0) {
			cg_error_prefix(err, "cannot make nfacct object %s in "
					     "the scratch namespace",
					job->nfacct[i]);
			return CG_ERR;
		}
	}
	return 0;
}

void ipt_names_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}
