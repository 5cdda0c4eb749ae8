-- Ostiary schema, version 2 (PostgreSQL): grant and session state (`Store::kv_*`).
--
-- One row per (tenant, kind, key); `doc` is jsonb, `version` the compare-and-swap counter,
-- `expires_at` fixed-width UTC text like every other timestamp column (NULL = never
-- expires). Text keys are COLLATE "C": byte order, identical to SQLite, so prefix ranges
-- and `ORDER BY key` agree across backends and use the primary-key index.

CREATE TABLE kv (
    tenant_id  uuid   NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind       text   COLLATE "C" NOT NULL,
    key        text   COLLATE "C" NOT NULL,
    doc        jsonb  NOT NULL,
    version    bigint NOT NULL,
    expires_at text   COLLATE "C",
    user_id    uuid,
    family_id  text   COLLATE "C",
    PRIMARY KEY (tenant_id, kind, key)
);
-- Partial: most kinds have no user or family, and `= $n` / `<= $n` imply NOT NULL.
CREATE INDEX kv_user_idx ON kv (tenant_id, user_id) WHERE user_id IS NOT NULL;
CREATE INDEX kv_family_idx ON kv (tenant_id, family_id) WHERE family_id IS NOT NULL;
CREATE INDEX kv_expiry_idx ON kv (expires_at) WHERE expires_at IS NOT NULL;
