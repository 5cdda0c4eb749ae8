-- Ostiary schema, version 1 (SQLite).
--
-- Identifiers are lowercase hyphenated UUID text; timestamps outside documents are
-- fixed-width UTC text `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, so text order is time order.
-- Every tenant-owned table carries `tenant_id` in its primary key.

CREATE TABLE tenants (
    id                   TEXT    NOT NULL PRIMARY KEY,
    display_name         TEXT    NOT NULL,
    initial_domain       TEXT    NOT NULL,
    initial_domain_lower TEXT    NOT NULL UNIQUE,
    created_at           TEXT    NOT NULL,
    version              INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE directory_objects (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id        TEXT NOT NULL,
    kind      TEXT NOT NULL,
    doc       TEXT NOT NULL CHECK (json_valid(doc)),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX directory_objects_kind_idx ON directory_objects (tenant_id, kind);

CREATE TABLE unique_keys (
    tenant_id TEXT NOT NULL,
    namespace TEXT NOT NULL,
    value     TEXT NOT NULL,
    object_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, namespace, value),
    FOREIGN KEY (tenant_id, object_id) REFERENCES directory_objects (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX unique_keys_object_idx ON unique_keys (tenant_id, object_id);

CREATE TABLE memberships (
    tenant_id TEXT NOT NULL,
    group_id  TEXT NOT NULL,
    member_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, group_id, member_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES directory_objects (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, member_id) REFERENCES directory_objects (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX memberships_member_idx ON memberships (tenant_id, member_id);

CREATE TABLE app_role_assignments (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    resource_id  TEXT NOT NULL,
    app_role_id  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, principal_id, resource_id, app_role_id),
    FOREIGN KEY (tenant_id, principal_id) REFERENCES directory_objects (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, resource_id) REFERENCES directory_objects (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX app_role_assignments_resource_idx ON app_role_assignments (tenant_id, resource_id);

CREATE TABLE signing_keys (
    tenant_id          TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kid                TEXT NOT NULL,
    alg                TEXT NOT NULL,
    cert_der           BLOB NOT NULL,
    sealed_private_key BLOB NOT NULL,
    kek_id             TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    sign_from          TEXT NOT NULL,
    retire_at          TEXT,
    PRIMARY KEY (tenant_id, kid)
);

CREATE TABLE used_assertions (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, client_id, jti)
);
CREATE INDEX used_assertions_expiry_idx ON used_assertions (tenant_id, expires_at);
