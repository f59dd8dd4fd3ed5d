/* client_impl.h: what the files of libdbmclient share with each other and nobody else. */

/*
 * The names here are global between the library's files, so they carry the
 * dbmc_ prefix rather than dbm_, the public API's.  Neither library lets
 * them out: the version script exports exactly dbm_* from the shared one,
 * and the static one is a single object in which everything else is local.
 */

#ifndef DBMCLIENT_IMPL_H
#define DBMCLIENT_IMPL_H

#include "dbmclient.h"
#include "proto.h"

/* result.c: building results from reply frames; each returns 0, or -1 when out of memory. */
dbm_result	*dbmc_result_new(void);			/* empty DBM_OK result, or NULL */
int		 dbmc_result_set_columns(dbm_result *, const struct proto_frame *,
		    const struct proto_row_desc *);
int		 dbmc_result_add_row(dbm_result *, const struct proto_frame *,
		    const struct proto_data_row *);
int		 dbmc_result_complete(dbm_result *, const struct proto_complete *);
dbm_result	*dbmc_result_error(const struct proto_error *);	/* NULL when out of memory */
dbm_result	*dbmc_result_local_error(int code, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
void		 dbmc_result_link(dbm_result *res, dbm_result *next);
void		 dbmc_result_set_partial(dbm_result *res);	/* a piece; more rows follow */
dbm_result	**dbmc_result_nextp(dbm_result *res);	/* the link of a chain or a queue */

#endif /* DBMCLIENT_IMPL_H */
