"""Alembic environment: run with the connection handed over by ``visitt.store.db.Database.upgrade``."""

from alembic import context

from visitt.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `visitt db upgrade`")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
