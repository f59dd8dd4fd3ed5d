/* backend.c: what both backends share: the ERROR frame that ends a failed request. */

#include "dbmd.h"
#include "proto.h"

/*
 * Appends to b the ERROR that ends request reqid's reply: an error code (enum
 * proto_err), a SQLSTATE and PostgreSQL's three texts.  sqlstate, detail and hint may
 * be NULL for none.  What does not fit the client's frame limit is cut (hint first),
 * so a reply never ends without its ERROR.  Returns 0, or -1 when b is out of memory.
 */
int
backend_error(struct proto_buf *b, uint32_t reqid, int code, const char *sqlstate,
    const char *msg, const char *detail, const char *hint)
{
	struct proto_error e = {
		.code = (uint16_t)code,
		.sqlstate = sqlstate != NULL ? sqlstate : "",
		.message = msg != NULL ? msg : "",
		.detail = detail != NULL ? detail : "",
		.hint = hint != NULL ? hint : "",
	};

	return proto_encode_error(b, reqid, &e) == PROTO_E_OK ? 0 : -1;
}
