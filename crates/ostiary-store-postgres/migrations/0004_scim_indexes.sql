-- Ostiary schema, version 4 (PostgreSQL): indexes that keep SCIM and Graph filters and paging
-- off sequential scans for tenants with millions of users.
--
-- Default listings are ordered by id: (tenant_id, kind, id) pages in index order (and replaces
-- the (tenant_id, kind) index, which it contains). The expression indexes serve `eq`, `in`,
-- `startswith` (as a range) and `gt`/`lt` on the properties SCIM and Graph filter on most.
-- Each expression, collation included, must be exactly what the filter compiler (src/sql.rs)
-- emits for the property, or the planner will not match it: strings are `lower(...)` in
-- `COLLATE "C"` (byte order, as on SQLite; also what makes a prefix a range), timestamps go
-- through `ostiary_ts`. The trailing id makes `eq` results and `$orderby` on the property come
-- out in the order the query wants. Every index costs write throughput: add one only for a
-- property that is filtered often.

-- The cast from text to timestamptz is only STABLE (it reads TimeZone and DateStyle), so it
-- cannot appear in an index. Every value it is applied to is RFC 3339 with an explicit offset
-- (documents are written by one serialiser, literals are normalised to `...Z`), which parses
-- the same under every setting, so declaring the wrapper IMMUTABLE is sound for that input.
CREATE FUNCTION ostiary_ts(t text) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT CAST(t AS timestamptz) $$;

DROP INDEX directory_objects_kind_idx;
CREATE INDEX directory_objects_kind_id_idx ON directory_objects (tenant_id, kind, id);
CREATE INDEX directory_objects_upn_idx
    ON directory_objects (tenant_id, kind, (lower(doc->>'userPrincipalName')) COLLATE "C", id);
CREATE INDEX directory_objects_external_id_idx
    ON directory_objects (tenant_id, kind, (lower(doc->>'externalId')) COLLATE "C", id);
CREATE INDEX directory_objects_display_name_idx
    ON directory_objects (tenant_id, kind, (lower(doc->>'displayName')) COLLATE "C", id);
CREATE INDEX directory_objects_mail_idx
    ON directory_objects (tenant_id, kind, (lower(doc->>'mail')) COLLATE "C", id);
CREATE INDEX directory_objects_modified_idx
    ON directory_objects (tenant_id, kind, ostiary_ts(doc->>'lastModifiedDateTime'), id);
