-- Ostiary schema, version 4 (SQLite): indexes that keep SCIM and Graph filters and paging off
-- full scans for tenants with millions of users.
--
-- Default listings are ordered by id: (tenant_id, kind, id) pages in index order (and replaces
-- the (tenant_id, kind) index, which it contains). The expression indexes serve `eq`, `in`,
-- `startswith` (as a range) and `gt`/`lt` on the properties SCIM and Graph filter on most.
-- Each expression must be exactly what the filter compiler (src/sql.rs) emits for the
-- property, or the planner will not match it; the trailing id makes `eq` results and
-- `$orderby` on the property come out in the order the query wants, without a sort.
-- Every index costs write throughput: add one only for a property that is filtered often.

DROP INDEX directory_objects_kind_idx;
CREATE INDEX directory_objects_kind_id_idx ON directory_objects (tenant_id, kind, id);
CREATE INDEX directory_objects_upn_idx
    ON directory_objects (tenant_id, kind, lower(json_extract(doc, '$.userPrincipalName')), id);
CREATE INDEX directory_objects_external_id_idx
    ON directory_objects (tenant_id, kind, lower(json_extract(doc, '$.externalId')), id);
CREATE INDEX directory_objects_display_name_idx
    ON directory_objects (tenant_id, kind, lower(json_extract(doc, '$.displayName')), id);
CREATE INDEX directory_objects_mail_idx
    ON directory_objects (tenant_id, kind, lower(json_extract(doc, '$.mail')), id);
CREATE INDEX directory_objects_modified_idx
    ON directory_objects (tenant_id, kind, strftime('%Y-%m-%dT%H:%M:%fZ', json_extract(doc, '$.lastModifiedDateTime')), id);

-- Planner statistics. Without any, SQLite assumes that `tenant_id = ? AND kind = ?` selects
-- about ten rows, so it happily walks the id index of a tenant with a million users to answer
-- `userName eq 'a' or externalId eq 'b'` in id order. Seed sqlite_stat1 with the shape of a big
-- tenant (a million objects, 50,000 per tenant and kind; UPN, externalId and mail unique; ten
-- objects per display name; rows of about 1 KB, which SQLite cannot see in a JSON column), so
-- plans are right from the first query; small tenants are fast with any plan. `ANALYZE` (or
-- `PRAGMA optimize`) replaces the seed with measured figures. `ANALYZE sqlite_schema` creates
-- sqlite_stat1 if missing, and the second one makes this connection load the seed (others
-- reload the schema, which this migration changed, with its statistics).
ANALYZE sqlite_schema;
DELETE FROM sqlite_stat1 WHERE tbl = 'directory_objects';
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('directory_objects', NULL, '1000000 sz=1000'),
    ('directory_objects', 'sqlite_autoindex_directory_objects_1', '1000000 200000 1'),
    ('directory_objects', 'directory_objects_kind_id_idx', '1000000 200000 50000 1'),
    ('directory_objects', 'directory_objects_upn_idx', '1000000 200000 50000 1 1'),
    ('directory_objects', 'directory_objects_external_id_idx', '1000000 200000 50000 1 1'),
    ('directory_objects', 'directory_objects_display_name_idx', '1000000 200000 50000 10 1'),
    ('directory_objects', 'directory_objects_mail_idx', '1000000 200000 50000 1 1'),
    ('directory_objects', 'directory_objects_modified_idx', '1000000 200000 50000 1 1');
ANALYZE sqlite_schema;
