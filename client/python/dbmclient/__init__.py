"""dbmclient: Python's way to dbmd, the database connection broker.

Two interfaces over one C module (``dbmclient._dbmclient``, over
libdbmclient):

* The factory functions: ``get_database_manager(environment, role)`` and
  ``get_dev_database_manager()``, ``get_test_database_manager()``,
  ``get_prod_database_manager()`` return the one ``DatabaseManager`` of this
  process for that configuration.  dbmd resolves the configuration (explicit
  overrides > DBMD_ variables > its YAML files > defaults), keeps the pool
  and its result cache; ``manager.config`` shows what it resolved, with each
  value's source.

* PEP 249: ``dbmclient.connect(environment, role)`` returns a Connection
  whose cursors stream large results (see ``dbmclient.dbapi``).

Every manager and connection still open is disposed at interpreter exit.  A
forked child never uses its parent's connection to dbmd: a manager opens new
ones in the child; a Connection raises InterfaceError there.
"""

import atexit
import os
import threading
import weakref
from collections.abc import Mapping

from . import dbapi
from .dbapi import (  # noqa: F401 - the package's interface
    apilevel, threadsafety, paramstyle, connect, Connection, Cursor, Json,
    STRING, BINARY, NUMBER, DATETIME, ROWID, Date, Time, Timestamp, Binary,
    DateFromTicks, TimeFromTicks, TimestampFromTicks, _convert, _open_session)
from .errors import (  # noqa: F401
    Warning, Error, InterfaceError, DatabaseError, DataError, OperationalError,
    IntegrityError, InternalError, ProgrammingError, NotSupportedError)

__version__ = "0.2.0"

__all__ = [
    "get_database_manager", "get_dev_database_manager", "get_test_database_manager",
    "get_prod_database_manager", "dispose_all", "DatabaseManager", "Config", "Rows",
    "Transaction", "connect", "Connection", "Cursor", "Json", "apilevel", "threadsafety",
    "paramstyle", "Warning", "Error", "InterfaceError", "DatabaseError", "DataError",
    "OperationalError", "IntegrityError", "InternalError", "ProgrammingError",
    "NotSupportedError", "STRING", "BINARY", "NUMBER", "DATETIME", "ROWID", "Date",
    "Time", "Timestamp", "Binary", "DateFromTicks", "TimeFromTicks", "TimestampFromTicks",
]

_ROW_CHUNK = 5000
_IDLE_MAX = 16   # sessions a manager keeps for reuse; more are closed when returned


class Rows(list):
    """The rows a statement returned (tuples), with what else it said.

    ``columns`` are the column names, ``description`` as a cursor's,
    ``rowcount`` the rows returned or affected, ``cmdtag`` the command tag
    ("INSERT 0 1"), ``cache_hit`` True when dbmd answered from its cache,
    False on a cacheable miss, None when the cache was not asked.
    """

    __slots__ = ("description", "rowcount", "cmdtag", "cache_hit")

    @property
    def columns(self):
        return [d[0] for d in self.description] if self.description else []


def _run(session, sql, params, cache_max_age):
    """Runs one statement on session and returns the rows of its last result set."""
    sql, args = _convert(sql, params if params else None, session.backend == "sqlite")
    piece = session.execute(sql, args, cache_max_age or 0.0, 0.0, _ROW_CHUNK, False)
    desc, rows, partial, tag, aff, cache, done = piece
    while not done:
        p = session.next()
        if p is None:
            break
        if not partial:       # the previous result set ended: this one replaces it
            desc, rows = p[0], p[1]
        else:
            rows.extend(p[1])
        _, _, partial, tag, aff, cache, done = p
    out = Rows(rows)
    out.description = desc
    out.rowcount = len(rows) if desc is not None else aff
    out.cmdtag = tag
    out.cache_hit = True if cache == dbapi.CACHE_HIT else (
        False if cache == dbapi.CACHE_MISS else None)
    return out


class Config(Mapping):
    """The configuration dbmd resolved for a manager: key -> value, with sources.

    Sources are dbmd's, as ``dbmctl resolve`` shows them: "default",
    "file PATH:LINE:COL", "env DBMD_...", "explicit (--set ...)" for dbmd's
    command line, and "request" for this manager's own overrides.  Secrets
    in the URI are redacted by dbmd.
    """

    def __init__(self, rows):
        self._values = {k: v for k, v, _ in rows}
        self._sources = {k: s for k, _, s in rows}
        self._order = [k for k, _, _ in rows]

    def __getitem__(self, key):
        return self._values[key]

    def __iter__(self):
        return iter(self._order)

    def __len__(self):
        return len(self._order)

    def source(self, key):
        """Where key's value came from ("" for names dbmd derives)."""
        return self._sources[key]

    def items_with_source(self):
        return [(k, self._values[k], self._sources[k]) for k in self._order]

    def __repr__(self):
        return "Config(%r)" % dict(self._values)


class Transaction:
    """A transaction on one of a manager's sessions (see DatabaseManager.transaction)."""

    def __init__(self, manager):
        self._manager = manager
        self._session = None

    def execute(self, sql, params=(), *, cache_max_age=None):
        if self._session is None:
            raise InterfaceError("the transaction is not open")
        return _run(self._session, sql, params, cache_max_age)

    def __enter__(self):
        m = self._manager
        if getattr(m._local, "tx", None) is not None:
            raise ProgrammingError("a transaction is open in this thread already; "
                                   "transactions do not nest")
        s = m._checkout()
        try:
            s.begin()
        except BaseException:
            m._checkin(s)
            raise
        self._session = s
        m._local.tx = self
        return self

    def __exit__(self, exc_type, exc, tb):
        m, s = self._manager, self._session
        m._local.tx = None
        self._session = None
        try:
            if exc_type is None:
                s.commit()
            else:
                try:
                    s.rollback()
                except Error:
                    pass   # the session is gone; dbmd rolls back what it held
        finally:
            m._checkin(s)
        return False


class DatabaseManager:
    """Statements on dbmd's pool for one environment and role.

    Made by get_database_manager and the like, never directly.  Thread-safe:
    each call takes one of the manager's sessions (handles on dbmd) for its
    own, so threads run their statements side by side, and a transaction
    belongs to the thread that opened it.
    """

    def __init__(self, environment, role, socket, overrides, pinned, cache_max_age, key):
        self.environment = environment
        self.role = role
        self.cache_max_age = cache_max_age
        self._args = (environment, role, socket, overrides, pinned)
        self._key = key
        self._lock = threading.Lock()
        self._idle = []
        self._sessions = set()
        self._local = threading.local()
        self._pid = os.getpid()
        self._closed = False
        self._config = None
        s = self._open()
        self.backend = s.backend
        self.pool_hash = s.pool_hash
        self._idle.append(s)

    def __repr__(self):
        return "<DatabaseManager %s/%s %s %s%s>" % (
            self.environment, self.role, self.backend, self.pool_hash,
            " disposed" if self._closed else "")

    def _open(self):
        s = _open_session(*self._args)
        with self._lock:
            self._sessions.add(s)
        return s

    def _forked(self):
        """In a child: forget the parent's sessions (closing only our descriptors)."""
        self._lock = threading.Lock()
        self._local = threading.local()
        old, self._sessions, self._idle = self._sessions, set(), []
        self._pid = os.getpid()
        for s in old:
            s.close()

    def _checkout(self):
        if self._pid != os.getpid():
            self._forked()
        with self._lock:
            if self._closed:
                raise InterfaceError("the database manager is disposed")
            if self._idle:
                return self._idle.pop()
        return self._open()

    def _checkin(self, s):
        with self._lock:
            if not self._closed and not s.closed and len(self._idle) < _IDLE_MAX:
                self._idle.append(s)
                return
            self._sessions.discard(s)
        s.close()

    @property
    def closed(self):
        return self._closed

    @property
    def config(self):
        """The resolved configuration, as dbmd's RESOLVE (``dbmctl resolve``) gives it."""
        if self._config is None:
            s = self._checkout()
            try:
                _, rows = s.resolve(self.environment, self.role)
            finally:
                self._checkin(s)
            rows = [tuple(r) for r in rows]
            overrides = dbapi._pairs(self._args[3]) or []
            given = dict(overrides)
            rows = [(k, given[k], "request") if k in given else (k, v, src)
                    for k, v, src in rows]
            known = {r[0] for r in rows}
            rows += [(k, v, "request") for k, v in overrides if k not in known]
            rows = [(k, v, src) if k != "hash" else (k, self.pool_hash, src)
                    for k, v, src in rows]
            self._config = Config(rows)
        return self._config

    def execute(self, sql, params=(), *, cache_max_age=None):
        """Runs one statement and returns its Rows.

        Inside ``with manager.transaction():`` in this thread it runs in that
        transaction; otherwise alone.  cache_max_age (seconds; default the
        manager's) lets dbmd answer a read from its result cache.
        """
        tx = getattr(self._local, "tx", None)
        if tx is not None and self._pid == os.getpid():
            return tx.execute(sql, params, cache_max_age=cache_max_age)
        if cache_max_age is None:
            cache_max_age = self.cache_max_age
        s = self._checkout()
        try:
            return _run(s, sql, params, cache_max_age)
        finally:
            self._checkin(s)

    def transaction(self):
        """A context manager: BEGIN, then COMMIT on success or ROLLBACK on an exception."""
        return Transaction(self)

    def connect(self, **kw):
        """A PEP 249 Connection on the same pool."""
        env, role, socket, overrides, pinned = self._args
        return connect(env, role, socket=socket, overrides=overrides, pinned=pinned, **kw)

    def dispose(self):
        """Releases the manager's handles in dbmd; later use raises InterfaceError."""
        with _registry_lock:
            if _managers.get(self._key) is self:
                del _managers[self._key]
        with self._lock:
            if self._closed:
                return
            self._closed = True
            sessions, self._sessions, self._idle = self._sessions, set(), []
        for s in sessions:
            s.close()

    close = dispose

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.dispose()
        return False


_registry_lock = threading.Lock()
_managers = {}
_connections = weakref.WeakSet()
dbapi._open_connections = _connections


def _overrides_key(overrides):
    pairs = dbapi._pairs(overrides) or []
    return tuple(sorted(pairs))


def get_database_manager(environment=None, role=None, *, socket=None, overrides=None,
                         cache_max_age=None, pinned=False):
    """The process's DatabaseManager for environment and role, made on first use.

    environment and role None mean $DBM_ENVIRONMENT and $DBM_ROLE, else
    development and primary; socket None means $DBMD_SOCKET, else the
    default.  overrides (a dict) are explicit settings, which dbmd accepts
    only for keys the environment lets clients override.  cache_max_age
    (seconds) lets manager.execute take reads from dbmd's result cache.
    pinned keeps one database connection per session for its life.

    The same arguments give the same manager until it is disposed; errors
    (an unknown environment, dbmd not running, access refused) raise here.
    """
    environment = environment or os.environ.get("DBM_ENVIRONMENT") or "development"
    role = role or os.environ.get("DBM_ROLE") or "primary"
    socket = socket or os.environ.get("DBMD_SOCKET") or None
    if cache_max_age is not None and cache_max_age < 0:
        raise ValueError("cache_max_age is seconds, 0 or more")
    key = (socket, environment, role, _overrides_key(overrides), bool(pinned), cache_max_age)
    with _registry_lock:
        m = _managers.get(key)
        if m is not None and m._pid != os.getpid():
            m._forked()
        if m is not None and not m._closed:
            return m
        m = DatabaseManager(environment, role, socket, overrides, pinned, cache_max_age, key)
        _managers[key] = m
        return m


def get_dev_database_manager(role=None, **kw):
    """The manager of the development environment (SQLite by default)."""
    return get_database_manager("development", role, **kw)


def get_test_database_manager(role=None, **kw):
    """The manager of the test environment (in-memory SQLite by default)."""
    return get_database_manager("test", role, **kw)


def get_prod_database_manager(role=None, **kw):
    """The manager of the production environment (dbmd's operator configures it)."""
    return get_database_manager("production", role, **kw)


def dispose_all():
    """Disposes every manager and closes every connection of this process."""
    with _registry_lock:
        managers = list(_managers.values())
    for m in managers:
        m.dispose()
    for c in list(_connections):
        c.close()


def _after_fork_in_child():
    global _registry_lock
    _registry_lock = threading.Lock()


atexit.register(dispose_all)
os.register_at_fork(after_in_child=_after_fork_in_child)
