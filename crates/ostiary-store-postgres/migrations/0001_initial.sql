-- Ostiary schema, version 1 (PostgreSQL).
--
-- Documents are jsonb; timestamps outside documents are fixed-width UTC text
-- `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (lossless, byte-ordered with COLLATE "C", identical
-- to the SQLite backend). Every tenant-owned table carries `tenant_id` in its primary key.

CREATE TABLE tenants (
    id                   uuid   NOT NULL PRIMARY KEY,
    display_name         text   NOT NULL,
    initial_domain       text   NOT NULL,
    initial_domain_lower text   NOT NULL,
    created_at           text   COLLATE "C" NOT NULL,
    version              bigint NOT NULL DEFAULT 0,
    CONSTRAINT tenants_initial_domain_lower_key UNIQUE (initial_domain_lower)
);

CREATE TABLE directory_objects (
    tenant_id uuid  NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id        uuid  NOT NULL,
    kind      text  NOT NULL,
    doc       jsonb NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX directory_objects_kind_idx ON directory_objects (tenant_id, kind);

CREATE TABLE unique_keys (
    tenant_id uuid NOT NULL,
    namespace text NOT NULL,
    value     text NOT NULL,
    object_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, namespace, value),
    FOREIGN KEY (tenant_id, object_id) REFERENCES directory_objects (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX unique_keys_object_idx ON unique_keys (tenant_id, object_id);

CREATE TABLE memberships (
    tenant_id uuid NOT NULL,
    group_id  uuid NOT NULL,
    member_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, group_id, member_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES directory_objects (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, member_id) REFERENCES directory_objects (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX memberships_member_idx ON memberships (tenant_id, member_id);

CREATE TABLE app_role_assignments (
    tenant_id    uuid NOT NULL,
    id           text NOT NULL,
    principal_id uuid NOT NULL,
    resource_id  uuid NOT NULL,
    app_role_id  uuid NOT NULL,
    created_at   text COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, principal_id, resource_id, app_role_id),
    FOREIGN KEY (tenant_id, principal_id) REFERENCES directory_objects (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, resource_id) REFERENCES directory_objects (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX app_role_assignments_resource_idx ON app_role_assignments (tenant_id, resource_id);

CREATE TABLE signing_keys (
    tenant_id          uuid  NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kid                text  NOT NULL,
    alg                text  NOT NULL,
    cert_der           bytea NOT NULL,
    sealed_private_key bytea NOT NULL,
    kek_id             text  NOT NULL,
    created_at         text  COLLATE "C" NOT NULL,
    sign_from          text  COLLATE "C" NOT NULL,
    retire_at          text  COLLATE "C",
    PRIMARY KEY (tenant_id, kid)
);

CREATE TABLE used_assertions (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    client_id  text NOT NULL,
    jti        text NOT NULL,
    expires_at text COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, client_id, jti)
);
CREATE INDEX used_assertions_expiry_idx ON used_assertions (tenant_id, expires_at);
