"""The search index (search/models.py): the table, each database's full-text column and index,
and every message stored before it, indexed."""

import django.db.models.deletion
from django.db import migrations, models

POSTGRESQL = [
    "ALTER TABLE search_searchdoc ADD COLUMN doc tsvector NOT NULL DEFAULT ''",
    "CREATE INDEX search_doc_gin ON search_searchdoc USING gin (doc)",
    "CREATE INDEX search_doc_room ON search_searchdoc (room_id, message_id)",
    "CREATE INDEX search_doc_sender ON search_searchdoc (sender, message_id)",
]
POSTGRESQL_BACK = [
    "DROP INDEX IF EXISTS search_doc_sender",
    "DROP INDEX IF EXISTS search_doc_room",
    "DROP INDEX IF EXISTS search_doc_gin",
]
SQLITE = [
    "ALTER TABLE search_searchdoc ADD COLUMN terms text NOT NULL DEFAULT ''",
    "CREATE INDEX search_doc_room ON search_searchdoc (room_id, message_id)",
    "CREATE INDEX search_doc_sender ON search_searchdoc (sender, message_id)",
    # detail=full keeps positions (phrases, CJK pairs in sequence); 'ascii' splits on ASCII
    # punctuation and spaces only: the terms arrive folded and space-separated (search.tokens).
    "CREATE VIRTUAL TABLE search_fts USING fts5(terms, content='search_searchdoc', content_rowid='message_id', "
    "tokenize='ascii')",
    "CREATE TRIGGER search_fts_insert AFTER INSERT ON search_searchdoc BEGIN "
    "INSERT INTO search_fts(rowid, terms) VALUES (new.message_id, new.terms); END",
    "CREATE TRIGGER search_fts_delete AFTER DELETE ON search_searchdoc BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, terms) VALUES ('delete', old.message_id, old.terms); END",
    "CREATE TRIGGER search_fts_update AFTER UPDATE ON search_searchdoc BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, terms) VALUES ('delete', old.message_id, old.terms); "
    "INSERT INTO search_fts(rowid, terms) VALUES (new.message_id, new.terms); END",
]
SQLITE_BACK = [
    "DROP TRIGGER IF EXISTS search_fts_insert",
    "DROP TRIGGER IF EXISTS search_fts_delete",
    "DROP TRIGGER IF EXISTS search_fts_update",
    "DROP TABLE IF EXISTS search_fts",
]


def full_text(apps, schema_editor):
    statements = POSTGRESQL if schema_editor.connection.vendor == "postgresql" else SQLITE
    for sql in statements:
        schema_editor.execute(sql)


def full_text_back(apps, schema_editor):
    statements = POSTGRESQL_BACK if schema_editor.connection.vendor == "postgresql" else SQLITE_BACK
    for sql in statements:
        schema_editor.execute(sql)


def index_existing(apps, schema_editor):
    from search import index

    index.rebuild()


class Migration(migrations.Migration):
    dependencies = [("chat", "0006_render_existing_messages")]

    operations = [
        migrations.CreateModel(
            name="SearchDoc",
            fields=[
                (
                    "message",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="chat.message",
                    ),
                ),
                ("sender", models.CharField(max_length=150)),
                ("has_file", models.BooleanField(default=False)),
                ("has_link", models.BooleanField(default=False)),
                (
                    "room",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="chat.room",
                    ),
                ),
            ],
        ),
        migrations.RunPython(full_text, full_text_back),
        migrations.RunPython(index_existing, migrations.RunPython.noop),
    ]
