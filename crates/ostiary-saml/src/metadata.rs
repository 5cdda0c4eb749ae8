//! SAML metadata: building the IdP's `EntityDescriptor` and reading what the IdP needs from an
//! SP's (entity ID, ACS and SLO endpoints, signing certificates, NameID formats, flags).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ostiary_crypto::x509::Certificate;
use serde::{Deserialize, Serialize};

use crate::error::{SamlError, clip};
use crate::request::parse_bool;
use crate::xml::{Element, Limits, parse, serialize};
use crate::{BINDING_POST, BINDING_REDIRECT, NS_DSIG, NS_METADATA, NS_PROTOCOL};

/// Limits for SP metadata: larger than for protocol messages (several certificates, many
/// endpoints), still far from federation-aggregate sizes, which are not supported.
pub const METADATA_LIMITS: Limits =
    Limits { max_bytes: 1024 * 1024, max_depth: 32, max_elements: 16384, max_attributes: 64 };

/// What the IdP publishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdpMetadata {
    pub entity_id: String,
    /// DER certificates of the signing keys (current and next, during a rollover).
    pub signing_certs: Vec<Vec<u8>>,
    pub sso_url: String,
    pub slo_url: Option<String>,
    pub name_id_formats: Vec<String>,
    pub want_authn_requests_signed: bool,
}

/// An endpoint of SP metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub binding: String,
    pub location: String,
    pub index: Option<u16>,
    pub is_default: bool,
    pub response_location: Option<String>,
}

/// What the IdP needs from an SP's metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpMetadata {
    pub entity_id: String,
    /// AssertionConsumerService endpoints, in document order.
    pub acs: Vec<Endpoint>,
    /// SingleLogoutService endpoints, in document order.
    pub slo: Vec<Endpoint>,
    /// DER of the signing certificates (KeyDescriptor `use="signing"` or without `use`).
    pub signing_certs: Vec<Vec<u8>>,
    pub name_id_formats: Vec<String>,
    pub authn_requests_signed: bool,
    pub want_assertions_signed: bool,
}

fn md(local: &str) -> Element {
    Element::new(Some("md"), local, Some(NS_METADATA))
}

fn ds(local: &str) -> Element {
    Element::new(Some("ds"), local, Some(NS_DSIG))
}

/// Builds the IdP's metadata: `EntityDescriptor ID=id` > `IDPSSODescriptor` with, in schema
/// order, a `KeyDescriptor use="signing"` per certificate, `SingleLogoutService` (Redirect and
/// POST), `NameIDFormat`s and `SingleSignOnService` (Redirect and POST).
pub fn build_idp_metadata(m: &IdpMetadata, id: &str) -> String {
    let mut idp = md("IDPSSODescriptor")
        .with_attr("WantAuthnRequestsSigned", if m.want_authn_requests_signed { "true" } else { "false" })
        .with_attr("protocolSupportEnumeration", NS_PROTOCOL);
    for der in &m.signing_certs {
        idp.push_child(
            md("KeyDescriptor").with_attr("use", "signing").with_child(
                ds("KeyInfo")
                    .with_ns_decl(Some("ds"), NS_DSIG)
                    .with_child(ds("X509Data").with_child(ds("X509Certificate").with_text(STANDARD.encode(der)))),
            ),
        );
    }
    if let Some(slo) = &m.slo_url {
        for b in [BINDING_REDIRECT, BINDING_POST] {
            idp.push_child(md("SingleLogoutService").with_attr("Binding", b).with_attr("Location", slo.as_str()));
        }
    }
    for f in &m.name_id_formats {
        idp.push_child(md("NameIDFormat").with_text(f.as_str()));
    }
    for b in [BINDING_REDIRECT, BINDING_POST] {
        idp.push_child(md("SingleSignOnService").with_attr("Binding", b).with_attr("Location", m.sso_url.as_str()));
    }
    let entity = md("EntityDescriptor")
        .with_ns_decl(Some("md"), NS_METADATA)
        .with_attr("ID", id)
        .with_attr("entityID", m.entity_id.as_str())
        .with_child(idp);
    serialize(&entity)
}

fn is_http_url(s: &str) -> bool {
    let lower = s.get(..8).map(str::to_ascii_lowercase).unwrap_or_default();
    let rest = if lower.starts_with("https://") {
        s.get(8..)
    } else if lower.starts_with("http://") {
        s.get(7..)
    } else {
        None
    };
    rest.is_some_and(|r| {
        !r.is_empty() && !r.starts_with('/') && !r.chars().any(|c| c.is_whitespace() || c.is_control())
    })
}

fn endpoint(el: &Element, require_http: bool, what: &str) -> Result<Endpoint, SamlError> {
    let binding = el.attr("Binding").ok_or_else(|| SamlError::malformed(format!("{what} without Binding")))?;
    let location = el.attr("Location").ok_or_else(|| SamlError::malformed(format!("{what} without Location")))?;
    let location = location.trim();
    if require_http && !is_http_url(location) {
        return Err(SamlError::malformed(format!("{what} Location {:?} is not an http(s) URL", clip(location))));
    }
    let index = el
        .attr("index")
        .map(|s| s.trim().parse::<u16>().map_err(|_| SamlError::malformed(format!("invalid {what} index"))))
        .transpose()?;
    Ok(Endpoint {
        binding: binding.trim().to_owned(),
        location: location.to_owned(),
        index,
        is_default: el.attr("isDefault").map(parse_bool).transpose()?.unwrap_or(false),
        response_location: el.attr("ResponseLocation").map(|s| s.trim().to_owned()),
    })
}

fn supports_saml2(d: &&Element) -> bool {
    d.attr("protocolSupportEnumeration").is_some_and(|p| p.split_ascii_whitespace().any(|x| x == NS_PROTOCOL))
}

/// Parses SP metadata: an `EntityDescriptor`, or the first `EntityDescriptor` with a SAML 2.0
/// `SPSSODescriptor` inside an `EntitiesDescriptor`. Certificates must parse; ACS locations must
/// be http(s) URLs; at least one ACS is required. Metadata signatures are not checked (the admin
/// uploads or fetches metadata over TLS from a URL they chose).
pub fn parse_sp_metadata(xml: &str) -> Result<SpMetadata, SamlError> {
    let doc = parse(xml, &METADATA_LIMITS)?;
    let root = &doc.root;
    let has_sp = |e: &&Element| e.children_named(NS_METADATA, "SPSSODescriptor").any(|d| supports_saml2(&d));
    let entity = if root.is(NS_METADATA, "EntityDescriptor") {
        root
    } else if root.is(NS_METADATA, "EntitiesDescriptor") {
        // Nested EntitiesDescriptor groups are searched one level deep at a time, in order.
        let mut found = None;
        let mut queue = vec![root];
        while let Some(group) = queue.pop() {
            if let Some(e) = group.children_named(NS_METADATA, "EntityDescriptor").find(has_sp) {
                found = Some(e);
                break;
            }
            let mut nested: Vec<&Element> = group.children_named(NS_METADATA, "EntitiesDescriptor").collect();
            nested.reverse();
            queue.extend(nested);
        }
        found.ok_or_else(|| SamlError::malformed("no SAML 2.0 SP EntityDescriptor in EntitiesDescriptor"))?
    } else {
        return Err(SamlError::malformed("metadata root is not an EntityDescriptor or EntitiesDescriptor"));
    };
    let entity_id = entity
        .attr("entityID")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| SamlError::malformed("EntityDescriptor without entityID"))?
        .to_owned();
    let sp = entity
        .children_named(NS_METADATA, "SPSSODescriptor")
        .find(supports_saml2)
        .ok_or_else(|| SamlError::malformed("no SAML 2.0 SPSSODescriptor"))?;

    let mut signing_certs = Vec::new();
    for kd in sp.children_named(NS_METADATA, "KeyDescriptor") {
        match kd.attr("use").map(str::trim) {
            None | Some("signing") => {}
            Some("encryption") => continue,
            Some(other) => return Err(SamlError::malformed(format!("KeyDescriptor use {:?}", clip(other)))),
        }
        let Some(key_info) = kd.child(NS_DSIG, "KeyInfo") else { continue };
        for data in key_info.children_named(NS_DSIG, "X509Data") {
            for c in data.children_named(NS_DSIG, "X509Certificate") {
                let compact: String = c.text().chars().filter(|ch| !ch.is_ascii_whitespace()).collect();
                let der = STANDARD
                    .decode(compact.as_bytes())
                    .map_err(|_| SamlError::malformed("X509Certificate is not base64"))?;
                Certificate::from_der(&der).map_err(|e| SamlError::malformed(format!("X509Certificate: {e}")))?;
                if !signing_certs.contains(&der) {
                    signing_certs.push(der);
                }
            }
        }
    }
    let acs = sp
        .children_named(NS_METADATA, "AssertionConsumerService")
        .map(|e| endpoint(e, true, "AssertionConsumerService"))
        .collect::<Result<Vec<_>, _>>()?;
    if acs.is_empty() {
        return Err(SamlError::malformed("SPSSODescriptor without AssertionConsumerService"));
    }
    let slo = sp
        .children_named(NS_METADATA, "SingleLogoutService")
        .map(|e| endpoint(e, true, "SingleLogoutService"))
        .collect::<Result<Vec<_>, _>>()?;
    let name_id_formats = sp
        .children_named(NS_METADATA, "NameIDFormat")
        .map(|e| e.text().trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    Ok(SpMetadata {
        entity_id,
        acs,
        slo,
        signing_certs,
        name_id_formats,
        authn_requests_signed: sp.attr("AuthnRequestsSigned").map(parse_bool).transpose()?.unwrap_or(false),
        want_assertions_signed: sp.attr("WantAssertionsSigned").map(parse_bool).transpose()?.unwrap_or(false),
    })
}
