/* backend.c: what both backends share: a failed request's ERROR and a Describe's reply. */

#include <stdio.h>
#include <stdlib.h>

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

/*
 * Appends to b the whole reply to a REQ_DESCRIBE: a statement's parameters and result
 * columns, found without running it.  Two result sets, which the PostgreSQL front
 * door reads back into ParameterDescription and RowDescription (or NoData):
 *
 *   1. the parameters: when there are any, a ROW_DESC with one column per parameter,
 *      named "$1".."$n", whose type oid is the parameter's type (typmod -1, format
 *      text); then COMPLETE with PROTO_F_MORE, tag "PARAMETERS", 0 rows;
 *   2. the result columns: when the statement returns any, a ROW_DESC of them (names,
 *      type oids, typmods, every format text: the front door chooses the formats of
 *      the rows at Bind); then COMPLETE without MORE, tag "DESCRIBE", 0 rows.
 *
 * Both COMPLETEs say BYPASS: a description is never cached.  A version 1 request
 * gets the same frames without the types.  Returns PROTO_E_OK, or PROTO_E_LIMIT (a
 * description larger than the client's frame limit, or more than 65535 parameters
 * or columns) or PROTO_E_NOMEM, having appended nothing: the caller ends the reply
 * with its ERROR instead.
 */
int
backend_describe(struct proto_buf *b, const struct request *r, const uint32_t *ptypes,
    size_t nparams, const char *const *names, const struct proto_col *cols, size_t ncols)
{
	struct proto_row_desc desc = { .version = r->version };
	struct proto_complete done = { .cache_state = PROTO_CACHE_BYPASS };
	struct proto_col *pcols = NULL;
	const char **pnames = NULL;
	char *pbuf = NULL;
	size_t mark = b->len, i;
	int perr = PROTO_E_NOMEM;

	if (nparams > UINT16_MAX || ncols > UINT16_MAX) {
		perr = PROTO_E_LIMIT;
		goto fail;
	}
	if (nparams > 0) {
		/* "$65535" and its NUL: 7 bytes a name at most. */
		if ((pnames = calloc(nparams, sizeof(*pnames))) == NULL ||
		    (pcols = calloc(nparams, sizeof(*pcols))) == NULL ||
		    (pbuf = malloc(nparams * 8)) == NULL)
			goto fail;
		for (i = 0; i < nparams; i++) {
			snprintf(pbuf + i * 8, 8, "$%u", (unsigned)(uint16_t)(i + 1));
			pnames[i] = pbuf + i * 8;
			pcols[i].type_oid = ptypes[i];
			pcols[i].typmod = -1;
			pcols[i].format = PROTO_FORMAT_TEXT;
		}
		desc.ncols = (uint16_t)nparams;
		desc.names = pnames;
		desc.cols = pcols;
		if ((perr = proto_encode_row_desc(b, r->reqid, &desc)) != PROTO_E_OK)
			goto fail;
	}
	done.command_tag = "PARAMETERS";
	done.more = true;
	if ((perr = proto_encode_complete(b, r->reqid, &done)) != PROTO_E_OK)
		goto fail;
	if (ncols > 0) {
		desc.ncols = (uint16_t)ncols;
		desc.names = names;
		desc.cols = cols;
		if ((perr = proto_encode_row_desc(b, r->reqid, &desc)) != PROTO_E_OK)
			goto fail;
	}
	done.command_tag = "DESCRIBE";
	done.more = false;
	if ((perr = proto_encode_complete(b, r->reqid, &done)) != PROTO_E_OK)
		goto fail;
	free(pnames);
	free(pcols);
	free(pbuf);
	return PROTO_E_OK;
fail:
	proto_buf_truncate(b, mark);
	/* Out of memory is sticky: a reply that held nothing yet gets room for its ERROR. */
	if (mark == 0)
		proto_buf_reset(b);
	free(pnames);
	free(pcols);
	free(pbuf);
	return perr == PROTO_E_LIMIT ? PROTO_E_LIMIT : PROTO_E_NOMEM;
}
