/* config_yaml.c (fuzz): the YAML configuration file, loaded as dbmd loads it, then used. */

/*
 * The input is written to dbmd.yaml in a directory of the target's own and loaded with
 * config_load, as dbmd -c would: the built-in defaults, the file, the checks.  Then every
 * environment/role it knows is resolved and printed (fuzz_config_walk), and everything
 * is freed, so that a leak anywhere in the loader is a finding.  An input of odd length
 * is written group- and world-readable, so that the check for passwords in readable
 * files runs too.
 */

#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "dbmd.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[4096];
	struct config_inputs in = { .uid = 1000 };
	struct config *cfg;
	mode_t mode = size % 2 == 1 ? 0644 : 0600;
	int fd;

	if (path[0] == '\0')
		snprintf(path, sizeof(path), "%s/dbmd.yaml", fuzz_tmpdir());
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    (size > 0 && write(fd, data, size) != (ssize_t)size) || fchmod(fd, mode) == -1 ||
	    close(fd) == -1) {
		perror(path);
		abort();
	}
	in.config_file = path;
	cfg = config_load(&in);
	FUZZ_ASSERT(cfg->nfiles == 1);
	fuzz_config_walk(cfg);
	config_free(cfg);
	return 0;
}
