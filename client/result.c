/* result.c: result sets as libdbmclient stores them, and their accessors. */

/*
 * A result keeps every byte it owns in one growing arena: the payloads of
 * ROW_DESC and DATA_ROW frames are copied in whole, one memcpy per frame, and
 * a table of cells records where each name or value starts.  Values are
 * NUL-terminated on the wire, so dbm_value hands out pointers into the arena
 * as they are; nothing is allocated per row or per field.  Offsets rather
 * than pointers are stored because the arena moves when it grows.
 */

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_impl.h"

/* An arena offset that stands for "no string": SQL NULL, or an empty message. */
#define OFF_NONE	SIZE_MAX

/* The first arena; most results are a row or two of short values. */
#define ARENA_MIN	256

/* Where a column name or value lies in the arena. */
struct cell {
	size_t		 off;		/* first byte, or OFF_NONE for SQL NULL */
	uint32_t	 len;		/* bytes, not counting the NUL the wire puts after them */
};

struct dbm_result {
	int		 status;	/* DBM_OK or the code of the ERROR */
	int		 ncols;
	int		 nrows;
	int		 cache_state;	/* enum dbm_cache */
	long long	 affected;
	size_t		 errmsg;	/* arena offsets of strings, OFF_NONE for "" */
	size_t		 sqlstate;
	size_t		 detail;
	size_t		 hint;
	size_t		 cmdtag;
	size_t		 coltypes;	/* arena offset of ROW_DESC's column types, or OFF_NONE */
	int		 partial;	/* a piece of a result set: more rows follow */
	char		*arena;
	size_t		 alen;		/* arena bytes used */
	size_t		 acap;		/* arena bytes allocated */
	struct cell	*cells;		/* ncols names, then nrows rows of ncols values */
	size_t		 ncells;
	size_t		 cellcap;
	struct dbm_result *next;	/* the next result set of the same reply */
};

dbm_result *
dbmc_result_new(void)
{
	dbm_result	*res;

	if ((res = calloc(1, sizeof(*res))) == NULL)
		return NULL;
	res->status = DBM_OK;
	res->cache_state = DBM_CACHE_BYPASS;
	res->errmsg = res->sqlstate = res->detail = res->hint = res->cmdtag = OFF_NONE;
	res->coltypes = OFF_NONE;
	return res;
}

/* Makes room for n more arena bytes, growing geometrically so copying stays linear. */
static int
arena_reserve(dbm_result *res, size_t n)
{
	size_t	 ncap;
	char	*p;

	if (n <= res->acap - res->alen)
		return 0;
	if (n > SIZE_MAX / 2 - res->alen)
		return -1;
	ncap = res->acap != 0 ? res->acap : ARENA_MIN;
	while (ncap - res->alen < n)
		ncap *= 2;
	if ((p = realloc(res->arena, ncap)) == NULL)
		return -1;
	res->arena = p;
	res->acap = ncap;
	return 0;
}

static int
cells_reserve(dbm_result *res, size_t n)
{
	size_t		 ncap;
	struct cell	*p;

	if (n <= res->cellcap - res->ncells)
		return 0;
	if (n > SIZE_MAX / sizeof(struct cell) / 2 - res->ncells)
		return -1;
	ncap = res->cellcap != 0 ? res->cellcap : 16;
	while (ncap - res->ncells < n)
		ncap *= 2;
	if ((p = realloc(res->cells, ncap * sizeof(*p))) == NULL)
		return -1;
	res->cells = p;
	res->cellcap = ncap;
	return 0;
}

/* Copies a string into the arena with its NUL and returns its offset, or OFF_NONE. */
static size_t
arena_strdup(dbm_result *res, const char *s)
{
	size_t	 len, off;

	if (s == NULL || *s == '\0')
		return OFF_NONE;
	len = strlen(s);
	if (len == SIZE_MAX || arena_reserve(res, len + 1) == -1)
		return OFF_NONE;
	off = res->alen;
	memcpy(res->arena + off, s, len + 1);
	res->alen += len + 1;
	return off;
}

/*
 * Copies a frame's payload into the arena and records the ncount strings an
 * iterator walks in it as cells.  Both tables are grown first, so a failure
 * leaves the result as it was.
 */
static int
add_cells(dbm_result *res, const struct proto_frame *f, struct proto_iter it, size_t ncount)
{
	struct proto_value	 v;
	size_t			 base;

	if (arena_reserve(res, f->hdr.length) == -1 || cells_reserve(res, ncount) == -1)
		return -1;
	base = res->alen;
	if (f->hdr.length > 0)
		memcpy(res->arena + base, f->payload, f->hdr.length);
	res->alen += f->hdr.length;
	while (ncount-- > 0 && proto_iter_next(&it, &v)) {
		struct cell	*c = &res->cells[res->ncells++];

		if (v.ptr == NULL) {
			c->off = OFF_NONE;
			c->len = 0;
		} else {
			c->off = base + (size_t)((const uint8_t *)v.ptr - f->payload);
			c->len = v.len;
		}
	}
	return 0;
}

/*
 * Starts a result set's rows: the column names of a ROW_DESC.  The frame is
 * copied whole, so a version 2 frame's column types come with it and are
 * read from there by dbm_coltype.
 */
int
dbmc_result_set_columns(dbm_result *res, const struct proto_frame *f,
    const struct proto_row_desc *m)
{
	size_t	 base = res->alen;

	if (add_cells(res, f, m->name_iter, m->ncols) == -1)
		return -1;
	res->ncols = m->ncols;
	if (m->col_bytes != NULL)
		res->coltypes = base + (size_t)(m->col_bytes - f->payload);
	return 0;
}

void
dbmc_result_set_partial(dbm_result *res)
{
	res->partial = 1;
}

dbm_result **
dbmc_result_nextp(dbm_result *res)
{
	return &res->next;
}

/*
 * Adds one DATA_ROW, whose column count the caller has checked against the
 * ROW_DESC.  A result past INT_MAX rows counts as out of memory: the API
 * counts rows in an int, like libpq.
 */
int
dbmc_result_add_row(dbm_result *res, const struct proto_frame *f,
    const struct proto_data_row *m)
{
	if (res->nrows == INT_MAX)
		return -1;
	if (add_cells(res, f, m->value_iter, m->ncols) == -1)
		return -1;
	res->nrows++;
	return 0;
}

/* Ends a result set with what COMPLETE says about it. */
int
dbmc_result_complete(dbm_result *res, const struct proto_complete *m)
{
	res->affected = m->rows_affected > (uint64_t)LLONG_MAX ?
	    LLONG_MAX : (long long)m->rows_affected;
	res->cache_state = m->cache_state;
	if (m->command_tag != NULL && m->command_tag[0] != '\0' &&
	    (res->cmdtag = arena_strdup(res, m->command_tag)) == OFF_NONE)
		return -1;
	return 0;
}

/* A result that reports an ERROR frame.  The strings are copied: the frame goes away. */
dbm_result *
dbmc_result_error(const struct proto_error *m)
{
	dbm_result	*res;
	size_t		 need;

	if ((res = dbmc_result_new()) == NULL)
		return NULL;
	res->status = m->code;
	/* One reservation, so the copies below cannot fail half way. */
	need = strlen(m->message) + strlen(m->sqlstate) + strlen(m->detail) +
	    strlen(m->hint) + 4;
	if (arena_reserve(res, need) == -1) {
		dbm_result_free(res);
		return NULL;
	}
	res->errmsg = arena_strdup(res, m->message);
	res->sqlstate = arena_strdup(res, m->sqlstate);
	res->detail = arena_strdup(res, m->detail);
	res->hint = arena_strdup(res, m->hint);
	return res;
}

/*
 * A result for a failure found before anything was sent (a bad argument, a
 * request too large for the server's limit).  The connection is fine, so it
 * is reported like a statement error rather than by returning NULL.
 */
dbm_result *
dbmc_result_local_error(int code, const char *fmt, ...)
{
	dbm_result	*res;
	char		 msg[256];
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if ((res = dbmc_result_new()) == NULL)
		return NULL;
	res->status = code;
	if ((res->errmsg = arena_strdup(res, msg)) == OFF_NONE) {
		dbm_result_free(res);
		return NULL;
	}
	return res;
}

void
dbmc_result_link(dbm_result *res, dbm_result *next)
{
	res->next = next;
}

/* The public accessors.  None trusts its arguments: a NULL result or a bad index is not a crash. */

static const char *
res_str(const dbm_result *res, size_t off)
{
	return off == OFF_NONE ? "" : res->arena + off;
}

/* The cell of row (row -1: the column names) and col, or NULL when out of range. */
static const struct cell *
res_cell(const dbm_result *res, int row, int col)
{
	if (res == NULL || row < -1 || row >= res->nrows || col < 0 || col >= res->ncols)
		return NULL;
	return &res->cells[((size_t)row + 1) * (size_t)res->ncols + (size_t)col];
}

/* A NULL result is what a failed connection returns, so that is what it reports. */
int
dbm_result_status(const dbm_result *res)
{
	return res != NULL ? res->status : DBM_E_CONNECTION;
}

const char *
dbm_result_errmsg(const dbm_result *res)
{
	if (res == NULL)
		return "no result: the connection failed (see dbm_errmsg)";
	return res_str(res, res->errmsg);
}

const char *
dbm_result_sqlstate(const dbm_result *res)
{
	return res != NULL ? res_str(res, res->sqlstate) : "";
}

const char *
dbm_result_detail(const dbm_result *res)
{
	return res != NULL ? res_str(res, res->detail) : "";
}

const char *
dbm_result_hint(const dbm_result *res)
{
	return res != NULL ? res_str(res, res->hint) : "";
}

int
dbm_nrows(const dbm_result *res)
{
	return res != NULL ? res->nrows : 0;
}

int
dbm_ncols(const dbm_result *res)
{
	return res != NULL ? res->ncols : 0;
}

const char *
dbm_colname(const dbm_result *res, int col)
{
	const struct cell	*c = res_cell(res, -1, col);

	return c != NULL ? res_str(res, c->off) : NULL;
}

/* Exact, case-sensitive match: column sets are data, found by name (PROTOCOL.md §6.6). */
int
dbm_colnum(const dbm_result *res, const char *name)
{
	int	 i;

	if (res == NULL || name == NULL)
		return -1;
	for (i = 0; i < res->ncols; i++)
		if (strcmp(res_str(res, res->cells[i].off), name) == 0)
			return i;
	return -1;
}

/* Column col's type as ROW_DESC gave it; proto/ reads the wire layout. */
static void
res_col(const dbm_result *res, int col, struct proto_col *c)
{
	struct proto_row_desc	 m;

	memset(&m, 0, sizeof(m));
	if (res != NULL && res->coltypes != OFF_NONE && col >= 0 && col < res->ncols) {
		m.ncols = (uint16_t)res->ncols;
		m.col_bytes = (const uint8_t *)res->arena + res->coltypes;
	}
	proto_row_desc_col(&m, (uint16_t)(col >= 0 && col <= UINT16_MAX ? col : 0), c);
}

unsigned int
dbm_coltype(const dbm_result *res, int col)
{
	struct proto_col	 c;

	res_col(res, col, &c);
	return c.type_oid;
}

int
dbm_coltypmod(const dbm_result *res, int col)
{
	struct proto_col	 c;

	res_col(res, col, &c);
	return c.typmod;
}

int
dbm_colformat(const dbm_result *res, int col)
{
	struct proto_col	 c;

	res_col(res, col, &c);
	return c.format;
}

int
dbm_result_partial(const dbm_result *res)
{
	return res != NULL ? res->partial : 0;
}

/* SQL NULL reads as "", as PQgetvalue has it; dbm_isnull tells the two apart. */
const char *
dbm_value(const dbm_result *res, int row, int col)
{
	const struct cell	*c;

	if (row < 0 || (c = res_cell(res, row, col)) == NULL)
		return NULL;
	return res_str(res, c->off);
}

/*
 * Out of range counts as NULL, as in libpq: a caller that tests dbm_isnull
 * before reading a value then never gets the NULL pointer dbm_value returns
 * for a bad index.
 */
int
dbm_isnull(const dbm_result *res, int row, int col)
{
	const struct cell	*c;

	if (row < 0 || (c = res_cell(res, row, col)) == NULL)
		return 1;
	return c->off == OFF_NONE;
}

size_t
dbm_length(const dbm_result *res, int row, int col)
{
	const struct cell	*c;

	if (row < 0 || (c = res_cell(res, row, col)) == NULL)
		return 0;
	return c->len;
}

long long
dbm_affected(const dbm_result *res)
{
	return res != NULL ? res->affected : 0;
}

const char *
dbm_cmdtag(const dbm_result *res)
{
	return res != NULL ? res_str(res, res->cmdtag) : "";
}

int
dbm_cache_state(const dbm_result *res)
{
	return res != NULL ? res->cache_state : DBM_CACHE_BYPASS;
}

const dbm_result *
dbm_result_next(const dbm_result *res)
{
	return res != NULL ? res->next : NULL;
}

/* Frees the result and every result set chained to it. */
void
dbm_result_free(dbm_result *res)
{
	dbm_result	*next;

	while (res != NULL) {
		next = res->next;
		free(res->arena);
		free(res->cells);
		free(res);
		res = next;
	}
}
