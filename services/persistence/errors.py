"""Errors raised by repositories and units of work.

    PersistenceError
    ├── NotFound      an operation on a record that does not exist (also a KeyError)
    └── Conflict      a write the database refuses: a duplicate key or a dangling reference

Handlers validate before they write, so these mean a bug or a race; the unit of work has rolled
back when `Conflict` comes out of `commit()`.
"""

from __future__ import annotations


class PersistenceError(Exception):
    pass


class NotFound(PersistenceError, KeyError):
    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "not found"


class Conflict(PersistenceError):
    pass
