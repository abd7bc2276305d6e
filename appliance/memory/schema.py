"""The memory database's schema, as numbered migrations applied by ``PRAGMA user_version``.

Migration N brings a database from version N-1 to N; each runs in one
transaction with the version bump, so a crash leaves either the old or the
new schema.  Never edit a migration that has shipped: append a new one.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: turns, facts, events, embeddings, model loads, full-text indexes kept in step by triggers
    """
    CREATE TABLE turns (
        id INTEGER PRIMARY KEY,
        started REAL NOT NULL,
        ended REAL NOT NULL,
        source TEXT NOT NULL DEFAULT 'voice',
        user_text TEXT NOT NULL,
        reply TEXT NOT NULL DEFAULT '',
        outcome TEXT NOT NULL DEFAULT 'answered',
        intent TEXT,
        emotion TEXT,
        emotion_score REAL,
        prosody TEXT,
        timings TEXT
    );
    CREATE INDEX turns_ended ON turns(ended);
    CREATE TABLE facts (
        id INTEGER PRIMARY KEY,
        created REAL NOT NULL,
        text TEXT NOT NULL,
        importance REAL NOT NULL DEFAULT 1.0,
        source_turn INTEGER REFERENCES turns(id) ON DELETE SET NULL
    );
    CREATE INDEX facts_created ON facts(created);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        text TEXT NOT NULL,
        data TEXT
    );
    CREATE INDEX events_ts ON events(ts);
    CREATE TABLE embeddings (
        kind TEXT NOT NULL,
        ref INTEGER NOT NULL,
        model TEXT NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (kind, ref)
    ) WITHOUT ROWID;
    CREATE TABLE model_loads (
        id INTEGER PRIMARY KEY,
        loaded_at REAL NOT NULL,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        version TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        path TEXT NOT NULL
    );
    CREATE VIRTUAL TABLE turns_fts USING fts5(
        user_text, reply, content='turns', content_rowid='id', tokenize='porter unicode61'
    );
    CREATE VIRTUAL TABLE facts_fts USING fts5(text, content='facts', content_rowid='id', tokenize='porter unicode61');
    CREATE VIRTUAL TABLE events_fts USING fts5(text, content='events', content_rowid='id', tokenize='porter unicode61');
    CREATE TRIGGER turns_ai AFTER INSERT ON turns BEGIN
        INSERT INTO turns_fts(rowid, user_text, reply) VALUES (new.id, new.user_text, new.reply);
    END;
    CREATE TRIGGER turns_ad AFTER DELETE ON turns BEGIN
        INSERT INTO turns_fts(turns_fts, rowid, user_text, reply) VALUES ('delete', old.id, old.user_text, old.reply);
        DELETE FROM embeddings WHERE kind = 'turn' AND ref = old.id;
    END;
    CREATE TRIGGER facts_ai AFTER INSERT ON facts BEGIN
        INSERT INTO facts_fts(rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER facts_ad AFTER DELETE ON facts BEGIN
        INSERT INTO facts_fts(facts_fts, rowid, text) VALUES ('delete', old.id, old.text);
        DELETE FROM embeddings WHERE kind = 'fact' AND ref = old.id;
    END;
    CREATE TRIGGER events_ai AFTER INSERT ON events BEGIN
        INSERT INTO events_fts(rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER events_ad AFTER DELETE ON events BEGIN
        INSERT INTO events_fts(events_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
FTS_TABLES = ("turns_fts", "facts_fts", "events_fts")
"""The full-text indexes (FTS5, external content): they keep their own copies of the words."""
