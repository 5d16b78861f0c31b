"""records found by key: TRN-3's training records read flat (issue 12, round 5)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03

A judged command asks for a person's records (``posts_trained``, ``requires_record``,
``covered_by_records``, ``unique_start``): the items of a workflow in some states whose
data field names them. Before, the database read every such item and parsed its JSON
(SQLite) to leave out the others, so a command cost more the more records a center kept.

``record_fields`` names the (workflow, data field) pairs the policies ask for; the store
registers a pair once and fills its keys from every item of the workflow, whenever it was
written (``store/records.py``). From then on a trigger on ``items`` (every writer: the
engine, batches, migrations of instances, a hand-written UPDATE) keeps one ``record_keys``
row per item of the workflow whose field may name someone, with its key:

- a text of plain characters (printable ASCII but capitals and spaces, 200 at most) is
  its own normal form and is its key; an integer's key is its digits (``0`` or no leading
  zero), ``true``/``false`` their words;
- any other text, number or JSON the database cannot parse has a NULL key: such a row is
  always read and compared in Python, as every row was before;
- a field that is absent, null, an object or a list has no row (it names nobody).

This revision creates the two tables, empty, and the triggers; nothing is registered
yet, so until a store registers a pair its records are read as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# SQLite: the key of NEW.data's field f.field (its path P), as store/records.py computes it;
# json_extract and CAST only, no ``->`` (SQLite 3.38): an integer beyond 64 bits, which
# json_extract gives as a float, gets a NULL key and is compared in Python
_P = "('$.\"' || f.field || '\"')"
_SQLITE_KEY = f"""CASE WHEN json_valid(NEW.data) THEN CASE json_type(NEW.data, {_P})
      WHEN 'text' THEN CASE
        WHEN length(json_extract(NEW.data, {_P})) > 200
          OR json_extract(NEW.data, {_P}) GLOB '*[^!-@[-~]*' THEN NULL
        ELSE json_extract(NEW.data, {_P}) END
      WHEN 'integer' THEN CASE
        WHEN typeof(json_extract(NEW.data, {_P})) = 'integer'
          THEN CAST(json_extract(NEW.data, {_P}) AS TEXT)
        ELSE NULL END
      WHEN 'true' THEN 'true'
      WHEN 'false' THEN 'false'
      ELSE NULL END END"""
_SQLITE_ROWS = f"""INSERT INTO record_keys (item_id, field, workflow_id, key)
    SELECT NEW.id, f.field, NEW.workflow_id, {_SQLITE_KEY}
    FROM record_fields f
    WHERE f.workflow_id = NEW.workflow_id
      AND CASE WHEN json_valid(NEW.data)
        THEN json_type(NEW.data, {_P}) IN ('text', 'integer', 'real', 'true', 'false')
        ELSE 1 END;"""
_SQLITE = [
    f"""CREATE TRIGGER record_keys_insert AFTER INSERT ON items
WHEN EXISTS (SELECT 1 FROM record_fields WHERE workflow_id = NEW.workflow_id)
BEGIN
    {_SQLITE_ROWS}
END""",
    f"""CREATE TRIGGER record_keys_update AFTER UPDATE OF data, workflow_id ON items
WHEN EXISTS (SELECT 1 FROM record_fields WHERE workflow_id IN (NEW.workflow_id, OLD.workflow_id))
BEGIN
    DELETE FROM record_keys WHERE item_id = OLD.id;
    {_SQLITE_ROWS}
END""",
]
_POSTGRES = [
    """CREATE FUNCTION record_keys_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NOT EXISTS (SELECT 1 FROM record_fields
                       WHERE workflow_id IN (NEW.workflow_id, OLD.workflow_id)) THEN
            RETURN NULL;
        END IF;
        DELETE FROM record_keys WHERE item_id = OLD.id;
    END IF;
    INSERT INTO record_keys (item_id, field, workflow_id, key)
    SELECT NEW.id, f.field, NEW.workflow_id,
        CASE jsonb_typeof(NEW.data -> f.field)
            WHEN 'string' THEN CASE
                WHEN length(NEW.data ->> f.field) > 200
                  OR (NEW.data ->> f.field) ~ '[^!-@[-~]' THEN NULL
                ELSE NEW.data ->> f.field END
            WHEN 'number' THEN CASE
                WHEN (NEW.data ->> f.field) ~ '^(0|-?[1-9][0-9]*)$' THEN NEW.data ->> f.field
                ELSE NULL END
            WHEN 'boolean' THEN NEW.data ->> f.field
            ELSE NULL END
    FROM record_fields f
    WHERE f.workflow_id = NEW.workflow_id
      AND jsonb_typeof(NEW.data -> f.field) IN ('string', 'number', 'boolean');
    RETURN NULL;
END
$$""",
    """CREATE TRIGGER record_keys_kept AFTER INSERT OR UPDATE OF data, workflow_id ON items
FOR EACH ROW EXECUTE FUNCTION record_keys_kept()""",
]


def upgrade() -> None:
    op.create_table(
        "record_fields",
        sa.Column("workflow_id", sa.String(64), primary_key=True),
        sa.Column("field", sa.String(128), primary_key=True),
        comment="the (workflow, data field) pairs whose records are found by key (record_keys)",
    )
    op.create_table(
        "record_keys",
        sa.Column(
            "item_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.ForeignKey("items.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("field", sa.String(128), primary_key=True),
        sa.Column("workflow_id", sa.String(64), nullable=False),
        sa.Column(
            "key",
            sa.String(200),
            nullable=True,
            comment="the field's value when it is its own normal form; NULL: compared in Python",
        ),
        comment="kept by triggers on items for the pairs of record_fields (migration 0015)",
    )
    op.create_index("ix_record_keys_key", "record_keys", ["workflow_id", "field", "key"])
    statements = _POSTGRES if op.get_bind().dialect.name == "postgresql" else _SQLITE
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER record_keys_kept ON items")
        op.execute("DROP FUNCTION record_keys_kept()")
    else:
        op.execute("DROP TRIGGER record_keys_update")
        op.execute("DROP TRIGGER record_keys_insert")
    op.drop_index("ix_record_keys_key", table_name="record_keys")
    op.drop_table("record_keys")
    op.drop_table("record_fields")
