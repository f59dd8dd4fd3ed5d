/* config_file.c: the YAML configuration files, read with libyaml into settings. */

#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "dbmd.h"

#define YAML_DEPTH_MAX	8	/* deeper than any configuration needs */

enum ynode_kind {
	Y_SCALAR,		/* text, plain or quoted */
	Y_SEQ,			/* kids are the items */
	Y_MAP,			/* kids alternate key, value */
};

/* A YAML node with its position; the loader types scalars itself. */
struct ynode {
	enum ynode_kind	  kind;
	char		 *text;		/* scalars */
	int		  quoted;	/* any style but plain: always a string */
	size_t		  line, col;	/* 1-based */
	struct ynode	**kids;
	size_t		  nkids;
};

/* One file being read. */
struct yfile {
	struct config	*cfg;
	const char	*path;
	yaml_parser_t	 parser;
	int		 failed;	/* the tree is unusable */
	mode_t		 mode;		/* for the password check */
};

static char *
where_at(const struct yfile *yf, size_t line, size_t col)
{
	return xasprintf("%s:%zu:%zu", yf->path, line, col);
}

static void
yerror(struct yfile *yf, enum cfg_errcode code, const struct ynode *at, const char *fmt, ...)
    ATTR_PRINTF(4, 5);

static void
yerror(struct yfile *yf, enum cfg_errcode code, const struct ynode *at, const char *fmt, ...)
{
	char *where = where_at(yf, at->line, at->col), *msg;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		fatal("vasprintf");
	va_end(ap);
	config_error(&yf->cfg->errors, code, where, "%s", msg);
	free(msg);
	free(where);
}

static void
ynode_free(struct ynode *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nkids; i++)
		ynode_free(n->kids[i]);
	free(n->kids);
	free(n->text);
	free(n);
}

static void
ynode_add(struct ynode *parent, struct ynode *kid)
{
	struct ynode **nk = realloc(parent->kids, (parent->nkids + 1) * sizeof(*nk));

	if (nk == NULL)
		fatal("realloc");
	parent->kids = nk;
	parent->kids[parent->nkids++] = kid;
}

static int
next_event(struct yfile *yf, yaml_event_t *ev)
{
	char *where;

	if (yaml_parser_parse(&yf->parser, ev))
		return 0;
	where = where_at(yf, yf->parser.problem_mark.line + 1, yf->parser.problem_mark.column + 1);
	config_error(&yf->cfg->errors, CFG_E_SYNTAX, where, "YAML syntax error: %s%s%s",
	    yf->parser.problem ? yf->parser.problem : "unknown problem",
	    yf->parser.context ? " " : "", yf->parser.context ? yf->parser.context : "");
	free(where);
	yf->failed = 1;
	return -1;
}

/*
 * Builds the node for the event ev (already read) and everything under it.  Anchors,
 * aliases and tags have no use in a configuration and are refused rather than half
 * understood; so is nesting deeper than YAML_DEPTH_MAX.
 */
static struct ynode *
parse_node(struct yfile *yf, yaml_event_t *ev, int depth)
{
	struct ynode *n = xcalloc(1, sizeof(*n)), *kid;
	yaml_event_type_t end;
	yaml_event_t kev;
	const char *anchor = NULL, *tag = NULL;

	n->line = ev->start_mark.line + 1;
	n->col = ev->start_mark.column + 1;
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		n->kind = Y_SCALAR;
		n->text = strndup((char *)ev->data.scalar.value, ev->data.scalar.length);
		if (n->text == NULL)
			fatal("strndup");
		if (strlen(n->text) != ev->data.scalar.length) {
			yerror(yf, CFG_E_STRUCTURE, n, "a value holds a NUL byte");
			yf->failed = 1;
		}
		n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
		anchor = (char *)ev->data.scalar.anchor;
		tag = (char *)ev->data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		n->kind = Y_SEQ;
		anchor = (char *)ev->data.sequence_start.anchor;
		tag = (char *)ev->data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		n->kind = Y_MAP;
		anchor = (char *)ev->data.mapping_start.anchor;
		tag = (char *)ev->data.mapping_start.tag;
		break;
	case YAML_ALIAS_EVENT:
		yerror(yf, CFG_E_STRUCTURE, n, "aliases (*%s) are not supported: write the value "
		    "out", (char *)ev->data.alias.anchor);
		yf->failed = 1;
		return n;
	default:
		yerror(yf, CFG_E_STRUCTURE, n, "unexpected YAML event");
		yf->failed = 1;
		return n;
	}
	if (anchor != NULL) {
		yerror(yf, CFG_E_STRUCTURE, n, "anchors (&%s) are not supported", anchor);
		yf->failed = 1;
	}
	if (tag != NULL) {
		yerror(yf, CFG_E_STRUCTURE, n, "tags (%s) are not supported: dbmd types values "
		    "by key", tag);
		yf->failed = 1;
	}
	if (n->kind == Y_SCALAR)
		return n;
	if (depth >= YAML_DEPTH_MAX) {
		yerror(yf, CFG_E_STRUCTURE, n, "nested deeper than %d levels", YAML_DEPTH_MAX);
		yf->failed = 1;
		return n;
	}
	end = n->kind == Y_SEQ ? YAML_SEQUENCE_END_EVENT : YAML_MAPPING_END_EVENT;
	for (;;) {
		if (next_event(yf, &kev) == -1)
			return n;
		if (kev.type == end) {
			yaml_event_delete(&kev);
			return n;
		}
		kid = parse_node(yf, &kev, depth + 1);
		yaml_event_delete(&kev);
		ynode_add(n, kid);
		if (yf->failed)
			return n;
	}
}

/* Reads the single document of a stream; NULL for an empty file or on error. */
static struct ynode *
parse_stream(struct yfile *yf)
{
	struct ynode *root = NULL;
	yaml_event_t ev;
	int docs = 0;

	for (;;) {
		if (next_event(yf, &ev) == -1)
			break;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			yaml_event_delete(&ev);
			return root;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				struct ynode at = { .line = ev.start_mark.line + 1,
				    .col = ev.start_mark.column + 1 };

				yerror(yf, CFG_E_STRUCTURE, &at, "a second YAML document: a "
				    "configuration file holds one; use a file in dbmd.d/ instead");
				yf->failed = 1;
			}
			break;
		case YAML_SCALAR_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
		case YAML_ALIAS_EVENT:
			root = parse_node(yf, &ev, 0);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (yf->failed)
			break;
	}
	ynode_free(root);
	return NULL;
}

static int
is_null(const struct ynode *n)
{
	return n->kind == Y_SCALAR && !n->quoted &&
	    (n->text[0] == '\0' || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0);
}

static const char *
kind_name(const struct ynode *n)
{
	return n->kind == Y_MAP ? "a mapping" : n->kind == Y_SEQ ? "a list" : "a value";
}

/* True when the key at index i of a mapping can be walked: a scalar, not a repeat. */
static int
key_usable(const struct ynode *map, size_t i)
{
	size_t j;

	if (map->kids[i]->kind != Y_SCALAR)
		return 0;
	for (j = 0; j < i; j += 2)
		if (map->kids[j]->kind == Y_SCALAR &&
		    strcmp(map->kids[j]->text, map->kids[i]->text) == 0)
			return 0;
	return 1;
}

/*
 * Checks a mapping: keys must be scalars and unique.  Each bad key is reported and
 * skipped by the walkers (key_usable), so the rest of the mapping is still checked.
 * Returns -1 only when the node is not a mapping at all.
 */
static int
check_map(struct yfile *yf, const struct ynode *map, const char *what)
{
	size_t i, j;

	if (map->kind != Y_MAP) {
		yerror(yf, CFG_E_TYPE, map, "%s must be a mapping of keys, not %s", what,
		    kind_name(map));
		return -1;
	}
	for (i = 0; i < map->nkids; i += 2) {
		const struct ynode *k = map->kids[i];

		if (k->kind != Y_SCALAR) {
			yerror(yf, CFG_E_STRUCTURE, k, "a key must be a plain name, not %s",
			    kind_name(k));
			continue;
		}
		for (j = 0; j < i; j += 2) {
			const struct ynode *prev = map->kids[j];

			if (prev->kind == Y_SCALAR && strcmp(prev->text, k->text) == 0) {
				yerror(yf, CFG_E_DUPLICATE, k, "duplicate key \"%s\" (first at line "
				    "%zu)", k->text, prev->line);
				break;
			}
		}
	}
	return 0;
}

/* True when name is a dotted prefix of a key of the scope, e.g. "cache" of cache.size. */
static int
key_prefix(enum cfg_scope scope, const char *name)
{
	const struct cfg_key *k;
	size_t len = strlen(name);

	for (k = cfg_keys; k->name != NULL; k++)
		if (k->scope == scope && strncmp(k->name, name, len) == 0 && k->name[len] == '.')
			return 1;
	return 0;
}

static void walk_keys(struct yfile *, const struct ynode *, enum cfg_scope, const char *,
    const char *, const char *);

/* One key: a value for a known key, a nested mapping of keys, or an error. */
static void
walk_key(struct yfile *yf, const struct ynode *kn, const struct ynode *vn,
    enum cfg_scope scope, const char *env, const char *role, const char *prefix)
{
	const struct cfg_key *k;
	struct cfg_value v;
	char *full = xasprintf("%s%s", prefix, kn->text), *where;
	const char *hint;
	int rc;

	k = config_key_find(scope, full);
	if (k == NULL && key_prefix(scope, full) && vn->kind == Y_MAP) {
		char *sub = xasprintf("%s.", full);

		walk_keys(yf, vn, scope, env, role, sub);
		free(sub);
		free(full);
		return;
	}
	if (k == NULL) {
		hint = config_suggest(scope, full, NULL);
		yerror(yf, CFG_E_UNKNOWN_KEY, kn, "unknown key \"%s\"%s%s%s", full,
		    hint ? " (did you mean " : "", hint ? hint : "", hint ? "?)" : "");
		free(full);
		return;
	}
	where = where_at(yf, vn->line, vn->col);
	if (k->type == CFG_T_NAMES || k->type == CFG_T_KEYS) {
		const char **items, **wheres;
		size_t i;

		if (vn->kind != Y_SEQ) {
			yerror(yf, CFG_E_TYPE, vn, "%s: expected a list such as [a, b], got %s",
			    k->name, kind_name(vn));
			goto done;
		}
		items = xcalloc(vn->nkids + 1, sizeof(*items));
		wheres = xcalloc(vn->nkids + 1, sizeof(*wheres));
		rc = 0;
		for (i = 0; i < vn->nkids; i++) {
			wheres[i] = where_at(yf, vn->kids[i]->line, vn->kids[i]->col);
			if (vn->kids[i]->kind != Y_SCALAR || is_null(vn->kids[i])) {
				yerror(yf, CFG_E_TYPE, vn->kids[i], "%s: list items must be names",
				    k->name);
				rc = -1;
			}
			items[i] = vn->kids[i]->text ? vn->kids[i]->text : "";
		}
		if (rc == 0 && config_parse_list(k, items, vn->nkids, &v, &yf->cfg->errors,
		    wheres) == 0) {
			char *kwhere = where_at(yf, kn->line, kn->col);

			config_add(yf->cfg, CFG_SRC_FILE, env, role, k, &v, kwhere);
			free(kwhere);
		}
		for (i = 0; i < vn->nkids; i++)
			free((char *)wheres[i]);
		free(wheres);
		free(items);
		goto done;
	}
	if (vn->kind != Y_SCALAR) {
		yerror(yf, CFG_E_TYPE, vn, "%s: expected a single value, got %s", k->name,
		    kind_name(vn));
		goto done;
	}
	if (is_null(vn)) {
		yerror(yf, CFG_E_MISSING, vn, "%s: has no value", k->name);
		goto done;
	}
	if (config_parse_value(k, vn->text, vn->quoted, &v, &yf->cfg->errors, where) == 0) {
		char *kwhere = where_at(yf, kn->line, kn->col);

		if (k->type == CFG_T_URI && uri_has_password(v.str) && (yf->mode & 044)) {
			yerror(yf, CFG_E_PERMISSION, vn, "uri holds a password or another secret but this file is readable by "
			    "%s (mode %04o): chmod 600 it, or keep the password in a libpq passfile "
			    "or in DBMD_ variables", (yf->mode & 04) ? "others" : "its group",
			    (unsigned)(yf->mode & 07777));
			config_value_free(&v);
		} else
			config_add(yf->cfg, CFG_SRC_FILE, env, role, k, &v, kwhere);
		free(kwhere);
	}
done:
	free(where);
	free(full);
}

static void
walk_keys(struct yfile *yf, const struct ynode *map, enum cfg_scope scope, const char *env,
    const char *role, const char *prefix)
{
	size_t i;

	if (check_map(yf, map, prefix[0] ? prefix : "a role") == -1)
		return;
	for (i = 0; i + 1 < map->nkids; i += 2)
		if (key_usable(map, i))
			walk_key(yf, map->kids[i], map->kids[i + 1], scope, env, role, prefix);
}

static void
walk_env(struct yfile *yf, const struct ynode *name, const struct ynode *map)
{
	char *where = where_at(yf, name->line, name->col);
	const struct ynode *kn, *vn, *rn;
	size_t i, j;

	if (config_name_valid(name->text, 0, &yf->cfg->errors, where) == -1 ||
	    check_map(yf, map, "an environment") == -1) {
		free(where);
		return;
	}
	config_name_add(yf->cfg, CFG_SRC_FILE, name->text, NULL);
	for (i = 0; i + 1 < map->nkids; i += 2) {
		if (!key_usable(map, i))
			continue;
		kn = map->kids[i];
		vn = map->kids[i + 1];
		if (strcmp(kn->text, "roles") != 0) {
			walk_key(yf, kn, vn, CFG_SCOPE_ROLE, name->text, NULL, "");
			continue;
		}
		if (check_map(yf, vn, "roles") == -1)
			continue;
		for (j = 0; j + 1 < vn->nkids; j += 2) {
			char *rwhere;

			if (!key_usable(vn, j))
				continue;
			rn = vn->kids[j];
			rwhere = where_at(yf, rn->line, rn->col);
			if (config_name_valid(rn->text, 1, &yf->cfg->errors, rwhere) == 0) {
				config_name_add(yf->cfg, CFG_SRC_FILE, name->text, rn->text);
				if (!is_null(vn->kids[j + 1]))
					walk_keys(yf, vn->kids[j + 1], CFG_SCOPE_ROLE, name->text,
					    rn->text, "");
			}
			free(rwhere);
		}
	}
	free(where);
}

/* The top level: a mapping with "daemon" and "environments". */
static void
walk_top(struct yfile *yf, const struct ynode *root)
{
	const struct ynode *kn, *vn;
	size_t i, j;

	if (is_null(root))
		return;
	if (check_map(yf, root, "the top level") == -1)
		return;
	for (i = 0; i + 1 < root->nkids; i += 2) {
		if (!key_usable(root, i))
			continue;
		kn = root->kids[i];
		vn = root->kids[i + 1];
		if (is_null(vn))
			continue;
		if (strcmp(kn->text, "daemon") == 0) {
			walk_keys(yf, vn, CFG_SCOPE_DAEMON, NULL, NULL, "");
		} else if (strcmp(kn->text, "environments") == 0) {
			if (check_map(yf, vn, "environments") == -1)
				continue;
			for (j = 0; j + 1 < vn->nkids; j += 2)
				if (key_usable(vn, j))
					walk_env(yf, vn->kids[j], vn->kids[j + 1]);
		} else {
			yerror(yf, CFG_E_UNKNOWN_KEY, kn, "unknown top-level key \"%s\": the top "
			    "level has daemon: and environments:%s", kn->text,
			    config_name_valid(kn->text, 0, NULL, NULL) == 0 ?
			    " (environments go under environments:)" : "");
		}
	}
}

/*
 * Reads one YAML file into cfg as file settings.  A missing file is skipped when
 * optional.  Every problem is added to cfg's errors with its file:line:col.
 */
int
config_file_load(struct config *cfg, const char *path, int optional)
{
	struct yfile yf = { .cfg = cfg, .path = path };
	struct ynode *root;
	struct stat st;
	char **nf;
	FILE *fp;
	int nerr = config_nerrors(cfg);

	if ((fp = fopen(path, "r")) == NULL) {
		if (optional && errno == ENOENT)
			return 0;
		config_error(&cfg->errors, CFG_E_FILE, path, "cannot read: %s", strerror(errno));
		return -1;
	}
	if (fstat(fileno(fp), &st) == -1 || !S_ISREG(st.st_mode)) {
		config_error(&cfg->errors, CFG_E_FILE, path, "not a regular file");
		fclose(fp);
		return -1;
	}
	yf.mode = st.st_mode & 07777;
	nf = realloc(cfg->files, (cfg->nfiles + 1) * sizeof(*nf));
	if (nf == NULL)
		fatal("realloc");
	cfg->files = nf;
	cfg->files[cfg->nfiles++] = xstrdup(path);

	if (!yaml_parser_initialize(&yf.parser))
		fatalx("yaml_parser_initialize");
	yaml_parser_set_input_file(&yf.parser, fp);
	root = parse_stream(&yf);
	if (root != NULL && !yf.failed)
		walk_top(&yf, root);
	ynode_free(root);
	yaml_parser_delete(&yf.parser);
	fclose(fp);
	return config_nerrors(cfg) == nerr ? 0 : -1;
}
