/* state.c: outcomes kept between runs, per resource id, in STATE/records. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "cg/json.h"

#define MAGIC "congruent-records 1\n"

static int cmp_rec(const char *id, const char *key,
		   const struct cg_state_rec *r)
{
	int c = strcmp(id, r->id);

	return c ? c : strcmp(key, r->key);
}

/* The index of (id, key), or where it would go (*found false). */
static size_t find(const struct cg_state *st, const char *id, const char *key,
		   bool *found)
{
	size_t lo = 0, hi = st->n;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_rec(id, key, &st->v[mid]);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Free a record's string unless it lies in the text read from the file. */
static void free_str(const struct cg_state *st, char *p)
{
	if (p && st->text && p >= st->text && p < st->text + st->text_len)
		return;
	free(p);
}

bool cg_state_key_ok(const char *key)
{
	const char *p;

	if (!key[0] || strlen(key) > CG_STATE_KEY_MAX)
		return false;
	for (p = key; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '_' || *p == '-' || *p == '.'))
			return false;
	return true;
}

/* A field may hold any byte but NUL; these three are escaped. */
static void put_escaped(struct cg_buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			cg_buf_addstr(b, "\\\\");
		else if (*s == '\t')
			cg_buf_addstr(b, "\\t");
		else if (*s == '\n')
			cg_buf_addstr(b, "\\n");
		else
			cg_buf_addch(b, *s);
	}
}

void cg_state_format(const struct cg_state *st, struct cg_buf *out)
{
	size_t i;

	cg_buf_addstr(out, MAGIC);
	for (i = 0; i < st->n; i++) {
		put_escaped(out, st->v[i].id);
		cg_buf_addch(out, '\t');
		cg_buf_addstr(out, st->v[i].key);
		cg_buf_addch(out, '\t');
		put_escaped(out, st->v[i].val);
		cg_buf_addch(out, '\n');
	}
}

/*
 * Unescape s[0..len) where it is, NUL-terminated (the result is never
 * longer); false for a bad escape.
 */
static bool unescape_here(char *s, size_t len)
{
	char *o = s;
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] != '\\') {
			*o++ = s[i];
			continue;
		}
		if (++i == len)
			return false;
		if (s[i] == '\\')
			*o++ = '\\';
		else if (s[i] == 't')
			*o++ = '\t';
		else if (s[i] == 'n')
			*o++ = '\n';
		else
			return false;
	}
	*o = '\0';
	return true;
}

static size_t keys_of(const struct cg_state *st, const char *id)
{
	bool found;
	size_t i = find(st, id, "", &found), k = 0;

	for (; i < st->n && strcmp(st->v[i].id, id) == 0; i++)
		k++;
	return k;
}

/* Insert or replace; takes the strings. */
static void put_rec(struct cg_state *st, char *id, char *key, char *val)
{
	bool found;
	size_t i = find(st, id, key, &found);

	if (found) {
		free_str(st, st->v[i].val);
		st->v[i].val = val;
		free_str(st, id);
		free_str(st, key);
		return;
	}
	cg_grow(&st->v, &st->cap, st->n + 1, sizeof(*st->v));
	memmove(&st->v[i + 1], &st->v[i], (st->n - i) * sizeof(*st->v));
	st->v[i].id = id;
	st->v[i].key = key;
	st->v[i].val = val;
	st->n++;
}

static void drop_rec(struct cg_state *st, size_t i)
{
	free_str(st, st->v[i].id);
	free_str(st, st->v[i].key);
	free_str(st, st->v[i].val);
	memmove(&st->v[i], &st->v[i + 1], (st->n - i - 1) * sizeof(*st->v));
	st->n--;
}

/* Parse text[0..len) (owned, NUL at len) into st, which keeps it. */
static int parse_owned(struct cg_state *st, char *text, size_t len,
		       const char *where, struct cg_error *err)
{
	char *p = text, *end = text + len;
	unsigned line = 1;

	st->text = text;
	st->text_len = len + 1;
	if (len > CG_STATE_BYTES_MAX)
		return cg_error_set(err, CG_ERR,
				    "%s: larger than %u bytes: not written "
				    "by congruent",
				    where, CG_STATE_BYTES_MAX);
	if (len < strlen(MAGIC) || memcmp(text, MAGIC, strlen(MAGIC)) != 0)
		return cg_error_set(err, CG_ERR,
				    "%s:1: not a congruent records file "
				    "(it must begin \"congruent-records 1\")",
				    where);
	p += strlen(MAGIC);
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *t1, *t2, *id, *key, *val;
		bool found;

		line++;
		/*
		 * Records are appended (cg_state_set_all) before the change
		 * they announce is made: a last line cut short by a crash
		 * announced a change that was never made.
		 */
		if (!nl) {
			st->tail = true;
			/* Never append after it: the next set writes whole. */
			st->disk_bytes = (size_t)-1;
			break;
		}
		t1 = memchr(p, '\t', (size_t)(nl - p));
		t2 = t1 ? memchr(t1 + 1, '\t', (size_t)(nl - t1 - 1)) : NULL;
		if (memchr(p, '\0', (size_t)(nl - p)) || !t2)
			goto bad;
		id = p;
		key = t1 + 1;
		val = t2 + 1;
		*t2 = '\0';
		if (!unescape_here(id, (size_t)(t1 - p)) ||
		    !unescape_here(val, (size_t)(nl - t2 - 1)) || !id[0] ||
		    strlen(id) > CG_STATE_ID_MAX || !cg_state_key_ok(key) ||
		    strlen(val) > CG_STATE_VALUE_MAX ||
		    st->n >= CG_STATE_RECORDS_MAX)
			goto bad;
		/* An appended line replaces an earlier one, out of order. */
		if (find(st, id, key, &found) != st->n || found)
			st->tail = true;
		if (!found && keys_of(st, id) >= CG_STATE_KEYS_MAX)
			goto bad;
		put_rec(st, id, key, val);
		p = nl + 1;
	}
	/* The array grew by doubling; give the slack back. */
	if (st->n && st->cap > st->n) {
		st->v = cg_xrealloc(st->v, st->n * sizeof(*st->v));
		st->cap = st->n;
	}
	return 0;
bad:
	return cg_error_set(err, CG_ERR,
			    "%s:%u: not a record (ID TAB KEY TAB VALUE, each "
			    "within its bounds, at most %u keys per id)",
			    where, line, CG_STATE_KEYS_MAX);
}

int cg_state_parse(struct cg_state *st, const char *text, size_t len,
		   const char *where, struct cg_error *err)
{
	char *copy = cg_xmalloc(len + 1);

	memcpy(copy, text, len);
	copy[len] = '\0';
	return parse_owned(st, copy, len, where, err);
}

int cg_state_load(struct cg_state *st, const char *state_dir, bool writable,
		  struct cg_error *err)
{
	struct cg_buf b = { 0 };
	int fd, rc;

	memset(st, 0, sizeof(*st));
	st->path = cg_xasprintf("%s/%s", state_dir, CG_STATE_FILE);
	st->writable = writable;
	fd = open(st->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0) {
		rc = cg_error_sys(err, CG_ERR, "cannot open %s", st->path);
		goto fail;
	}
	rc = cg_read_fd(fd, &b, CG_STATE_BYTES_MAX, err);
	close(fd);
	st->disk_bytes = b.len;
	if (rc == 0) {
		size_t n;
		char *text = cg_buf_detach(&b, &n);

		/* Read in growing steps: give back what the text does not use. */
		text = cg_xrealloc(text, n + 1);
		rc = parse_owned(st, text, n, st->path, err);
	}
	cg_buf_release(&b);
	if (rc == 0)
		return 0;
fail:
	cg_error_hint(err, "congruent writes this file whole or not at all; "
			   "look at it, then move it away to start afresh "
			   "(what it remembers, like a failed reload, is then "
			   "forgotten)");
	cg_state_release(st);
	return rc;
}

const char *cg_state_get(const struct cg_state *st, const char *id,
			 const char *key)
{
	bool found;
	size_t i;

	if (!st)
		return NULL;
	i = find(st, id, key, &found);
	return found ? st->v[i].val : NULL;
}

/* Write the whole file, or remove it when there is nothing to keep. */
static int save(struct cg_state *st, struct cg_error *err)
{
	struct cg_buf b = { 0 };
	int rc;

	if (!st->n) {
		const char *slash = strrchr(st->path, '/');
		char *dir = cg_xstrndup(st->path, (size_t)(slash - st->path));
		int dfd;

		if (unlink(st->path) < 0 && errno != ENOENT) {
			free(dir);
			return cg_error_sys(err, CG_ERR, "cannot remove %s",
					    st->path);
		}
		/* No file: the next set writes it whole, not appends. */
		st->disk_bytes = 0;
		st->tail = false;
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		rc = dfd < 0 ? cg_error_sys(err, CG_ERR, "cannot open %s", dir)
			     : cg_fs_sync_dir(dfd, dir, err);
		if (dfd >= 0)
			close(dfd);
		free(dir);
		return rc;
	}
	/*
	 * Written in pieces, not formatted whole first: at 10,000 managed
	 * resources the file is a megabyte, and a run's peak memory.
	 */
	{
		struct cg_atomic a;
		size_t i, total = 0;

		if (cg_atomic_begin(&a, st->path, 0600, err) < 0)
			return CG_ERR;
		cg_buf_addstr(&b, MAGIC);
		for (i = 0; i <= st->n; i++) {
			if (i < st->n) {
				put_escaped(&b, st->v[i].id);
				cg_buf_addch(&b, '\t');
				cg_buf_addstr(&b, st->v[i].key);
				cg_buf_addch(&b, '\t');
				put_escaped(&b, st->v[i].val);
				cg_buf_addch(&b, '\n');
			}
			if (b.len < 65536 && i < st->n)
				continue;
			if (cg_write_all(a.fd, b.data, b.len) < 0) {
				rc = cg_error_sys(err, CG_ERR,
						  "cannot write %s", st->path);
				cg_atomic_abort(&a);
				cg_buf_release(&b);
				return rc;
			}
			total += b.len;
			cg_buf_reset(&b);
		}
		cg_buf_release(&b);
		rc = cg_atomic_commit(&a, err);
		if (rc == 0) {
			st->disk_bytes = total;
			st->tail = false;
		}
		return rc;
	}
}

/*
 * Append the lines of v to the file and fsync it: the cost of what is
 * new, not of the whole file (a first run claims thousands of resources
 * in its batches). A crash during the append leaves at most a last line
 * cut short, which cg_state_parse ignores. Only for puts with values,
 * to a file that is there.
 */
static int append(struct cg_state *st, const struct cg_state_put *v,
		  size_t n, struct cg_error *err)
{
	struct cg_buf b = { 0 };
	struct stat sb;
	size_t i;
	int fd, rc = 0;

	for (i = 0; i < n; i++) {
		put_escaped(&b, v[i].id);
		cg_buf_addch(&b, '\t');
		cg_buf_addstr(&b, v[i].key);
		cg_buf_addch(&b, '\t');
		put_escaped(&b, v[i].val);
		cg_buf_addch(&b, '\n');
	}
	fd = open(st->path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		rc = cg_error_sys(err, CG_ERR, "cannot open %s", st->path);
		goto out;
	}
	/* Someone else's file, or not what was read: write it whole. */
	if (fstat(fd, &sb) < 0 || (size_t)sb.st_size != st->disk_bytes) {
		close(fd);
		cg_buf_release(&b);
		return save(st, err);
	}
	if (cg_write_all(fd, b.data, b.len) < 0 || fsync(fd) < 0) {
		rc = cg_error_sys(err, CG_ERR, "cannot write %s", st->path);
		cg_error_hint(err, "check the disk and the kernel log");
		/* What was written may be half a line: cut it off. */
		if (ftruncate(fd, (off_t)st->disk_bytes) < 0 || fsync(fd) < 0)
			st->disk_bytes = (size_t)-1;
	} else {
		st->disk_bytes += b.len;
		st->tail = true;
	}
	close(fd);
out:
	cg_buf_release(&b);
	return rc;
}

int cg_state_compact(struct cg_state *st, struct cg_error *err)
{
	if (!st || !st->writable || !st->tail)
		return 0;
	return save(st, err);
}

static int check_put(const struct cg_state_put *p, struct cg_error *err)
{
	if (!p->id[0] || strlen(p->id) > CG_STATE_ID_MAX)
		return cg_error_set(err, CG_ERR, "'%.64s': no id for a record",
				    p->id);
	if (!cg_state_key_ok(p->key))
		return cg_error_set(err, CG_ERR,
				    "%s: '%.64s' is not a record key", p->id,
				    p->key);
	if (p->val && strlen(p->val) > CG_STATE_VALUE_MAX)
		return cg_error_set(err, CG_ERR,
				    "%s: the value of %s is longer than %u "
				    "bytes",
				    p->id, p->key, CG_STATE_VALUE_MAX);
	return 0;
}

/* What one put replaced, to put it back when the write fails. */
struct undo {
	const char *id, *key; /* borrowed from the puts */
	char *val;            /* owned: the old value, NULL: none */
};

int cg_state_set_all(struct cg_state *st, const struct cg_state_put *v,
		     size_t n, struct cg_error *err)
{
	struct undo *u;
	size_t i;
	bool over = false, removes = false;
	int rc;

	if (!st->writable)
		return cg_error_set(err, CG_ERR,
				    "%s: not written: this command changes "
				    "nothing",
				    n ? v[0].id : "STATE");
	for (i = 0; i < n; i++)
		if (check_put(&v[i], err) < 0)
			return CG_ERR;
	/*
	 * Keep what each put replaces, so that a failed write leaves memory
	 * as the disk: the cost of the puts, not of all records.
	 */
	u = cg_xcalloc(n + 1, sizeof(*u));
	for (i = 0; i < n; i++) {
		const char *old = cg_state_get(st, v[i].id, v[i].key);

		u[i].id = v[i].id;
		u[i].key = v[i].key;
		u[i].val = old ? cg_xstrdup(old) : NULL;
	}
	for (i = 0; i < n; i++) {
		bool found;
		size_t at = find(st, v[i].id, v[i].key, &found);

		if (!v[i].val) {
			removes = true;
			if (found)
				drop_rec(st, at);
			continue;
		}
		put_rec(st, cg_xstrdup(v[i].id), cg_xstrdup(v[i].key),
			cg_xstrdup(v[i].val));
	}
	for (i = 0; i < n; i++)
		over |= keys_of(st, v[i].id) > CG_STATE_KEYS_MAX;
	if (over || st->n > CG_STATE_RECORDS_MAX)
		rc = cg_error_set(err, CG_ERR,
				  "%s: STATE holds at most %u keys per id and "
				  "%u records",
				  v[0].id, CG_STATE_KEYS_MAX,
				  CG_STATE_RECORDS_MAX);
	else if (!n)
		rc = 0;
	/* Appended lines are bounded: the file stays readable. */
	else if (!removes && st->disk_bytes &&
		 st->disk_bytes < CG_STATE_BYTES_MAX / 2)
		rc = append(st, v, n, err);
	else
		rc = save(st, err);
	if (rc < 0) {
		/* Undo in reverse: a put given twice gets its first value. */
		for (i = n; i-- > 0;) {
			bool found;
			size_t at = find(st, u[i].id, u[i].key, &found);

			if (u[i].val) {
				put_rec(st, cg_xstrdup(u[i].id),
					cg_xstrdup(u[i].key), u[i].val);
				u[i].val = NULL;
			} else if (found) {
				drop_rec(st, at);
			}
		}
	}
	for (i = 0; i < n; i++)
		free(u[i].val);
	free(u);
	return rc;
}

int cg_state_set(struct cg_state *st, const char *id, const char *const *kv,
		 size_t n, struct cg_error *err)
{
	struct cg_state_put *v = cg_xcalloc(n + 1, sizeof(*v));
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		v[i].id = id;
		v[i].key = kv[2 * i];
		v[i].val = kv[2 * i + 1];
	}
	if (!n && !st->writable)
		rc = cg_error_set(err, CG_ERR,
				  "%s: not written: this command changes "
				  "nothing",
				  id);
	else
		rc = cg_state_set_all(st, v, n, err);
	free(v);
	return rc;
}

/* The end of one resource's records in the JSON of cg_state_print. */
static void end_resource(struct cg_json *j)
{
	cg_json_obj_end(j);
	cg_json_obj_end(j);
}

void cg_state_print(const struct cg_state *st, bool json, FILE *out)
{
	struct cg_buf b = { 0 };
	size_t i;

	if (json) {
		struct cg_json j;

		cg_json_init(&j, &b, true);
		cg_json_obj_begin(&j);
		cg_json_kint(&j, "schema_version", CG_JSON_SCHEMA_VERSION);
		cg_json_kstr(&j, "file", st->path);
		cg_json_key(&j, "resources");
		cg_json_arr_begin(&j);
		for (i = 0; i < st->n; i++) {
			if (i == 0 || strcmp(st->v[i].id, st->v[i - 1].id)) {
				if (i)
					end_resource(&j);
				cg_json_obj_begin(&j);
				cg_json_kstr(&j, "id", st->v[i].id);
				cg_json_key(&j, "records");
				cg_json_obj_begin(&j);
			}
			cg_json_kstr(&j, st->v[i].key, st->v[i].val);
		}
		if (st->n)
			end_resource(&j);
		cg_json_arr_end(&j);
		cg_json_obj_end(&j);
		cg_buf_addch(&b, '\n');
	} else if (!st->n) {
		cg_buf_addf(&b, "no records in %s\n", st->path);
	}
	for (i = 0; !json && i < st->n; i++) {
		const char *v = st->v[i].val, *nl;

		if (i == 0 || strcmp(st->v[i].id, st->v[i - 1].id))
			cg_buf_addf(&b, "%s%s\n", i ? "\n" : "", st->v[i].id);
		/* A value of several lines (an error message) is indented. */
		cg_buf_addf(&b, "    %-16s ", st->v[i].key);
		while ((nl = strchr(v, '\n'))) {
			cg_buf_addf(&b, "%.*s\n%21s", (int)(nl - v), v, "");
			v = nl + 1;
		}
		cg_buf_addf(&b, "%s\n", v);
	}
	if (b.len)
		fwrite(b.data, 1, b.len, out);
	cg_buf_release(&b);
}

void cg_state_release(struct cg_state *st)
{
	size_t i;

	if (!st)
		return;
	for (i = 0; i < st->n; i++) {
		free_str(st, st->v[i].id);
		free_str(st, st->v[i].key);
		free_str(st, st->v[i].val);
	}
	free(st->v);
	free(st->text);
	free(st->path);
	memset(st, 0, sizeof(*st));
}
