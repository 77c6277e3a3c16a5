"""Engine settings per database: SQLite runs every transaction as BEGIN IMMEDIATE (serialised writers)."""

from flask import Flask
from sqlalchemy import event

from app.extensions import db


def init_app(app: Flask) -> None:
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    opts = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    opts.setdefault("connect_args", {}).update({"timeout": 60, "check_same_thread": False})
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        # Let SQLAlchemy, not pysqlite, emit BEGIN, so it can be BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
