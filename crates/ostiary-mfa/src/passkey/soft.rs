//! A minimal software authenticator plus browser for tests: ES256 keys (aws-lc-rs),
//! discoverable credentials with user handles, `none` / self `packed` / certified `packed`
//! attestation, and knobs for the AAGUID, flags and signature counter.
//!
//! webauthn-authenticator-rs's SoftPasskey was the first choice, but it refuses resident keys
//! (which our options require), never returns a user handle, and fixes the AAGUID to zero and
//! the counter to "+1", so it could test neither discoverable sign-in, nor the AAGUID policy,
//! nor counter regression.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use ostiary_crypto::b64;
use ostiary_crypto::digest::sha256;
use serde_json::{Value, json};

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const BE: u8 = 0x08;
const BS: u8 = 0x10;
const AT: u8 = 0x40;

/// Just enough CBOR to build attestation objects and COSE keys.
pub enum Cbor {
    Int(i64),
    Bytes(Vec<u8>),
    Text(&'static str),
    Array(Vec<Cbor>),
    Map(Vec<(Cbor, Cbor)>),
}

impl Cbor {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    fn head(out: &mut Vec<u8>, major: u8, n: u64) {
        let m = major << 5;
        match n {
            0..=23 => out.push(m | n as u8),
            24..=0xff => out.extend_from_slice(&[m | 24, n as u8]),
            0x100..=0xffff => {
                out.push(m | 25);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            _ => {
                out.push(m | 26);
                out.extend_from_slice(&(n as u32).to_be_bytes());
            }
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Cbor::Int(i) if *i >= 0 => Self::head(out, 0, *i as u64),
            Cbor::Int(i) => Self::head(out, 1, (-1 - *i) as u64),
            Cbor::Bytes(b) => {
                Self::head(out, 2, b.len() as u64);
                out.extend_from_slice(b);
            }
            Cbor::Text(t) => {
                Self::head(out, 3, t.len() as u64);
                out.extend_from_slice(t.as_bytes());
            }
            Cbor::Array(items) => {
                Self::head(out, 4, items.len() as u64);
                items.iter().for_each(|i| i.write(out));
            }
            Cbor::Map(entries) => {
                Self::head(out, 5, entries.len() as u64);
                for (k, v) in entries {
                    k.write(out);
                    v.write(out);
                }
            }
        }
    }
}

/// How the registration is attested.
pub enum Attestation {
    /// `fmt: none`.
    None,
    /// `packed` signed by the credential key itself.
    SelfPacked,
    /// `packed` with an attestation certificate (`x5c`) and its key.
    Certified { key: EcdsaKeyPair, cert_der: Vec<u8> },
}

pub struct SoftCredential {
    pub id: Vec<u8>,
    key: EcdsaKeyPair,
    pub user_handle: Vec<u8>,
    rp_id: String,
    pub counter: u32,
}

pub struct SoftAuthenticator {
    /// The origin the "browser" puts into clientDataJSON.
    pub origin: String,
    pub aaguid: [u8; 16],
    /// Whether the UV flag is set (a PIN or biometric was checked).
    pub user_verified: bool,
    /// Synced-passkey flags.
    pub backup: bool,
    /// Added to the counter on every assertion (0 = no counter, like synced passkeys).
    pub counter_step: u32,
    pub attestation: Attestation,
    pub credentials: Vec<SoftCredential>,
    rng: SystemRandom,
}

fn str_field<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str().unwrap_or_else(|| panic!("missing {path:?} in {v}"))
}

impl SoftAuthenticator {
    pub fn new(origin: &str) -> Self {
        Self {
            origin: origin.to_string(),
            aaguid: [0x5a; 16],
            user_verified: true,
            backup: false,
            counter_step: 1,
            attestation: Attestation::None,
            credentials: Vec::new(),
            rng: SystemRandom::new(),
        }
    }

    fn flags(&self) -> u8 {
        let mut f = UP;
        if self.user_verified {
            f |= UV;
        }
        if self.backup {
            f |= BE | BS;
        }
        f
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        json!({"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": false})
            .to_string()
            .into_bytes()
    }

    fn sign(&self, key: &EcdsaKeyPair, data: &[u8], client_data: &[u8]) -> Vec<u8> {
        let mut msg = data.to_vec();
        msg.extend_from_slice(&sha256(client_data));
        key.sign(&self.rng, &msg).unwrap().as_ref().to_vec()
    }

    /// `navigator.credentials.create(options)`, JSON in and out.
    pub fn register(&mut self, options: &Value) -> Value {
        let pk = &options["publicKey"];
        let challenge = str_field(pk, &["challenge"]);
        let rp_id = str_field(pk, &["rp", "id"]).to_string();
        let user_handle = b64::url_decode(str_field(pk, &["user", "id"])).unwrap();
        let client_data = self.client_data("webauthn.create", challenge);

        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
        let point = key.public_key().as_ref().to_vec();
        assert_eq!(point.len(), 65);
        let cose_key = Cbor::Map(vec![
            (Cbor::Int(1), Cbor::Int(2)),
            (Cbor::Int(3), Cbor::Int(-7)),
            (Cbor::Int(-1), Cbor::Int(1)),
            (Cbor::Int(-2), Cbor::Bytes(point[1..33].to_vec())),
            (Cbor::Int(-3), Cbor::Bytes(point[33..].to_vec())),
        ]);
        let mut id = vec![0u8; 32];
        aws_lc_rs::rand::fill(&mut id).unwrap();

        let mut auth_data = sha256(rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags() | AT);
        auth_data.extend_from_slice(&0u32.to_be_bytes());
        auth_data.extend_from_slice(&self.aaguid);
        auth_data.extend_from_slice(&(id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&id);
        auth_data.extend_from_slice(&cose_key.encode());

        let (fmt, stmt) = match &self.attestation {
            Attestation::None => ("none", Cbor::Map(vec![])),
            Attestation::SelfPacked => (
                "packed",
                Cbor::Map(vec![
                    (Cbor::Text("alg"), Cbor::Int(-7)),
                    (Cbor::Text("sig"), Cbor::Bytes(self.sign(&key, &auth_data, &client_data))),
                ]),
            ),
            Attestation::Certified { key: att_key, cert_der } => (
                "packed",
                Cbor::Map(vec![
                    (Cbor::Text("alg"), Cbor::Int(-7)),
                    (Cbor::Text("sig"), Cbor::Bytes(self.sign(att_key, &auth_data, &client_data))),
                    (Cbor::Text("x5c"), Cbor::Array(vec![Cbor::Bytes(cert_der.clone())])),
                ]),
            ),
        };
        let object = Cbor::Map(vec![
            (Cbor::Text("fmt"), Cbor::Text(fmt)),
            (Cbor::Text("attStmt"), stmt),
            (Cbor::Text("authData"), Cbor::Bytes(auth_data)),
        ]);
        self.credentials.push(SoftCredential { id: id.clone(), key, user_handle, rp_id, counter: 0 });
        json!({
            "id": b64::url_encode(&id),
            "rawId": b64::url_encode(&id),
            "type": "public-key",
            "response": {
                "attestationObject": b64::url_encode(&object.encode()),
                "clientDataJSON": b64::url_encode(&client_data),
                "transports": ["internal"],
            },
            "clientExtensionResults": {"credProps": {"rk": true}},
        })
    }

    /// `navigator.credentials.get(options)`: the first of our credentials for the RP that the
    /// options allow (any of them when `allowCredentials` is empty: discoverable sign-in).
    pub fn authenticate(&mut self, options: &Value) -> Value {
        let pk = &options["publicKey"];
        let challenge = str_field(pk, &["challenge"]).to_string();
        let rp_id = str_field(pk, &["rpId"]).to_string();
        let allowed: Vec<Vec<u8>> = pk["allowCredentials"]
            .as_array()
            .map(|a| a.iter().map(|c| b64::url_decode(c["id"].as_str().unwrap()).unwrap()).collect())
            .unwrap_or_default();
        let index = self
            .credentials
            .iter()
            .position(|c| c.rp_id == rp_id && (allowed.is_empty() || allowed.contains(&c.id)))
            .expect("no matching credential");
        self.credentials[index].counter += self.counter_step;
        self.assert_with(index, &challenge)
    }

    /// Signs an assertion with credential `index` without touching its counter.
    pub fn assert_with(&self, index: usize, challenge: &str) -> Value {
        let cred = &self.credentials[index];
        let client_data = self.client_data("webauthn.get", challenge);
        let mut auth_data = sha256(cred.rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags());
        auth_data.extend_from_slice(&cred.counter.to_be_bytes());
        let signature = self.sign(&cred.key, &auth_data, &client_data);
        json!({
            "id": b64::url_encode(&cred.id),
            "rawId": b64::url_encode(&cred.id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64::url_encode(&auth_data),
                "clientDataJSON": b64::url_encode(&client_data),
                "signature": b64::url_encode(&signature),
                "userHandle": b64::url_encode(&cred.user_handle),
            },
            "clientExtensionResults": {},
        })
    }
}
