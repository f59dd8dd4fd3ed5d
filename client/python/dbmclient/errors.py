"""The exceptions of PEP 249, and which one a dbmd error becomes.

An error from a statement is chosen by its SQLSTATE's class, as psycopg2 does;
an error of dbmd's own (an unknown environment, a timeout, a lost connection)
by dbmd's error code.  Every exception raised from a dbmd reply carries
``code`` (dbmd's number), ``codename`` ("SQL", "TIMEOUT", ...), ``sqlstate``
(also as ``pgcode``), ``detail`` and ``hint``; the last three are None when the
reply had none.
"""

__all__ = [
    "Warning", "Error", "InterfaceError", "DatabaseError", "DataError",
    "OperationalError", "IntegrityError", "InternalError", "ProgrammingError",
    "NotSupportedError",
]


class Warning(Exception):  # noqa: A001 - the name PEP 249 gives it
    """Important warnings, such as data truncation (dbmd raises none today)."""


class Error(Exception):
    """The base of every error this package raises."""

    code = None
    codename = None
    sqlstate = None
    detail = None
    hint = None

    @property
    def pgcode(self):
        """The SQLSTATE, under psycopg2's name."""
        return self.sqlstate

    @property
    def pgerror(self):
        """The message, under psycopg2's name."""
        return self.args[0] if self.args else None


class InterfaceError(Error):
    """The interface was misused or failed: a closed object, a protocol error."""


class DatabaseError(Error):
    """An error reported by dbmd or by the database behind it."""


class DataError(DatabaseError):
    """A value was wrong: division by zero, out of range, bad text for a type."""


class OperationalError(DatabaseError):
    """The database's operation failed: connection lost, timeout, access refused."""


class IntegrityError(DatabaseError):
    """A constraint was violated: unique, foreign key, not null, check."""


class InternalError(DatabaseError):
    """The database is in a state the statement does not fit (a read-only transaction)."""


class ProgrammingError(DatabaseError):
    """The program asked for something wrong: syntax, a missing table, an unknown environment."""


class NotSupportedError(DatabaseError):
    """The database does not support what was asked."""


# dbmd's error codes (libdbmclient's enum dbm_error; the numbers never change).
CODENAMES = {
    0: "OK", 1: "PROTOCOL", 2: "VERSION", 3: "UNKNOWN_ENV", 4: "UNKNOWN_ROLE",
    5: "CONFIG", 6: "NOT_OVERRIDABLE", 7: "PERMISSION", 8: "LIMIT", 9: "BACKEND",
    10: "SQL", 11: "TIMEOUT", 12: "NO_HANDLE", 13: "TXN_STATE", 14: "SHUTDOWN",
    15: "DRAINING", 16: "CANCELED", 17: "CONNECTION", 18: "INTERNAL", 19: "NOMEM",
}

_BY_CODE = {
    "PROTOCOL": InterfaceError, "VERSION": InterfaceError, "NO_HANDLE": InterfaceError,
    "INTERNAL": InterfaceError,
    "UNKNOWN_ENV": ProgrammingError, "UNKNOWN_ROLE": ProgrammingError,
    "NOT_OVERRIDABLE": ProgrammingError, "TXN_STATE": ProgrammingError,
    "CONFIG": OperationalError, "PERMISSION": OperationalError, "LIMIT": OperationalError,
    "BACKEND": OperationalError, "TIMEOUT": OperationalError, "SHUTDOWN": OperationalError,
    "DRAINING": OperationalError, "CANCELED": OperationalError,
    "CONNECTION": OperationalError, "NOMEM": OperationalError,
}

# SQLSTATE classes (the first two characters), as psycopg2 maps them.
_BY_CLASS = {
    "22": DataError,
    "23": IntegrityError,
    "0A": NotSupportedError,
    "42": ProgrammingError, "3D": ProgrammingError, "3F": ProgrammingError,
    "26": ProgrammingError, "44": ProgrammingError,
    "25": InternalError, "2B": InternalError, "2D": InternalError, "2F": InternalError,
    "38": InternalError, "39": InternalError, "3B": InternalError, "XX": InternalError,
    "08": OperationalError, "28": OperationalError, "34": OperationalError,
    "40": OperationalError, "53": OperationalError, "54": OperationalError,
    "55": OperationalError, "57": OperationalError, "58": OperationalError,
    "HV": OperationalError, "F0": OperationalError, "P0": InternalError,
}


def class_for(code, sqlstate):
    """The exception class for dbmd's error code and a SQLSTATE ("" or None if none)."""
    name = CODENAMES.get(code)
    if name == "SQL":
        return _BY_CLASS.get((sqlstate or "")[:2], DatabaseError)
    return _BY_CODE.get(name, DatabaseError)


def _make_error(code, message, sqlstate, detail, hint):
    """Builds the exception for one dbmd error (the C module calls this)."""
    exc = class_for(code, sqlstate)(message)
    exc.code = code
    exc.codename = CODENAMES.get(code, "UNKNOWN")
    exc.sqlstate = sqlstate or None
    exc.detail = detail
    exc.hint = hint
    return exc
