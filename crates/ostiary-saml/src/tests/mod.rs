//! Unit, hostile-input and interop tests, one module per area; fixtures shared here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use ostiary_crypto::jws::{Alg, SigningKey};
use ostiary_crypto::secret::Secret;
use ostiary_crypto::x509::Certificate;
use time::OffsetDateTime;
use time::macros::datetime;

use crate::error::{SamlError, SamlErrorKind};

mod binding;
mod c14n;
mod dsig;
mod metadata;
mod parser;
mod request;
mod response;
mod seeds;
mod xmlsec;

pub(crate) const NOT_BEFORE: OffsetDateTime = datetime!(2025-01-01 00:00:00 UTC);
pub(crate) const NOT_AFTER: OffsetDateTime = datetime!(2045-01-01 00:00:00 UTC);
pub(crate) const NOW: OffsetDateTime = datetime!(2026-03-04 05:06:07.891 UTC);

/// The IdP's signing key, generated once per test binary (RSA generation dominates test time).
pub(crate) fn idp_key() -> &'static (SigningKey, Secret<Vec<u8>>) {
    static KEY: OnceLock<(SigningKey, Secret<Vec<u8>>)> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(Alg::RS256, "ostiary-saml-test-idp", NOT_BEFORE, NOT_AFTER).unwrap())
}

/// An unrelated key (an attacker's, or another SP's).
pub(crate) fn other_key() -> &'static (SigningKey, Secret<Vec<u8>>) {
    static KEY: OnceLock<(SigningKey, Secret<Vec<u8>>)> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(Alg::RS256, "ostiary-saml-test-other", NOT_BEFORE, NOT_AFTER).unwrap())
}

pub(crate) fn cert_of(key: &SigningKey) -> Certificate {
    Certificate::from_der(key.cert_der()).unwrap()
}

pub(crate) fn idp_cert() -> Certificate {
    cert_of(&idp_key().0)
}

pub(crate) fn other_cert() -> Certificate {
    cert_of(&other_key().0)
}

#[track_caller]
pub(crate) fn assert_kind<T: std::fmt::Debug>(r: Result<T, SamlError>, kind: SamlErrorKind) {
    match r {
        Err(e) => assert_eq!(e.kind, kind, "wrong error kind: {e:?}"),
        Ok(v) => panic!("expected {kind:?}, got Ok({v:?})"),
    }
}

/// Deterministic xorshift64 generator for fuzz-style loops.
pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// A realistic signed-or-not AuthnRequest (as python3-saml writes them).
pub(crate) const AUTHN_REQUEST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="ONELOGIN_809707f0030a5d00620c9d9df97f627afe9dcc24" Version="2.0" ProviderName="SP test" IssueInstant="2026-03-04T05:06:07Z" Destination="https://idp.example.com/saml2/sso" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" AssertionConsumerServiceURL="https://sp.example.com/acs">
  <saml:Issuer>https://sp.example.com/metadata</saml:Issuer>
  <samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" AllowCreate="true"/>
  <samlp:RequestedAuthnContext Comparison="exact">
    <saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>
  </samlp:RequestedAuthnContext>
</samlp:AuthnRequest>"#;

/// A successful response as Ostiary would send it to an SP.
pub(crate) fn response_spec() -> crate::response::ResponseSpec {
    use crate::response::{AssertionSpec, Attribute, ResponseSpec, Status};
    ResponseSpec {
        id: "_resp-6e1c2f".into(),
        in_response_to: Some("ONELOGIN_809707f0030a5d00620c9d9df97f627afe9dcc24".into()),
        destination: "https://sp.example.com/acs".into(),
        issue_instant: NOW,
        issuer: "https://login.ostiary.example/tenant-1/".into(),
        status: Status::success(),
        assertion: Some(AssertionSpec {
            id: "_assert-8d2a91".into(),
            issuer: "https://login.ostiary.example/tenant-1/".into(),
            subject: crate::request::NameId {
                value: "alice@contoso.example".into(),
                format: Some(crate::NAMEID_EMAIL.into()),
                name_qualifier: None,
                sp_name_qualifier: Some("https://sp.example.com/metadata".into()),
            },
            recipient: "https://sp.example.com/acs".into(),
            in_response_to: Some("ONELOGIN_809707f0030a5d00620c9d9df97f627afe9dcc24".into()),
            issue_instant: NOW,
            not_before: NOW - time::Duration::minutes(5),
            not_on_or_after: NOW + time::Duration::hours(1),
            audience: "https://sp.example.com/metadata".into(),
            authn_instant: NOW - time::Duration::seconds(30),
            session_index: "_sess-1234".into(),
            session_not_on_or_after: Some(NOW + time::Duration::hours(8)),
            authn_context_class_ref: crate::AUTHN_CONTEXT_PASSWORD_PROTECTED.into(),
            attributes: vec![
                Attribute {
                    name: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress".into(),
                    friendly_name: None,
                    name_format: None,
                    values: vec!["alice@contoso.example".into()],
                },
                Attribute {
                    name: "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups".into(),
                    friendly_name: Some("groups".into()),
                    name_format: Some(crate::ATTRNAME_FORMAT_URI.into()),
                    values: vec!["g1".into(), "g2 & <co>".into()],
                },
            ],
        }),
    }
}

pub(crate) fn signed_response(sign: crate::response::SignWhat) -> String {
    crate::response::build_response(&response_spec(), &idp_key().0, sign).unwrap()
}
