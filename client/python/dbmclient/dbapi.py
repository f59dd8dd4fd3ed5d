"""PEP 249 (DB-API 2.0) on dbmd: connect(), Connection, Cursor, types.

Placeholders: dbmd's own are PostgreSQL's ``$1``, ``$2``, on both backends,
and they pass through untouched.  As in psycopg2, ``%s`` and ``%(name)s`` work
too (``paramstyle`` is "pyformat"): when parameters are given they become
``$n``, and ``%%`` becomes ``%``.  Placeholders are looked for only in the
statement's code: never inside string literals, quoted identifiers, comments
or dollar-quoted strings.

Transactions follow PEP 249: unless ``autocommit`` is true, the first
statement after connect(), commit() or rollback() opens a transaction (its
BEGIN goes in the same write as the statement), which commit() commits;
closing the connection without commit() rolls it back.  With autocommit each
statement runs alone, on whichever of the pool's connections is free.

A result is read in pieces of at most ``Cursor.itersize`` rows, so iterating
over a cursor holds one piece at a time however long the result.
"""

import datetime
import decimal
import json
import re
import threading
import time
import uuid
import weakref

from . import _dbmclient
from .errors import (  # noqa: F401 - re-exported
    Warning, Error, InterfaceError, DatabaseError, DataError, OperationalError,
    IntegrityError, InternalError, ProgrammingError, NotSupportedError, _make_error)

apilevel = "2.0"
threadsafety = 1
paramstyle = "pyformat"

CACHE_HIT = _dbmclient.CACHE_HIT
CACHE_MISS = _dbmclient.CACHE_MISS


class Json:
    """A parameter sent as JSON text: ``cur.execute(sql, (Json({"a": 1}),))``."""

    __slots__ = ("obj", "dumps")

    def __init__(self, obj, dumps=json.dumps):
        self.obj = obj
        self.dumps = dumps


def _adapt(value, backend):
    """Text (or bytes, sent as binary) for a parameter the C layer does not know."""
    if isinstance(value, datetime.datetime):
        return value.isoformat(" ")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, Json):
        return value.dumps(value.obj)
    if isinstance(value, bool):
        return ("true" if value else "false") if backend != "sqlite" else str(int(value))
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return repr(float(value))
    if isinstance(value, str):
        return str(value)
    if isinstance(value, memoryview):
        return value.tobytes()
    raise ProgrammingError("cannot pass a value of type %s as a parameter; pass str, "
                           "bytes, int, float, Decimal, bool, None, a date or time, "
                           "UUID or Json" % type(value).__name__)


_dbmclient._setup(_make_error, _adapt, decimal.Decimal, uuid.UUID, InterfaceError, DataError)


# Placeholders.

# Where something other than plain code may start: quotes, comments, dollar quotes, %.
_SPECIAL = re.compile(r"""['"%$]|--|/\*""")
_TAG = re.compile(r"\$((?:[^\W\d]|[^\x00-\x7f])(?:\w|[^\x00-\x7f])*)?\$")
_NAMED = re.compile(r"%\(([^)]*)\)s")
_IDENT = re.compile(r"[\w$]|[^\x00-\x7f]")


def _skip(sql, i, nested=True):
    """The index after the literal, identifier or comment starting at sql[i], or None.

    nested: block comments nest (PostgreSQL); SQLite's do not.
    """
    c = sql[i]
    n = len(sql)
    if c == "'":
        escapes = i > 0 and sql[i - 1] in "eE" and (i < 2 or not _IDENT.match(sql[i - 2]))
        j = i + 1
        while j < n:
            if escapes and sql[j] == "\\":
                j += 2
                continue
            if sql[j] == "'":
                if j + 1 < n and sql[j + 1] == "'":
                    j += 2
                    continue
                return j + 1
            j += 1
        return n
    if c == '"':
        j = i + 1
        while j < n:
            if sql[j] == '"':
                if j + 1 < n and sql[j + 1] == '"':
                    j += 2
                    continue
                return j + 1
            j += 1
        return n
    if sql.startswith("--", i):
        j = sql.find("\n", i)
        return n if j < 0 else j + 1
    if sql.startswith("/*", i):
        depth, j = 1, i + 2
        while j < n and depth:
            if nested and sql.startswith("/*", j):
                depth, j = depth + 1, j + 2
            elif sql.startswith("*/", j):
                depth, j = depth - 1, j + 2
            else:
                j += 1
        return j
    if c == "$":
        if i > 0 and _IDENT.match(sql[i - 1]):
            return None
        m = _TAG.match(sql, i)
        if m is None:
            return None
        j = sql.find(m.group(0), m.end())
        return n if j < 0 else j + len(m.group(0))
    return None


_DOLLAR_NUM = re.compile(r"\$([0-9]+)")


def _parse(sql, nested=True):
    """Splits sql into code and placeholders: (pieces, marks, highest $n in the code)."""
    out, marks = [], []
    i = start = 0
    n = len(sql)
    top = 0
    while True:
        m = _SPECIAL.search(sql, i)
        if m is None:
            break
        i = m.start()
        if sql[i] != "%":
            j = _skip(sql, i, nested)
            if j is None and sql[i] == "$" and not (i > 0 and _IDENT.match(sql[i - 1])):
                d = _DOLLAR_NUM.match(sql, i)
                if d is not None:
                    top = max(top, int(d.group(1)))
                    j = d.end()
            i = j if j is not None else i + 1
            continue
        if sql.startswith("%s", i):
            mark, j = "%s", i + 2
        elif sql.startswith("%%", i):
            mark, j = "%%", i + 2
        else:
            nm = _NAMED.match(sql, i)
            if nm is None:
                i += 1
                continue
            mark, j = ("name", nm.group(1)), nm.end()
        out.append(sql[start:i])
        marks.append(mark)
        i = start = j
    out.append(sql[start:n])
    return out, marks, top


_converted = {}


def _convert(sql, params, sqlite=False):
    """dbmd's statement and parameter list for a statement and PEP 249 parameters."""
    if params is None:
        return sql, None
    key = (sql, sqlite)
    parsed = _converted.get(key)
    if parsed is None:
        parsed = _parse(sql, not sqlite)
        if len(_converted) >= 512:
            _converted.clear()
        _converted[key] = parsed
    pieces, marks, top = parsed
    if not marks:
        if isinstance(params, dict):
            if params:
                raise ProgrammingError("parameters given by name, but the statement has no "
                                       "%(name)s placeholder")
            return sql, None
        if top != len(params):
            raise ProgrammingError("the statement's placeholders go up to $%d but %d "
                                   "parameters were given" % (top, len(params)))
        return sql, params
    named = isinstance(params, dict) or (hasattr(params, "keys") and
                                         hasattr(params, "__getitem__"))
    parts, values, numbers = [pieces[0]], [], {}
    npos = 0
    for mark, piece in zip(marks, pieces[1:]):
        if mark == "%%":
            parts.append("%")
        elif mark == "%s":
            if named:
                raise ProgrammingError("%s placeholder with parameters given by name")
            npos += 1
            parts.append("$%d" % npos)
        else:
            if not named:
                raise ProgrammingError("%%(%s)s placeholder with parameters given by "
                                       "position" % mark[1])
            name = mark[1]
            if name not in numbers:
                try:
                    values.append(params[name])
                except KeyError:
                    raise ProgrammingError("no parameter named %r" % name) from None
                numbers[name] = len(values)
            parts.append("$%d" % numbers[name])
        parts.append(piece)
    if not named:
        if npos != len(params):
            raise ProgrammingError("the statement has %d placeholders but %d parameters "
                                   "were given" % (npos, len(params)))
        values = params
    return "".join(parts), values


# Types: PEP 249's type objects compare equal to the type codes they cover.

class _TypeSet(frozenset):
    def __eq__(self, other):
        if isinstance(other, int):
            return other in self
        return frozenset.__eq__(self, other)

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = frozenset.__hash__


STRING = _TypeSet({18, 19, 25, 114, 705, 1042, 1043, 3802})
BINARY = _TypeSet({17})
NUMBER = _TypeSet({20, 21, 23, 26, 700, 701, 1700})
DATETIME = _TypeSet({1082, 1083, 1114, 1184, 1186, 1266})
ROWID = _TypeSet({26})

Date = datetime.date
Time = datetime.time
Timestamp = datetime.datetime
Binary = bytes


def DateFromTicks(ticks):
    return Date(*time.localtime(ticks)[:3])


def TimeFromTicks(ticks):
    return Time(*time.localtime(ticks)[3:6])


def TimestampFromTicks(ticks):
    return Timestamp(*time.localtime(ticks)[:6])


def _pairs(overrides):
    """Overrides as (key, value) text pairs for the C layer."""
    if not overrides:
        return None
    items = overrides.items() if hasattr(overrides, "items") else overrides
    out = []
    for k, v in items:
        if isinstance(v, bool):
            v = "true" if v else "false"
        out.append((str(k), str(v)))
    return out


def _open_session(environment, role, socket, overrides, pinned, connect_timeout=None,
                  timeout=None, json_loads=None):
    return _dbmclient.Session(socket, environment, role, _pairs(overrides), bool(pinned),
                              float(connect_timeout or 0), float(timeout or 0), json_loads)


_open_connections = None  # a WeakSet the package sets, so that exit closes them


def connect(environment=None, role=None, *, socket=None, overrides=None, pinned=False,
            autocommit=False, connect_timeout=None, timeout=None, json_loads=None):
    """Opens a handle on dbmd's pool for environment and role; see Connection."""
    return Connection(environment, role, socket=socket, overrides=overrides, pinned=pinned,
                      autocommit=autocommit, connect_timeout=connect_timeout,
                      timeout=timeout, json_loads=json_loads)


class Connection:
    """One handle on one of dbmd's pools (PEP 249's connection).

    environment and role None mean $DBM_ENVIRONMENT and $DBM_ROLE, else
    development and primary; socket None means $DBMD_SOCKET, else the
    default.  overrides are explicit settings (dbmd decides which a client
    may send); pinned keeps one database connection for the handle's life;
    timeout (seconds) bounds each wait for dbmd; json_loads parses json
    columns (json.loads, say) instead of returning text.
    """

    Warning = Warning
    Error = Error
    InterfaceError = InterfaceError
    DatabaseError = DatabaseError
    DataError = DataError
    OperationalError = OperationalError
    IntegrityError = IntegrityError
    InternalError = InternalError
    ProgrammingError = ProgrammingError
    NotSupportedError = NotSupportedError

    def __init__(self, environment=None, role=None, *, socket=None, overrides=None,
                 pinned=False, autocommit=False, connect_timeout=None, timeout=None,
                 json_loads=None):
        self._args = (environment, role, socket, overrides, pinned, connect_timeout,
                      timeout, json_loads)
        self._session = _open_session(*self._args)
        self._sqlite = self._session.backend == "sqlite"
        self._autocommit = bool(autocommit)
        self._in_txn = False
        self._reader = None      # weakref to the cursor whose result is still being read
        self._closed = False
        # One call at a time: cursors of one connection share its session and state.
        self._lock = threading.RLock()
        if _open_connections is not None:
            _open_connections.add(self)

    # State.

    def _check(self):
        if self._closed:
            raise InterfaceError("the connection is closed")
        return self._session

    def _current_reader(self):
        return self._reader() if self._reader is not None else None

    def _take_session(self, cursor):
        """The session, for cursor's next request: another cursor's unread rest is kept."""
        s = self._check()
        r = self._current_reader()
        if r is None and self._reader is not None:
            self._abandon(None)     # its cursor is gone: nobody will read the rest
        self._reader = None
        if r is not None and r is not cursor:
            r._keep_rest()
        if s.closed and not self._in_txn and not self._session_lost:
            # Dropped to abandon a result (no transaction lived on it): a fresh one.
            s = self._session = _open_session(*self._args)
        return s

    _session_lost = False   # the session went with a transaction on it: closed for good

    def _abandon(self, cursor):
        """Stops reading cursor's result: outside a transaction by dropping the session
        (dbmd cancels the statement; a new session opens on the next call), inside one
        by reading the rest, which the transaction needs."""
        self._reader = None
        if self._closed:
            return
        if self._in_txn:
            self._session.discard()
        else:
            self._session.discard(abandon=True)

    @property
    def closed(self):
        return self._closed or (self._session.closed and
                                (self._in_txn or self._session_lost))

    @property
    def backend(self):
        """'sqlite' or 'postgresql'."""
        return self._session.backend

    @property
    def pool_hash(self):
        """The hash of the pool's configuration, as dbmctl status shows it."""
        return self._session.pool_hash

    @property
    def autocommit(self):
        return self._autocommit

    @autocommit.setter
    def autocommit(self, value):
        with self._lock:
            self._check()
            if self._in_txn:
                raise ProgrammingError("autocommit cannot change while a transaction is "
                                       "open; commit or roll back first")
            self._autocommit = bool(value)

    @property
    def in_transaction(self):
        return self._in_txn

    # PEP 249.

    def cursor(self):
        self._check()
        return Cursor(self)

    def execute(self, sql, params=None, **kw):
        """A new cursor, executed: ``conn.execute(sql, params).fetchall()``."""
        return self.cursor().execute(sql, params, **kw)

    def _end(self, commit):
        with self._lock:
            s = self._take_session(None)
            if not self._in_txn:
                return
            try:
                s.commit() if commit else s.rollback()
            except ProgrammingError as e:
                # The program ended the transaction with SQL of its own.
                if e.codename != "TXN_STATE":
                    raise
            finally:
                self._in_txn = False

    def commit(self):
        self._end(True)

    def rollback(self):
        self._end(False)

    def close(self):
        """Closes the handle; an open transaction is rolled back by dbmd.  Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._in_txn = False
            r = self._current_reader()
            self._reader = None
            if r is not None:
                r._lost()
            self._session.close()
            if _open_connections is not None:
                _open_connections.discard(self)

    def __enter__(self):
        self._check()
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._closed:
            return
        if exc_type is None:
            self.commit()
        else:
            try:
                self.rollback()
            except Error:
                pass


class Cursor:
    """A statement's results on a Connection (PEP 249's cursor)."""

    itersize = 5000  # rows in each piece read from dbmd

    def __init__(self, connection):
        self.connection = connection
        self.arraysize = 1
        self._closed = False
        self._gone = False      # the connection closed under an unread result
        self._clear()

    def _clear(self):
        self.description = None
        self.rowcount = -1
        self.statusmessage = None
        self._cache = None
        self._rows = []
        self._pos = 0
        self._more = False      # more pieces of this result set come from dbmd
        self._done = True       # the request has no more result sets on the session
        self._sets = []         # later result sets already read: (desc, rows, tag, aff, cache)
        self._nseen = 0
        self._gone = False

    @property
    def closed(self):
        return self._closed or self.connection._closed

    @property
    def cache_hit(self):
        """True: answered from dbmd's cache; False: a cacheable miss; None: no cache."""
        if self._cache == CACHE_HIT:
            return True
        if self._cache == CACHE_MISS:
            return False
        return None

    def _check(self):
        if self._closed:
            raise InterfaceError("the cursor is closed")
        if self._gone:
            raise InterfaceError("the connection was closed before the result was read")
        self.connection._check()

    # Pieces.

    def _set_start(self, piece):
        desc, rows, partial, tag, aff, cache, done = piece
        self.description = desc
        self._rows = rows
        self._pos = 0
        self._nseen = len(rows)
        self._more = partial
        self._done = done
        if partial:
            self.rowcount = -1
            self.statusmessage = None
            self._cache = None
        else:
            self._set_end(tag, aff, cache)

    def _set_end(self, tag, aff, cache):
        self.statusmessage = tag
        self._cache = cache
        self.rowcount = self._nseen if self.description is not None else aff
        if tag in ("COMMIT", "ROLLBACK"):
            self.connection._in_txn = False
        elif tag == "BEGIN" or tag == "START TRANSACTION":
            self.connection._in_txn = True

    def _read_piece(self):
        """Replaces the rows read with the next piece of this result set."""
        conn = self.connection
        self._check()
        try:
            piece = conn._session.next()
        except BaseException:
            self._more = False
            self._done = True
            conn._reader = None
            raise
        if piece is None:
            self._more = False
            self._done = True
            conn._reader = None
            return
        desc, rows, partial, tag, aff, cache, done = piece
        self._rows = rows
        self._pos = 0
        self._nseen += len(rows)
        self._more = partial
        self._done = done
        if not partial:
            self._set_end(tag, aff, cache)
        if done:
            conn._reader = None

    def _keep_rest(self):
        """Reads everything left of this request into memory: another request needs the session."""
        s = self.connection._session
        rows = self._rows[self._pos:]
        self._rows, self._pos = rows, 0
        try:
            while self._more:
                piece = s.next()
                if piece is None:
                    break
                desc, more, partial, tag, aff, cache, done = piece
                rows.extend(more)
                self._nseen += len(more)
                self._more, self._done = partial, done
                if not partial:
                    self._set_end(tag, aff, cache)
            while not self._done:
                piece = s.next()
                if piece is None:
                    break
                desc, srows, partial, tag, aff, cache, done = piece
                srows = list(srows)
                while partial:
                    piece = s.next()
                    if piece is None:
                        break
                    _, more, partial, tag, aff, cache, done = piece
                    srows.extend(more)
                self._sets.append((desc, srows, tag, aff, cache))
                self._done = done
        except Error:
            self._more = False
            self._done = True
            raise
        self._more = False
        self._done = True

    def _lost(self):
        """The connection closed under this cursor's unread result."""
        if self._more or self._sets:
            self._gone = True
        self._more = False
        self._done = True

    # PEP 249.

    def execute(self, sql, params=None, *, cache_max_age=None):
        conn = self.connection
        with conn._lock:
            self._check()
            s = conn._take_session(self)
            sql, args = _convert(sql, params, conn._sqlite)
            begin = not conn._autocommit and not conn._in_txn
            self._clear()
            try:
                piece = s.execute(sql, args, cache_max_age or 0.0, 0.0, self.itersize, begin)
            except BaseException as e:
                # A BEGIN went only if dbmd answered something (a dbmd error has a code).
                if begin and getattr(e, "code", None) is not None and not s.closed:
                    conn._in_txn = True
                elif s.closed and conn._in_txn:
                    conn._session_lost = True
                raise
            if begin:
                conn._in_txn = True
            self._set_start(piece)
            if not self._done:
                conn._reader = weakref.ref(self)
            return self

    def executemany(self, sql, seq_of_params):
        with self.connection._lock:
            self._check()
            total = 0
            known = True
            for params in seq_of_params:
                self.execute(sql, params)
                if self.rowcount < 0:
                    known = False
                else:
                    total += self.rowcount
            self.rowcount = total if known else -1
            return self

    def fetchone(self):
        if self._pos < len(self._rows):       # the common case, without the lock
            row = self._rows[self._pos]
            self._pos += 1
            return row
        with self.connection._lock:
            if self._closed or self._gone:
                self._check()
            while True:
                if self._pos < len(self._rows):
                    row = self._rows[self._pos]
                    self._pos += 1
                    return row
                if not self._more:
                    if self.description is None:
                        self._no_rows()
                    return None
                self._read_piece()

    def _no_rows(self):
        self._check()
        if self.statusmessage is None and self._done:
            raise ProgrammingError("no statement has been executed")
        raise ProgrammingError("the statement returned no rows")

    def fetchmany(self, size=None):
        with self.connection._lock:
            if self._closed or self._gone:
                self._check()
            if size is None:
                size = self.arraysize
            out = []
            while len(out) < size:
                avail = len(self._rows) - self._pos
                if avail <= 0:
                    if not self._more:
                        if self.description is None:
                            self._no_rows()
                        break
                    self._read_piece()
                    continue
                take = min(avail, size - len(out))
                out.extend(self._rows[self._pos:self._pos + take])
                self._pos += take
            return out

    def fetchall(self):
        with self.connection._lock:
            if self._closed or self._gone:
                self._check()
            if self.description is None:
                self._no_rows()
            out = self._rows[self._pos:] if self._pos else self._rows
            self._rows, self._pos = [], 0
            while self._more:
                self._read_piece()
                out.extend(self._rows)
                self._rows = []
            return out

    def __iter__(self):
        return self

    def __next__(self):
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row

    def nextset(self):
        """Moves to the next result set of a multi-statement request; None when none."""
        conn = self.connection
        with conn._lock:
            self._check()
            if self._sets:
                desc, rows, tag, aff, cache = self._sets.pop(0)
                self.description, self._rows, self._pos, self._nseen = desc, rows, 0, len(rows)
                self._more = False
                self._set_end(tag, aff, cache)
                return True
            if conn._current_reader() is not self:
                return None
            while self._more:
                self._read_piece()
            if self._done:
                conn._reader = None
                return None
            piece = conn._session.next()
            if piece is None:
                conn._reader = None
                self._done = True
                return None
            self._nseen = 0
            self._set_start(piece)
            if self._done:
                conn._reader = None
            return True

    def close(self):
        conn = self.connection
        with conn._lock:
            if self._closed:
                return
            if conn._current_reader() is self:
                try:
                    conn._abandon(self)
                except Error:
                    pass
            self._closed = True
            self._rows = []
            self._sets = []
            self._more = False

    def setinputsizes(self, sizes):
        pass

    def setoutputsize(self, size, column=None):
        pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
