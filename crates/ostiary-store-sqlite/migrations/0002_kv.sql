-- Ostiary schema, version 2 (SQLite): grant and session state (`Store::kv_*`).
--
-- One row per (tenant, kind, key); `doc` is JSON text, `version` the compare-and-swap
-- counter, `expires_at` fixed-width UTC text like every other timestamp column (NULL =
-- never expires). Keys compare with the default BINARY collation (byte order).
-- `rowid` is kept (no WITHOUT ROWID) so that purging can delete a bounded batch by rowid.

CREATE TABLE kv (
    tenant_id  TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    doc        TEXT    NOT NULL CHECK (json_valid(doc)),
    version    INTEGER NOT NULL,
    expires_at TEXT,
    user_id    TEXT,
    family_id  TEXT,
    PRIMARY KEY (tenant_id, kind, key)
);
-- Partial: most kinds have no user or family, and `= ?` / `<= ?` imply NOT NULL.
CREATE INDEX kv_user_idx ON kv (tenant_id, user_id) WHERE user_id IS NOT NULL;
CREATE INDEX kv_family_idx ON kv (tenant_id, family_id) WHERE family_id IS NOT NULL;
CREATE INDEX kv_expiry_idx ON kv (expires_at) WHERE expires_at IS NOT NULL;
