/* test_install.c: an application built only from the installed header, .pc and library. */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "dbmd.h"

Test(install, application_builds_from_installed_files_and_talks_to_dbmd, .timeout = 120)
{
	const char *src = getenv("TEST_SRCDIR"), *build = getenv("TEST_BUILDDIR");
	const char *bin = getenv("TEST_DBMD_BIN"), *cflags = getenv("TEST_CFLAGS");
	char *cmd, *out = NULL;
	size_t len = 0;
	FILE *fp;
	int status;

	cr_assert(src && build && bin, "make check sets TEST_SRCDIR, TEST_BUILDDIR, "
	    "TEST_DBMD_BIN");
	cmd = xasprintf("sh %s/tests/install_check.sh %s %s %s %s 2>&1", src, src, build, bin,
	    cflags ? cflags : "");
	fp = popen(cmd, "r");
	cr_assert_not_null(fp);
	getdelim(&out, &len, '\0', fp);
	status = pclose(fp);
	cr_assert_eq(status, 0, "install check failed:\n%s", out ? out : "");
	cr_assert_not_null(strstr(out, "install check passed"), "%s", out);
	free(out);
	free(cmd);
}
