/* main.c: dbmd's command line: run the broker, check or resolve the configuration. */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "dbmd.h"

extern char **environ;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: dbmd [-fnv] [-c file] [-s socket] [--set key=value]... [--log-level level]\n"
	    "       dbmd [-c file] [--set key=value]... --resolve environment role\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'n' },
		{ "socket", required_argument, NULL, 's' },
		{ "set", required_argument, NULL, 'S' },
		{ "resolve", no_argument, NULL, 'R' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct config_inputs in = { .environ = environ, .uid = getuid() };
	const char **sets;
	char *sockset = NULL, *levelset = NULL;
	struct config *cfg;
	struct role_config *rc;
	struct cfg_errors errs;
	int ch, check = 0, resolve = 0, nsets = 0, sockidx = 0, level = -1, rv;

	/* --set arguments, plus -s and --log-level as the --set they stand for. */
	sets = calloc((size_t)argc + 1, sizeof(*sets));
	if (sets == NULL)
		fatal("calloc");
	while ((ch = getopt_long(argc, argv, "c:fhns:vV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			in.config_file = optarg;
			break;
		case 'f':
			break;	/* dbmd never daemonizes itself: systemd or the shell runs it */
		case 'n':
			check = 1;
			break;
		case 's':
			if (sockset == NULL)
				sockidx = nsets++;
			free(sockset);
			sockset = xasprintf("daemon.socket=%s", optarg);
			sets[sockidx] = sockset;
			break;
		case 'S':
			sets[nsets++] = optarg;
			break;
		case 'R':
			resolve = 1;
			break;
		case 'L':
			if ((level = log_level_parse(optarg)) < 0) {
				fprintf(stderr, "dbmd: unknown log level \"%s\"\n", optarg);
				usage();
			}
			break;
		case 'v':
			level = LOG_DEBUG;
			break;
		case 'V':
			printf("dbmd %s\n", DBMD_VERSION);
			return 0;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (resolve ? argc != 2 : argc != 0)
		usage();
	if (level >= 0) {
		levelset = xasprintf("daemon.log_level=%s", log_level_name(level));
		sets[nsets++] = levelset;
	}

	log_init(level >= 0 ? level : LOG_INFO);
	in.sets = sets;
	cfg = config_load(&in);
	rv = 0;
	if (!check && !resolve) {
		if (config_nerrors(cfg) > 0) {
			config_errors_print(&cfg->errors, stderr);
			fprintf(stderr, "dbmd: not starting: %d configuration error%s\n",
			    config_nerrors(cfg), config_nerrors(cfg) == 1 ? "" : "s");
			rv = 1;
		} else {
			log_setlevel((int)cfg->daemon.log_level);
			rv = daemon_run(cfg, &in);
			cfg = NULL;	/* the daemon's now, freed by it */
		}
	} else if (resolve) {
		/* Problems elsewhere in the configuration are reported, but do not hide this one. */
		TAILQ_INIT(&errs);
		rc = config_resolve(cfg, argv[0], argv[1], NULL, 0, &errs);
		if (rc != NULL) {
			config_print_resolved(rc, stdout);
			role_config_free(rc);
		} else {
			config_errors_print(&errs, stderr);
			rv = 1;
		}
		config_errors_clear(&errs);
		if (config_nerrors(cfg) > 0) {
			config_errors_print(&cfg->errors, stderr);
			rv = 1;
		}
	} else if (config_nerrors(cfg) > 0) {
		config_errors_print(&cfg->errors, stderr);
		fprintf(stderr, "%d error%s\n", config_nerrors(cfg),
		    config_nerrors(cfg) == 1 ? "" : "s");
		rv = 1;
	} else {
		printf("configuration OK\n");
	}
	config_free(cfg);
	free(levelset);
	free(sockset);
	free(sets);
	return rv;
}
