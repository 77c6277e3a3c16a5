"""The schema the migrations build (the suite's own schema) is exactly what the models declare."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db


def test_models_and_migrations_agree(ctx):
    conn = db.session.connection()
    diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)
    assert diff == [], "models changed without a migration (run `flask db migrate`):\n" + "\n".join(map(str, diff))
