-- Ostiary schema, version 3 (PostgreSQL): sign-in and directory-audit logs (`Store::*_logs`)
-- and the SIEM exporters' cursors.
--
-- Sequence order must be commit order (an exporter reading `seq > cursor` must never skip a
-- record). A sequence (BIGSERIAL) does not give that: concurrent transactions can commit out
-- of the order in which they drew their numbers. Instead every appending transaction takes
-- its block of numbers with `UPDATE log_seq SET last = last + n RETURNING last`, which
-- row-locks the counter until the transaction ends: appenders serialise on that row, so a
-- block is only handed out after every earlier block is committed (or rolled back) and
-- visible. The counter only grows, so purging never lets a number be reused.
--
-- `time` is fixed-width UTC text like every other timestamp column (lossless, byte-ordered
-- with COLLATE "C", identical to the SQLite backend); `principal_name` is stored lowercased;
-- `doc` is the Graph-shaped document.

CREATE TABLE log_seq (
    id   integer NOT NULL PRIMARY KEY CHECK (id = 1),
    last bigint  NOT NULL
);
INSERT INTO log_seq (id, last) VALUES (1, 0);

CREATE TABLE log_records (
    seq            bigint NOT NULL PRIMARY KEY,
    tenant_id      uuid   NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind           text   COLLATE "C" NOT NULL,
    id             uuid   NOT NULL,
    time           text   COLLATE "C" NOT NULL,
    principal_id   text   COLLATE "C",
    principal_name text   COLLATE "C",
    app_id         text   COLLATE "C",
    correlation_id text   COLLATE "C",
    status         bigint NOT NULL,
    category       text   COLLATE "C" NOT NULL,
    activity       text   COLLATE "C" NOT NULL,
    doc            jsonb  NOT NULL
);
-- `query_logs`: newest first within (tenant, kind), keyset-paged by seq; time ranges.
CREATE INDEX log_records_tenant_kind_seq_idx ON log_records (tenant_id, kind, seq DESC);
CREATE INDEX log_records_tenant_kind_time_idx ON log_records (tenant_id, kind, time);
-- `purge_logs`: the oldest records of a kind, any tenant.
CREATE INDEX log_records_purge_idx ON log_records (kind, time);

CREATE TABLE export_cursors (
    sink       text   COLLATE "C" NOT NULL PRIMARY KEY,
    seq        bigint NOT NULL,
    updated_at text   COLLATE "C" NOT NULL
);
