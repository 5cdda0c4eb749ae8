//! SAML 2.0 identity-provider wire layer, pure: a hardened XML parser and serializer, exclusive XML
//! canonicalization, enveloped XML-DSig (RSA-SHA256), the HTTP-Redirect and HTTP-POST bindings,
//! parsing of the requests an SP sends (AuthnRequest, LogoutRequest, LogoutResponse), building of
//! what the IdP sends (Response with Assertion, LogoutRequest, LogoutResponse), IdP metadata and
//! SP metadata parsing.
//!
//! No IO, no clock (times are parameters), no randomness (IDs are parameters), no HTTP framework:
//! the server crates map [`SamlError`] to a response and persist what these functions compute.
//!
//! Security stance: the parser refuses DTDs, entity declarations, unknown entity references and
//! processing instructions outright (no XXE, no entity expansion), enforces size, depth and count
//! limits before allocating for them, and [`dsig::verify_enveloped`] only accepts a signature that
//! is a direct child of the element it covers, references that element by a document-unique ID and
//! was made by a caller-supplied certificate — the usual XML-signature-wrapping defences.

pub mod binding;
pub mod c14n;
pub mod dsig;
pub mod error;
pub mod metadata;
pub mod request;
pub mod response;
pub mod xml;

pub use binding::{RedirectMessage, RedirectSignature, decode_post, decode_redirect, encode_post, encode_redirect};
pub use c14n::exclusive_c14n;
pub use dsig::{sign_enveloped, verify_enveloped};
pub use error::{SamlError, SamlErrorKind};
pub use metadata::{Endpoint, IdpMetadata, SpMetadata, build_idp_metadata, parse_sp_metadata};
pub use request::{AuthnRequest, LogoutRequest, LogoutResponse, Message, NameId, ParsedMessage, parse_message};
pub use response::{
    AssertionSpec, Attribute, LogoutRequestSpec, LogoutResponseSpec, ResponseSpec, SignWhat, Status,
    build_logout_request, build_logout_response, build_response, format_instant,
};
pub use xml::{Attr, Document, Element, Limits, Node};

pub const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const NS_METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
pub const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
/// The `xml:` prefix's namespace, bound in every document without a declaration.
pub const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";
pub const NS_XMLNS: &str = "http://www.w3.org/2000/xmlns/";

pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

pub const NAMEID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
pub const NAMEID_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";
pub const NAMEID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
pub const NAMEID_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";

pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
pub const STATUS_REQUESTER: &str = "urn:oasis:names:tc:SAML:2.0:status:Requester";
pub const STATUS_RESPONDER: &str = "urn:oasis:names:tc:SAML:2.0:status:Responder";
pub const STATUS_VERSION_MISMATCH: &str = "urn:oasis:names:tc:SAML:2.0:status:VersionMismatch";
pub const STATUS_AUTHN_FAILED: &str = "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed";
pub const STATUS_NO_PASSIVE: &str = "urn:oasis:names:tc:SAML:2.0:status:NoPassive";
pub const STATUS_REQUEST_DENIED: &str = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied";
pub const STATUS_INVALID_NAMEID_POLICY: &str = "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy";
pub const STATUS_PARTIAL_LOGOUT: &str = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout";
pub const STATUS_REQUEST_UNSUPPORTED: &str = "urn:oasis:names:tc:SAML:2.0:status:RequestUnsupported";
pub const STATUS_NO_AUTHN_CONTEXT: &str = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext";

pub const AUTHN_CONTEXT_PASSWORD_PROTECTED: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";
pub const AUTHN_CONTEXT_PASSWORD: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password";
pub const AUTHN_CONTEXT_X509: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:X509";
pub const AUTHN_CONTEXT_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified";
/// Microsoft's value for "multi-factor authentication was performed" (Entra, AD FS).
pub const AUTHN_CONTEXT_MS_MFA: &str = "http://schemas.microsoft.com/claims/multipleauthn";

/// `Method` of a bearer `SubjectConfirmation` (the only one Web Browser SSO uses).
pub const CM_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
/// `NameFormat` of an attribute whose name is a URI (Entra's claim types are URIs).
pub const ATTRNAME_FORMAT_URI: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";
pub const ATTRNAME_FORMAT_BASIC: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic";
pub const ATTRNAME_FORMAT_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified";

#[cfg(test)]
mod tests;
