//! SAML 2.0 identity provider: per-application settings and signing certificates, IdP
//! metadata, validation of incoming AuthnRequests and logout messages (issuer, signature,
//! destination, freshness, replay, reply URL), the Response/Assertion of a finished sign-in, and
//! single logout. A SAML sign-in runs through the same flow as `/authorize` (sign-in page, MFA,
//! Conditional Access, lockout, sign-in log); only its last step differs.

use crate::Core;
use crate::auth::Caller;
use crate::cache::{ClientEntry, TenantState};
use crate::error::DirError;
use crate::flow::Next;
use crate::signin::{PendingFlow, Session, secret_key};
use ostiary_crypto::jws::{Alg, SigningKey};
use ostiary_crypto::x509::Certificate;
use ostiary_model::{DirectoryObject, ObjectId, SamlCertificate, SamlSettings, ServicePrincipal, TenantId, User};
use ostiary_oauth::OAuthError;
use ostiary_saml as saml;
use ostiary_store::{KvEntry, KvOp, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

/// KV kind of seen request IDs (replay protection), keyed by a hash of issuer and ID.
const REQUEST_KIND: &str = "samlRequest";
/// A request older than this (or this far in the future) is refused.
const REQUEST_MAX_AGE: Duration = Duration::minutes(10);
const CLOCK_SKEW: Duration = Duration::minutes(5);
/// Entra's assertion lifetime, and the bearer confirmation window.
const ASSERTION_LIFETIME: Duration = Duration::minutes(70);
const CONFIRMATION_WINDOW: Duration = Duration::minutes(5);
/// Default lifetime of a generated signing certificate (Entra: three years).
const CERT_LIFETIME: Duration = Duration::days(3 * 365);

const CLAIMS_NS: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims";
const MS_CLAIMS_NS: &str = "http://schemas.microsoft.com/identity/claims";
const GROUPS_CLAIM: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups";
const ROLE_CLAIM: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role";
const AMR_CLAIM: &str = "http://schemas.microsoft.com/claims/authnmethodsreferences";
const MFA_CONTEXT: &str = "http://schemas.microsoft.com/claims/multipleauthn";

/// The SAML part of a pending flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SamlFlow {
    pub sp_id: ObjectId,
    /// The SP's entity ID (the audience).
    pub sp_entity_id: String,
    /// The AuthnRequest's ID (`InResponseTo`); none for IdP-initiated sign-in.
    pub request_id: Option<String>,
    pub relay_state: Option<String>,
    /// Refused before sign-in, answered at the ACS: (second-level status, message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject: Option<(String, String)>,
}

/// A SAML application taking part in an SSO session (single-logout targets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SamlParticipant {
    pub sp_id: ObjectId,
    pub name_id: String,
    pub name_id_format: String,
    pub session_index: String,
}

/// What arrived at `/{tenant}/saml2`.
pub enum SamlIncoming<'a> {
    /// HTTP-Redirect binding: the raw query string, as received.
    Redirect { raw_query: &'a str },
    /// HTTP-POST binding: the form fields.
    Post { fields: &'a [(String, String)] },
}

/// A validated incoming message.
pub enum SamlInbound {
    /// An AuthnRequest: the flow to start (the web layer binds it to the browser).
    SignIn(Box<PendingFlow>),
    /// A LogoutRequest from an SP whose signature (if any) checked out.
    Logout { sp_id: ObjectId, request: Box<saml::request::LogoutRequest>, relay_state: Option<String> },
    /// A LogoutResponse to one of our LogoutRequests.
    LoggedOut { status: String },
}

/// Where the browser goes after a logout.
pub struct LogoutPlan {
    /// Redirect-binding LogoutRequests to the other SAML applications of the session.
    pub front_channel: Vec<String>,
    /// The LogoutResponse to the initiating SP (Redirect binding), if it has a logout URL.
    pub respond_to: Option<String>,
}

/// Signing keys of SAML applications, unsealed once per certificate.
#[derive(Default)]
pub(crate) struct SamlKeys {
    keys: Mutex<HashMap<String, Arc<SigningKey>>>,
}

fn aad(tenant: TenantId, sp: ObjectId, thumbprint: &str) -> Vec<u8> {
    format!("ostiary-saml-signing-key/{tenant}/{sp}/{thumbprint}").into_bytes()
}

/// SHA-1 thumbprint, upper-case hex.
pub fn thumbprint(der: &[u8]) -> String {
    ostiary_crypto::digest::sha1(der).iter().map(|b| format!("{b:02X}")).collect()
}

fn saml_err(code: u32, text: impl Into<String>) -> OAuthError {
    OAuthError::invalid_request(code, text)
}

fn bad_message(e: &saml::SamlError) -> OAuthError {
    let code = match e.kind {
        saml::SamlErrorKind::Signature => 75016,
        _ => 75005,
    };
    saml_err(code, format!("The request is not a valid Saml2 protocol message: {}", e.message))
}

fn unavailable<E>(_: E) -> OAuthError {
    OAuthError::temporarily_unavailable()
}

fn name_id_format_uri(format: &str) -> &'static str {
    match format {
        "persistent" => saml::NAMEID_PERSISTENT,
        "transient" => saml::NAMEID_TRANSIENT,
        "unspecified" => saml::NAMEID_UNSPECIFIED,
        _ => saml::NAMEID_EMAIL,
    }
}

/// The NameID formats the API accepts (Graph's names; "default" means emailAddress).
pub fn normalize_name_id_format(v: &str) -> Option<&'static str> {
    match v {
        "default" | "emailAddress" | "email" => Some("emailAddress"),
        "persistent" => Some("persistent"),
        "transient" => Some("transient"),
        "unspecified" => Some("unspecified"),
        _ => None,
    }
}

/// A user's Graph properties, rendered once per assertion for the NameID and every claim.
fn user_props(user: &User) -> serde_json::Map<String, Value> {
    match DirectoryObject::User(user.clone()).to_doc() {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// Values of a user property by its Graph name (case-insensitive; "objectId" = "id").
fn user_values(props: &serde_json::Map<String, Value>, property: &str) -> Vec<String> {
    let property = if property.eq_ignore_ascii_case("objectId") { "id" } else { property };
    let Some((_, v)) = props.iter().find(|(k, _)| k.eq_ignore_ascii_case(property)) else { return Vec::new() };
    match v {
        Value::String(s) if !s.is_empty() => vec![s.clone()],
        Value::Bool(b) => vec![b.to_string()],
        Value::Number(n) => vec![n.to_string()],
        Value::Array(items) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

/// The user properties a claim or NameID may name.
pub fn valid_user_property(p: &str) -> bool {
    const ALLOWED: &[&str] = &[
        "userPrincipalName",
        "mail",
        "objectId",
        "id",
        "displayName",
        "givenName",
        "surname",
        "jobTitle",
        "department",
        "companyName",
        "employeeId",
        "mailNickname",
        "otherMails",
        "proxyAddresses",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "city",
        "country",
        "state",
        "streetAddress",
        "postalCode",
        "usageLocation",
        "externalId",
        "onPremisesSamAccountName",
        "onPremisesImmutableId",
        "userType",
    ];
    ALLOWED.iter().any(|a| a.eq_ignore_ascii_case(p))
}

impl Core {
    /// The IdP entity ID of a tenant (Entra's `https://sts.windows.net/{tenant}/` on our host).
    pub fn saml_entity_id(&self, tenant: TenantId) -> String {
        format!("{}/{}/", self.config.public_base, tenant)
    }

    /// The SSO and SLO endpoint of a tenant.
    pub fn saml_endpoint(&self, tenant: TenantId) -> String {
        format!("{}/{}/saml2", self.config.public_base, tenant)
    }

    /// The SAML-configured application whose identifier (entity ID) is `issuer`.
    fn saml_client_by_issuer(state: &TenantState, issuer: &str) -> Option<Arc<ClientEntry>> {
        state
            .clients
            .values()
            .find(|c| c.app.identifier_uris.iter().any(|u| u == issuer) && c.sp.as_ref().is_some_and(is_saml_app))
            .cloned()
    }

    fn saml_client_by_sp(state: &TenantState, sp: ObjectId) -> Option<Arc<ClientEntry>> {
        state.clients.values().find(|c| c.sp.as_ref().is_some_and(|s| s.id == sp)).cloned()
    }

    /// The key that signs this application's SAML messages: its preferred certificate, else the
    /// tenant's RS256 token-signing key.
    fn saml_signer(&self, state: &TenantState, sp: &ServicePrincipal) -> Result<Arc<SigningKey>, OAuthError> {
        let tenant = state.tenant.id;
        if let Some(settings) = &sp.ostiary_saml
            && let Some(cert) = active_certificate(settings)
        {
            let cache_key = format!("{tenant}/{}/{}", sp.id, cert.thumbprint);
            if let Ok(keys) = self.saml_keys.keys.lock()
                && let Some(k) = keys.get(&cache_key)
            {
                return Ok(k.clone());
            }
            let sealed = ostiary_crypto::b64::std_decode(&cert.sealed_private_key).map_err(unavailable)?;
            let der = ostiary_crypto::b64::std_decode(&cert.cert).map_err(unavailable)?;
            let pkcs8 = self.kek.open(&sealed, &aad(tenant, sp.id, &cert.thumbprint)).map_err(unavailable)?;
            let key = Arc::new(SigningKey::from_parts(Alg::RS256, pkcs8.expose(), der).map_err(unavailable)?);
            if let Ok(mut keys) = self.saml_keys.keys.lock() {
                keys.insert(cache_key, key.clone());
            }
            return Ok(key);
        }
        state.keys.signer(Alg::RS256, self.now()).cloned().ok_or_else(OAuthError::temporarily_unavailable)
    }

    /// IdP metadata of a tenant; with `app_id`, the certificates of that application.
    pub async fn saml_metadata(&self, tenant: TenantId, app_id: Option<&str>) -> Result<String, OAuthError> {
        let state = self.tenant_state(tenant).await.map_err(unavailable)?;
        let mut certs: Vec<Vec<u8>> = Vec::new();
        let mut want_signed = false;
        if let Some(app_id) = app_id {
            let client = uuid::Uuid::parse_str(app_id)
                .ok()
                .and_then(|id| state.clients.get(&id).cloned())
                .ok_or_else(|| OAuthError::application_not_found(app_id))?;
            if let Some(settings) = client.sp.as_ref().and_then(|s| s.ostiary_saml.as_ref()) {
                want_signed = settings.require_signed_requests;
                let now = self.now();
                // Every unexpired certificate, so SPs learn a new one before it signs.
                for c in settings.certificates.iter().filter(|c| c.end_date_time > now) {
                    if let Ok(der) = ostiary_crypto::b64::std_decode(&c.cert) {
                        certs.push(der);
                    }
                }
            }
        }
        if certs.is_empty()
            && let Some(k) = state.keys.signer(Alg::RS256, self.now())
        {
            certs.push(k.cert_der().to_vec());
        }
        let md = saml::metadata::IdpMetadata {
            entity_id: self.saml_entity_id(tenant),
            signing_certs: certs,
            sso_url: self.saml_endpoint(tenant),
            slo_url: Some(self.saml_endpoint(tenant)),
            name_id_formats: vec![
                saml::NAMEID_EMAIL.into(),
                saml::NAMEID_PERSISTENT.into(),
                saml::NAMEID_TRANSIENT.into(),
                saml::NAMEID_UNSPECIFIED.into(),
            ],
            want_authn_requests_signed: want_signed,
        };
        Ok(saml::metadata::build_idp_metadata(&md, &format!("_{}", self.new_uuid())))
    }

    /// Validates an incoming SAML message. `endpoint` is the URL it was sent to (for `Destination`).
    pub async fn saml_receive(
        &self,
        tenant: TenantId,
        incoming: SamlIncoming<'_>,
        endpoint: &str,
    ) -> Result<SamlInbound, OAuthError> {
        let state = self.tenant_state(tenant).await.map_err(unavailable)?;
        // Decode: which parameter, which binding.
        let (xml, relay_state, redirect_sig) = match incoming {
            SamlIncoming::Redirect { raw_query } => {
                let param = if raw_query.contains("SAMLResponse=") { "SAMLResponse" } else { "SAMLRequest" };
                if !raw_query.contains(&format!("{param}=")) {
                    return Err(saml_err(
                        750054,
                        "SAMLRequest or SAMLResponse must be present as query string parameters in HTTP request for SAML Redirect binding.",
                    ));
                }
                let m = saml::binding::decode_redirect(raw_query, param).map_err(|e| bad_message(&e))?;
                (m.xml, m.relay_state, m.signature)
            }
            SamlIncoming::Post { fields } => {
                let get = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
                let Some(b64) = get("SAMLRequest").or_else(|| get("SAMLResponse")) else {
                    return Err(saml_err(750054, "SAMLRequest or SAMLResponse must be present in the form post."));
                };
                let xml = saml::binding::decode_post(&b64).map_err(|e| bad_message(&e))?;
                (xml, get("RelayState"), None)
            }
        };
        if relay_state.as_ref().is_some_and(|r| r.len() > 1024) {
            return Err(saml_err(75005, "RelayState is longer than 1024 characters."));
        }
        let parsed = saml::request::parse_message(&xml).map_err(|e| bad_message(&e))?;
        let issuer = match &parsed.message {
            saml::request::Message::AuthnRequest(r) => r.issuer.clone(),
            saml::request::Message::LogoutRequest(r) => r.issuer.clone(),
            saml::request::Message::LogoutResponse(r) => r.issuer.clone(),
        };
        let client = Self::saml_client_by_issuer(&state, &issuer).ok_or_else(|| {
            saml_err(
                700016,
                format!(
                    "Application with identifier '{}' was not found in the directory '{tenant}'.",
                    ostiary_oauth::error::sanitize(&issuer)
                ),
            )
        })?;
        let Some(sp) = client.sp.clone() else { return Err(OAuthError::application_not_found(&issuer)) };
        let settings = sp.ostiary_saml.clone().unwrap_or_default();
        // Signatures: checked whenever the SP registered certificates; required when configured.
        let certs: Vec<Certificate> = settings
            .request_signing_certificates
            .iter()
            .filter_map(|c| ostiary_crypto::b64::std_decode(c).ok())
            .filter_map(|der| Certificate::from_der(&der).ok())
            .collect();
        let signed = match (&redirect_sig, parsed.signed) {
            (Some(sig), _) => {
                if certs.is_empty() {
                    return Err(saml_err(
                        75016,
                        "The request is signed, but the application has no request-signing certificate.",
                    ));
                }
                sig.verify(&certs).map_err(|e| bad_message(&e))?;
                true
            }
            (None, true) => {
                if certs.is_empty() {
                    return Err(saml_err(
                        75016,
                        "The request is signed, but the application has no request-signing certificate.",
                    ));
                }
                parsed.verify_signature(&certs).map_err(|e| bad_message(&e))?;
                true
            }
            (None, false) => false,
        };
        let is_request = !matches!(parsed.message, saml::request::Message::LogoutResponse(_));
        if settings.require_signed_requests && !signed && is_request {
            return Err(saml_err(
                76021,
                "The request sent by client is not signed while the application requires signed requests.",
            ));
        }
        let now = self.now();
        let own = self.saml_endpoint(tenant);
        match parsed.message {
            saml::request::Message::AuthnRequest(req) => {
                check_destination(req.destination.as_deref(), &[endpoint, &own])?;
                self.check_fresh_and_new(tenant, &issuer, &req.id, req.issue_instant, now).await?;
                if let Some(b) = &req.protocol_binding
                    && b != saml::BINDING_POST
                {
                    return Err(saml_err(
                        75005,
                        format!(
                            "Unsupported ProtocolBinding '{}': responses are sent with HTTP-POST.",
                            ostiary_oauth::error::sanitize(b)
                        ),
                    ));
                }
                let acs = resolve_acs(&client, req.acs_url.as_deref(), req.acs_index)?;
                let mut flow = saml_flow(self, &client, &sp, acs, Some(req.id.clone()), relay_state);
                if req.force_authn {
                    flow.prompt = Some("login".into());
                }
                if req.is_passive {
                    flow.prompt = Some("none".into());
                }
                // A NameID format we cannot produce is answered at the (now validated) ACS.
                if let Some(f) = req.name_id_format.as_deref()
                    && f != saml::NAMEID_UNSPECIFIED
                    && f != name_id_format_uri(&settings.name_id_format)
                    && let Some(sf) = flow.saml.as_mut()
                {
                    sf.reject = Some((
                        saml::STATUS_INVALID_NAMEID_POLICY.into(),
                        format!(
                            "AADSTS75011: The application requested NameID format '{}', but is configured for '{}'.",
                            ostiary_oauth::error::sanitize(f),
                            name_id_format_uri(&settings.name_id_format)
                        ),
                    ));
                }
                Ok(SamlInbound::SignIn(Box::new(flow)))
            }
            saml::request::Message::LogoutRequest(req) => {
                check_destination(req.destination.as_deref(), &[endpoint, &own])?;
                self.check_fresh_and_new(tenant, &issuer, &req.id, req.issue_instant, now).await?;
                Ok(SamlInbound::Logout { sp_id: sp.id, request: Box::new(req), relay_state })
            }
            saml::request::Message::LogoutResponse(resp) => {
                check_destination(resp.destination.as_deref(), &[endpoint, &own])?;
                Ok(SamlInbound::LoggedOut { status: resp.status })
            }
        }
    }

    /// Refuses stale, future and replayed requests (the ID is remembered while it could be fresh).
    async fn check_fresh_and_new(
        &self,
        tenant: TenantId,
        issuer: &str,
        id: &str,
        issued: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), OAuthError> {
        if issued < now - REQUEST_MAX_AGE || issued > now + CLOCK_SKEW {
            return Err(saml_err(
                75005,
                format!(
                    "The request's IssueInstant ({}) is outside the accepted window; the request has expired or the clocks differ.",
                    saml::response::format_instant(issued)
                ),
            ));
        }
        let key = secret_key(&format!("{issuer}\n{id}"));
        let entry = KvEntry {
            kind: REQUEST_KIND.into(),
            key,
            doc: Value::Null,
            version: 1,
            expires_at: Some(issued + REQUEST_MAX_AGE + CLOCK_SKEW),
            user_id: None,
            family_id: None,
        };
        match self.store.kv_apply(tenant, &[KvOp::Insert(entry)], false, now).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict { .. }) => Err(saml_err(
                75005,
                format!(
                    "The request ID '{}' was already used: a SAML request is accepted once.",
                    ostiary_oauth::error::sanitize(id)
                ),
            )),
            Err(_) => Err(OAuthError::temporarily_unavailable()),
        }
    }

    /// IdP-initiated sign-in to an application (by appId or service principal id).
    pub async fn saml_idp_initiated(&self, tenant: TenantId, app: &str) -> Result<PendingFlow, OAuthError> {
        let state = self.tenant_state(tenant).await.map_err(unavailable)?;
        let id = uuid::Uuid::parse_str(app).map_err(|_| OAuthError::application_not_found(app))?;
        let client = state
            .clients
            .get(&id)
            .cloned()
            .or_else(|| Self::saml_client_by_sp(&state, ObjectId::from_uuid(id)))
            .filter(|c| c.sp.as_ref().is_some_and(is_saml_app))
            .ok_or_else(|| OAuthError::application_not_found(app))?;
        let Some(sp) = client.sp.clone() else { return Err(OAuthError::application_not_found(app)) };
        let acs = resolve_acs(&client, None, None)?;
        let relay = sp.ostiary_saml.as_ref().and_then(|s| s.relay_state.clone());
        Ok(saml_flow(self, &client, &sp, acs, None, relay))
    }

    /// The last step of a SAML flow once the user may have access: the signed Response.
    pub(crate) async fn finish_saml_flow(
        &self,
        tenant: TenantId,
        flow: &PendingFlow,
        session_key: Option<&str>,
    ) -> Result<Next, OAuthError> {
        let Some(sf) = &flow.saml else { return Err(OAuthError::temporarily_unavailable()) };
        let user_id = flow.user_id.ok_or_else(OAuthError::login_required)?;
        let state = self.tenant_state(tenant).await.map_err(unavailable)?;
        let client = Self::saml_client_by_sp(&state, sf.sp_id)
            .ok_or_else(|| OAuthError::application_not_found(&flow.client_id.to_string()))?;
        let Some(sp) = client.sp.clone() else {
            return Err(OAuthError::application_not_found(&flow.client_id.to_string()));
        };
        let settings = sp.ostiary_saml.clone().unwrap_or_default();
        let user = match self.store.get_object(tenant, user_id).await.map_err(unavailable)? {
            Some(DirectoryObject::User(u)) => u,
            _ => return Err(OAuthError::login_required()),
        };
        let now = self.now_seconds();
        let props = user_props(&user);
        let format = name_id_format_uri(&settings.name_id_format);
        let name_id = if format == saml::NAMEID_TRANSIENT {
            format!("_{}", ostiary_crypto::rand::random_token(self.rng.as_ref(), 24))
        } else {
            user_values(&props, &settings.name_id_source).into_iter().next().unwrap_or_else(|| user.id.to_string())
        };
        let groups = self.transitive_groups(tenant, user.id).await?;
        let mut principals = vec![user.id];
        principals.extend(groups.iter().copied());
        let roles = Self::user_roles(&state, &sp, &principals);
        let attributes =
            self.saml_attributes(tenant, &client, &settings, (&user, &props), &groups, &roles, &flow.methods);
        let assertion_id = format!("_{}", self.new_uuid());
        let mfa = crate::access::is_multi_factor(&flow.methods);
        let spec = saml::response::ResponseSpec {
            id: format!("_{}", self.new_uuid()),
            in_response_to: sf.request_id.clone(),
            destination: flow.redirect_uri.clone(),
            issue_instant: now,
            issuer: self.saml_entity_id(tenant),
            status: saml::response::Status { code: saml::STATUS_SUCCESS.into(), sub_code: None, message: None },
            assertion: Some(saml::response::AssertionSpec {
                id: assertion_id.clone(),
                issuer: self.saml_entity_id(tenant),
                subject: saml::request::NameId {
                    value: name_id.clone(),
                    format: Some(format.to_string()),
                    name_qualifier: None,
                    sp_name_qualifier: None,
                },
                recipient: flow.redirect_uri.clone(),
                in_response_to: sf.request_id.clone(),
                issue_instant: now,
                not_before: now - CLOCK_SKEW,
                not_on_or_after: now + ASSERTION_LIFETIME,
                audience: sf.sp_entity_id.clone(),
                authn_instant: flow.auth_time.and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok()).unwrap_or(now),
                session_index: assertion_id.clone(),
                session_not_on_or_after: None,
                authn_context_class_ref: if mfa {
                    MFA_CONTEXT.into()
                } else {
                    saml::AUTHN_CONTEXT_PASSWORD_PROTECTED.into()
                },
                attributes,
            }),
        };
        let key = self.saml_signer(&state, &sp)?;
        let xml = saml::response::build_response(&spec, &key, sign_what(&settings)).map_err(unavailable)?;
        if let Some(k) = session_key {
            let participant = SamlParticipant {
                sp_id: sp.id,
                name_id,
                name_id_format: format.to_string(),
                session_index: assertion_id,
            };
            let _ = self.session_add_saml(tenant, k, participant).await;
        }
        self.metrics.tokens_issued.inc(&["saml2"]);
        Ok(Next::Respond { params: saml_params(&xml, sf.relay_state.as_deref()) })
    }

    /// A SAML error Response for a flow whose ACS is validated.
    pub async fn saml_error_response(
        &self,
        tenant: TenantId,
        flow: &PendingFlow,
        sub_code: &str,
        message: &str,
    ) -> Result<Vec<(String, String)>, OAuthError> {
        let Some(sf) = &flow.saml else { return Err(OAuthError::temporarily_unavailable()) };
        let state = self.tenant_state(tenant).await.map_err(unavailable)?;
        let client = Self::saml_client_by_sp(&state, sf.sp_id)
            .ok_or_else(|| OAuthError::application_not_found(&flow.client_id.to_string()))?;
        let Some(sp) = client.sp.clone() else {
            return Err(OAuthError::application_not_found(&flow.client_id.to_string()));
        };
        let top = if sub_code == saml::STATUS_INVALID_NAMEID_POLICY {
            saml::STATUS_REQUESTER
        } else {
            saml::STATUS_RESPONDER
        };
        let spec = saml::response::ResponseSpec {
            id: format!("_{}", self.new_uuid()),
            in_response_to: sf.request_id.clone(),
            destination: flow.redirect_uri.clone(),
            issue_instant: self.now_seconds(),
            issuer: self.saml_entity_id(tenant),
            status: saml::response::Status {
                code: top.into(),
                sub_code: Some(sub_code.into()),
                message: Some(message.into()),
            },
            assertion: None,
        };
        let key = self.saml_signer(&state, &sp)?;
        // Error responses carry no assertion: the Response itself is signed.
        let xml =
            saml::response::build_response(&spec, &key, saml::response::SignWhat::Response).map_err(unavailable)?;
        Ok(saml_params(&xml, sf.relay_state.as_deref()))
    }

    #[allow(clippy::too_many_arguments)]
    fn saml_attributes(
        &self,
        tenant: TenantId,
        client: &ClientEntry,
        settings: &SamlSettings,
        (user, props): (&User, &serde_json::Map<String, Value>),
        groups: &[ObjectId],
        roles: &[String],
        methods: &[String],
    ) -> Vec<saml::response::Attribute> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        let mut put = |name: String, values: Vec<String>| {
            if values.is_empty() {
                return;
            }
            out.retain(|(n, _)| *n != name);
            out.push((name, values));
        };
        if settings.include_basic_claims {
            put(format!("{MS_CLAIMS_NS}/tenantid"), vec![tenant.to_string()]);
            put(format!("{MS_CLAIMS_NS}/objectidentifier"), vec![user.id.to_string()]);
            put(format!("{MS_CLAIMS_NS}/displayname"), user_values(props, "displayName"));
            put(format!("{MS_CLAIMS_NS}/identityprovider"), vec![self.saml_entity_id(tenant)]);
            put(AMR_CLAIM.to_string(), methods.iter().map(|m| amr_uri(m)).collect());
            put(format!("{CLAIMS_NS}/givenname"), user_values(props, "givenName"));
            put(format!("{CLAIMS_NS}/surname"), user_values(props, "surname"));
            put(format!("{CLAIMS_NS}/emailaddress"), user_values(props, "mail"));
            put(format!("{CLAIMS_NS}/name"), vec![user.user_principal_name.clone()]);
        }
        let group_setting = client.app.group_membership_claims.as_deref().unwrap_or("None");
        if matches!(group_setting, "SecurityGroup" | "All" | "ApplicationGroup") {
            put(GROUPS_CLAIM.to_string(), groups.iter().map(ObjectId::to_string).collect());
        }
        put(ROLE_CLAIM.to_string(), roles.to_vec());
        for c in &settings.claims {
            let values = match c.source.as_str() {
                "user" => c.value.as_deref().map(|p| user_values(props, p)).unwrap_or_default(),
                "constant" => c.value.clone().into_iter().collect(),
                "groups" => groups.iter().map(ObjectId::to_string).collect(),
                "roles" => roles.to_vec(),
                _ => Vec::new(),
            };
            put(c.full_name(), values);
        }
        out.into_iter()
            .map(|(name, values)| saml::response::Attribute { name, friendly_name: None, name_format: None, values })
            .collect()
    }

    /// Adds a SAML application to an SSO session (for single logout).
    async fn session_add_saml(
        &self,
        tenant: TenantId,
        key: &str,
        participant: SamlParticipant,
    ) -> Result<(), StoreError> {
        let now = self.now();
        for _ in 0..3 {
            let Some(mut e) = self.store.kv_get(tenant, "session", key, now).await? else { return Ok(()) };
            let Ok(mut s) = serde_json::from_value::<Session>(e.doc.clone()) else { return Ok(()) };
            s.saml.retain(|p| p.sp_id != participant.sp_id);
            s.saml.push(participant.clone());
            e.doc = serde_json::to_value(&s).unwrap_or(Value::Null);
            match self.store.kv_apply(tenant, &[KvOp::Update(e)], false, now).await {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict { .. }) => continue,
                Err(other) => return Err(other),
            }
        }
        Ok(())
    }

    /// Single logout: LogoutRequests for the SAML applications of an ended session (except
    /// `initiator`), and the LogoutResponse to the initiator's logout URL.
    pub async fn saml_logout_plan(
        &self,
        tenant: TenantId,
        ended: Option<&Session>,
        initiator: Option<(ObjectId, &str, Option<&str>)>,
    ) -> LogoutPlan {
        let mut plan = LogoutPlan { front_channel: Vec::new(), respond_to: None };
        let Ok(state) = self.tenant_state(tenant).await else { return plan };
        let now = self.now_seconds();
        if let Some(s) = ended {
            for p in &s.saml {
                if initiator.is_some_and(|(sp, _, _)| sp == p.sp_id) {
                    continue;
                }
                let Some(client) = Self::saml_client_by_sp(&state, p.sp_id) else { continue };
                let Some(sp) = client.sp.clone() else { continue };
                let Some(url) = logout_url(&client, &sp) else { continue };
                let spec = saml::response::LogoutRequestSpec {
                    id: format!("_{}", self.new_uuid()),
                    issue_instant: now,
                    destination: url.clone(),
                    issuer: self.saml_entity_id(tenant),
                    name_id: saml::request::NameId {
                        value: p.name_id.clone(),
                        format: Some(p.name_id_format.clone()),
                        name_qualifier: None,
                        sp_name_qualifier: None,
                    },
                    session_index: Some(p.session_index.clone()),
                    not_on_or_after: Some(now + CONFIRMATION_WINDOW),
                };
                let Ok(key) = self.saml_signer(&state, &sp) else { continue };
                let Ok(xml) = saml::response::build_logout_request(&spec, None) else { continue };
                if let Ok(q) = saml::binding::encode_redirect(&xml, "SAMLRequest", None, Some(&key)) {
                    plan.front_channel.push(join_query(&url, &q));
                }
            }
        }
        if let Some((sp_id, in_response_to, relay)) = initiator
            && let Some(client) = Self::saml_client_by_sp(&state, sp_id)
            && let Some(sp) = client.sp.clone()
            && let Some(url) = logout_url(&client, &sp)
            && let Ok(key) = self.saml_signer(&state, &sp)
        {
            let spec = saml::response::LogoutResponseSpec {
                id: format!("_{}", self.new_uuid()),
                in_response_to: in_response_to.to_string(),
                destination: url.clone(),
                issue_instant: now,
                issuer: self.saml_entity_id(tenant),
                status: saml::response::Status { code: saml::STATUS_SUCCESS.into(), sub_code: None, message: None },
            };
            if let Ok(xml) = saml::response::build_logout_response(&spec, None)
                && let Ok(q) = saml::binding::encode_redirect(&xml, "SAMLResponse", relay, Some(&key))
            {
                plan.respond_to = Some(join_query(&url, &q));
            }
        }
        plan
    }

    // --- administration -----------------------------------------------------------------------

    /// Generates a signing certificate for a SAML application (Graph `addTokenSigningCertificate`);
    /// the first one becomes the active certificate.
    pub async fn add_saml_signing_certificate(
        &self,
        caller: &Caller,
        sp_id: ObjectId,
        display_name: Option<String>,
        end: Option<OffsetDateTime>,
    ) -> Result<SamlCertificate, DirError> {
        let now = self.now_seconds();
        let end = end.unwrap_or(now + CERT_LIFETIME);
        if end <= now {
            return Err(DirError::bad("endDateTime must be in the future."));
        }
        if end > now + Duration::days(10 * 365) {
            return Err(DirError::bad("endDateTime must be within ten years."));
        }
        let cn = display_name.clone().unwrap_or_else(|| "CN=Ostiary SAML signing".into());
        let subject = cn.strip_prefix("CN=").unwrap_or(&cn).to_string();
        if subject.is_empty() || subject.len() > 200 {
            return Err(DirError::bad("displayName must be 1 to 200 characters."));
        }
        let (key, pkcs8) = SigningKey::generate(Alg::RS256, &subject, now, end)
            .map_err(|e| DirError::Internal(format!("certificate generation: {e}")))?;
        let thumb = thumbprint(key.cert_der());
        let sealed = self.kek.seal(pkcs8.expose(), &aad(caller.tenant, sp_id, &thumb), self.rng.as_ref());
        let cert = SamlCertificate {
            key_id: self.new_uuid(),
            display_name: Some(if cn.starts_with("CN=") { cn.clone() } else { format!("CN={cn}") }),
            thumbprint: thumb,
            cert: ostiary_crypto::b64::std_encode(key.cert_der()),
            sealed_private_key: ostiary_crypto::b64::std_encode(&sealed),
            kek_id: self.kek.id(),
            start_date_time: now,
            end_date_time: end,
        };
        let stored = cert.clone();
        self.update_service_principal(caller, sp_id, move |sp| {
            let settings = sp.ostiary_saml.get_or_insert_with(SamlSettings::default);
            if settings.certificates.len() >= 10 {
                return Err(DirError::bad("An application has at most 10 SAML signing certificates."));
            }
            if settings.preferred_thumbprint.is_none() {
                settings.preferred_thumbprint = Some(stored.thumbprint.clone());
            }
            settings.certificates.push(stored);
            Ok(())
        })
        .await?;
        Ok(cert)
    }
}

/// A change to the SAML settings of an application (Graph: the service principal's
/// `preferredSingleSignOnMode`, `loginUrl`, `logoutUrl`, `preferredTokenSigningKeyThumbprint`,
/// `samlSingleSignOnSettings` with Ostiary's extensions). `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct SamlUpdate {
    pub mode: Option<Option<String>>,
    pub login_url: Option<Option<String>>,
    pub logout_url: Option<Option<String>>,
    pub preferred_thumbprint: Option<String>,
    pub relay_state: Option<Option<String>>,
    pub signing_option: Option<String>,
    pub require_signed_requests: Option<bool>,
    /// Base64 DER (or PEM) certificates.
    pub request_signing_certificates: Option<Vec<String>>,
}

/// The claims of a SAML application (Graph `claimsPolicy`, a customClaimsPolicy).
#[derive(Debug, Clone, Default)]
pub struct SamlClaimsUpdate {
    pub name_id_format: Option<String>,
    pub name_id_source: Option<String>,
    pub include_basic_claims: Option<bool>,
    pub claims: Option<Vec<ostiary_model::SamlClaim>>,
}

fn url_setting(field: &str, v: &str) -> Result<(), DirError> {
    ostiary_model::validate::redirect_uri(v).map_err(|_| {
        DirError::bad(format!("{field} must be an absolute https URL (http only for localhost) without fragment."))
    })
}

/// A certificate given as base64 DER or PEM, checked and normalised to base64 DER.
pub fn normalize_certificate(v: &str) -> Result<String, DirError> {
    let bad =
        || DirError::bad("requestSigningCertificates: each entry must be an X.509 certificate (base64 DER or PEM).");
    let cert = if v.contains("-----BEGIN") {
        Certificate::from_pem(v).map_err(|_| bad())?
    } else {
        let compact: String = v.chars().filter(|c| !c.is_whitespace()).collect();
        let der = ostiary_crypto::b64::std_decode(&compact).map_err(|_| bad())?;
        Certificate::from_der(&der).map_err(|_| bad())?
    };
    Ok(ostiary_crypto::b64::std_encode(&cert.der))
}

impl Core {
    pub async fn update_saml_settings(
        &self,
        caller: &Caller,
        sp_id: ObjectId,
        u: SamlUpdate,
    ) -> Result<ServicePrincipal, DirError> {
        if let Some(Some(m)) = &u.mode
            && !matches!(m.as_str(), "saml" | "oidc" | "password" | "notSupported")
        {
            return Err(DirError::bad("preferredSingleSignOnMode must be saml, oidc, password or notSupported."));
        }
        for (field, v) in [("loginUrl", &u.login_url), ("logoutUrl", &u.logout_url)] {
            if let Some(Some(url)) = v {
                url_setting(field, url)?;
            }
        }
        if let Some(Some(r)) = &u.relay_state
            && (r.len() > 1024 || r.chars().any(char::is_control))
        {
            return Err(DirError::bad("relayState must be at most 1024 characters without control characters."));
        }
        if let Some(o) = &u.signing_option
            && !matches!(o.as_str(), "TokenOnly" | "ResponseOnly" | "ResponseAndToken")
        {
            return Err(DirError::bad("signingOption must be TokenOnly, ResponseOnly or ResponseAndToken."));
        }
        let certs = match &u.request_signing_certificates {
            Some(list) if list.len() > 10 => {
                return Err(DirError::bad("At most 10 request-signing certificates."));
            }
            Some(list) => Some(list.iter().map(|c| normalize_certificate(c)).collect::<Result<Vec<_>, _>>()?),
            None => None,
        };
        self.update_service_principal(caller, sp_id, move |sp| {
            if let Some(m) = u.mode {
                sp.preferred_single_sign_on_mode = m;
            }
            if let Some(v) = u.login_url {
                sp.login_url = v;
            }
            if let Some(v) = u.logout_url {
                sp.logout_url = v;
            }
            let touches_settings = u.preferred_thumbprint.is_some()
                || u.relay_state.is_some()
                || u.signing_option.is_some()
                || u.require_signed_requests.is_some()
                || certs.is_some()
                || sp.preferred_single_sign_on_mode.as_deref() == Some("saml");
            if touches_settings {
                let settings = sp.ostiary_saml.get_or_insert_with(SamlSettings::default);
                if let Some(t) = u.preferred_thumbprint {
                    let Some(c) = settings.certificates.iter().find(|c| c.thumbprint.eq_ignore_ascii_case(&t)) else {
                        return Err(DirError::bad(
                            "preferredTokenSigningKeyThumbprint does not name a signing certificate of this application.",
                        ));
                    };
                    settings.preferred_thumbprint = Some(c.thumbprint.clone());
                }
                if let Some(v) = u.relay_state {
                    settings.relay_state = v;
                }
                if let Some(v) = u.signing_option {
                    settings.signing_option = v;
                }
                if let Some(v) = u.require_signed_requests {
                    settings.require_signed_requests = v;
                }
                if let Some(v) = certs {
                    settings.request_signing_certificates = v;
                }
            }
            Ok(())
        })
        .await
    }

    /// Removes a signing certificate (not the active one while others exist).
    pub async fn remove_saml_signing_certificate(
        &self,
        caller: &Caller,
        sp_id: ObjectId,
        key_id: uuid::Uuid,
    ) -> Result<ServicePrincipal, DirError> {
        self.update_service_principal(caller, sp_id, move |sp| {
            let settings = sp.ostiary_saml.get_or_insert_with(SamlSettings::default);
            let Some(pos) = settings.certificates.iter().position(|c| c.key_id == key_id) else {
                return Err(DirError::NotFound(key_id.to_string()));
            };
            let removed = settings.certificates.remove(pos);
            if settings.preferred_thumbprint.as_deref() == Some(removed.thumbprint.as_str()) {
                if !settings.certificates.is_empty() {
                    return Err(DirError::bad(
                        "This certificate is active: make another certificate active before removing it.",
                    ));
                }
                settings.preferred_thumbprint = None;
            }
            Ok(())
        })
        .await
    }

    pub async fn update_saml_claims(
        &self,
        caller: &Caller,
        sp_id: ObjectId,
        u: SamlClaimsUpdate,
    ) -> Result<ServicePrincipal, DirError> {
        let format = match &u.name_id_format {
            Some(f) => Some(
                normalize_name_id_format(f)
                    .ok_or_else(|| {
                        DirError::bad(
                            "nameIdFormat must be default, emailAddress, persistent, transient or unspecified.",
                        )
                    })?
                    .to_string(),
            ),
            None => None,
        };
        if let Some(src) = &u.name_id_source
            && !valid_user_property(src)
        {
            return Err(DirError::bad(format!(
                "'{}' is not a user property a NameID can come from.",
                ostiary_oauth::error::sanitize(src)
            )));
        }
        if let Some(claims) = &u.claims {
            if claims.len() > 50 {
                return Err(DirError::bad("At most 50 claims."));
            }
            let mut names = std::collections::HashSet::new();
            for c in claims {
                if c.name.is_empty()
                    || c.name.len() > 256
                    || c.name.chars().any(|ch| ch.is_whitespace() || ch.is_control())
                {
                    return Err(DirError::bad("A claim name must be 1 to 256 characters without spaces."));
                }
                if let Some(ns) = &c.namespace
                    && (ns.len() > 256 || ns.chars().any(|ch| ch.is_whitespace() || ch.is_control()))
                {
                    return Err(DirError::bad("A claim namespace must be at most 256 characters without spaces."));
                }
                if !names.insert(c.full_name()) {
                    return Err(DirError::bad(format!("Duplicate claim '{}'.", c.full_name())));
                }
                let ok = match c.source.as_str() {
                    "user" => c.value.as_deref().is_some_and(valid_user_property),
                    "constant" => c.value.as_deref().is_some_and(|v| v.len() <= 1024),
                    "groups" | "roles" => true,
                    _ => false,
                };
                if !ok {
                    return Err(DirError::bad(format!(
                        "Claim '{}': the source must be a user property, a constant (at most 1024 characters), groups or roles.",
                        c.full_name()
                    )));
                }
            }
        }
        self.update_service_principal(caller, sp_id, move |sp| {
            let settings = sp.ostiary_saml.get_or_insert_with(SamlSettings::default);
            if let Some(f) = format {
                settings.name_id_format = f;
            }
            if let Some(s) = u.name_id_source {
                settings.name_id_source = s;
            }
            if let Some(b) = u.include_basic_claims {
                settings.include_basic_claims = b;
            }
            if let Some(c) = u.claims {
                settings.claims = c;
            }
            Ok(())
        })
        .await
    }

    /// Configures an application from its SP metadata: entity ID, reply URLs with their indexes,
    /// logout URL, request-signing certificates and whether requests must be signed.
    pub async fn import_saml_metadata(
        &self,
        caller: &Caller,
        sp_id: ObjectId,
        xml: &str,
    ) -> Result<ServicePrincipal, DirError> {
        let md = saml::metadata::parse_sp_metadata(xml)
            .map_err(|e| DirError::bad(format!("The SP metadata is not usable: {}", e.message)))?;
        let sp = match self.get_object(caller, Some(ostiary_model::ObjectKind::ServicePrincipal), sp_id).await? {
            DirectoryObject::ServicePrincipal(sp) => sp,
            _ => return Err(DirError::NotFound(sp_id.to_string())),
        };
        let acs: Vec<saml::metadata::Endpoint> =
            md.acs.iter().filter(|e| e.binding == saml::BINDING_POST).cloned().collect();
        if acs.is_empty() {
            return Err(DirError::bad("The SP metadata has no AssertionConsumerService with the HTTP-POST binding."));
        }
        let slo = md.slo.iter().find(|e| e.binding == saml::BINDING_REDIRECT).map(|e| e.location.clone());
        let entity = md.entity_id.clone();
        let mut ordered = acs.clone();
        // The default endpoint first: it is the reply URL used without an index.
        ordered.sort_by_key(|e| (!e.is_default, e.index.unwrap_or(u16::MAX)));
        let app_object = self.find_application_by_app_id(caller, &sp.app_id.to_string()).await?.id;
        self.update_application(caller, &app_object.to_string(), None, move |app| {
            if !app.identifier_uris.contains(&entity) {
                app.identifier_uris.insert(0, entity);
            }
            for e in &ordered {
                if !app.web.redirect_uris.contains(&e.location) {
                    app.web.redirect_uris.push(e.location.clone());
                }
                if let Some(i) = e.index {
                    app.web.redirect_uri_settings.retain(|s| s.uri != e.location && s.index != Some(i32::from(i)));
                    app.web
                        .redirect_uri_settings
                        .push(ostiary_model::RedirectUriSetting { uri: e.location.clone(), index: Some(i32::from(i)) });
                }
            }
            Ok(())
        })
        .await?;
        let certs: Vec<String> = md.signing_certs.iter().map(|d| ostiary_crypto::b64::std_encode(d)).collect();
        let update = SamlUpdate {
            mode: Some(Some("saml".into())),
            logout_url: slo.map(Some),
            request_signing_certificates: (!certs.is_empty()).then_some(certs),
            require_signed_requests: md.authn_requests_signed.then_some(true),
            ..SamlUpdate::default()
        };
        self.update_saml_settings(caller, sp_id, update).await
    }
}

fn is_saml_app(sp: &ServicePrincipal) -> bool {
    sp.preferred_single_sign_on_mode.as_deref() == Some("saml") || sp.ostiary_saml.is_some()
}

/// The certificate that signs: the preferred one if still valid, else the newest valid one.
pub fn active_certificate(settings: &SamlSettings) -> Option<&SamlCertificate> {
    settings
        .preferred_thumbprint
        .as_deref()
        .and_then(|t| settings.certificates.iter().find(|c| c.thumbprint.eq_ignore_ascii_case(t)))
        .or_else(|| settings.certificates.iter().max_by_key(|c| c.start_date_time))
}

fn sign_what(settings: &SamlSettings) -> saml::response::SignWhat {
    match settings.signing_option.as_str() {
        "ResponseOnly" => saml::response::SignWhat::Response,
        "ResponseAndToken" => saml::response::SignWhat::Both,
        _ => saml::response::SignWhat::Assertion,
    }
}

fn amr_uri(method: &str) -> String {
    match method {
        "pwd" | "password" => "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password".into(),
        "mfa" => MFA_CONTEXT.into(),
        other => format!("http://schemas.microsoft.com/claims/{other}"),
    }
}

fn saml_params(xml: &str, relay_state: Option<&str>) -> Vec<(String, String)> {
    let mut params = vec![("SAMLResponse".to_string(), saml::binding::encode_post(xml))];
    if let Some(r) = relay_state {
        params.push(("RelayState".into(), r.to_string()));
    }
    params
}

fn join_query(url: &str, query: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{query}")
}

fn logout_url(client: &ClientEntry, sp: &ServicePrincipal) -> Option<String> {
    sp.logout_url
        .clone()
        .or_else(|| client.app.web.logout_url.clone())
        .filter(|u| u.starts_with("https://") || u.starts_with("http://localhost") || u.starts_with("http://127.0.0.1"))
}

/// `Destination`, when present, must be this endpoint (a request meant for another IdP is refused).
fn check_destination(destination: Option<&str>, endpoints: &[&str]) -> Result<(), OAuthError> {
    let same = |d: &str, e: &str| d.trim_end_matches('/').eq_ignore_ascii_case(e.trim_end_matches('/'));
    match destination {
        Some(d) if !endpoints.iter().any(|e| same(d, e)) => Err(saml_err(
            75005,
            format!(
                "The request's Destination '{}' is not this endpoint ('{}').",
                ostiary_oauth::error::sanitize(d),
                endpoints.first().copied().unwrap_or_default()
            ),
        )),
        _ => Ok(()),
    }
}

/// The reply URL: exactly one of the registered ones (by URL or index), never another.
fn resolve_acs(client: &ClientEntry, url: Option<&str>, index: Option<u16>) -> Result<String, OAuthError> {
    let web = &client.app.web;
    match (url, index) {
        (Some(u), _) => {
            if web.redirect_uris.iter().any(|r| r == u) {
                Ok(u.to_string())
            } else {
                Err(OAuthError::redirect_uri_mismatch(u))
            }
        }
        (None, Some(i)) => web
            .redirect_uri_settings
            .iter()
            .find(|s| s.index == Some(i32::from(i)))
            .map(|s| s.uri.clone())
            .ok_or_else(|| {
                saml_err(
                    50011,
                    format!(
                        "The reply URL index {i} does not match the reply URLs configured for the application '{}'.",
                        client.app.app_id
                    ),
                )
            }),
        (None, None) => {
            // The default: the lowest index, else the first reply URL.
            let by_index = web.redirect_uri_settings.iter().filter(|s| s.index.is_some()).min_by_key(|s| s.index);
            by_index.map(|s| s.uri.clone()).or_else(|| web.redirect_uris.first().cloned()).ok_or_else(|| {
                saml_err(
                    50011,
                    format!(
                        "The application '{}' has no reply URL (Assertion Consumer Service URL).",
                        client.app.app_id
                    ),
                )
            })
        }
    }
}

fn saml_flow(
    core: &Core,
    client: &ClientEntry,
    sp: &ServicePrincipal,
    acs: String,
    request_id: Option<String>,
    relay_state: Option<String>,
) -> PendingFlow {
    let entity = client.app.identifier_uris.first().cloned().unwrap_or_default();
    PendingFlow {
        client_id: client.app.app_id,
        app_name: sp.display_name.clone(),
        redirect_uri: acs,
        platform: "web".into(),
        response_mode: "form_post".into(),
        csrf: ostiary_crypto::rand::random_token(core.rng.as_ref(), 24),
        saml: Some(SamlFlow { sp_id: sp.id, sp_entity_id: entity, request_id, relay_state, reject: None }),
        ..Default::default()
    }
}
