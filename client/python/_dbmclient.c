/* _dbmclient.c: the C half of the Python package dbmclient: sessions on dbmd, values both ways. */

/*
 * A Session is one libdbmclient connection with one handle on it.  The
 * Python layer (dbmclient/) builds the factory functions, the managers and
 * DB-API 2.0 on top; this file does what must be fast or must not hold the
 * GIL: sending a statement with its parameters, waiting for dbmd with the
 * GIL released, and turning each piece of a result into a list of tuples of
 * Python values chosen by the column's type OID.
 *
 * A statement's results come as pieces (row_chunk rows at most), so a
 * program iterating over a large result holds one piece at a time.  The
 * session reads one result ahead after a result set's last piece, so that it
 * can say whether the request is done; a request not read to its end is
 * drained before the next one is sent.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <structmember.h>

#include <sys/socket.h>

#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dbmclient.h"

#define SLICE_MS	100	/* how long a wait goes without looking for signals */

/* Set once by _setup from the Python layer. */
static PyObject *errors_make;	/* errors._make_error(code, message, sqlstate, detail, hint) */
static PyObject *adapt_param;	/* dbapi._adapt(value, backend) -> str | bytes, or raises */
static PyObject *Decimal;	/* decimal.Decimal */
static PyObject *UUID;		/* uuid.UUID */
static PyObject *InterfaceError, *DataError;
static PyObject *tz_cache;	/* offset in seconds -> datetime.timezone */

/* How a column's values become Python objects. */
enum conv {
	CV_TEXT,		/* str (bytes if not UTF-8) */
	CV_BYTES,		/* bytes: a binary column */
	CV_INT,			/* int */
	CV_FLOAT,		/* float */
	CV_BOOL,		/* bool */
	CV_NUMERIC,		/* Decimal; on SQLite an integer's text gives an int */
	CV_DATE,		/* datetime.date */
	CV_TIME,		/* datetime.time */
	CV_TIMETZ,		/* datetime.time with tzinfo */
	CV_TIMESTAMP,		/* naive datetime.datetime */
	CV_TIMESTAMPTZ,		/* aware datetime.datetime */
	CV_UUID,		/* uuid.UUID */
	CV_JSON			/* str, or json_loads(str) when the session has one */
};

struct session {
	PyObject_HEAD
	dbm_conn		*conn;
	dbm_handle		*h;
	PyThread_type_lock	 lock;		/* one call at a time on the conn */
	unsigned long		 owner;		/* the thread holding lock, 0: none */
	pid_t			 pid;		/* the process that opened it; 0: not yet */
	unsigned long		 timeout_ms;	/* each wait for dbmd; 0: none */
	int			 sqlite;	/* the backend is SQLite */
	int			 active;	/* a request's results are not all taken */
	dbm_result		*ahead;		/* the result read ahead, not yet returned */
	PyObject		*json_loads;	/* NULL: JSON as text */
	PyObject		*backend;	/* str */
	PyObject		*weakrefs;
};

/* Errors. */

/* Raises the exception the Python layer makes of a dbmd error. */
/* Text as str, undecodable bytes replaced; NULL or "" as None. */
static PyObject *
text_or_none(const char *v)
{
	if (v == NULL || *v == '\0')
		Py_RETURN_NONE;
	return PyUnicode_DecodeUTF8(v, (Py_ssize_t)strlen(v), "replace");
}

static void
raise_dbm(int code, const char *msg, const char *sqlstate, const char *detail,
    const char *hint)
{
	PyObject	*e;

	if (errors_make == NULL) {
		PyErr_Format(PyExc_RuntimeError, "dbmclient: %s", msg);
		return;
	}
	/* A server in another encoding may send bytes that are not UTF-8: replaced. */
	e = PyObject_CallFunction(errors_make, "iNsNN", code, text_or_none(msg), sqlstate,
	    text_or_none(detail), text_or_none(hint));
	if (e == NULL)
		return;
	PyErr_SetObject((PyObject *)Py_TYPE(e), e);
	Py_DECREF(e);
}

static void
raise_conn(dbm_conn *c)
{
	int	 code = dbm_errcode(c);

	raise_dbm(code != DBM_OK ? code : DBM_E_CONNECTION, dbm_errmsg(c), dbm_errsqlstate(c),
	    dbm_errdetail(c), dbm_errhint(c));
}

static void
raise_result(const dbm_result *r)
{
	raise_dbm(dbm_result_status(r), dbm_result_errmsg(r), dbm_result_sqlstate(r),
	    dbm_result_detail(r), dbm_result_hint(r));
}

/* Locking: one thread at a time, waiting for the lock without the GIL. */

/*
 * Takes the session for one call.  The process is checked first: in a forked
 * child the lock may be held by a thread that exists only in the parent.  A
 * thread that comes back into the session from a callback of its own call (a
 * parameter's adapter, json_loads) is refused rather than left waiting for
 * itself.
 */
static int
session_enter(struct session *s)
{
	unsigned long	 me = PyThread_get_thread_ident();

	if (s->pid != getpid()) {
		PyErr_Format(InterfaceError, "this session belongs to process %ld: a forked "
		    "child opens sessions of its own", (long)s->pid);
		return -1;
	}
	if (!PyThread_acquire_lock(s->lock, NOWAIT_LOCK)) {
		if (s->owner == me) {
			PyErr_SetString(InterfaceError, "the session is in use by this very "
			    "call (a callback used it)");
			return -1;
		}
		Py_BEGIN_ALLOW_THREADS
		PyThread_acquire_lock(s->lock, WAIT_LOCK);
		Py_END_ALLOW_THREADS
	}
	s->owner = me;
	if (s->conn == NULL) {
		s->owner = 0;
		PyThread_release_lock(s->lock);
		PyErr_SetString(InterfaceError, "the session is closed");
		return -1;
	}
	return 0;
}

static void
session_leave(struct session *s)
{
	s->owner = 0;
	PyThread_release_lock(s->lock);
}

/* Values from dbmd to Python. */

static enum conv
conv_of(const struct session *s, unsigned oid, int format)
{
	if (format == DBM_FORMAT_BINARY)
		return CV_BYTES;
	switch (oid) {
	case DBM_OID_INT2: case DBM_OID_INT4: case DBM_OID_INT8: case DBM_OID_OID:
		return CV_INT;
	case DBM_OID_FLOAT4: case DBM_OID_FLOAT8:
		return CV_FLOAT;
	case DBM_OID_BOOL:
		return CV_BOOL;
	case DBM_OID_NUMERIC:
		return CV_NUMERIC;
	case DBM_OID_DATE:
		return CV_DATE;
	case DBM_OID_TIME:
		return CV_TIME;
	case DBM_OID_TIMETZ:
		return CV_TIMETZ;
	case DBM_OID_TIMESTAMP:
		return CV_TIMESTAMP;
	case DBM_OID_TIMESTAMPTZ:
		return CV_TIMESTAMPTZ;
	case DBM_OID_UUID:
		return CV_UUID;
	case DBM_OID_JSON: case DBM_OID_JSONB:
		return s->json_loads != NULL ? CV_JSON : CV_TEXT;
	default:
		return CV_TEXT;
	}
}

/* Reads exactly n decimal digits at *p. */
static int
digits(const char **p, const char *end, int n, int *out)
{
	int	 v = 0;

	if (end - *p < n)
		return -1;
	while (n-- > 0) {
		if (**p < '0' || **p > '9')
			return -1;
		v = v * 10 + (*(*p)++ - '0');
	}
	*out = v;
	return 0;
}

/* HH:MM[:SS[.ffffff]] */
static int
parse_time(const char **p, const char *end, int *h, int *mi, int *sec, int *us)
{
	int	 n = 0, scale = 100000, d;

	*sec = *us = 0;
	if (digits(p, end, 2, h) < 0 || *p >= end || *(*p)++ != ':' ||
	    digits(p, end, 2, mi) < 0)
		return -1;
	if (*p < end && **p == ':') {
		(*p)++;
		if (digits(p, end, 2, sec) < 0)
			return -1;
		if (*p < end && **p == '.') {
			(*p)++;
			while (*p < end && **p >= '0' && **p <= '9') {
				d = *(*p)++ - '0';
				if (n++ < 6) {
					*us += d * scale;
					scale /= 10;
				}
			}
			if (n == 0)
				return -1;
		}
	}
	return *h < 24 && *mi < 60 && *sec < 60 ? 0 : -1;
}

/* YYYY-MM-DD, four-digit years only (Python's date cannot hold the rest). */
static int
parse_date(const char **p, const char *end, int *y, int *m, int *d)
{
	if (digits(p, end, 4, y) < 0 || *p >= end || *(*p)++ != '-' ||
	    digits(p, end, 2, m) < 0 || *p >= end || *(*p)++ != '-' ||
	    digits(p, end, 2, d) < 0)
		return -1;
	return *y >= 1 && *m >= 1 && *m <= 12 && *d >= 1 && *d <= 31 ? 0 : -1;
}

/* A fixed-offset timezone, one object per offset. */
static PyObject *
tz_of(int secs)
{
	PyObject	*key, *tz, *delta;

	if (secs == 0) {
		Py_INCREF(PyDateTime_TimeZone_UTC);
		return PyDateTime_TimeZone_UTC;
	}
	if ((key = PyLong_FromLong(secs)) == NULL)
		return NULL;
	if ((tz = PyDict_GetItemWithError(tz_cache, key)) != NULL) {
		Py_DECREF(key);
		Py_INCREF(tz);
		return tz;
	}
	tz = NULL;
	if (!PyErr_Occurred() && (delta = PyDelta_FromDSU(0, secs, 0)) != NULL) {
		tz = PyTimeZone_FromOffset(delta);
		Py_DECREF(delta);
		if (tz != NULL && PyDict_SetItem(tz_cache, key, tz) < 0)
			Py_CLEAR(tz);
	}
	Py_DECREF(key);
	return tz;
}

/* Z, or +HH[:MM[:SS]] / +HHMM as PostgreSQL and ISO 8601 write offsets. */
static PyObject *
parse_tz(const char **p, const char *end)
{
	int	 sign, hh, mm = 0, ss = 0;

	if (*p < end && **p == 'Z') {
		(*p)++;
		return tz_of(0);
	}
	if (*p >= end || (**p != '+' && **p != '-'))
		return NULL;
	sign = *(*p)++ == '-' ? -1 : 1;
	if (digits(p, end, 2, &hh) < 0)
		return NULL;
	if (*p < end && **p == ':')
		(*p)++;
	if (*p < end && digits(p, end, 2, &mm) < 0)
		return NULL;
	if (*p < end && **p == ':')
		(*p)++;
	if (*p < end && digits(p, end, 2, &ss) < 0)
		return NULL;
	if (hh > 23 || mm > 59 || ss > 59)
		return NULL;
	return tz_of(sign * (hh * 3600 + mm * 60 + ss));
}

/* A date or time PostgreSQL prints (or SQLite stores) as the object, or NULL. */
static PyObject *
conv_datetime(enum conv cv, const char *v, size_t len)
{
	const char	*p = v, *end = v + len;
	int		 y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, us = 0;
	PyObject	*tz = NULL, *r;

	if (cv == CV_DATE || cv == CV_TIMESTAMP || cv == CV_TIMESTAMPTZ) {
		if (parse_date(&p, end, &y, &mo, &d) < 0)
			return NULL;
		if (cv == CV_DATE)
			return p == end ? PyDate_FromDate(y, mo, d) : NULL;
		if (p == end || (*p != ' ' && *p != 'T'))
			return NULL;
		p++;
	}
	if (parse_time(&p, end, &h, &mi, &sec, &us) < 0)
		return NULL;
	if (cv == CV_TIMETZ || cv == CV_TIMESTAMPTZ) {
		if ((tz = parse_tz(&p, end)) == NULL)
			return NULL;
	}
	if (p != end) {
		Py_XDECREF(tz);
		return NULL;
	}
	if (cv == CV_TIME || cv == CV_TIMETZ)
		r = PyDateTimeAPI->Time_FromTime(h, mi, sec, us, tz != NULL ? tz : Py_None,
		    PyDateTimeAPI->TimeType);
	else
		r = PyDateTimeAPI->DateTime_FromDateAndTime(y, mo, d, h, mi, sec, us,
		    tz != NULL ? tz : Py_None, PyDateTimeAPI->DateTimeType);
	Py_XDECREF(tz);
	return r;
}

/* An integer written in decimal and nothing else, or NULL. */
static PyObject *
conv_int(const char *v, size_t len)
{
	const char	*p = v;
	long long	 n = 0;
	int		 neg = 0;

	if (len > 0 && (*p == '-' || *p == '+')) {
		neg = *p++ == '-';
		len--;
	}
	if (len == 0)
		return NULL;
	if (len <= 18) {
		while (len-- > 0) {
			if (*p < '0' || *p > '9')
				return NULL;
			n = n * 10 + (*p++ - '0');
		}
		return PyLong_FromLongLong(neg ? -n : n);
	}
	for (const char *q = p; q < p + len; q++)
		if (*q < '0' || *q > '9')
			return NULL;
	return PyLong_FromString(v, NULL, 10);
}

static PyObject *
conv_float(const char *v, size_t len)
{
	char	*end;
	double	 d;

	if (len == 0)
		return NULL;
	d = PyOS_string_to_double(v, &end, NULL);
	if ((d == -1.0 && PyErr_Occurred()) || end != v + len)
		return NULL;
	return PyFloat_FromDouble(d);
}

static PyObject *
conv_text(const char *v, size_t len)
{
	PyObject	*r = PyUnicode_DecodeUTF8(v, (Py_ssize_t)len, NULL);

	if (r == NULL) {
		PyErr_Clear();
		r = PyBytes_FromStringAndSize(v, (Py_ssize_t)len);
	}
	return r;
}

/* Whether text is a number as SQL writes one: 12, -1.5, .5, 1e10, Infinity, NaN. */
static int
sql_number(const char *v, size_t len)
{
	const char *p = v, *end = v + len;
	int digits = 0;

	if (p < end && (*p == '+' || *p == '-'))
		p++;
	if ((size_t)(end - p) == 8 && memcmp(p, "Infinity", 8) == 0)
		return 1;
	if (len == 3 && memcmp(v, "NaN", 3) == 0)
		return 1;
	while (p < end && *p >= '0' && *p <= '9')
		p++, digits++;
	if (p < end && *p == '.')
		for (p++; p < end && *p >= '0' && *p <= '9'; p++)
			digits++;
	if (digits == 0)
		return 0;
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return 0;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	return p == end;
}

/* Calls f(str(value)); NULL if it raised. */
static PyObject *
conv_call(PyObject *f, const char *v, size_t len)
{
	PyObject	*u = PyUnicode_DecodeUTF8(v, (Py_ssize_t)len, NULL), *r;

	if (u == NULL)
		return NULL;
	r = PyObject_CallOneArg(f, u);
	Py_DECREF(u);
	return r;
}

/*
 * One value.  A value that does not read as its column's type (SQLite types
 * values, not columns; PostgreSQL has dates Python has not) comes as text.
 */
static PyObject *
conv_value(const struct session *s, enum conv cv, const char *v, size_t len)
{
	PyObject	*r = NULL;

	switch (cv) {
	case CV_TEXT:
		return conv_text(v, len);
	case CV_BYTES:
		return PyBytes_FromStringAndSize(v, (Py_ssize_t)len);
	case CV_INT:
		r = conv_int(v, len);
		break;
	case CV_FLOAT:
		r = conv_float(v, len);
		break;
	case CV_BOOL:
		if ((len == 1 && (*v == 't' || *v == '1')) || (len == 4 && !memcmp(v, "true", 4)))
			Py_RETURN_TRUE;
		if ((len == 1 && (*v == 'f' || *v == '0')) || (len == 5 && !memcmp(v, "false", 5)))
			Py_RETURN_FALSE;
		break;
	case CV_NUMERIC:
		/*
		 * SQLite's untyped and NUMERIC columns hold integers too: those stay int;
		 * other text becomes a Decimal only if it reads as an SQL number.
		 */
		if (!s->sqlite)
			r = conv_call(Decimal, v, len);
		else if ((r = conv_int(v, len)) == NULL && sql_number(v, len))
			r = conv_call(Decimal, v, len);
		break;
	case CV_DATE: case CV_TIME: case CV_TIMETZ: case CV_TIMESTAMP: case CV_TIMESTAMPTZ:
		r = conv_datetime(cv, v, len);
		break;
	case CV_UUID:
		r = conv_call(UUID, v, len);
		break;
	case CV_JSON:
		r = conv_call(s->json_loads, v, len);
		break;
	}
	if (r != NULL)
		return r;
	/*
	 * Text that does not read as the type: ValueError (Decimal's InvalidOperation
	 * is an ArithmeticError) on SQLite, whose values need not fit their columns.
	 * Anything else (MemoryError, KeyboardInterrupt, dbmclient.Error from a
	 * json_loads) and every failure on PostgreSQL is the program's to see.
	 */
	if (PyErr_Occurred() && (cv == CV_JSON || cv == CV_NUMERIC || cv == CV_UUID) &&
	    (!s->sqlite || !(PyErr_ExceptionMatches(PyExc_ValueError) ||
	    PyErr_ExceptionMatches(PyExc_ArithmeticError) ||
	    PyErr_ExceptionMatches(PyExc_TypeError))))
		return NULL;
	PyErr_Clear();
	return conv_text(v, len);
}

/* PEP 249's description: (name, type_code, None, None, precision, scale, None). */
static PyObject *
make_description(const dbm_result *r)
{
	int		 n = dbm_ncols(r), i, mod, prec, scale;
	PyObject	*d, *col, *p, *sc;

	if (n == 0)
		Py_RETURN_NONE;
	if ((d = PyTuple_New(n)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		mod = dbm_coltypmod(r, i);
		if (dbm_coltype(r, i) == DBM_OID_NUMERIC && mod >= 4) {
			prec = ((mod - 4) >> 16) & 0xffff;
			/* An 11-bit two's complement: numeric(5,-2) has scale -2. */
			scale = ((((mod - 4) & 0x7ff) ^ 1024) - 1024);
			p = PyLong_FromLong(prec);
			sc = PyLong_FromLong(scale);
		} else {
			p = Py_NewRef(Py_None);
			sc = Py_NewRef(Py_None);
		}
		col = Py_BuildValue("(NINNNNO)", conv_text(dbm_colname(r, i), strlen(dbm_colname(r, i))),
		    dbm_coltype(r, i), Py_NewRef(Py_None), Py_NewRef(Py_None), p, sc, Py_None);
		if (col == NULL) {
			Py_DECREF(d);
			return NULL;
		}
		PyTuple_SET_ITEM(d, i, col);
	}
	return d;
}

/* The rows of one result (one piece) as a list of tuples. */
static PyObject *
make_rows(const struct session *s, const dbm_result *r)
{
	int		 nrows = dbm_nrows(r), ncols = dbm_ncols(r), i, j;
	enum conv	 cvs[64], *cv = cvs;
	PyObject	*rows = NULL, *row, *v;

	if (ncols > 64 && (cv = PyMem_Malloc(sizeof(*cv) * (size_t)ncols)) == NULL)
		return PyErr_NoMemory();
	for (j = 0; j < ncols; j++)
		cv[j] = conv_of(s, dbm_coltype(r, j), dbm_colformat(r, j));
	if ((rows = PyList_New(nrows)) == NULL)
		goto done;
	for (i = 0; i < nrows; i++) {
		if ((row = PyTuple_New(ncols)) == NULL)
			goto fail;
		PyList_SET_ITEM(rows, i, row);
		for (j = 0; j < ncols; j++) {
			if (dbm_isnull(r, i, j))
				v = Py_NewRef(Py_None);
			else if ((v = conv_value(s, cv[j], dbm_value(r, i, j),
			    dbm_length(r, i, j))) == NULL)
				goto fail;
			PyTuple_SET_ITEM(row, j, v);
		}
	}
	goto done;
fail:
	Py_CLEAR(rows);
done:
	if (cv != cvs)
		PyMem_Free(cv);
	return rows;
}

/* Parameters from Python to dbmd. */

struct params {
	int		 n;
	const char	**values;
	int		*lengths;
	int		*formats;
	char		(*num)[32];	/* integers and booleans written out */
	PyObject	*keep;		/* objects the values point into */
};

static void
params_free(struct params *p)
{
	PyMem_Free(p->values);
	PyMem_Free(p->lengths);
	PyMem_Free(p->formats);
	PyMem_Free(p->num);
	Py_CLEAR(p->keep);
}

/* Points value k at the bytes of o (str: text; bytes-like: binary). */
static int
params_set(struct params *p, int k, PyObject *o)
{
	const char	*u;
	Py_ssize_t	 len;

	if (PyUnicode_Check(o)) {
		if ((u = PyUnicode_AsUTF8AndSize(o, &len)) == NULL) {
			if (PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
				PyErr_Clear();
				PyErr_Format(DataError, "parameter %d: a text value must be valid "
				    "Unicode (it holds a lone surrogate)", k + 1);
			}
			return -1;
		}
		if (strlen(u) != (size_t)len) {
			PyErr_Format(DataError, "parameter %d: a text value cannot contain a NUL "
			    "character; pass bytes for binary data", k + 1);
			return -1;
		}
		p->values[k] = u;
		return 0;
	}
	if (PyBytes_Check(o)) {
		len = PyBytes_GET_SIZE(o);
		p->values[k] = PyBytes_AS_STRING(o);
	} else {
		PyErr_Format(PyExc_TypeError, "parameter %d: the adapter gave %.100s, not str "
		    "or bytes", k + 1, Py_TYPE(o)->tp_name);
		return -1;
	}
	if (len > INT32_MAX) {
		PyErr_Format(DataError, "parameter %d is larger than 2 GiB", k + 1);
		return -1;
	}
	p->lengths[k] = (int)len;
	p->formats[k] = DBM_FORMAT_BINARY;
	return 0;
}

/* Converts a sequence of parameters; the common types without calling Python. */
static int
params_make(struct session *s, PyObject *seq, struct params *p)
{
	PyObject	*fast = NULL, *o, *a;
	char		*txt;
	Py_ssize_t	 n;
	long long	 ll;
	int		 k, overflow;

	memset(p, 0, sizeof(*p));
	if (seq == Py_None)
		return 0;
	/*
	 * A tuple of its own, holding every item, so that nothing a callback does to
	 * the caller's list (an adapter, another thread while the GIL is released)
	 * can free what the values point into.
	 */
	if (!PySequence_Check(seq) || PyUnicode_Check(seq) || PyBytes_Check(seq) ||
	    PyByteArray_Check(seq)) {
		PyErr_SetString(PyExc_TypeError, "parameters must be a sequence such as a tuple");
		return -1;
	}
	if ((fast = PySequence_Tuple(seq)) == NULL)
		return -1;
	n = PySequence_Fast_GET_SIZE(fast);
	if (n > 65535) {
		PyErr_SetString(DataError, "more than 65535 parameters");
		goto fail;
	}
	p->n = (int)n;
	if (n == 0) {
		Py_DECREF(fast);
		return 0;
	}
	p->values = PyMem_Calloc((size_t)n, sizeof(*p->values));
	p->lengths = PyMem_Calloc((size_t)n, sizeof(*p->lengths));
	p->formats = PyMem_Calloc((size_t)n, sizeof(*p->formats));
	p->num = PyMem_Calloc((size_t)n, sizeof(*p->num));
	p->keep = PyList_New(0);
	if (p->values == NULL || p->lengths == NULL || p->formats == NULL || p->num == NULL) {
		PyErr_NoMemory();
		goto fail;
	}
	if (p->keep == NULL)
		goto fail;
	if (PyList_Append(p->keep, fast) < 0)
		goto fail;
	for (k = 0; k < n; k++) {
		o = PySequence_Fast_GET_ITEM(fast, k);
		if (o == Py_None)
			p->values[k] = NULL;
		else if (PyBool_Check(o)) {
			strcpy(p->num[k], s->sqlite ? (o == Py_True ? "1" : "0") :
			    (o == Py_True ? "true" : "false"));
			p->values[k] = p->num[k];
		} else if (PyLong_CheckExact(o) &&
		    ((ll = PyLong_AsLongLongAndOverflow(o, &overflow)), overflow == 0)) {
			if (ll == -1 && PyErr_Occurred())
				goto fail;
			snprintf(p->num[k], sizeof(p->num[k]), "%lld", ll);
			p->values[k] = p->num[k];
		} else if (PyFloat_CheckExact(o)) {
			if ((txt = PyOS_double_to_string(PyFloat_AS_DOUBLE(o), 'r', 0, 0,
			    NULL)) == NULL)
				goto fail;
			snprintf(p->num[k], sizeof(p->num[k]), "%s", txt);
			PyMem_Free(txt);
			p->values[k] = p->num[k];
		} else if (PyUnicode_Check(o) || PyBytes_Check(o)) {
			if (params_set(p, k, o) < 0)
				goto fail;
		} else if (PyByteArray_Check(o)) {
			/* A copy: a bytearray may change size under the pointer. */
			if ((a = PyBytes_FromObject(o)) == NULL)
				goto fail;
			if (PyList_Append(p->keep, a) < 0) {
				Py_DECREF(a);
				goto fail;
			}
			Py_DECREF(a);
			if (params_set(p, k, a) < 0)
				goto fail;
		} else {
			if ((a = PyObject_CallFunctionObjArgs(adapt_param, o, s->backend,
			    NULL)) == NULL)
				goto fail;
			if (PyList_Append(p->keep, a) < 0) {
				Py_DECREF(a);
				goto fail;
			}
			Py_DECREF(a);
			if (a != Py_None && params_set(p, k, a) < 0)
				goto fail;
		}
	}
	Py_DECREF(fast);
	return 0;
fail:
	Py_XDECREF(fast);
	params_free(p);
	return -1;
}

/* Session. */

static void session_free_conn(struct session *);

/*
 * Ends the connection at once, without disposing (the reply of a request in
 * flight could still come, and nothing waits for it): dbmd sees the client
 * leave, cancels its statement and rolls back its transaction.
 */
static void
session_drop(struct session *s)
{
	int	 fd;

	if (s->conn != NULL && s->pid == getpid() && (fd = dbm_socket(s->conn)) != -1)
		shutdown(fd, SHUT_RDWR);	/* dbm_disconnect then sends nothing */
	session_free_conn(s);
}

/*
 * Waits until dbm_get_result would not wait, without the GIL, in slices of
 * SLICE_MS so that the main thread sees a signal (Ctrl-C) and the session's
 * timeout is kept.  -1 with the exception set: the session is then dropped,
 * for the reply may still come and nothing could tell it apart.
 */
static int
session_await(struct session *s)
{
	struct pollfd	 pfd;
	struct timespec	 t0, t;
	int		 busy = 1, fl, rc = 0;
	long long	 ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		Py_BEGIN_ALLOW_THREADS
		while ((busy = dbm_is_busy(s->h)) && dbm_connected(s->conn)) {
			fl = dbm_flush(s->conn);
			pfd.fd = dbm_socket(s->conn);
			pfd.events = POLLIN | (fl == 1 ? POLLOUT : 0);
			pfd.revents = 0;
			rc = poll(&pfd, 1, SLICE_MS);
			if (rc > 0 && dbm_consume_input(s->conn) != DBM_OK)
				break;
			if (rc <= 0)
				break;		/* a slice passed, or a signal came */
		}
		Py_END_ALLOW_THREADS
		if (!busy || !dbm_connected(s->conn))
			return 0;
		if (PyErr_CheckSignals() < 0) {
			session_drop(s);
			return -1;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = (t.tv_sec - t0.tv_sec) * 1000LL + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (s->timeout_ms > 0 && ms >= (long long)s->timeout_ms) {
			session_drop(s);
			raise_dbm(DBM_E_TIMEOUT, "no reply from dbmd in time (timeout); the "
			    "session is closed", "", NULL, NULL);
			return -1;
		}
	}
}

/*
 * The next result of the handle's requests (NULL: that request has no more),
 * waiting as session_await does; *failed is set when it raised instead.
 */
static dbm_result *
session_result(struct session *s, int *failed)
{
	dbm_result	*r;

	*failed = 0;
	if (session_await(s) < 0) {
		*failed = 1;
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS
	r = dbm_get_result(s->h);
	Py_END_ALLOW_THREADS
	return r;
}

/*
 * Drops the results of every request sent and not read (a statement left
 * unread, the reply of a statement sent behind a refused BEGIN).  -1 when a
 * signal or the timeout dropped the session (exception set).
 */
static int
session_drain(struct session *s)
{
	dbm_result	*r;
	int		 failed;

	if (s->ahead != NULL) {
		dbm_result_free(s->ahead);
		s->ahead = NULL;
	}
	s->active = 0;
	while (s->conn != NULL && dbm_pending(s->h) > 0) {
		r = session_result(s, &failed);
		if (failed)
			return -1;
		dbm_result_free(r);
		if (r == NULL && !dbm_connected(s->conn))
			break;
	}
	return 0;
}

static void
session_free_conn(struct session *s)
{
	dbm_conn	*c = s->conn;
	dbm_handle	*h = s->h;

	s->conn = NULL;
	s->h = NULL;
	if (s->ahead != NULL)
		dbm_result_free(s->ahead);
	s->ahead = NULL;
	s->active = 0;
	if (c == NULL)
		return;
	Py_BEGIN_ALLOW_THREADS
	/* In a forked child dbm_disconnect only closes the child's descriptor. */
	if (h != NULL && s->pid == getpid() && dbm_connected(c) && dbm_pending(h) == 0)
		(void)dbm_dispose(h);
	dbm_disconnect(c);
	Py_END_ALLOW_THREADS
}

static int
seconds_ok(double v)
{
	return v >= 0 && v <= 1e9;	/* false for NaN too */
}

static int
session_init(struct session *s, PyObject *args, PyObject *kw)
{
	static char		*kwlist[] = { "socket", "environment", "role", "overrides",
				    "pinned", "connect_timeout", "timeout", "json_loads", NULL };
	const char		*sock = NULL, *env = NULL, *role = NULL;
	PyObject		*ovr = Py_None, *jl = Py_None, *fast = NULL, *item;
	struct dbm_connect_opts	 co = DBM_CONNECT_OPTS_INIT;
	struct dbm_open_opts	 oo = DBM_OPEN_OPTS_INIT;
	struct dbm_override	*ov = NULL;
	double			 cto = 0, to = 0;
	int			 pinned = 0, rc = -1;
	Py_ssize_t		 n = 0, i;
	dbm_conn		*c;
	dbm_handle		*h;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|zzzOpddO:Session", kwlist, &sock, &env,
	    &role, &ovr, &pinned, &cto, &to, &jl))
		return -1;
	if (s->pid != 0) {
		PyErr_SetString(InterfaceError, "a session is opened once");
		return -1;
	}
	if (!seconds_ok(cto) || !seconds_ok(to)) {
		PyErr_SetString(PyExc_ValueError, "timeouts are seconds, 0 or more");
		return -1;
	}
	if (ovr != Py_None) {
		if ((fast = PySequence_Fast(ovr, "overrides must be (key, value) pairs")) == NULL)
			return -1;
		n = PySequence_Fast_GET_SIZE(fast);
		if ((ov = PyMem_Calloc((size_t)n + 1, sizeof(*ov))) == NULL) {
			PyErr_NoMemory();
			goto done;
		}
		for (i = 0; i < n; i++) {
			item = PySequence_Fast_GET_ITEM(fast, i);
			if (!PyArg_ParseTuple(item, "ss:override", &ov[i].key, &ov[i].value))
				goto done;
		}
	}
	co.socket_path = sock;
	co.connect_timeout_ms = (unsigned long)(cto * 1000);
	co.timeout_ms = (unsigned long)(to * 1000);
	oo.pinned = pinned;
	oo.n_overrides = (size_t)n;
	oo.overrides = ov;
	Py_BEGIN_ALLOW_THREADS
	c = dbm_connect_opts(&co);
	h = dbm_errcode(c) == DBM_OK ? dbm_open(c, env, role, &oo) : NULL;
	Py_END_ALLOW_THREADS
	if (h == NULL) {
		raise_conn(c);
		Py_BEGIN_ALLOW_THREADS
		dbm_disconnect(c);
		Py_END_ALLOW_THREADS
		goto done;
	}
	s->conn = c;
	s->h = h;
	s->pid = getpid();
	s->timeout_ms = co.timeout_ms;
	s->sqlite = strcmp(dbm_handle_backend(h), "sqlite") == 0;
	if ((s->backend = PyUnicode_FromString(dbm_handle_backend(h))) == NULL)
		goto done;
	if (jl != Py_None) {
		Py_INCREF(jl);
		s->json_loads = jl;
	}
	rc = 0;
done:
	PyMem_Free(ov);
	Py_XDECREF(fast);
	return rc;
}

static PyObject *
session_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	struct session	*s = (struct session *)type->tp_alloc(type, 0);

	(void)args;
	(void)kw;
	if (s == NULL)
		return NULL;
	if ((s->lock = PyThread_allocate_lock()) == NULL) {
		Py_DECREF(s);
		return PyErr_NoMemory();
	}
	return (PyObject *)s;
}

static void
session_dealloc(struct session *s)
{
	PyObject_GC_UnTrack(s);
	if (s->weakrefs != NULL)
		PyObject_ClearWeakRefs((PyObject *)s);
	if (s->active || s->ahead != NULL)
		session_drop(s);	/* an unread reply: nothing waits for it */
	session_free_conn(s);
	Py_CLEAR(s->json_loads);
	Py_CLEAR(s->backend);
	if (s->lock != NULL)
		PyThread_free_lock(s->lock);
	Py_TYPE(s)->tp_free((PyObject *)s);
}

static int
session_traverse(struct session *s, visitproc visit, void *arg)
{
	Py_VISIT(s->json_loads);
	return 0;
}

static int
session_clear(struct session *s)
{
	Py_CLEAR(s->json_loads);
	return 0;
}

/* The command tag, decoded whatever bytes it holds. */
static PyObject *
text_or_replace(const char *v)
{
	return PyUnicode_DecodeUTF8(v, (Py_ssize_t)strlen(v), "replace");
}

/*
 * The next result of the request in progress as a piece:
 * (description, rows, partial, cmdtag, affected, cache_state, done),
 * where done says the request has no more.  Raises for an error result,
 * after which the request is over.  Called with the lock held.
 */
static PyObject *
session_piece(struct session *s)
{
	dbm_result	*r, *next = NULL;
	PyObject	*desc, *rows, *piece;
	int		 partial, done, failed;

	if ((r = s->ahead) != NULL)
		s->ahead = NULL;
	else if ((r = session_result(s, &failed)) == NULL && failed)
		return NULL;
	if (r == NULL) {
		s->active = 0;
		if (!dbm_connected(s->conn)) {
			raise_conn(s->conn);
			return NULL;
		}
		Py_RETURN_NONE;
	}
	if (dbm_result_status(r) != DBM_OK) {
		raise_result(r);
		dbm_result_free(r);
		if (s->conn != NULL && session_drain(s) < 0)
			PyErr_Clear();	/* the statement's error says more */
		return NULL;
	}
	partial = dbm_result_partial(r);
	if (!partial) {
		/* The end of a result set: whether another follows decides "done". */
		if ((next = session_result(s, &failed)) == NULL && failed) {
			dbm_result_free(r);
			return NULL;
		}
		s->ahead = next;
	}
	done = !partial && next == NULL;
	if (done)
		s->active = 0;
	desc = make_description(r);
	rows = desc != NULL ? make_rows(s, r) : NULL;
	if (rows == NULL) {
		Py_XDECREF(desc);
		dbm_result_free(r);
		if (s->conn != NULL)
			session_drop(s);	/* a conversion failed: the rest is unread */
		return NULL;
	}
	piece = Py_BuildValue("(NNiNLii)", desc, rows, partial, text_or_replace(dbm_cmdtag(r)),
	    dbm_affected(r), dbm_cache_state(r), done);
	dbm_result_free(r);
	return piece;
}

static unsigned long
ms_of(double secs)
{
	return secs <= 0 ? 0 : secs * 1000 < 1 ? 1 : (unsigned long)(secs * 1000);
}

/*
 * execute(sql, params=None, cache_max_age=0, timeout=0, row_chunk=0,
 * begin=False): sends the statement (after BEGIN, in one go, when begin is
 * true) and returns its first piece.  A BEGIN dbmd refuses because a
 * transaction is open already (one the program began with SQL) is no error:
 * the statement runs in that transaction.
 */
static PyObject *
session_execute(struct session *s, PyObject *args, PyObject *kw)
{
	static char		*kwlist[] = { "sql", "params", "cache_max_age", "timeout",
				    "row_chunk", "begin", NULL };
	struct dbm_exec_opts	 o = DBM_EXEC_OPTS_INIT;
	struct params		 p;
	PyObject		*params = Py_None, *piece = NULL;
	const char		*sql;
	Py_ssize_t		 sqllen;
	double			 age = 0, to = 0;
	long			 chunk = 0;
	int			 begin = 0, rc = DBM_OK, failed;
	dbm_result		*r = NULL;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "s#|Oddlp:execute", kwlist, &sql, &sqllen,
	    &params, &age, &to, &chunk, &begin))
		return NULL;
	if (strlen(sql) != (size_t)sqllen) {
		PyErr_SetString(DataError, "the statement contains a NUL character");
		return NULL;
	}
	if (chunk < 0 || !seconds_ok(age) || !seconds_ok(to)) {
		PyErr_SetString(PyExc_ValueError, "cache_max_age, timeout and row_chunk are "
		    "0 or more");
		return NULL;
	}
	if (session_enter(s) < 0)
		return NULL;
	if (session_drain(s) < 0 || params_make(s, params, &p) < 0)
		goto out;
	o.cache_max_age_ms = ms_of(age);
	o.timeout_ms = ms_of(to);
	o.row_chunk = (unsigned long)chunk;
	Py_BEGIN_ALLOW_THREADS
	if (begin)
		rc = dbm_send_begin(s->h);
	if (rc == DBM_OK)
		rc = dbm_send_exec_params(s->h, sql, p.n, p.values, p.lengths, p.formats, &o);
	Py_END_ALLOW_THREADS
	params_free(&p);
	if (rc != DBM_OK) {
		raise_conn(s->conn);
		if (s->conn != NULL && session_drain(s) < 0)
			PyErr_Clear();
		goto out;
	}
	if (begin) {
		/* BEGIN's own result, then the end of its request. */
		if ((r = session_result(s, &failed)) == NULL) {
			if (!failed)
				raise_conn(s->conn);
			goto out;
		}
		if (dbm_result_status(r) != DBM_OK &&
		    dbm_result_status(r) != DBM_E_TXN_STATE) {
			raise_result(r);
			dbm_result_free(r);
			if (session_drain(s) < 0)
				PyErr_Clear();	/* the BEGIN's error says more */
			goto out;
		}
		dbm_result_free(r);
		if ((r = session_result(s, &failed)) == NULL && failed)
			goto out;
		dbm_result_free(r);
	}
	s->active = 1;
	piece = session_piece(s);
out:
	session_leave(s);
	return piece;
}

/* next(): the next piece of the request in progress, or None. */
static PyObject *
session_next(struct session *s, PyObject *unused)
{
	PyObject	*piece;

	(void)unused;
	if (session_enter(s) < 0)
		return NULL;
	if (s->active || s->ahead != NULL)
		piece = session_piece(s);
	else
		piece = Py_NewRef(Py_None);
	session_leave(s);
	return piece;
}

/*
 * discard(): drops what is left of the request in progress.  abandon=True
 * drops the connection instead of reading the rest (the session is then
 * closed): dbmd cancels the statement; for a long result, far quicker.
 */
static PyObject *
session_discard(struct session *s, PyObject *args, PyObject *kw)
{
	static char	*kwlist[] = { "abandon", NULL };
	int		 abandon = 0, rc = 0;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|p:discard", kwlist, &abandon))
		return NULL;
	if (session_enter(s) < 0)
		return NULL;
	if (abandon && (s->active || s->ahead != NULL))
		session_drop(s);
	else
		rc = session_drain(s);
	session_leave(s);
	if (rc < 0)
		return NULL;
	Py_RETURN_NONE;
}

/* BEGIN, COMMIT or ROLLBACK. */
static PyObject *
session_txn(struct session *s, int (*send)(dbm_handle *))
{
	dbm_result	*r = NULL;
	int		 rc, failed = 0;

	if (session_enter(s) < 0)
		return NULL;
	if (session_drain(s) < 0)
		goto fail;
	Py_BEGIN_ALLOW_THREADS
	rc = send(s->h);
	Py_END_ALLOW_THREADS
	if (rc != DBM_OK) {
		raise_conn(s->conn);
		goto fail;
	}
	if ((r = session_result(s, &failed)) == NULL) {
		if (!failed)
			raise_conn(s->conn);
		goto fail;
	}
	if (dbm_result_status(r) != DBM_OK) {
		raise_result(r);
		dbm_result_free(r);
		if (session_drain(s) < 0)
			PyErr_Clear();
		goto fail;
	}
	dbm_result_free(r);
	if (session_drain(s) < 0)
		goto fail;
	session_leave(s);
	Py_RETURN_NONE;
fail:
	session_leave(s);
	return NULL;
}

static PyObject *
session_begin(struct session *s, PyObject *unused)
{
	(void)unused;
	return session_txn(s, dbm_send_begin);
}

static PyObject *
session_commit(struct session *s, PyObject *unused)
{
	(void)unused;
	return session_txn(s, dbm_send_commit);
}

static PyObject *
session_rollback(struct session *s, PyObject *unused)
{
	(void)unused;
	return session_txn(s, dbm_send_rollback);
}

/* resolve(environment, role): dbmd's resolved configuration, rows of text. */
static PyObject *
session_resolve(struct session *s, PyObject *args)
{
	const char	*env = NULL, *role = NULL;
	dbm_result	*r;
	PyObject	*rows = NULL, *desc;

	if (!PyArg_ParseTuple(args, "zz:resolve", &env, &role))
		return NULL;
	if (session_enter(s) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	r = dbm_resolve(s->conn, env, role);
	Py_END_ALLOW_THREADS
	if (r == NULL)
		raise_conn(s->conn);
	else if (dbm_result_status(r) != DBM_OK)
		raise_result(r);
	else if ((desc = make_description(r)) != NULL) {
		rows = Py_BuildValue("(NN)", desc, make_rows(s, r));
	}
	dbm_result_free(r);
	session_leave(s);
	return rows;
}

/* close(): disposes the handle and closes the connection; idempotent. */
static PyObject *
session_close(struct session *s, PyObject *unused)
{
	(void)unused;
	if (s->pid != getpid()) {
		/* A forked child: no thread of ours holds the lock, nothing is sent. */
		session_free_conn(s);
		Py_RETURN_NONE;
	}
	if (!PyThread_acquire_lock(s->lock, NOWAIT_LOCK)) {
		if (s->owner == PyThread_get_thread_ident()) {
			PyErr_SetString(InterfaceError, "the session is in use by this very "
			    "call (a callback closed it)");
			return NULL;
		}
		Py_BEGIN_ALLOW_THREADS
		PyThread_acquire_lock(s->lock, WAIT_LOCK);
		Py_END_ALLOW_THREADS
	}
	if (s->active || s->ahead != NULL)
		session_drop(s);	/* nobody reads the rest: dbmd cancels it */
	session_free_conn(s);
	PyThread_release_lock(s->lock);
	Py_RETURN_NONE;
}

static PyObject *
session_get_closed(struct session *s, void *unused)
{
	(void)unused;
	return PyBool_FromLong(s->conn == NULL || !dbm_connected(s->conn) ||
	    s->pid != getpid());
}

static PyObject *
session_get_busy(struct session *s, void *unused)
{
	(void)unused;
	return PyBool_FromLong(s->active || s->ahead != NULL);
}

static PyObject *
session_get_pool_hash(struct session *s, void *unused)
{
	char	 hex[17];

	(void)unused;
	if (s->h == NULL)
		Py_RETURN_NONE;
	snprintf(hex, sizeof(hex), "%016llx", dbm_handle_pool_hash(s->h));
	return PyUnicode_FromString(hex);
}

static PyObject *
session_get_server_version(struct session *s, void *unused)
{
	(void)unused;
	if (s->conn == NULL)
		Py_RETURN_NONE;
	return PyUnicode_FromString(dbm_server_version(s->conn));
}

static PyObject *
session_get_backend(struct session *s, void *unused)
{
	(void)unused;
	if (s->backend == NULL)
		Py_RETURN_NONE;
	return Py_NewRef(s->backend);
}

static PyMethodDef session_methods[] = {
	{ "execute", (PyCFunction)(void (*)(void))session_execute, METH_VARARGS | METH_KEYWORDS,
	  "execute(sql, params=None, cache_max_age=0, timeout=0, row_chunk=0, begin=False)" },
	{ "next", (PyCFunction)session_next, METH_NOARGS, "the next piece, or None" },
	{ "discard", (PyCFunction)(void (*)(void))session_discard, METH_VARARGS | METH_KEYWORDS,
	  "discard(abandon=False): drop the rest of a result" },
	{ "begin", (PyCFunction)session_begin, METH_NOARGS, "BEGIN" },
	{ "commit", (PyCFunction)session_commit, METH_NOARGS, "COMMIT" },
	{ "rollback", (PyCFunction)session_rollback, METH_NOARGS, "ROLLBACK" },
	{ "resolve", (PyCFunction)session_resolve, METH_VARARGS,
	  "resolve(environment, role) -> (description, rows)" },
	{ "close", (PyCFunction)session_close, METH_NOARGS, "dispose and disconnect" },
	{ NULL, NULL, 0, NULL }
};

static PyGetSetDef session_getset[] = {
	{ "closed", (getter)session_get_closed, NULL, "whether the session is unusable", NULL },
	{ "busy", (getter)session_get_busy, NULL, "a request's results are not all read", NULL },
	{ "pool_hash", (getter)session_get_pool_hash, NULL, "the pool's hash, hex", NULL },
	{ "server_version", (getter)session_get_server_version, NULL, "dbmd's version", NULL },
	{ "backend", (getter)session_get_backend, NULL, "'sqlite' or 'postgresql'", NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

static PyTypeObject session_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "dbmclient._dbmclient.Session",
	.tp_basicsize = sizeof(struct session),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "Session(socket=None, environment=None, role=None, overrides=None, "
	    "pinned=False, connect_timeout=0, timeout=0, json_loads=None): a handle on dbmd",
	.tp_new = session_new,
	.tp_init = (initproc)session_init,
	.tp_dealloc = (destructor)session_dealloc,
	.tp_traverse = (traverseproc)session_traverse,
	.tp_clear = (inquiry)session_clear,
	.tp_weaklistoffset = offsetof(struct session, weakrefs),
	.tp_methods = session_methods,
	.tp_getset = session_getset,
};

/* Module. */

/* _setup(make_error, adapt, Decimal, UUID, InterfaceError, DataError) */
static PyObject *
mod_setup(PyObject *mod, PyObject *args)
{
	PyObject	*o[6];
	PyObject	**slot[6] = { &errors_make, &adapt_param, &Decimal, &UUID,
			    &InterfaceError, &DataError };
	int		 i;

	(void)mod;
	if (!PyArg_ParseTuple(args, "OOOOOO:_setup", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5]))
		return NULL;
	for (i = 0; i < 6; i++) {
		Py_INCREF(o[i]);
		Py_XSETREF(*slot[i], o[i]);
	}
	Py_RETURN_NONE;
}

static PyObject *
mod_strerror(PyObject *mod, PyObject *args)
{
	int	 code;

	(void)mod;
	if (!PyArg_ParseTuple(args, "i:strerror", &code))
		return NULL;
	return PyUnicode_FromString(dbm_strerror(code));
}

static PyMethodDef mod_methods[] = {
	{ "_setup", mod_setup, METH_VARARGS, "wires the Python layer in" },
	{ "strerror", mod_strerror, METH_VARARGS, "libdbmclient's name for an error code" },
	{ NULL, NULL, 0, NULL }
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "dbmclient._dbmclient",
	"The C half of dbmclient: sessions on dbmd through libdbmclient.", -1, mod_methods,
	NULL, NULL, NULL, NULL
};

PyMODINIT_FUNC PyInit__dbmclient(void);

PyMODINIT_FUNC
PyInit__dbmclient(void)
{
	PyObject	*m;

	PyDateTime_IMPORT;
	if (PyDateTimeAPI == NULL)
		return NULL;
	if (PyType_Ready(&session_type) < 0)
		return NULL;
	if ((tz_cache = PyDict_New()) == NULL)
		return NULL;
	InterfaceError = Py_NewRef(PyExc_RuntimeError);
	DataError = Py_NewRef(PyExc_ValueError);
	if ((m = PyModule_Create(&module)) == NULL)
		return NULL;
	Py_INCREF(&session_type);
	if (PyModule_AddObject(m, "Session", (PyObject *)&session_type) < 0 ||
	    PyModule_AddIntConstant(m, "CACHE_BYPASS", DBM_CACHE_BYPASS) < 0 ||
	    PyModule_AddIntConstant(m, "CACHE_MISS", DBM_CACHE_MISS) < 0 ||
	    PyModule_AddIntConstant(m, "CACHE_HIT", DBM_CACHE_HIT) < 0 ||
	    PyModule_AddObject(m, "LIBRARY_VERSION", PyUnicode_FromFormat("%d.%d.%d",
	    DBM_VERSION_MAJOR, DBM_VERSION_MINOR, DBM_VERSION_PATCH)) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
