"""Extension objects, created unbound and bound to the app in ``create_app``."""
import contextlib
import fcntl
from pathlib import Path

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

# Named constraints, so Alembic can alter them on SQLite (batch mode) and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
MIGRATIONS_DIR = str(Path(__file__).resolve().parent / "migrations")
migrate = Migrate(directory=MIGRATIONS_DIR, render_as_batch=True, compare_type=True)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    """WAL for concurrent readers beside one writer, enforced foreign keys, and a busy
    timeout so several gunicorn workers wait for the write lock instead of failing.
    synchronous=FULL makes a commit durable before it returns (a 201 promises that)."""
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


@contextlib.contextmanager
def serialised_writes(engine: Engine, autocommit: bool = False):
    """A write transaction on ``engine``, committed on exit; with ``autocommit`` on a
    database server, a connection whose every statement commits by itself (one round trip
    instead of three, for a single INSERT). On SQLite, writers from every process first
    queue on a file lock beside the database: the lock hands over at once, where SQLite's
    own busy handler sleeps in steps of up to 100 ms and leaves the CPU idle under load.
    PostgreSQL needs no such queue. (The lock file is opened per transaction: with group
    commit, that is once per batch of records.)"""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        with _transaction(engine, autocommit) as conn:
            yield conn
        return
    with open(f"{engine.url.database}-writelock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with _transaction(engine, autocommit) as conn:
                yield conn
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _transaction(engine: Engine, autocommit: bool):
    # On SQLite, switching the isolation level there and back costs more than the
    # transaction statements it saves, and a lone INSERT needs no round trip anyway.
    if autocommit and engine.dialect.name != "sqlite":
        return engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    return engine.begin()
