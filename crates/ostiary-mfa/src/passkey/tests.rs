//! Full registration and sign-in ceremonies against webauthn-rs, driven by the software
//! authenticator in `soft.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use serde_json::Value;
use uuid::Uuid;
use webauthn_rs::prelude::WebauthnError;

use super::soft::{Attestation, SoftAuthenticator};
use super::*;

const RP_ID: &str = "login.contoso.test";
const ORIGIN: &str = "https://login.contoso.test";

fn rp(policy: AttestationPolicy) -> Passkeys {
    Passkeys::new(RP_ID, ORIGIN, "Contoso", policy).unwrap()
}

fn user() -> Uuid {
    Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef)
}

/// Registers one passkey and returns it with the authenticator that holds it.
fn enrolled(passkeys: &Passkeys) -> (StoredPasskey, SoftAuthenticator) {
    let mut auth = SoftAuthenticator::new(ORIGIN);
    let (options, state) = passkeys.start_registration(user(), "alice@contoso.test", "Alice", &[]).unwrap();
    let response = auth.register(&options);
    let stored = passkeys.finish_registration(&state, &response).unwrap();
    (stored, auth)
}

#[test]
fn registration_options_require_discoverable_and_uv() {
    let passkeys = rp(AttestationPolicy::default());
    let existing = vec![ostiary_crypto::b64::url_encode(b"old-credential")];
    let (options, state) = passkeys.start_registration(user(), "alice@contoso.test", "Alice", &existing).unwrap();
    let pk = &options["publicKey"];
    assert_eq!(pk["rp"]["id"], RP_ID);
    assert_eq!(pk["rp"]["name"], "Contoso");
    assert_eq!(pk["user"]["name"], "alice@contoso.test");
    assert_eq!(pk["user"]["displayName"], "Alice");
    assert_eq!(ostiary_crypto::b64::url_decode(pk["user"]["id"].as_str().unwrap()).unwrap(), user().as_bytes());
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(pk["authenticatorSelection"]["requireResidentKey"], true);
    assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");
    assert_eq!(pk["attestation"], "none");
    assert_eq!(pk["excludeCredentials"][0]["id"], existing[0].as_str());
    assert!(pk["challenge"].as_str().unwrap().len() >= 43, "at least 256-bit challenge");
    assert_eq!(state["ceremony"], "registration");

    let direct = rp(AttestationPolicy { conveyance: Conveyance::Direct, ..Default::default() });
    let (options, _) = direct.start_registration(user(), "a", "A", &[]).unwrap();
    assert_eq!(options["publicKey"]["attestation"], "direct");
    assert!(matches!(
        passkeys.start_registration(user(), "a", "A", &["not base64!".into()]),
        Err(MfaError::InvalidCredentialId)
    ));
}

#[test]
fn register_then_sign_in() {
    let passkeys = rp(AttestationPolicy::default());
    let (stored, mut auth) = enrolled(&passkeys);
    assert_eq!(stored.user_id, user());
    assert_eq!(stored.credential_id, ostiary_crypto::b64::url_encode(&auth.credentials[0].id));
    assert_eq!(stored.aaguid, Some(Uuid::from_bytes([0x5a; 16])));
    assert!(!stored.attested);
    assert_eq!(stored.discoverable, Some(true));
    // The record round-trips through JSON (what the caller stores).
    let json = serde_json::to_value(&stored).unwrap();
    let mut stored: StoredPasskey = serde_json::from_value(json).unwrap();
    stored.created_at = Some(1_700_000_000);

    for expected_counter in 1..=3u32 {
        let (options, state) = passkeys.start_authentication(std::slice::from_ref(&stored)).unwrap();
        assert_eq!(options["publicKey"]["userVerification"], "required");
        assert_eq!(options["publicKey"]["allowCredentials"][0]["id"], stored.credential_id.as_str());
        let response = auth.authenticate(&options);
        let outcome = passkeys.finish_authentication(&state, &response).unwrap();
        assert_eq!(outcome.credential_id, stored.credential_id);
        assert!(outcome.user_verified);
        assert_eq!(outcome.counter, expected_counter);
        assert!(outcome.needs_update);
        assert!(!outcome.backup_state);
        // The caller writes the new counter back; the outcome itself round-trips as JSON too.
        let outcome: AuthOutcome = serde_json::from_value(serde_json::to_value(&outcome).unwrap()).unwrap();
        assert!(stored.update_credential(&outcome));
    }
}

#[test]
fn wrong_origin_is_refused() {
    let passkeys = rp(AttestationPolicy::default());
    // Registration from a phishing origin.
    let mut evil = SoftAuthenticator::new("https://login.contoso.test.evil.example");
    let (options, state) = passkeys.start_registration(user(), "a", "A", &[]).unwrap();
    let response = evil.register(&options);
    assert!(matches!(
        passkeys.finish_registration(&state, &response),
        Err(MfaError::Ceremony(WebauthnError::InvalidRPOrigin))
    ));
    // Sign-in relayed through a phishing origin.
    let (stored, mut auth) = enrolled(&passkeys);
    auth.origin = "https://evil.example".into();
    let (options, state) = passkeys.start_authentication(&[stored]).unwrap();
    let response = auth.authenticate(&options);
    assert!(matches!(
        passkeys.finish_authentication(&state, &response),
        Err(MfaError::Ceremony(WebauthnError::InvalidRPOrigin))
    ));
}

#[test]
fn state_from_another_ceremony_is_refused() {
    let passkeys = rp(AttestationPolicy::default());
    let mut auth = SoftAuthenticator::new(ORIGIN);
    let (options, _state) = passkeys.start_registration(user(), "a", "A", &[]).unwrap();
    let (_, other_state) = passkeys.start_registration(user(), "a", "A", &[]).unwrap();
    let response = auth.register(&options);
    assert!(matches!(
        passkeys.finish_registration(&other_state, &response),
        Err(MfaError::Ceremony(WebauthnError::MismatchedChallenge))
    ));

    let (stored, mut auth) = enrolled(&passkeys);
    let (options, _state) = passkeys.start_authentication(std::slice::from_ref(&stored)).unwrap();
    let (_, other_state) = passkeys.start_authentication(std::slice::from_ref(&stored)).unwrap();
    let response = auth.authenticate(&options);
    assert!(matches!(
        passkeys.finish_authentication(&other_state, &response),
        Err(MfaError::Ceremony(WebauthnError::MismatchedChallenge))
    ));

    // A registration state can't finish a sign-in and vice versa; nor can junk.
    let (_, reg_state) = passkeys.start_registration(user(), "a", "A", &[]).unwrap();
    let (_, disc_state) = passkeys.start_discoverable_authentication().unwrap();
    assert!(matches!(passkeys.finish_authentication(&reg_state, &response), Err(MfaError::InvalidState)));
    assert!(matches!(passkeys.finish_authentication(&disc_state, &response), Err(MfaError::InvalidState)));
    assert!(matches!(
        passkeys.finish_discoverable_authentication(&reg_state, &response, std::slice::from_ref(&stored)),
        Err(MfaError::InvalidState)
    ));
    let (_, auth_state) = passkeys.start_authentication(std::slice::from_ref(&stored)).unwrap();
    assert!(matches!(passkeys.finish_registration(&auth_state, &response), Err(MfaError::InvalidState)));
    assert!(matches!(passkeys.finish_authentication(&Value::Null, &response), Err(MfaError::InvalidState)));
}

#[test]
fn tampered_signature_is_refused() {
    let passkeys = rp(AttestationPolicy::default());
    let (stored, mut auth) = enrolled(&passkeys);
    let (options, state) = passkeys.start_authentication(std::slice::from_ref(&stored)).unwrap();
    let response = auth.authenticate(&options);

    let flip = |field: &str| {
        let mut r = response.clone();
        let mut bytes = ostiary_crypto::b64::url_decode(r["response"][field].as_str().unwrap()).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        r["response"][field] = ostiary_crypto::b64::url_encode(&bytes).into();
        r
    };
    for field in ["signature", "authenticatorData"] {
        let err = passkeys.finish_authentication(&state, &flip(field)).unwrap_err();
        assert!(matches!(err, MfaError::Ceremony(_)), "{field}: {err:?}");
    }
    // A signature by another key (a second credential) over the same data.
    let passkeys2 = rp(AttestationPolicy::default());
    let (_, other) = enrolled(&passkeys2);
    let mut forged = other.assert_with(0, options["publicKey"]["challenge"].as_str().unwrap());
    forged["id"] = response["id"].clone();
    forged["rawId"] = response["rawId"].clone();
    assert!(matches!(passkeys.finish_authentication(&state, &forged), Err(MfaError::Ceremony(_))));
    // The untouched response still verifies.
    assert!(passkeys.finish_authentication(&state, &response).is_ok());
}

#[test]
fn counter_regression_is_refused() {
    let passkeys = rp(AttestationPolicy::default());
    let (mut stored, mut auth) = enrolled(&passkeys);
    for _ in 0..3 {
        let (options, state) = passkeys.start_authentication(std::slice::from_ref(&stored)).unwrap();
        let outcome = passkeys.finish_authentication(&state, &auth.authenticate(&options)).unwrap();
        stored.update_credential(&outcome);
    }
    assert_eq!(auth.credentials[0].counter, 3);
    // A clone that is behind (counter 2 <= stored 3): webauthn-rs refuses the sign-in.
    let (options, state) = passkeys.start_authentication(std::slice::from_ref(&stored)).unwrap();
    auth.credentials[0].counter = 2;
    let response = auth.assert_with(0, options["publicKey"]["challenge"].as_str().unwrap());
    assert!(matches!(passkeys.finish_authentication(&state, &response), Err(MfaError::PossibleClonedAuthenticator)));
    // An equal counter is refused too.
    auth.credentials[0].counter = 3;
    let response = auth.assert_with(0, options["publicKey"]["challenge"].as_str().unwrap());
    assert!(matches!(passkeys.finish_authentication(&state, &response), Err(MfaError::PossibleClonedAuthenticator)));

    // Synced passkeys report 0 forever: accepted, nothing to update.
    let (mut synced, mut phone) = {
        let mut auth = SoftAuthenticator::new(ORIGIN);
        auth.counter_step = 0;
        auth.backup = true;
        let (options, state) = passkeys.start_registration(user(), "a", "A", &[]).unwrap();
        let response = auth.register(&options);
        (passkeys.finish_registration(&state, &response).unwrap(), auth)
    };
    for _ in 0..2 {
        let (options, state) = passkeys.start_authentication(std::slice::from_ref(&synced)).unwrap();
        let outcome = passkeys.finish_authentication(&state, &phone.authenticate(&options)).unwrap();
        assert_eq!(outcome.counter, 0);
        assert!(outcome.backup_eligible && outcome.backup_state);
        assert!(!outcome.needs_update);
        assert!(!synced.update_credential(&outcome));
    }
}

#[test]
fn user_verification_is_required() {
    let passkeys = rp(AttestationPolicy::default());
    let mut auth = SoftAuthenticator::new(ORIGIN);
    auth.user_verified = false;
    let (options, state) = passkeys.start_registration(user(), "a", "A", &[]).unwrap();
    let response = auth.register(&options);
    assert!(matches!(
        passkeys.finish_registration(&state, &response),
        Err(MfaError::Ceremony(WebauthnError::UserNotVerified))
    ));

    let (stored, mut auth) = enrolled(&passkeys);
    auth.user_verified = false;
    let (options, state) = passkeys.start_authentication(&[stored]).unwrap();
    assert!(matches!(
        passkeys.finish_authentication(&state, &auth.authenticate(&options)),
        Err(MfaError::Ceremony(WebauthnError::UserNotVerified))
    ));
}

#[test]
fn discoverable_sign_in_resolves_the_user() {
    let passkeys = rp(AttestationPolicy::default());
    let (alice, mut auth) = enrolled(&passkeys);
    let (options, state) = passkeys.start_discoverable_authentication().unwrap();
    assert_eq!(options["mediation"], "conditional");
    assert!(options["publicKey"]["allowCredentials"].as_array().is_none_or(|a| a.is_empty()));
    let response = auth.authenticate(&options);

    let (user_id, credential_id) = passkeys.identify_discoverable(&response).unwrap();
    assert_eq!(user_id, user());
    assert_eq!(credential_id, alice.credential_id);

    // The credential must belong to the user in the handle and be among the passkeys given.
    let mallory_uuid = Uuid::from_u128(7);
    let mut claimed = alice.clone();
    claimed.user_id = mallory_uuid;
    assert!(matches!(
        passkeys.finish_discoverable_authentication(&state, &response, &[claimed]),
        Err(MfaError::InvalidUserHandle)
    ));
    assert!(matches!(
        passkeys.finish_discoverable_authentication(&state, &response, &[]),
        Err(MfaError::UnknownCredential)
    ));

    let outcome = passkeys.finish_discoverable_authentication(&state, &response, std::slice::from_ref(&alice)).unwrap();
    assert_eq!(outcome.user_id, Some(user()));
    assert_eq!(outcome.credential_id, alice.credential_id);
    assert!(outcome.user_verified);

    // A response whose user handle was swapped for another user's fails identification or the
    // ownership check, and never verifies.
    let mut swapped = response.clone();
    swapped["response"]["userHandle"] = ostiary_crypto::b64::url_encode(mallory_uuid.as_bytes()).into();
    assert_eq!(passkeys.identify_discoverable(&swapped).unwrap().0, mallory_uuid);
    assert!(matches!(
        passkeys.finish_discoverable_authentication(&state, &swapped, std::slice::from_ref(&alice)),
        Err(MfaError::InvalidUserHandle)
    ));
    // No user handle at all.
    let mut anonymous = response.clone();
    anonymous["response"]["userHandle"] = Value::Null;
    assert!(matches!(passkeys.identify_discoverable(&anonymous), Err(MfaError::InvalidUserHandle)));
    let mut short = response;
    short["response"]["userHandle"] = ostiary_crypto::b64::url_encode(b"alice").into();
    assert!(matches!(passkeys.identify_discoverable(&short), Err(MfaError::InvalidUserHandle)));
}

#[test]
fn aaguid_allow_list_without_anchors() {
    let allowed = Uuid::from_bytes([0x5a; 16]);
    for conveyance in [Conveyance::None, Conveyance::Indirect, Conveyance::Direct] {
        let passkeys = rp(AttestationPolicy { conveyance, allowed_aaguids: vec![allowed], trust_anchors_pem: vec![] });
        let (stored, _) = enrolled(&passkeys);
        assert_eq!(stored.aaguid, Some(allowed));

        let mut other = SoftAuthenticator::new(ORIGIN);
        other.aaguid = [0x77; 16];
        other.attestation = Attestation::SelfPacked;
        let (options, state) = passkeys.start_registration(user(), "a", "A", &[]).unwrap();
        let response = other.register(&options);
        let err = passkeys.finish_registration(&state, &response).unwrap_err();
        assert!(
            matches!(err, MfaError::AuthenticatorNotAllowed { aaguid: Some(a), .. } if a == Uuid::from_bytes([0x77; 16])),
            "{conveyance:?}: {err:?}"
        );

        // Nil AAGUID (anonymised `none` attestation) is not on any list.
        let mut anon = SoftAuthenticator::new(ORIGIN);
        anon.aaguid = [0; 16];
        let (options, state) = passkeys.start_registration(user(), "a", "A", &[]).unwrap();
        let response = anon.register(&options);
        assert!(matches!(
            passkeys.finish_registration(&state, &response),
            Err(MfaError::AuthenticatorNotAllowed { aaguid: None, .. })
        ));
    }
}

/// A manufacturer root and an attestation certificate for `aaguid` signed by it.
struct Vendor {
    root_pem: String,
    attestation_key: Vec<u8>,
    attestation_cert: Vec<u8>,
}

fn vendor(name: &str, aaguid: [u8; 16]) -> Vendor {
    use rcgen::{
        BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
        KeyUsagePurpose,
    };
    let root_key = KeyPair::generate().unwrap();
    let mut root = CertificateParams::default();
    root.distinguished_name = DistinguishedName::new();
    root.distinguished_name.push(DnType::CommonName, format!("{name} Attestation Root"));
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let root_cert = root.self_signed(&root_key).unwrap();

    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name = DistinguishedName::new();
    leaf.distinguished_name.push(DnType::CountryName, "SE");
    leaf.distinguished_name.push(DnType::OrganizationName, name);
    leaf.distinguished_name.push(DnType::OrganizationalUnitName, "Authenticator Attestation");
    leaf.distinguished_name.push(DnType::CommonName, format!("{name} Batch 1"));
    leaf.is_ca = IsCa::ExplicitNoCa;
    // id-fido-gen-ce-aaguid: OCTET STRING of the 16-byte AAGUID.
    let mut content = vec![0x04, 0x10];
    content.extend_from_slice(&aaguid);
    leaf.custom_extensions = vec![CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 45724, 1, 1, 4], content)];
    let issuer = Issuer::from_params(&root, &root_key);
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    Vendor {
        root_pem: root_cert.pem(),
        attestation_key: leaf_key.serialize_der(),
        attestation_cert: leaf_cert.der().to_vec(),
    }
}

fn certified(vendor: &Vendor, aaguid: [u8; 16]) -> SoftAuthenticator {
    let mut auth = SoftAuthenticator::new(ORIGIN);
    auth.aaguid = aaguid;
    auth.attestation = Attestation::Certified {
        key: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &vendor.attestation_key).unwrap(),
        cert_der: vendor.attestation_cert.clone(),
    };
    auth
}

#[test]
fn direct_attestation_with_trust_anchors() {
    let good_model = [0x11; 16];
    let other_model = [0x22; 16];
    let acme = vendor("Acme", good_model);
    let acme_other_model = vendor("Acme Mini", other_model);
    let rogue = vendor("Rogue", good_model);
    let policy = |anchors: Vec<String>, allowed: Vec<Uuid>| AttestationPolicy {
        conveyance: Conveyance::Direct,
        allowed_aaguids: allowed,
        trust_anchors_pem: anchors,
    };
    let register = |passkeys: &Passkeys, auth: &mut SoftAuthenticator| {
        let (options, state) = passkeys.start_registration(user(), "a", "A", &[]).unwrap();
        assert_eq!(options["publicKey"]["attestation"], "direct");
        assert_eq!(options["publicKey"]["authenticatorSelection"]["residentKey"], "required");
        passkeys.finish_registration(&state, &auth.register(&options))
    };

    // Allowed model, chained to the trusted root: accepted and marked attested.
    let passkeys = rp(policy(vec![acme.root_pem.clone()], vec![Uuid::from_bytes(good_model)]));
    let mut auth = certified(&acme, good_model);
    let stored = register(&passkeys, &mut auth).unwrap();
    assert!(stored.attested);
    assert_eq!(stored.aaguid, Some(Uuid::from_bytes(good_model)));
    // ... and it signs in like any passkey.
    let (options, state) = passkeys.start_authentication(std::slice::from_ref(&stored)).unwrap();
    assert!(passkeys.finish_authentication(&state, &auth.authenticate(&options)).is_ok());

    // Same root, model not on the list.
    let err = register(&passkeys, &mut certified(&acme_other_model, other_model)).unwrap_err();
    assert!(matches!(err, MfaError::AuthenticatorNotAllowed { aaguid: Some(_), source: Some(_) }), "{err:?}");
    // Right AAGUID claimed, but the attestation chains to an untrusted root.
    let err = register(&passkeys, &mut certified(&rogue, good_model)).unwrap_err();
    assert!(matches!(err, MfaError::AuthenticatorNotAllowed { source: Some(_), .. }), "{err:?}");
    // No attestation at all, or self attestation: nothing vouches for the AAGUID.
    for attestation in [Attestation::None, Attestation::SelfPacked] {
        let mut plain = SoftAuthenticator::new(ORIGIN);
        plain.aaguid = good_model;
        plain.attestation = attestation;
        let err = register(&passkeys, &mut plain).unwrap_err();
        assert!(matches!(err, MfaError::AuthenticatorNotAllowed { .. }), "{err:?}");
    }
    // Synced passkeys can't be hardware-attested.
    let mut synced = certified(&acme, good_model);
    synced.backup = true;
    assert!(matches!(register(&passkeys, &mut synced), Err(MfaError::AuthenticatorNotAllowed { .. })));

    // Anchors without an allow-list: any model the root vouches for.
    let passkeys = rp(policy(vec![acme.root_pem.clone(), acme_other_model.root_pem.clone()], vec![]));
    assert!(register(&passkeys, &mut certified(&acme, good_model)).unwrap().attested);
    assert!(register(&passkeys, &mut certified(&acme_other_model, other_model)).is_ok());
    assert!(register(&passkeys, &mut certified(&rogue, good_model)).is_err());
}

#[test]
fn configuration_is_validated() {
    let ok = |id: &str, origin: &str| Passkeys::new(id, origin, "X", AttestationPolicy::default()).is_ok();
    assert!(ok("login.contoso.test", "https://login.contoso.test"));
    assert!(ok("contoso.test", "https://login.contoso.test"));
    assert!(ok("login.contoso.test", "https://login.contoso.test:8443"));
    assert!(ok("localhost", "http://localhost:8080"));
    assert!(!ok("login.contoso.test", "http://login.contoso.test"));
    assert!(!ok("other.test", "https://login.contoso.test"));
    assert!(!ok("login.contoso.test", "https://login.contoso.test/path"));
    assert!(!ok("login.contoso.test", "not a url"));
    let anchors_without_direct = AttestationPolicy {
        conveyance: Conveyance::Indirect,
        trust_anchors_pem: vec![vendor("Acme", [1; 16]).root_pem],
        ..Default::default()
    };
    assert!(matches!(Passkeys::new(RP_ID, ORIGIN, "X", anchors_without_direct), Err(MfaError::Config(_))));
    let bad_pem = AttestationPolicy {
        conveyance: Conveyance::Direct,
        trust_anchors_pem: vec!["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into()],
        ..Default::default()
    };
    assert!(matches!(Passkeys::new(RP_ID, ORIGIN, "X", bad_pem), Err(MfaError::Config(_))));
    let passkeys = rp(AttestationPolicy::default());
    assert!(matches!(passkeys.start_authentication(&[]), Err(MfaError::NoCredentials)));
    let json = serde_json::to_value(AttestationPolicy::default()).unwrap();
    assert_eq!(json, serde_json::json!({"conveyance": "none", "allowed_aaguids": [], "trust_anchors_pem": []}));
}

/// Hostile responses and states through every `finish_*` and `identify_*`: never a panic,
/// always an error.
#[test]
fn hostile_responses_never_panic() {
    let passkeys = rp(AttestationPolicy::default());
    let (stored, mut auth) = enrolled(&passkeys);
    let (reg_options, reg_state) = passkeys.start_registration(user(), "a", "A", &[]).unwrap();
    let good_reg = SoftAuthenticator::new(ORIGIN).register(&reg_options);
    let (auth_options, auth_state) = passkeys.start_authentication(std::slice::from_ref(&stored)).unwrap();
    let good_auth = auth.authenticate(&auth_options);
    let (disc_options, disc_state) = passkeys.start_discoverable_authentication().unwrap();
    let good_disc = auth.authenticate(&disc_options);

    let mut rng = crate::fuzz::Rng::new(0x5eed_cafe);
    for round in 0..3000 {
        let reg = rng.mutate_json(&good_reg, round);
        let asr = rng.mutate_json(&good_auth, round);
        let disc = rng.mutate_json(&good_disc, round);
        let state = if round % 7 == 0 { rng.mutate_json(&auth_state, round) } else { auth_state.clone() };
        let _ = passkeys.finish_registration(&reg_state, &reg);
        let _ = passkeys.finish_authentication(&state, &asr);
        let _ = passkeys.identify_discoverable(&disc);
        let _ = passkeys.finish_discoverable_authentication(&disc_state, &disc, std::slice::from_ref(&stored));
        if round % 11 == 0 {
            let junk_state = rng.mutate_json(&reg_state, round);
            let _ = passkeys.finish_registration(&junk_state, &good_reg);
        }
    }
    // Totally foreign JSON.
    for junk in
        [Value::Null, serde_json::json!(1), serde_json::json!("x"), serde_json::json!([]), serde_json::json!({})]
    {
        assert!(passkeys.finish_registration(&reg_state, &junk).is_err());
        assert!(passkeys.finish_authentication(&auth_state, &junk).is_err());
        assert!(passkeys.identify_discoverable(&junk).is_err());
        assert!(passkeys.finish_discoverable_authentication(&disc_state, &junk, &[]).is_err());
        assert!(passkeys.finish_registration(&junk, &good_reg).is_err());
    }
}
