"""Alembic environment: runs on the connection handed over by :mod:`cmc_workflow.store.schema`."""

from __future__ import annotations

from alembic import context

from cmc_workflow.store.tables import metadata, postgres_indexes

postgres_indexes()  # the models in full for autogenerate: PostgreSQL's own indexes too

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - we always pass one
    raise RuntimeError("run migrations through `cmc-workflow db upgrade`")
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
