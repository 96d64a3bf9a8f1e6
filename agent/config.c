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
					NULL };
static const char *const source_keys[] = {
	"url", "branch", "require_signed", "allowed_signers", "ca_file",
	"ssh_key", "known_hosts", "timeout", NULL,
};
static const char *const reports_keys[] = {
	"url", "branch_prefix", "heartbeat", "timeout", "queue_max",
	"queue_max_mb", NULL,
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
		    get_uint(rep, "heartbeat", 7 * 86400, &c->reports_heartbeat,
			     err) < 0 ||
		    get_uint(rep, "timeout", 86400, &c->reports_timeout, err) <
			    0 ||
		    get_uint(rep, "queue_max", 100000, &c->reports_queue_max,
			     err) < 0 ||
		    get_uint(rep, "queue_max_mb", 65536,
			     &c->reports_queue_max_mb, err) < 0)
			return CG_ERR;
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
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT && !explicit_path)
			return 0;
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
	cg_doc_free(doc);
	return rc;
}

void cg_config_release(struct cg_config *c)
{
	if (!c)
		return;
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
	memset(c, 0, sizeof(*c));
}
