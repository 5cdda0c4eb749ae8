//! RFC 7643 schema definitions as static data (§4, §8.7), their JSON representations for the
//! discovery endpoints (`/Schemas`, `/ResourceTypes`, `/ServiceProviderConfig`), and attribute
//! lookup by (optional URN, name), case-insensitively.

use crate::{SCHEMA_ENTERPRISE_USER, SCHEMA_GROUP, SCHEMA_LIST_RESPONSE, SCHEMA_USER};
use serde_json::{Map, Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Reference,
    Binary,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

impl AttrType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Decimal => "decimal",
            Self::Integer => "integer",
            Self::DateTime => "dateTime",
            Self::Reference => "reference",
            Self::Binary => "binary",
            Self::Complex => "complex",
        }
    }
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadOnly => "readOnly",
            Self::ReadWrite => "readWrite",
            Self::Immutable => "immutable",
            Self::WriteOnly => "writeOnly",
        }
    }
}

impl Returned {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::Never => "never",
            Self::Default => "default",
            Self::Request => "request",
        }
    }
}

impl Uniqueness {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Server => "server",
            Self::Global => "global",
        }
    }
}

/// One attribute definition (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttrDef {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub_attributes: &'static [AttrDef],
    pub description: &'static str,
}

impl AttrDef {
    /// Single-valued, optional, case-insensitive, readWrite, returned by default, not unique.
    pub const fn new(name: &'static str, ty: AttrType, description: &'static str) -> Self {
        Self {
            name,
            ty,
            multi_valued: false,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: &[],
            reference_types: &[],
            sub_attributes: &[],
            description,
        }
    }
    // Builders for `const` schema tables.
    pub const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    pub const fn req(mut self) -> Self {
        self.required = true;
        self
    }
    pub const fn exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    pub const fn mutab(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }
    pub const fn ret(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    pub const fn unique(mut self, u: Uniqueness) -> Self {
        self.uniqueness = u;
        self
    }
    pub const fn canon(mut self, c: &'static [&'static str]) -> Self {
        self.canonical_values = c;
        self
    }
    pub const fn refs(mut self, r: &'static [&'static str]) -> Self {
        self.reference_types = r;
        self
    }
    pub const fn subs(mut self, s: &'static [AttrDef]) -> Self {
        self.sub_attributes = s;
        self
    }
    pub const fn ro(self) -> Self {
        self.mutab(Mutability::ReadOnly)
    }

    /// Case-insensitive sub-attribute lookup.
    pub fn sub(&self, name: &str) -> Option<&'static AttrDef> {
        self.sub_attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// A schema (RFC 7643 §7).
#[derive(Debug, PartialEq)]
pub struct Schema {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [AttrDef],
}

impl Schema {
    /// Case-insensitive attribute lookup.
    pub fn attr(&self, name: &str) -> Option<&'static AttrDef> {
        self.attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

use AttrType as T;
use Mutability as M;

const fn s(name: &'static str, d: &'static str) -> AttrDef {
    AttrDef::new(name, T::String, d)
}

const TYPES_WHO: &[&str] = &["work", "home", "other"];

macro_rules! multi_subs {
    ($value:expr, $types:expr) => {
        &[
            $value,
            s("display", "A human-readable name, primarily used for display purposes."),
            s("type", "A label indicating the attribute's function.").canon($types),
            AttrDef::new("primary", T::Boolean, "Indicates the 'primary' or preferred attribute value."),
        ]
    };
}

const NAME_SUBS: &[AttrDef] = &[
    s("formatted", "The full name, including all middle names, titles, and suffixes, formatted for display."),
    s("familyName", "The family name of the User, or last name."),
    s("givenName", "The given name of the User, or first name."),
    s("middleName", "The middle name(s) of the User."),
    s("honorificPrefix", "The honorific prefix(es) of the User, or title."),
    s("honorificSuffix", "The honorific suffix(es) of the User."),
];

const ADDRESS_SUBS: &[AttrDef] = &[
    s("formatted", "The full mailing address, formatted for display or use with a mailing label."),
    s("streetAddress", "The full street address component."),
    s("locality", "The city or locality component."),
    s("region", "The state or region component."),
    s("postalCode", "The zip code or postal code component."),
    s("country", "The country name component."),
    s("type", "A label indicating the attribute's function, e.g., 'work' or 'home'.").canon(TYPES_WHO),
    AttrDef::new("primary", T::Boolean, "Indicates the 'primary' or preferred address."),
];

const GROUPS_SUBS: &[AttrDef] = &[
    s("value", "The identifier of the User's group.").ro(),
    AttrDef::new("$ref", T::Reference, "The URI of the corresponding 'Group' resource.").ro().refs(&["User", "Group"]),
    s("display", "A human-readable name, primarily used for display purposes.").ro(),
    s("type", "A label indicating the attribute's function.").ro().canon(&["direct", "indirect"]),
];

const USER_ATTRS: &[AttrDef] = &[
    s("userName", "Unique identifier for the User, typically used by the user to directly authenticate.")
        .req()
        .unique(Uniqueness::Server),
    AttrDef::new("name", T::Complex, "The components of the user's real name.").subs(NAME_SUBS),
    s("displayName", "The name of the User, suitable for display to end-users."),
    s("nickName", "The casual way to address the user in real life."),
    AttrDef::new(
        "profileUrl",
        T::Reference,
        "A fully qualified URL pointing to a page representing the User's online profile.",
    )
    .refs(&["external"]),
    s("title", "The user's title, such as \"Vice President\"."),
    s("userType", "Used to identify the relationship between the organization and the user."),
    s("preferredLanguage", "Indicates the User's preferred written or spoken language."),
    s("locale", "Used to indicate the User's default location for purposes of localizing items."),
    s("timezone", "The User's time zone in the 'Olson' time zone database format."),
    AttrDef::new("active", T::Boolean, "A Boolean value indicating the User's administrative status."),
    s("password", "The User's cleartext password.").exact().mutab(M::WriteOnly).ret(Returned::Never),
    AttrDef::new("emails", T::Complex, "Email addresses for the user.")
        .multi()
        .subs(multi_subs!(s("value", "Email addresses for the user."), TYPES_WHO)),
    AttrDef::new("phoneNumbers", T::Complex, "Phone numbers for the User.").multi().subs(multi_subs!(
        s("value", "Phone number of the User."),
        &["work", "home", "mobile", "fax", "pager", "other"]
    )),
    AttrDef::new("ims", T::Complex, "Instant messaging addresses for the User.").multi().subs(multi_subs!(
        s("value", "Instant messaging address for the User."),
        &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]
    )),
    AttrDef::new("photos", T::Complex, "URLs of photos of the User.").multi().subs(multi_subs!(
        AttrDef::new("value", T::Reference, "URL of a photo of the User.").exact().refs(&["external"]),
        &["photo", "thumbnail"]
    )),
    AttrDef::new("addresses", T::Complex, "A physical mailing address for this User.").multi().subs(ADDRESS_SUBS),
    AttrDef::new("groups", T::Complex, "A list of groups to which the user belongs.").multi().ro().subs(GROUPS_SUBS),
    AttrDef::new("entitlements", T::Complex, "A list of entitlements for the User.")
        .multi()
        .subs(multi_subs!(s("value", "The value of an entitlement."), &[])),
    AttrDef::new("roles", T::Complex, "A list of roles for the User.")
        .multi()
        .subs(multi_subs!(s("value", "The value of a role."), &[])),
    AttrDef::new("x509Certificates", T::Complex, "A list of certificates issued to the User.")
        .multi()
        .subs(multi_subs!(AttrDef::new("value", T::Binary, "The value of an X.509 certificate.").exact(), &[])),
];

const MANAGER_SUBS: &[AttrDef] = &[
    s("value", "The id of the SCIM resource representing the User's manager.").exact(),
    AttrDef::new("$ref", T::Reference, "The URI of the SCIM resource representing the User's manager.")
        .exact()
        .refs(&["User"]),
    s("displayName", "The displayName of the User's manager.").ro(),
];

const ENTERPRISE_ATTRS: &[AttrDef] = &[
    s("employeeNumber", "Numeric or alphanumeric identifier assigned to a person."),
    s("costCenter", "Identifies the name of a cost center."),
    s("organization", "Identifies the name of an organization."),
    s("division", "Identifies the name of a division."),
    s("department", "Identifies the name of a department."),
    AttrDef::new("manager", T::Complex, "The User's manager.").subs(MANAGER_SUBS),
];

const MEMBER_SUBS: &[AttrDef] = &[
    s("value", "Identifier of the member of this Group.").exact().mutab(M::Immutable),
    AttrDef::new("$ref", T::Reference, "The URI corresponding to a SCIM resource that is a member of this Group.")
        .exact()
        .mutab(M::Immutable)
        .refs(&["User", "Group"]),
    s("type", "A label indicating the type of resource, e.g., 'User' or 'Group'.")
        .mutab(M::Immutable)
        .canon(&["User", "Group"]),
    s("display", "A human-readable name for the member.").ro(),
];

const GROUP_ATTRS: &[AttrDef] = &[
    s("displayName", "A human-readable name for the Group.").req().unique(Uniqueness::Server),
    AttrDef::new("members", T::Complex, "A list of members of the Group.").multi().subs(MEMBER_SUBS),
];

/// `id`, `externalId` and `meta` (RFC 7643 §3.1), shared by every resource type. They are not listed
/// in the schema representations (as in RFC 7643 §8.7.1) but [`ResourceSchema::attr`] resolves them.
pub static COMMON_ATTRS: &[AttrDef] = &[
    s("id", "Unique identifier for the SCIM resource as defined by the service provider.")
        .exact()
        .ro()
        .ret(Returned::Always)
        .unique(Uniqueness::Server),
    s("externalId", "Identifier of the resource as defined by the provisioning client.").exact(),
    AttrDef::new("meta", T::Complex, "Resource metadata.").ro().subs(&[
        s("resourceType", "The name of the resource type of the resource.").exact().ro(),
        AttrDef::new("created", T::DateTime, "The DateTime that the resource was added to the service provider.").ro(),
        AttrDef::new(
            "lastModified",
            T::DateTime,
            "The most recent DateTime that the details of this resource were updated.",
        )
        .ro(),
        AttrDef::new("location", T::Reference, "The URI of the resource being returned.").exact().ro().refs(&["uri"]),
        s("version", "The version of the resource being returned.").exact().ro(),
    ]),
];

pub static USER_SCHEMA: Schema =
    Schema { id: SCHEMA_USER, name: "User", description: "User Account", attributes: USER_ATTRS };
pub static ENTERPRISE_USER_SCHEMA: Schema = Schema {
    id: SCHEMA_ENTERPRISE_USER,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: ENTERPRISE_ATTRS,
};
pub static GROUP_SCHEMA: Schema =
    Schema { id: SCHEMA_GROUP, name: "Group", description: "Group", attributes: GROUP_ATTRS };

pub static SERVICE_PROVIDER_CONFIG_SCHEMA: Schema = Schema {
    id: crate::SCHEMA_SERVICE_PROVIDER_CONFIG,
    name: "ServiceProviderConfig",
    description: "Schema for representing the service provider's configuration",
    attributes: &[
        AttrDef::new(
            "documentationUri",
            T::Reference,
            "An HTTP-addressable URL pointing to the service provider's help documentation.",
        )
        .ro()
        .refs(&["external"]),
        AttrDef::new("patch", T::Complex, "A complex type that specifies PATCH configuration options.")
            .req()
            .ro()
            .subs(&[AttrDef::new(
                "supported",
                T::Boolean,
                "A Boolean value specifying whether or not the operation is supported.",
            )
            .req()
            .ro()]),
        AttrDef::new("bulk", T::Complex, "A complex type that specifies bulk configuration options.").req().ro().subs(
            &[
                AttrDef::new(
                    "supported",
                    T::Boolean,
                    "A Boolean value specifying whether or not the operation is supported.",
                )
                .req()
                .ro(),
                AttrDef::new(
                    "maxOperations",
                    T::Integer,
                    "An integer value specifying the maximum number of operations.",
                )
                .req()
                .ro(),
                AttrDef::new(
                    "maxPayloadSize",
                    T::Integer,
                    "An integer value specifying the maximum payload size in bytes.",
                )
                .req()
                .ro(),
            ],
        ),
        AttrDef::new("filter", T::Complex, "A complex type that specifies FILTER options.").req().ro().subs(&[
            AttrDef::new(
                "supported",
                T::Boolean,
                "A Boolean value specifying whether or not the operation is supported.",
            )
            .req()
            .ro(),
            AttrDef::new(
                "maxResults",
                T::Integer,
                "An integer value specifying the maximum number of resources returned in a response.",
            )
            .req()
            .ro(),
        ]),
        AttrDef::new(
            "changePassword",
            T::Complex,
            "A complex type that specifies configuration options related to changing a password.",
        )
        .req()
        .ro()
        .subs(&[AttrDef::new(
            "supported",
            T::Boolean,
            "A Boolean value specifying whether or not the operation is supported.",
        )
        .req()
        .ro()]),
        AttrDef::new("sort", T::Complex, "A complex type that specifies sort result options.").req().ro().subs(&[
            AttrDef::new("supported", T::Boolean, "A Boolean value specifying whether or not sorting is supported.")
                .req()
                .ro(),
        ]),
        AttrDef::new("etag", T::Complex, "A complex type that specifies ETag configuration options.").req().ro().subs(
            &[AttrDef::new(
                "supported",
                T::Boolean,
                "A Boolean value specifying whether or not the operation is supported.",
            )
            .req()
            .ro()],
        ),
        AttrDef::new(
            "authenticationSchemes",
            T::Complex,
            "A complex type that specifies supported authentication scheme properties.",
        )
        .multi()
        .req()
        .ro()
        .subs(&[
            s("type", "The authentication scheme.").req().ro().canon(&[
                "oauth",
                "oauth2",
                "oauthbearertoken",
                "httpbasic",
                "httpdigest",
            ]),
            s("name", "The common authentication scheme name, e.g., HTTP Basic.").req().ro(),
            s("description", "A description of the authentication scheme.").req().ro(),
            AttrDef::new(
                "specUri",
                T::Reference,
                "An HTTP-addressable URL pointing to the authentication scheme's specification.",
            )
            .ro()
            .refs(&["external"]),
            AttrDef::new(
                "documentationUri",
                T::Reference,
                "An HTTP-addressable URL pointing to the authentication scheme's usage documentation.",
            )
            .ro()
            .refs(&["external"]),
            AttrDef::new("primary", T::Boolean, "Indicates the preferred authentication scheme.").ro(),
        ]),
    ],
};

pub static RESOURCE_TYPE_SCHEMA: Schema = Schema {
    id: crate::SCHEMA_RESOURCE_TYPE,
    name: "ResourceType",
    description: "Specifies the schema that describes a SCIM resource type",
    attributes: &[
        s("id", "The resource type's server unique id.").ro(),
        s("name", "The resource type name.").req().ro(),
        s("description", "The resource type's human-readable description.").ro(),
        AttrDef::new(
            "endpoint",
            T::Reference,
            "The resource type's HTTP-addressable endpoint relative to the Base URL.",
        )
        .req()
        .ro()
        .refs(&["uri"]),
        AttrDef::new("schema", T::Reference, "The resource type's primary/base schema URI.")
            .req()
            .exact()
            .ro()
            .refs(&["uri"]),
        AttrDef::new("schemaExtensions", T::Complex, "A list of URIs of the resource type's schema extensions.")
            .multi()
            .ro()
            .subs(&[
                AttrDef::new("schema", T::Reference, "The URI of a schema extension.")
                    .req()
                    .exact()
                    .ro()
                    .refs(&["uri"]),
                AttrDef::new("required", T::Boolean, "Whether the schema extension is required for the resource type.")
                    .req()
                    .ro(),
            ]),
    ],
};

const SCHEMA_ATTR_SUBS: &[AttrDef] = &[
    s("name", "The attribute's name.").req().exact().ro(),
    s("type", "The attribute's data type.").req().ro().canon(&[
        "string",
        "complex",
        "boolean",
        "decimal",
        "integer",
        "dateTime",
        "reference",
        "binary",
    ]),
    AttrDef::new("multiValued", T::Boolean, "A Boolean value indicating an attribute's plurality.").req().ro(),
    s("description", "A human-readable description of the attribute.").ro(),
    AttrDef::new("required", T::Boolean, "A Boolean value indicating whether or not the attribute is required.").ro(),
    s("canonicalValues", "A collection of canonical values.").multi().exact().ro(),
    AttrDef::new(
        "caseExact",
        T::Boolean,
        "A Boolean value indicating whether or not a string attribute is case sensitive.",
    )
    .ro(),
    s("mutability", "Indicates whether or not an attribute is modifiable.").exact().ro().canon(&[
        "readOnly",
        "readWrite",
        "immutable",
        "writeOnly",
    ]),
    s("returned", "Indicates when an attribute is returned in a response.")
        .exact()
        .ro()
        .canon(&["always", "never", "default", "request"]),
    s("uniqueness", "Indicates how unique a value must be.").exact().ro().canon(&["none", "server", "global"]),
    s("referenceTypes", "Used only with an attribute of type 'reference'.").multi().exact().ro(),
];

pub static META_SCHEMA: Schema = Schema {
    id: crate::SCHEMA_SCHEMA,
    name: "Schema",
    description: "Specifies the schema attributes",
    attributes: &[
        s("id", "The unique URI of the schema.").req().exact().ro(),
        s("name", "The schema's human-readable name.").ro(),
        s("description", "The schema's human-readable description.").ro(),
        AttrDef::new("attributes", T::Complex, "A complex attribute that includes the attributes of a schema.")
            .multi()
            .req()
            .ro()
            .subs(&[
                s("name", "The attribute's name.").req().exact().ro(),
                s("type", "The attribute's data type.").req().ro(),
                AttrDef::new("multiValued", T::Boolean, "A Boolean value indicating an attribute's plurality.")
                    .req()
                    .ro(),
                s("description", "A human-readable description of the attribute.").ro(),
                AttrDef::new(
                    "required",
                    T::Boolean,
                    "A Boolean value indicating whether or not the attribute is required.",
                )
                .ro(),
                s("canonicalValues", "A collection of canonical values.").multi().exact().ro(),
                AttrDef::new("caseExact", T::Boolean, "Whether or not a string attribute is case sensitive.").ro(),
                s("mutability", "Indicates whether or not an attribute is modifiable.").exact().ro(),
                s("returned", "Indicates when an attribute is returned in a response.").exact().ro(),
                s("uniqueness", "Indicates how unique a value must be.").exact().ro(),
                s("referenceTypes", "Used only with an attribute of type 'reference'.").multi().exact().ro(),
                AttrDef::new("subAttributes", T::Complex, "Used to define the sub-attributes of a complex attribute.")
                    .multi()
                    .ro()
                    .subs(SCHEMA_ATTR_SUBS),
            ]),
    ],
};

/// A resource type: its core schema plus extensions (all optional here).
#[derive(Debug)]
pub struct ResourceSchema {
    pub name: &'static str,
    pub endpoint: &'static str,
    pub core: &'static Schema,
    pub extensions: &'static [&'static Schema],
}

pub static USER_RESOURCE: ResourceSchema =
    ResourceSchema { name: "User", endpoint: "/Users", core: &USER_SCHEMA, extensions: &[&ENTERPRISE_USER_SCHEMA] };
pub static GROUP_RESOURCE: ResourceSchema =
    ResourceSchema { name: "Group", endpoint: "/Groups", core: &GROUP_SCHEMA, extensions: &[] };

/// Every schema served by `/Schemas`, in listing order.
pub static ALL_SCHEMAS: &[&Schema] = &[
    &USER_SCHEMA,
    &ENTERPRISE_USER_SCHEMA,
    &GROUP_SCHEMA,
    &SERVICE_PROVIDER_CONFIG_SCHEMA,
    &RESOURCE_TYPE_SCHEMA,
    &META_SCHEMA,
];

/// Every resource type served by `/ResourceTypes`.
pub static ALL_RESOURCES: &[&ResourceSchema] = &[&USER_RESOURCE, &GROUP_RESOURCE];

impl ResourceSchema {
    /// The schema (core or extension) with this URN, case-insensitively.
    pub fn schema(&self, uri: &str) -> Option<&'static Schema> {
        std::iter::once(self.core).chain(self.extensions.iter().copied()).find(|s| s.id.eq_ignore_ascii_case(uri))
    }

    /// The extension with this URN, case-insensitively.
    pub fn extension(&self, uri: &str) -> Option<&'static Schema> {
        self.extensions.iter().copied().find(|s| s.id.eq_ignore_ascii_case(uri))
    }

    /// Resolves an attribute name, case-insensitively. Without a URN, the core schema and the common
    /// attributes (`id`, `externalId`, `meta`) are searched; with the core URN, the same; with an
    /// extension URN, that extension only. Common attributes report the core schema.
    pub fn attr(&self, uri: Option<&str>, name: &str) -> Option<(&'static Schema, &'static AttrDef)> {
        let schema = match uri {
            None => self.core,
            Some(u) => self.schema(u)?,
        };
        if let Some(a) = schema.attr(name) {
            return Some((schema, a));
        }
        if std::ptr::eq(schema, self.core) {
            return COMMON_ATTRS.iter().find(|a| a.name.eq_ignore_ascii_case(name)).map(|a| (self.core, a));
        }
        None
    }

    /// Schema URNs of this resource type: the core first.
    pub fn schema_ids(&self) -> impl Iterator<Item = &'static str> + '_ {
        std::iter::once(self.core.id).chain(self.extensions.iter().map(|s| s.id))
    }
}

/// The schema served at `/Schemas/{id}` (case-insensitive id).
pub fn schema_by_id(id: &str) -> Option<&'static Schema> {
    ALL_SCHEMAS.iter().copied().find(|s| s.id.eq_ignore_ascii_case(id))
}

/// The resource type served at `/ResourceTypes/{id}` (`User`, `Group`; case-insensitive).
pub fn resource_type_by_id(id: &str) -> Option<&'static ResourceSchema> {
    ALL_RESOURCES.iter().copied().find(|r| r.name.eq_ignore_ascii_case(id))
}

fn attr_json(a: &AttrDef) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), a.name.into());
    o.insert("type".into(), a.ty.as_str().into());
    o.insert("multiValued".into(), a.multi_valued.into());
    o.insert("description".into(), a.description.into());
    o.insert("required".into(), a.required.into());
    if a.ty != AttrType::Complex && a.ty != AttrType::Boolean {
        o.insert("caseExact".into(), a.case_exact.into());
    }
    if !a.canonical_values.is_empty() {
        o.insert("canonicalValues".into(), a.canonical_values.into());
    }
    if a.ty == AttrType::Reference {
        o.insert("referenceTypes".into(), a.reference_types.into());
    }
    o.insert("mutability".into(), a.mutability.as_str().into());
    o.insert("returned".into(), a.returned.as_str().into());
    if a.ty != AttrType::Complex && a.ty != AttrType::Boolean {
        o.insert("uniqueness".into(), a.uniqueness.as_str().into());
    }
    if a.ty == AttrType::Complex {
        o.insert("subAttributes".into(), a.sub_attributes.iter().map(attr_json).collect());
    }
    Value::Object(o)
}

fn base(url: &str) -> &str {
    url.trim_end_matches('/')
}

/// The RFC 7643 §7 representation of one schema, with `meta.location` under `base_url`.
pub fn schema_json(s: &Schema, base_url: &str) -> Value {
    json!({
        "schemas": [crate::SCHEMA_SCHEMA],
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "attributes": s.attributes.iter().map(attr_json).collect::<Vec<_>>(),
        "meta": { "resourceType": "Schema", "location": format!("{}/Schemas/{}", base(base_url), s.id) },
    })
}

fn list_of(items: Vec<Value>) -> Value {
    let n = items.len();
    json!({
        "schemas": [SCHEMA_LIST_RESPONSE],
        "totalResults": n,
        "itemsPerPage": n,
        "startIndex": 1,
        "Resources": items,
    })
}

/// `GET /Schemas`: a ListResponse of every schema, including the three discovery schemas
/// (`ServiceProviderConfig`, `ResourceType`, `Schema`) that scim2-tester requires.
pub fn schemas_list_json(base_url: &str) -> Value {
    list_of(ALL_SCHEMAS.iter().map(|s| schema_json(s, base_url)).collect())
}

/// The RFC 7643 §6 representation of one resource type.
pub fn resource_type_json(rs: &ResourceSchema, base_url: &str) -> Value {
    let mut v = json!({
        "schemas": [crate::SCHEMA_RESOURCE_TYPE],
        "id": rs.name,
        "name": rs.name,
        "endpoint": rs.endpoint,
        "description": rs.core.description,
        "schema": rs.core.id,
        "meta": { "resourceType": "ResourceType", "location": format!("{}/ResourceTypes/{}", base(base_url), rs.name) },
    });
    if !rs.extensions.is_empty()
        && let Some(o) = v.as_object_mut()
    {
        let ext: Vec<Value> = rs.extensions.iter().map(|e| json!({ "schema": e.id, "required": false })).collect();
        o.insert("schemaExtensions".into(), ext.into());
    }
    v
}

/// `GET /ResourceTypes`: User (with the optional enterprise extension) and Group.
pub fn resource_types_json(base_url: &str) -> Value {
    list_of(ALL_RESOURCES.iter().map(|r| resource_type_json(r, base_url)).collect())
}

/// Limits the server advertises in `/ServiceProviderConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderCaps {
    pub max_operations: u32,
    pub max_payload_size: u64,
    pub max_results: u32,
    pub documentation_uri: Option<String>,
}

/// `GET /ServiceProviderConfig` (RFC 7643 §5): patch, bulk, filter, sort and ETags supported;
/// password change not; OAuth bearer tokens.
pub fn service_provider_config_json(base_url: &str, caps: &ProviderCaps) -> Value {
    let mut v = json!({
        "schemas": [crate::SCHEMA_SERVICE_PROVIDER_CONFIG],
        "patch": { "supported": true },
        "bulk": { "supported": true, "maxOperations": caps.max_operations, "maxPayloadSize": caps.max_payload_size },
        "filter": { "supported": true, "maxResults": caps.max_results },
        "changePassword": { "supported": false },
        "sort": { "supported": true },
        "etag": { "supported": true },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication scheme using the OAuth Bearer Token Standard",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{}/ServiceProviderConfig", base(base_url)),
        },
    });
    if let (Some(doc), Some(o)) = (&caps.documentation_uri, v.as_object_mut()) {
        o.insert("documentationUri".into(), doc.as_str().into());
    }
    v
}
