/* log.c: a line per change and per failure of a run, to stderr and to syslog. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "agent.h"

static bool log_open;   /* cg_log_open was called: syslog too */
static bool syslog_up;  /* /dev/log was there when the log was opened */
static int journal = -1; /* is stderr the journal? -1: not looked yet */

/*
 * Under systemd, stderr is a stream into the journal (JOURNAL_STREAM names
 * it): a line sent to syslog as well would be there twice. Lines on it
 * are then prefixed with <N>, which the journal reads as their priority.
 */
bool cg_fd_is_journal(int fd)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
	       fstat(fd, &st) == 0 && (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

static bool stderr_is_journal(void)
{
	if (journal < 0)
		journal = cg_fd_is_journal(2);
	return journal;
}

const char *cg_log_level(FILE *out, int prio)
{
	static const char *const prefix[] = {
		"<0>", "<1>", "<2>", "<3>", "<4>", "<5>", "<6>", "<7>",
	};

	if (out != stderr || !stderr_is_journal())
		return "";
	return prefix[prio & 7];
}

void cg_log_open(void)
{
	if (log_open)
		return;
	struct stat st;

	/*
	 * Connect once, now (LOG_NDELAY). With no syslog socket at all,
	 * the C library would try to connect again for every line: a
	 * first run of 10,000 files made 10,000 failed connects. No socket
	 * when the log is opened: syslog is left out for this run.
	 */
	syslog_up = stat("/dev/log", &st) == 0 && S_ISSOCK(st.st_mode);
	if (!stderr_is_journal() && syslog_up)
		openlog("congruent", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_open = true;
}

void cg_log_close(void)
{
	if (log_open && syslog_up && !stderr_is_journal())
		closelog();
	log_open = syslog_up = false;
}

static void vlog(int prio, bool to_stderr, const char *fmt, va_list ap)
{
	va_list aq;

	if (to_stderr) {
		va_copy(aq, ap);
		fprintf(stderr, "%scongruent: ", cg_log_level(stderr, prio));
		vfprintf(stderr, fmt, aq);
		fputc('\n', stderr);
		va_end(aq);
	}
	if (log_open && syslog_up && !stderr_is_journal())
		vsyslog(prio, fmt, ap);
}

void cg_log(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(prio, true, fmt, ap);
	va_end(ap);
}

static void syslog_only(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void syslog_only(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(prio, false, fmt, ap);
	va_end(ap);
}

void cg_log_error(const struct cg_error *err)
{
	if (!log_open)
		return;
	syslog_only(LOG_ERR, "%s%s%s%s%s%s%s", err->where,
		    err->where[0] ? ": " : "", err->resource,
		    err->resource[0] ? ": " : "", err->msg,
		    err->hint[0] ? "; hint: " : "", err->hint);
}

/*
 * "update: content, mode"; a field named more than once is named once
 * with its count ("update: policy, rule x2000"), so that a line stays a
 * line whatever the size of the change.
 */
static void what_changed(const struct cg_resource *r, struct cg_buf *b)
{
	const struct cg_change_item *it = r->change.items;
	size_t i, k, n, shown = 0;

	cg_buf_addf(b, "%s", cg_action_name(r->change.action));
	for (i = 0; i < r->change.n; i++) {
		for (k = 0; k < i; k++)
			if (strcmp(it[k].field, it[i].field) == 0)
				break;
		if (k < i)
			continue; /* named already */
		if (shown == 16) {
			cg_buf_addf(b, ", ...");
			break;
		}
		for (n = 0, k = i; k < r->change.n; k++)
			n += strcmp(it[k].field, it[i].field) == 0;
		cg_buf_addf(b, "%s%s", shown++ ? ", " : ": ", it[i].field);
		if (n > 1)
			cg_buf_addf(b, " x%zu", n);
	}
}

void cg_log_resource(const struct cg_resource *r)
{
	struct cg_buf b = { 0 };

	switch (r->status) {
	case CG_STATUS_REPAIRED:
		what_changed(r, &b);
		/* The note says how (not atomically, what was not kept). */
		cg_log(LOG_NOTICE, "repaired %s (%s): %s%s%s%s", r->id,
		       r->where, b.data, r->change.note ? " (" : "",
		       r->change.note ? r->change.note : "",
		       r->change.note ? ")" : "");
		break;
	case CG_STATUS_FAILED:
		cg_log(LOG_ERR, "failed %s (%s): %s%s%s", r->id,
		       r->where, r->err ? r->err->msg : "?",
		       r->err && r->err->hint[0] ? "; hint: " : "",
		       r->err ? r->err->hint : "");
		break;
	case CG_STATUS_SKIPPED: {
		const char *m = r->err ? r->err->msg : "?";

		if (cg_str_starts(m, "skipped: "))
			m += strlen("skipped: ");
		cg_log(LOG_WARNING, "skipped %s (%s): %s", r->id,
		       r->where, m);
		break;
	}
	default:
		break;
	}
	for (size_t k = 0; k < r->change.nwarnings; k++)
		cg_log(LOG_WARNING, "warning %s (%s): %s", r->id, r->where,
		       r->change.warnings[k]);
	cg_buf_release(&b);
}

void cg_log_run(const struct cg_run_info *info, const struct cg_counts *c)
{
	bool quiet = !c->repaired && !c->failed && !c->skipped && !c->drifted;
	char commit[32] = "", drifted[48] = "";

	if (quiet && !info->verbose)
		return;
	if (info->stopped)
		cg_log(LOG_WARNING, "stopped by %s: what was not done yet "
				    "is skipped", strsignal(info->stopped));
	if (info->commit)
		snprintf(commit, sizeof(commit), " at %.12s", info->commit);
	/* In a run, only audit (mode: audit, audit: true) leaves drift. */
	if (c->drifted)
		snprintf(drifted, sizeof(drifted), ", %zu drifted (audit)",
			 c->drifted);
	cg_log(c->failed || c->skipped || c->drifted ? LOG_WARNING : LOG_INFO,
	       "%s%s: %zu repaired%s, %zu ok, %zu failed, %zu skipped; policy "
	       "%s%s (%.3f s)",
	       info->command, info->audit ? " (audit)" : "", c->repaired,
	       drifted, c->ok, c->failed, c->skipped,
	       info->policy ? info->policy : "?", commit,
	       (double)info->duration_ns / 1e9);
}
