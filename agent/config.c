/* config.c: the agent's own configuration, /etc/congruent/agent.yaml. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "cg/node.h"
#include "cg/store.h"

static const char *const top_keys[] = { "source", "state_dir", "reports",
					"helper_timeout", "backup_max_mb",
					"firewall", NULL };
static const char *const firewall_keys[] = {
	"guard_seconds", "management_port", "canaries", NULL,
};
static const char *const source_keys[] = {
	"url", "branch", "require_signed", "allowed_signers", "ca_file",
	"ssh_key", "known_hosts", "timeout", "verify", "verify_from", NULL,
};
static const char *const reports_keys[] = {
	"url", "branch_prefix", "heartbeat", "timeout", "queue_max", "shards",
	"queue_max_mb", "signing_key", NULL,
};

/* An unsigned number of the reports map into *out, if the key is there. */
static int get_uint(const struct cg_node *map, const char *key,
		    unsigned long max, unsigned *out, struct cg_error *err)
{
	const struct cg_node *n = cg_map_get(map, key);
	unsigned long v;

	if (!n)
		return 0;
	if (cg_node_uint(n, key, max, &v, err) < 0)
		return CG_ERR;
	*out = (unsigned)v;
	return 0;
}

static int get_str(const struct cg_node *map, const char *key, char **out,
		   struct cg_error *err)
{
	const struct cg_node *n = cg_map_get(map, key);
	const char *s;

	if (!n)
		return 0;
	if (cg_node_string(n, key, &s, err) < 0)
		return CG_ERR;
	free(*out);
	*out = cg_xstrdup(s);
	return 0;
}

static int node_fail(const struct cg_node *n, struct cg_error *err,
		     const char *hint, const char *msg)
{
	cg_error_set(err, CG_ERR, "%s", msg);
	cg_error_where(err, "%s:%u", n->doc->name, n->line);
	if (hint)
		cg_error_hint(err, "%s", hint);
	return CG_ERR;
}

/* source.verify: "tip" (the default) or "every_commit". */
static int parse_verify(struct cg_config *c, const struct cg_node *n,
			struct cg_error *err)
{
	const char *s;

	if (cg_node_string(n, "verify", &s, err) < 0)
		return CG_ERR;
	if (strcmp(s, "tip") && strcmp(s, "every_commit"))
		return node_fail(n, err, "write verify: tip (the default) or "
					 "verify: every_commit",
				 "verify must be 'tip' or 'every_commit'");
	c->verify_every_commit = strcmp(s, "every_commit") == 0;
	return 0;
}

/* "host:port", "[v6]:port": split, or -1. */
static int split_hostport(const char *s, char **host, char **port)
{
	const char *colon;
	size_t hl;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -1;
		*host = cg_xstrndup(s + 1, (size_t)(close - s - 1));
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			return -1;
		hl = (size_t)(colon - s);
		*host = cg_xstrndup(s, hl);
	}
	*port = cg_xstrdup(colon + 1);
	if (!(*host)[0] || !(*port)[0] ||
	    strspn(*port, "0123456789") != strlen(*port) ||
	    strtoul(*port, NULL, 10) == 0 || strtoul(*port, NULL, 10) > 65535) {
		free(*host);
		free(*port);
		*host = *port = NULL;
		return -1;
	}
	return 0;
}

static int parse_canary(struct cg_config_canary *k, const struct cg_node *n,
			struct cg_error *err)
{
	const char *hint = "write \"host:port\" (a TCP connect) or "
			   "{ command: [program, arg, ...] }";
	char where[256];

	snprintf(where, sizeof(where), "canary at %s:%u", n->doc->name,
		 n->line);
	if (n->kind == CG_NODE_SCALAR) {
		if (split_hostport(n->str, &k->host, &k->port) < 0)
			return node_fail(n, err, hint,
					 "a canary is host:port with a port "
					 "from 1 to 65535");
	} else if (n->kind == CG_NODE_MAP) {
		static const char *const keys[] = { "command", NULL };
		const struct cg_node *cmd;
		const char **v;
		size_t i, nv;

		if (cg_map_check_keys(n, keys, "a canary", err) < 0)
			return CG_ERR;
		cmd = cg_map_get(n, "command");
		if (!cmd)
			return node_fail(n, err, hint, "a canary map needs "
						       "command:");
		if (cg_node_strlist(cmd, "command", &v, &nv, err) < 0)
			return CG_ERR;
		if (!nv) {
			free(v);
			return node_fail(cmd, err, hint,
					 "a canary's command cannot be empty");
		}
		k->argv = cg_xcalloc(nv + 1, sizeof(*k->argv));
		for (i = 0; i < nv; i++)
			k->argv[i] = cg_xstrdup(v[i]);
		free(v);
	} else {
		return node_fail(n, err, hint, "a canary is a string or a map");
	}
	k->why = cg_xstrdup(where);
	return 0;
}

static int parse_firewall(struct cg_config *c, const struct cg_node *fw,
			  struct cg_error *err)
{
	const struct cg_node *n;
	size_t i;

	if (fw->kind != CG_NODE_MAP)
		return node_fail(fw, err, NULL, "'firewall' must be a map");
	if (cg_map_check_keys(fw, firewall_keys, "firewall", err) < 0 ||
	    get_uint(fw, "guard_seconds", 3600, &c->guard_seconds, err) < 0 ||
	    get_uint(fw, "management_port", 65535, &c->management_port,
		     err) < 0)
		return CG_ERR;
	n = cg_map_get(fw, "canaries");
	if (!n)
		return 0;
	c->canaries_set = true;
	if (n->kind == CG_NODE_SCALAR && n->plain && n->len == 0)
		return 0;
	if (n->kind != CG_NODE_SEQ)
		return node_fail(n, err, "canaries: [\"git.example.com:443\"]",
				 "canaries must be a list");
	c->canaries = cg_xcalloc(n->len + 1, sizeof(*c->canaries));
	for (i = 0; i < n->len; i++) {
		if (parse_canary(&c->canaries[i], n->items[i], err) < 0)
			return CG_ERR;
		c->ncanaries++;
	}
	return 0;
}

static int parse(struct cg_config *c, const struct cg_node *root,
		 struct cg_error *err)
{
	const struct cg_node *src, *rep, *n;
	unsigned long t;

	if (!root)
		return 0;
	if (root->kind != CG_NODE_MAP) {
		cg_error_set(err, CG_ERR, "the agent config must be a map");
		cg_error_where(err, "%s:%u", root->doc->name, root->line);
		return CG_ERR;
	}
	if (cg_map_check_keys(root, top_keys, "the agent config", err) < 0 ||
	    get_str(root, "state_dir", &c->state_dir, err) < 0 ||
	    get_uint(root, "backup_max_mb", 1u << 20, &c->backup_max_mb,
		     err) < 0)
		return CG_ERR;
	n = cg_map_get(root, "helper_timeout");
	if (n) {
		if (cg_node_uint(n, "helper_timeout", 86400, &t, err) < 0)
			return CG_ERR;
		if (t == 0) {
			cg_error_set(err, CG_ERR, "helper_timeout must be at "
						  "least 1 second");
			cg_error_where(err, "%s:%u", n->doc->name, n->line);
			return CG_ERR;
		}
		c->helper_timeout = (unsigned)t;
	}
	n = cg_map_get(root, "firewall");
	if (n && parse_firewall(c, n, err) < 0)
		return CG_ERR;
	src = cg_map_get(root, "source");
	if (src) {
		if (src->kind != CG_NODE_MAP) {
			cg_error_set(err, CG_ERR, "'source' must be a map");
			cg_error_where(err, "%s:%u", src->doc->name, src->line);
			return CG_ERR;
		}
		if (cg_map_check_keys(src, source_keys, "source", err) < 0 ||
		    get_str(src, "url", &c->source_url, err) < 0 ||
		    get_str(src, "branch", &c->source_branch, err) < 0 ||
		    get_str(src, "allowed_signers", &c->allowed_signers, err) <
			    0 ||
		    get_str(src, "ca_file", &c->ca_file, err) < 0 ||
		    get_str(src, "ssh_key", &c->ssh_key, err) < 0 ||
		    get_str(src, "known_hosts", &c->known_hosts, err) < 0)
			return CG_ERR;
		n = cg_map_get(src, "require_signed");
		if (n && cg_node_bool(n, "require_signed", &c->require_signed,
				      err) < 0)
			return CG_ERR;
		n = cg_map_get(src, "verify");
		if (n && parse_verify(c, n, err) < 0)
			return CG_ERR;
		if (get_str(src, "verify_from", &c->verify_from, err) < 0)
			return CG_ERR;
		n = cg_map_get(src, "timeout");
		if (n) {
			if (cg_node_uint(n, "timeout", 86400, &t, err) < 0)
				return CG_ERR;
			c->timeout = (unsigned)t;
		}
		if (c->require_signed && !c->allowed_signers) {
			cg_error_set(err, CG_ERR, "require_signed needs "
						  "allowed_signers");
			cg_error_where(err, "%s:%u", src->doc->name, src->line);
			cg_error_hint(err, "add allowed_signers: "
					   "/etc/congruent/allowed_signers");
			return CG_ERR;
		}
		if (c->verify_every_commit && !c->require_signed) {
			cg_error_set(err, CG_ERR, "verify: every_commit needs "
						  "require_signed: true");
			cg_error_where(err, "%s:%u", src->doc->name, src->line);
			cg_error_hint(err, "add require_signed: true, or drop "
					   "verify");
			return CG_ERR;
		}
	}
	rep = cg_map_get(root, "reports");
	if (rep) {
		if (rep->kind != CG_NODE_MAP) {
			cg_error_set(err, CG_ERR, "'reports' must be a map");
			cg_error_where(err, "%s:%u", rep->doc->name, rep->line);
			return CG_ERR;
		}
		if (cg_map_check_keys(rep, reports_keys, "reports", err) < 0 ||
		    get_str(rep, "url", &c->reports_url, err) < 0 ||
		    get_str(rep, "branch_prefix", &c->reports_prefix, err) < 0 ||
		    get_str(rep, "signing_key", &c->reports_signing_key, err) <
			    0 ||
		    get_uint(rep, "heartbeat", 7 * 86400, &c->reports_heartbeat,
			     err) < 0 ||
		    get_uint(rep, "timeout", 86400, &c->reports_timeout, err) <
			    0 ||
		    get_uint(rep, "queue_max", 100000, &c->reports_queue_max,
			     err) < 0 ||
		    get_uint(rep, "queue_max_mb", 65536,
			     &c->reports_queue_max_mb, err) < 0 ||
		    get_uint(rep, "shards", 65536, &c->reports_shards, err) < 0)
			return CG_ERR;
		if (c->reports_shards == 0 ||
		    (c->reports_shards > 1 &&
		     (!c->reports_url || !strstr(c->reports_url, "{shard}")))) {
			cg_error_set(err, CG_ERR, "reports: shards %u needs a url "
						  "with {shard} in it",
				     c->reports_shards);
			cg_error_hint(err, "for example url: "
					   "git://git.example.com/reports-{shard}.git");
			cg_error_where(err, "%s:%u", rep->doc->name, rep->line);
			return CG_ERR;
		}
		if (c->reports_queue_max == 0 || c->reports_queue_max_mb == 0) {
			cg_error_set(err, CG_ERR, "reports: queue_max and "
						  "queue_max_mb must be at "
						  "least 1");
			cg_error_where(err, "%s:%u", rep->doc->name, rep->line);
			return CG_ERR;
		}
	}
	return 0;
}

static void default_canaries(struct cg_config *c);

int cg_config_load(struct cg_config *c, const char *path, bool explicit_path,
		   struct cg_error *err)
{
	struct cg_doc *doc = NULL;
	int fd, rc;

	memset(c, 0, sizeof(*c));
	c->source_branch = cg_xstrdup("main");
	c->timeout = 60;
	c->helper_timeout = CG_DEFAULT_HELPER_TIMEOUT;
	c->backup_max_mb = CG_STORE_MAX_MB;
	c->state_dir = cg_xstrdup(CG_DEFAULT_STATE_DIR);
	c->reports_prefix = cg_xstrdup("hosts/");
	c->reports_heartbeat = CG_REPORTS_HEARTBEAT;
	c->reports_timeout = 60;
	c->reports_queue_max = 500;
	c->reports_queue_max_mb = 64;
	c->reports_shards = 1;
	c->guard_seconds = 30;
	c->management_port = 22;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT && !explicit_path)
			return 0; /* no URLs: no default canaries */
		rc = cg_error_sys(err, CG_ERR, "cannot read agent config %s",
				  path);
		cg_error_hint(err, "pass -c FILE, or --policy DIR to run "
				   "without one");
		return rc;
	}
	c->path = cg_xstrdup(path);
	rc = cg_doc_load_fd(&doc, fd, path, err);
	close(fd);
	if (rc == 0)
		rc = parse(c, doc->root, err);
	if (rc == 0)
		default_canaries(c);
	cg_doc_free(doc);
	return rc;
}

/*
 * The server of a network URL: "https://h[:p]/..", "ssh://u@h[:p]/..",
 * "git://..", "http://..", or scp-like "u@h:path". false for a path or
 * file://.
 */
static bool url_server(const char *url, char *host, size_t hsize, char *port,
		       size_t psize)
{
	static const struct { const char *scheme, *port; } schemes[] = {
		{ "https://", "443" }, { "http://", "80" },
		{ "ssh://", "22" },    { "git://", "9418" },
	};
	const char *p = NULL, *end, *at, *colon;
	const char *dport = NULL;
	size_t i;

	if (!url)
		return false;
	for (i = 0; i < CG_ARRAY_SIZE(schemes); i++)
		if (cg_str_starts(url, schemes[i].scheme)) {
			p = url + strlen(schemes[i].scheme);
			dport = schemes[i].port;
		}
	if (!p) {
		/* scp-like: a ':' before any '/', and not a path */
		colon = strchr(url, ':');
		if (strstr(url, "://") || !colon || url[0] == '/' ||
		    (strchr(url, '/') && strchr(url, '/') < colon))
			return false;
		at = memchr(url, '@', (size_t)(colon - url));
		p = at ? at + 1 : url;
		snprintf(host, hsize, "%.*s", (int)(colon - p), p);
		snprintf(port, psize, "22");
		return host[0] != '\0';
	}
	end = p + strcspn(p, "/?#");
	at = memchr(p, '@', (size_t)(end - p));
	if (at)
		p = at + 1;
	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));

		if (!close)
			return false;
		snprintf(host, hsize, "%.*s", (int)(close - p - 1), p + 1);
		colon = close[1] == ':' ? close + 1 : NULL;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		snprintf(host, hsize, "%.*s",
			 (int)((colon ? colon : end) - p), p);
	}
	if (colon && colon + 1 < end)
		snprintf(port, psize, "%.*s", (int)(end - colon - 1),
			 colon + 1);
	else
		snprintf(port, psize, "%s", dport);
	return host[0] != '\0';
}

void cg_config_canaries(const struct cg_config *c, bool pulling,
			bool reporting, struct cg_canary **out, size_t *n)
{
	struct cg_config_canary *k = c->canaries;
	size_t i, m = 0;

	*out = cg_xcalloc(c->ncanaries + 1, sizeof(**out));
	for (i = 0; i < c->ncanaries; i++) {
		if ((k[i].server == 1 && !pulling) ||
		    (k[i].server == 2 && !reporting))
			continue;
		(*out)[m].host = k[i].host;
		(*out)[m].port = k[i].port;
		(*out)[m].argv = (const char *const *)k[i].argv;
		(*out)[m++].why = k[i].why;
	}
	*n = m;
}

/* Without canaries:, those of the URLs: they become the config's own. */
static void default_canaries(struct cg_config *c)
{
	const char *urls[2] = { c->source_url, c->reports_url };
	const char *why[2] = { "the policy git server", "the reports server" };
	char host[256], port[16];
	size_t i;

	if (c->canaries_set)
		return;
	c->canaries = cg_xcalloc(3, sizeof(*c->canaries));
	for (i = 0; i < 2; i++) {
		if (!url_server(urls[i], host, sizeof(host), port,
				sizeof(port)))
			continue;
		c->canaries[c->ncanaries].host = cg_xstrdup(host);
		c->canaries[c->ncanaries].port = cg_xstrdup(port);
		c->canaries[c->ncanaries].server = (int)i + 1;
		c->canaries[c->ncanaries++].why = cg_xstrdup(why[i]);
	}
}

void cg_config_release(struct cg_config *c)
{
	size_t i, k;

	if (!c)
		return;
	for (i = 0; i < c->ncanaries; i++) {
		free(c->canaries[i].host);
		free(c->canaries[i].port);
		free(c->canaries[i].why);
		for (k = 0; c->canaries[i].argv && c->canaries[i].argv[k]; k++)
			free(c->canaries[i].argv[k]);
		free(c->canaries[i].argv);
	}
	free(c->canaries);
	free(c->path);
	free(c->source_url);
	free(c->source_branch);
	free(c->allowed_signers);
	free(c->ca_file);
	free(c->ssh_key);
	free(c->known_hosts);
	free(c->state_dir);
	free(c->reports_url);
	free(c->reports_prefix);
	free(c->reports_signing_key);
	free(c->verify_from);
	memset(c, 0, sizeof(*c));
}
