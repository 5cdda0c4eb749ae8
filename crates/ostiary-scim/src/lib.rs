//! SCIM 2.0 wire layer (RFC 7643 / RFC 7644), pure: schemas as data, the filter language, request
//! validation and normalisation, PATCH, projection (`attributes` / `excludedAttributes`), list
//! parameters, bulk and ETag helpers. No IO, no clock, no randomness, no HTTP framework: the server
//! crates map [`ScimError`] to a response and persist what these functions compute.
//!
//! Leniency is deliberate where Microsoft Entra's provisioning service (and the Microsoft reference
//! server's Postman suite) deviate from the RFCs: see `filter` (unquoted values), `resource`
//! (capitalised attribute names, `"True"` strings) and `patch` (the quirks of entra-compat §8).

pub mod bulk;
pub mod error;
pub mod etag;
pub mod filter;
pub mod list;
pub mod patch;
pub mod project;
pub mod resource;
pub mod schema;
mod value;

pub use bulk::{
    BulkMethod, BulkOp, BulkRequest, bulk_op_result, bulk_response, execution_order, parse_bulk, resolve_bulk_ids,
    resolve_bulk_path,
};
pub use error::{ScimError, ScimType};
pub use etag::{etag_matches, weak_etag};
pub use filter::{AttrPath, CompValue, CompareOp, Filter, ResolvedAttr, parse_attr_path, parse_filter, resolve};
pub use list::{ListParams, list_response, parse_list_params, parse_search_request};
pub use patch::{PatchOp, PatchOpKind, apply_patch, member_delta, parse_patch};
pub use project::{parse_attribute_list, project, strip_never};
pub use resource::{Mode, check_immutables, normalize};
pub use schema::{
    AttrDef, AttrType, ENTERPRISE_USER_SCHEMA, GROUP_RESOURCE, GROUP_SCHEMA, META_SCHEMA, Mutability, ProviderCaps,
    RESOURCE_TYPE_SCHEMA, ResourceSchema, Returned, SERVICE_PROVIDER_CONFIG_SCHEMA, Schema, USER_RESOURCE, USER_SCHEMA,
    Uniqueness, resource_type_by_id, resource_type_json, resource_types_json, schema_by_id, schema_json,
    schemas_list_json, service_provider_config_json,
};

pub const SCHEMA_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const SCHEMA_ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const SCHEMA_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const SCHEMA_LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const SCHEMA_PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SCHEMA_BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const SCHEMA_BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
pub const SCHEMA_ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SCHEMA_SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const SCHEMA_SERVICE_PROVIDER_CONFIG: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const SCHEMA_RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
/// Media type of every SCIM request and response body (RFC 7644 §8.1).
pub const CONTENT_TYPE: &str = "application/scim+json";

/// Longest accepted filter, path or attribute list, in bytes; bounds all parser work up front.
pub const MAX_INPUT_LEN: usize = 8192;
/// Maximum nesting of parentheses, `not` and `[...]` value filters.
pub const MAX_DEPTH: usize = 32;
/// Maximum number of [`Filter`] nodes in one filter.
pub const MAX_NODES: usize = 512;
/// Maximum number of operations in one PATCH request.
pub const MAX_PATCH_OPS: usize = 1000;
/// Maximum number of paths in one `attributes` / `excludedAttributes` list.
pub const MAX_ATTRIBUTE_PATHS: usize = 256;

#[cfg(test)]
mod tests;
