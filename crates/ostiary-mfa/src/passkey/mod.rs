//! Passkeys (WebAuthn) on webauthn-rs: registration and sign-in ceremonies with user
//! verification required, discoverable credentials for username-less sign-in, and an
//! attestation policy (conveyance, AAGUID allow-list, manufacturer trust anchors).
//!
//! Everything that crosses to the caller is plain serde JSON: browser options, server-side
//! ceremony state (stored by the caller until the browser answers, then passed back once),
//! browser responses, and the [`StoredPasskey`] record.
//!
//! Purity caveats, both inside webauthn-rs: it draws ceremony challenges from its own CSPRNG
//! (there is no hook to inject ours), and it reads the system clock to check attestation
//! certificate validity when trust anchors are configured. Nothing else here does IO or reads
//! time or randomness. Ceremony state carries no expiry: the caller stores it with a TTL (the
//! browser options advertise a 5-minute timeout).

use std::collections::BTreeMap;

use ostiary_crypto::b64;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;
use webauthn_rs::prelude::{
    AttestationCaList, AttestationCaListBuilder, AttestedPasskeyRegistration, AuthenticationResult,
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Webauthn, WebauthnBuilder, WebauthnError,
};

use crate::authdata::aaguid_from_attestation_object;

#[cfg(test)]
mod soft;
#[cfg(test)]
mod tests;

/// Why a passkey operation failed. Messages contain no key material and are safe to log.
#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// The relying-party configuration is unusable (origin, RP ID, trust anchors).
    #[error("passkey configuration: {0}")]
    Config(String),
    /// The ceremony state is not ours, is corrupted, or belongs to another kind of ceremony.
    #[error("invalid or mismatched ceremony state")]
    InvalidState,
    /// The browser's response is not a WebAuthn credential JSON of the expected kind.
    #[error("malformed client response: {0}")]
    MalformedResponse(String),
    /// A stored credential ID is not base64url.
    #[error("invalid credential id")]
    InvalidCredentialId,
    /// No credentials to sign in with.
    #[error("no passkeys registered")]
    NoCredentials,
    /// The response names a credential that is not among the ones offered or stored.
    #[error("unknown credential")]
    UnknownCredential,
    /// Discoverable sign-in: the user handle is missing, not a UUID, or not the owner of the
    /// credential used.
    #[error("missing or mismatched user handle")]
    InvalidUserHandle,
    /// The attestation policy refuses this authenticator (AAGUID not allowed, or its
    /// attestation does not chain to a configured trust anchor).
    #[error("authenticator not allowed by policy (aaguid {aaguid:?})")]
    AuthenticatorNotAllowed {
        /// The AAGUID the authenticator claimed, if any.
        aaguid: Option<Uuid>,
        /// webauthn-rs's finding, when it made the refusal.
        #[source]
        source: Option<WebauthnError>,
    },
    /// The signature counter did not increase: the private key may have been cloned.
    /// webauthn-rs refuses the sign-in; the caller should flag the credential for review.
    #[error("signature counter went backwards: possible cloned authenticator")]
    PossibleClonedAuthenticator,
    /// Any other verification failure: origin, challenge, RP ID hash, signature, user
    /// presence or verification, algorithm, ...
    #[error("webauthn ceremony failed: {0}")]
    Ceremony(#[source] WebauthnError),
}

impl From<WebauthnError> for MfaError {
    fn from(e: WebauthnError) -> Self {
        match e {
            WebauthnError::CredentialPossibleCompromise => Self::PossibleClonedAuthenticator,
            WebauthnError::CredentialNotFound => Self::UnknownCredential,
            WebauthnError::InvalidUserUniqueId => Self::InvalidUserHandle,
            other => Self::Ceremony(other),
        }
    }
}

/// What the browser is asked to send about the authenticator (`attestation` in the options).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Conveyance {
    /// No attestation statement (the default; synced passkeys can't attest anyway).
    #[default]
    None,
    /// An attestation the client may anonymise.
    Indirect,
    /// The authenticator's own attestation statement.
    Direct,
}

impl Conveyance {
    fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Indirect => "indirect",
            Self::Direct => "direct",
        }
    }
}

/// Which authenticators may register.
///
/// * `allowed_aaguids` empty: any authenticator. Otherwise the AAGUID in the registration must
///   be listed.
/// * `trust_anchors_pem` empty: the AAGUID is whatever the authenticator (or a malicious
///   client) claims — a policy filter that keeps honest users on approved models, not a
///   security boundary. Non-empty (requires [`Conveyance::Direct`]): the attestation must chain
///   to one of these manufacturer roots and, with an allow-list, that root must vouch for the
///   AAGUID. Synced (backup-eligible) passkeys cannot attest and are then refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationPolicy {
    /// The `attestation` conveyance preference sent to the browser.
    #[serde(default)]
    pub conveyance: Conveyance,
    /// Allowed authenticator models; empty means any.
    #[serde(default)]
    pub allowed_aaguids: Vec<Uuid>,
    /// PEM root certificates of trusted authenticator manufacturers.
    #[serde(default)]
    pub trust_anchors_pem: Vec<String>,
}

/// A registered passkey, as the caller stores it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredPasskey {
    /// The credential ID, base64url without padding (the lookup key).
    pub credential_id: String,
    /// The user the credential was registered for (it is also the WebAuthn user handle).
    pub user_id: Uuid,
    /// webauthn-rs's credential record: public key, counter, backup flags, attestation.
    pub passkey: Passkey,
    /// The authenticator model, when it said (nil AAGUIDs are `None`).
    #[serde(default)]
    pub aaguid: Option<Uuid>,
    /// True when the attestation was verified against a configured trust anchor, i.e. the
    /// AAGUID is vouched for by its manufacturer rather than self-asserted.
    #[serde(default)]
    pub attested: bool,
    /// The client's (unsigned) `credProps.rk` hint: whether a discoverable credential was made.
    #[serde(default)]
    pub discoverable: Option<bool>,
    /// Registration time (unix seconds), set by the caller.
    #[serde(default)]
    pub created_at: Option<i64>,
}

impl StoredPasskey {
    /// Applies a successful sign-in's counter and backup state. Returns true when the record
    /// changed and must be written back.
    pub fn update_credential(&mut self, outcome: &AuthOutcome) -> bool {
        if outcome.credential_id != self.credential_id {
            return false;
        }
        self.passkey.update_credential(&outcome.result).unwrap_or(false)
    }
}

/// A successful sign-in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthOutcome {
    /// The credential used, base64url.
    pub credential_id: String,
    /// The user handle, for discoverable sign-in.
    pub user_id: Option<Uuid>,
    /// Whether the authenticator verified the user (PIN, biometrics). Always true on success,
    /// since verification is required; carried so the caller can record it (the `amr` claim).
    pub user_verified: bool,
    /// The authenticator's signature counter (0 for most synced passkeys).
    pub counter: u32,
    /// Whether the credential may be synced between devices.
    pub backup_eligible: bool,
    /// Whether the credential is currently synced/backed up.
    pub backup_state: bool,
    /// True when [`StoredPasskey::update_credential`] will change the stored record.
    pub needs_update: bool,
    /// webauthn-rs's result, needed to update the credential.
    pub result: AuthenticationResult,
}

impl AuthOutcome {
    fn new(result: AuthenticationResult, user_id: Option<Uuid>) -> Self {
        Self {
            credential_id: b64::url_encode(result.cred_id()),
            user_id,
            user_verified: result.user_verified(),
            counter: result.counter(),
            backup_eligible: result.backup_eligible(),
            backup_state: result.backup_state(),
            needs_update: result.needs_update(),
            result,
        }
    }
}

/// Server-side ceremony state, tagged so a state can only finish the ceremony that made it.
#[derive(Serialize, Deserialize)]
#[serde(tag = "ceremony", rename_all = "snake_case")]
enum CeremonyState {
    Registration { user_id: Uuid, state: PasskeyRegistration },
    AttestedRegistration { user_id: Uuid, state: AttestedPasskeyRegistration },
    Authentication { state: PasskeyAuthentication },
    DiscoverableAuthentication { state: DiscoverableAuthentication },
}

/// The relying party: one per tenant host.
#[derive(Debug, Clone)]
pub struct Passkeys {
    webauthn: Webauthn,
    policy: AttestationPolicy,
    /// Built from `policy.trust_anchors_pem`; `None` when there are none.
    ca_list: Option<AttestationCaList>,
}

impl Passkeys {
    /// `rp_id` is the host (or a registrable suffix of it) credentials are scoped to;
    /// `rp_origin` the `https://` origin pages are served from (`http://localhost` is allowed
    /// for development, as browsers allow it); `rp_name` what authenticators display.
    pub fn new(rp_id: &str, rp_origin: &str, rp_name: &str, policy: AttestationPolicy) -> Result<Self, MfaError> {
        let origin = Url::parse(rp_origin).map_err(|e| MfaError::Config(format!("rp_origin: {e}")))?;
        let secure =
            origin.scheme() == "https" || (origin.scheme() == "http" && origin.host_str() == Some("localhost"));
        if !secure {
            return Err(MfaError::Config("rp_origin must be https (or http://localhost)".into()));
        }
        if origin.path() != "/" || origin.query().is_some() || origin.fragment().is_some() {
            return Err(MfaError::Config("rp_origin must be an origin, without path, query or fragment".into()));
        }
        let name = if rp_name.trim().is_empty() { rp_id } else { rp_name };
        // `new` checks that rp_id is the origin's host or a suffix of it.
        let webauthn = WebauthnBuilder::new(rp_id, &origin)
            .map_err(|e| MfaError::Config(format!("rp_id {rp_id:?} does not fit rp_origin: {e}")))?
            .rp_name(name)
            .timeout(std::time::Duration::from_secs(300))
            .build()
            .map_err(|e| MfaError::Config(e.to_string()))?;
        let ca_list = build_ca_list(&policy)?;
        Ok(Self { webauthn, policy, ca_list })
    }

    /// The policy in force.
    pub fn policy(&self) -> &AttestationPolicy {
        &self.policy
    }

    /// Starts registering a passkey for `user_id`. Returns the options for
    /// `navigator.credentials.create` (`{"publicKey": …}`, binary fields base64url; the page
    /// converts them to ArrayBuffers) and the ceremony state to keep server-side.
    ///
    /// A discoverable (resident) credential and user verification are required, so the passkey
    /// also serves username-less sign-in. `existing_credential_ids` (base64url) are excluded so
    /// one authenticator is not registered twice.
    pub fn start_registration(
        &self,
        user_id: Uuid,
        user_name: &str,
        display_name: &str,
        existing_credential_ids: &[String],
    ) -> Result<(Value, Value), MfaError> {
        let exclude = existing_credential_ids
            .iter()
            .map(|id| b64::url_decode(id).map_err(|_| MfaError::InvalidCredentialId))
            .collect::<Result<Vec<_>, _>>()?;
        let exclude = (!exclude.is_empty()).then_some(exclude);
        let (options, state) = match &self.ca_list {
            Some(ca_list) => {
                let (ccr, state) = self.webauthn.start_attested_passkey_registration(
                    user_id,
                    user_name,
                    display_name,
                    exclude,
                    ca_list.clone(),
                    None,
                )?;
                (to_json(&ccr)?, CeremonyState::AttestedRegistration { user_id, state })
            }
            None => {
                let (ccr, state) =
                    self.webauthn.start_passkey_registration(user_id, user_name, display_name, exclude)?;
                (to_json(&ccr)?, CeremonyState::Registration { user_id, state })
            }
        };
        let options = self.patch_creation_options(options)?;
        Ok((options, to_json(&state)?))
    }

    /// webauthn-rs's passkey options leave the resident key optional and ask for no
    /// attestation; our policy needs a discoverable credential and the configured conveyance.
    /// The verification side is unaffected: webauthn-rs's state does not record either.
    fn patch_creation_options(&self, mut options: Value) -> Result<Value, MfaError> {
        let public_key = options
            .get_mut("publicKey")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| MfaError::Config("unexpected creation options shape".into()))?;
        let selection = public_key.entry("authenticatorSelection").or_insert_with(|| Value::Object(Default::default()));
        if let Some(selection) = selection.as_object_mut() {
            selection.insert("residentKey".into(), "required".into());
            selection.insert("requireResidentKey".into(), true.into());
            selection.insert("userVerification".into(), "required".into());
        }
        public_key.insert("attestation".into(), self.policy.conveyance.as_str().into());
        Ok(options)
    }

    /// Finishes a registration with the state from [`Passkeys::start_registration`] and the
    /// browser's `PublicKeyCredential` JSON (binary fields base64url). Checks origin,
    /// challenge, RP ID, user presence and verification, the attestation statement, and the
    /// attestation policy. The caller must also check that the credential ID is not registered
    /// to anyone yet, then store the result.
    pub fn finish_registration(&self, state: &Value, response: &Value) -> Result<StoredPasskey, MfaError> {
        let state: CeremonyState = from_state(state)?;
        if !matches!(state, CeremonyState::Registration { .. } | CeremonyState::AttestedRegistration { .. }) {
            return Err(MfaError::InvalidState);
        }
        let reg: RegisterPublicKeyCredential =
            serde_json::from_value(response.clone()).map_err(|e| MfaError::MalformedResponse(e.to_string()))?;
        let aaguid = aaguid_from_attestation_object(&reg.response.attestation_object);
        let (user_id, passkey, attested) = match state {
            CeremonyState::AttestedRegistration { user_id, state } => {
                let attested =
                    self.webauthn.finish_attested_passkey_registration(&reg, &state).map_err(|e| refusal(e, aaguid))?;
                (user_id, Passkey::from(attested), true)
            }
            CeremonyState::Registration { user_id, state } => {
                (user_id, self.webauthn.finish_passkey_registration(&reg, &state)?, false)
            }
            _ => return Err(MfaError::InvalidState),
        };
        if !self.policy.allowed_aaguids.is_empty() && !aaguid.is_some_and(|a| self.policy.allowed_aaguids.contains(&a))
        {
            return Err(MfaError::AuthenticatorNotAllowed { aaguid, source: None });
        }
        Ok(StoredPasskey {
            credential_id: b64::url_encode(passkey.cred_id()),
            user_id,
            passkey,
            aaguid,
            attested,
            discoverable: reg.extensions.cred_props.as_ref().and_then(|p| p.rk),
            created_at: None,
        })
    }

    /// Starts a sign-in for a known user with their passkeys. Returns the options for
    /// `navigator.credentials.get` and the state to keep.
    pub fn start_authentication(&self, passkeys: &[StoredPasskey]) -> Result<(Value, Value), MfaError> {
        if passkeys.is_empty() {
            return Err(MfaError::NoCredentials);
        }
        let creds: Vec<Passkey> = passkeys.iter().map(|p| p.passkey.clone()).collect();
        let (rcr, state) = self.webauthn.start_passkey_authentication(&creds)?;
        Ok((to_json(&rcr)?, to_json(&CeremonyState::Authentication { state })?))
    }

    /// Finishes a sign-in started by [`Passkeys::start_authentication`]. The credential must be
    /// one of those offered; the signature, challenge, origin, user verification and counter
    /// are checked. On success the caller applies [`StoredPasskey::update_credential`].
    pub fn finish_authentication(&self, state: &Value, response: &Value) -> Result<AuthOutcome, MfaError> {
        let CeremonyState::Authentication { state } = from_state(state)? else {
            return Err(MfaError::InvalidState);
        };
        let cred = parse_assertion(response)?;
        let result = self.webauthn.finish_passkey_authentication(&cred, &state)?;
        Ok(AuthOutcome::new(result, None))
    }

    /// Starts a username-less sign-in: no credentials are listed, the authenticator offers its
    /// discoverable ones. The options carry `"mediation": "conditional"` (autofill UI); a page
    /// that signs in from a button instead drops that field.
    pub fn start_discoverable_authentication(&self) -> Result<(Value, Value), MfaError> {
        let (rcr, state) = self.webauthn.start_discoverable_authentication()?;
        Ok((to_json(&rcr)?, to_json(&CeremonyState::DiscoverableAuthentication { state })?))
    }

    /// Reads who the browser says is signing in: the user handle (our user UUID) and the
    /// credential ID (base64url). Unverified until
    /// [`Passkeys::finish_discoverable_authentication`]; use it only to load that user's
    /// passkeys.
    pub fn identify_discoverable(&self, response: &Value) -> Result<(Uuid, String), MfaError> {
        let cred = parse_assertion(response)?;
        let (user_id, cred_id) = self.webauthn.identify_discoverable_authentication(&cred)?;
        Ok((user_id, b64::url_encode(cred_id)))
    }

    /// Finishes a username-less sign-in with the passkeys of the user named by the user handle.
    /// The credential used must be among them and registered to that same user.
    pub fn finish_discoverable_authentication(
        &self,
        state: &Value,
        response: &Value,
        passkeys: &[StoredPasskey],
    ) -> Result<AuthOutcome, MfaError> {
        let CeremonyState::DiscoverableAuthentication { state } = from_state(state)? else {
            return Err(MfaError::InvalidState);
        };
        let cred = parse_assertion(response)?;
        let (user_id, cred_id) = self.webauthn.identify_discoverable_authentication(&cred)?;
        let stored =
            passkeys.iter().find(|p| p.passkey.cred_id().as_slice() == cred_id).ok_or(MfaError::UnknownCredential)?;
        if stored.user_id != user_id {
            return Err(MfaError::InvalidUserHandle);
        }
        let result = self.webauthn.finish_discoverable_authentication_v2(&cred, state, &stored.passkey)?;
        Ok(AuthOutcome::new(result, Some(user_id)))
    }
}

fn build_ca_list(policy: &AttestationPolicy) -> Result<Option<AttestationCaList>, MfaError> {
    if policy.trust_anchors_pem.is_empty() {
        return Ok(None);
    }
    if policy.conveyance != Conveyance::Direct {
        return Err(MfaError::Config("trust anchors need direct attestation".into()));
    }
    let bad_anchor = |e| MfaError::Config(format!("trust anchor: {e}"));
    if policy.allowed_aaguids.is_empty() {
        // Any model the roots vouch for.
        let mut list = AttestationCaList::default();
        for pem in &policy.trust_anchors_pem {
            list.union(&AttestationCaList::try_from(pem.as_bytes()).map_err(bad_anchor)?);
        }
        Ok(Some(list))
    } else {
        // Each root vouches only for the allowed models.
        let mut builder = AttestationCaListBuilder::new();
        for pem in &policy.trust_anchors_pem {
            for aaguid in &policy.allowed_aaguids {
                builder
                    .insert_device_pem(pem.as_bytes(), *aaguid, aaguid.to_string(), BTreeMap::new())
                    .map_err(bad_anchor)?;
            }
        }
        Ok(Some(builder.build()))
    }
}

/// Attestation-trust failures are policy refusals; the rest stay ceremony failures.
fn refusal(e: WebauthnError, aaguid: Option<Uuid>) -> MfaError {
    match e {
        WebauthnError::AttestationUntrustedAaguid
        | WebauthnError::AttestationFormatMissingAaguid
        | WebauthnError::AttestationNotVerifiable
        | WebauthnError::AttestationChainNotTrusted(_)
        | WebauthnError::CredentialMayNotBeHardwareBound => {
            MfaError::AuthenticatorNotAllowed { aaguid, source: Some(e) }
        }
        other => other.into(),
    }
}

fn parse_assertion(response: &Value) -> Result<PublicKeyCredential, MfaError> {
    serde_json::from_value(response.clone()).map_err(|e| MfaError::MalformedResponse(e.to_string()))
}

fn from_state(state: &Value) -> Result<CeremonyState, MfaError> {
    serde_json::from_value(state.clone()).map_err(|_| MfaError::InvalidState)
}

fn to_json<T: Serialize>(value: &T) -> Result<Value, MfaError> {
    // Serialising webauthn-rs's own types cannot fail in practice (no non-string map keys).
    serde_json::to_value(value).map_err(|e| MfaError::Config(format!("serialise: {e}")))
}
