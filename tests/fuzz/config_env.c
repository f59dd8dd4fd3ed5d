/* config_env.c (fuzz): DBMD_ variables, --set arguments and a client's overrides. */

/*
 * The input is read a line at a time.  A line that starts with '-' is a --set argument
 * (the rest of the line), one that starts with '+' a client's override KEY=VALUE, any
 * other line a variable of dbmd's environment (NAME=VALUE, DBMD_ or not: XDG_RUNTIME_DIR
 * and STATE_DIRECTORY change defaults).  The configuration file named is an empty one of
 * the target's own, so that nothing on the machine is read.  The configuration is
 * loaded, every environment/role resolved (fuzz_config_walk) and resolved again with the
 * overrides, and all of it freed.
 */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbmd.h"
#include "fuzz.h"

#define LINES_MAX	64

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[4096];
	struct config_inputs in = { .uid = 1000 };
	struct cfg_override ov[LINES_MAX];
	char *text, *line, *next, *eq, *env[LINES_MAX + 1];
	const char *sets[LINES_MAX + 1];
	const struct cfg_name *n;
	struct role_config *rc;
	struct cfg_errors errs;
	struct config *cfg;
	size_t nenv = 0, nsets = 0, nov = 0;
	int fd;

	if (path[0] == '\0') {
		snprintf(path, sizeof(path), "%s/empty.yaml", fuzz_tmpdir());
		if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
		    close(fd) == -1) {
			perror(path);
			abort();
		}
	}
	text = fuzz_strndup(data, size);
	for (line = text; line != NULL && nenv + nsets + nov < LINES_MAX; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (line[0] == '-')
			sets[nsets++] = line + 1;
		else if (line[0] == '+') {
			ov[nov].key = line + 1;
			ov[nov].value = "";
			if ((eq = strchr(line, '=')) != NULL) {
				*eq = '\0';
				ov[nov].value = eq + 1;
			}
			nov++;
		} else
			env[nenv++] = line;
	}
	env[nenv] = NULL;
	sets[nsets] = NULL;
	in.config_file = path;
	in.environ = env;
	in.sets = sets;
	cfg = config_load(&in);
	fuzz_config_walk(cfg);
	TAILQ_INIT(&errs);
	TAILQ_FOREACH(n, &cfg->names, entry) {
		if (n->role == NULL)
			continue;
		rc = config_resolve(cfg, n->env, n->role, ov, nov, &errs);
		role_config_free(rc);
	}
	config_errors_clear(&errs);
	config_free(cfg);
	free(text);
	return 0;
}
