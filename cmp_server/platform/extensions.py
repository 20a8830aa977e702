"""Extension objects, created unbound and bound to the app in ``create_app``."""
import logging
import os
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
MIGRATIONS_DIR = str(Path(__file__).resolve().parents[1] / "migrations")
migrate = Migrate(directory=MIGRATIONS_DIR, render_as_batch=True, compare_type=True)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    """WAL for concurrent readers beside one writer, enforced foreign keys, and a busy
    timeout so several gunicorn workers wait for the write lock instead of failing.
    synchronous=FULL makes a commit durable before it returns (a 201 promises that).
    secure_delete overwrites what a purge or an erasure deletes, so a removed record does
    not linger in the file's free pages (Debian's SQLite does so already; others may not)."""
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    cursor = dbapi_connection.cursor()
    keep_private(cursor.execute("PRAGMA database_list").fetchone()[2])
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def keep_private(database: str) -> None:
    """The database file for its owner only (0600), before SQLite makes its -wal and -shm
    files, which take the database file's mode; files made earlier are narrowed too. The
    database holds password hashes, the audit trail and every subject id."""
    for path in (database, f"{database}-wal", f"{database}-shm") if database else ():
        try:
            if os.stat(path).st_mode & 0o077:
                os.chmod(path, 0o600)
        except (FileNotFoundError, PermissionError):
            pass


_warned_servers: set[tuple] = set()  # the servers this process has warned about
# What a crash of the database's host can cost when these are off: acknowledged records
# (fsync), or pages torn by a partial write, which recovery cannot repair (full pages).
CRASH_SAFETY = ("fsync", "full_page_writes")


@event.listens_for(Engine, "connect")
def _postgresql_durable_commits(dbapi_connection, _record):
    """A 201 promises that the record is durable, so a connection of the platform's commits
    durably whatever the server's default. synchronous_commit=off (a commit returns before
    its WAL is flushed, and a crash loses it) is raised to on for the session; the other
    settings flush locally already, and the stronger ones of synchronous replication
    (remote_write, remote_apply) are kept. fsync=off and full_page_writes=off cannot be
    overridden by a session, so they are logged as a warning, once per server and
    process."""
    if not type(dbapi_connection).__module__.startswith("psycopg"):
        return
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT current_setting('synchronous_commit'), "
                       + ", ".join(f"current_setting('{name}')" for name in CRASH_SAFETY))
        synchronous_commit, *safety = cursor.fetchone()
        if synchronous_commit == "off":
            cursor.execute("SET synchronous_commit TO on")
    finally:
        cursor.close()
    dbapi_connection.commit()  # so that no later rollback (the pool resets) undoes the SET
    off = [name for name, value in zip(CRASH_SAFETY, safety) if value == "off"]
    server = (dbapi_connection.info.host, dbapi_connection.info.port)
    if off and server not in _warned_servers:
        _warned_servers.add(server)
        logging.getLogger("cmp_server").warning(
            "PostgreSQL at %s:%s runs with %s: a crash of its host can lose or corrupt "
            "acknowledged consent records. Turn %s on in postgresql.conf.",
            *server, " and ".join(f"{name}=off" for name in off), " and ".join(off))
