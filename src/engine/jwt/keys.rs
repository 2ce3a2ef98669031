//! The keys a JWT is signed and verified with, as the JOSE code needs them: the algorithm, the
//! parsed private key with its pre-encoded header, the public key. Where they come from (the
//! rotating key ring with its store) is `tokens::keys`; the engine sees them through [`Keys`].

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey};

use crate::crypto;
use crate::error::{Error, Result};

/// Where the JOSE code finds its keys: the one that signs now and the published ones by `kid`.
pub trait Keys {
    /// The key that signs now.
    fn signing_key(&self) -> Result<Arc<SigningKey>>;
    /// The verification key for a `kid`: only a lookup in memory, never a fetch.
    fn verifying_key(&self, kid: &str) -> Option<Arc<VerifyingKey>>;
}

/// Signing algorithms idbridge can issue with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlg {
    Es256,
    EdDsa,
    Rs256,
}

impl KeyAlg {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ES256" => Some(Self::Es256),
            "EdDSA" => Some(Self::EdDsa),
            "RS256" => Some(Self::Rs256),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
        }
    }

    pub fn jwt(self) -> Algorithm {
        match self {
            Self::Es256 => Algorithm::ES256,
            Self::EdDsa => Algorithm::EdDSA,
            Self::Rs256 => Algorithm::RS256,
        }
    }
}

pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    /// The parsed aws-lc-rs key, loaded once: parsing a PKCS#8 key on every signature (what
    /// `jsonwebtoken::encode` does) cost more than the signature itself.
    pub signer: Signer,
    /// The JOSE header's `{"alg":..,"kid":..,` prefix, completed per `typ` in `header_b64`.
    header_prefix: String,
    /// The base64url access-token header (`typ: at+jwt`), encoded once per key load: every
    /// access token starts with it.
    access_header_b64: String,
}

impl SigningKey {
    pub fn new(kid: String, alg: KeyAlg, signer: Signer) -> Self {
        let header_prefix = format!(
            "{{\"alg\":\"{}\",\"kid\":{},",
            alg.as_str(),
            serde_json::Value::String(kid.clone())
        );
        SigningKey {
            kid,
            alg: alg.jwt(),
            signer,
            access_header_b64: encode_header(&header_prefix, "at+jwt"),
            header_prefix,
        }
    }

    /// The base64url JOSE header of a token of this `typ`, signed by this key.
    pub fn header_b64(&self, typ: &str) -> std::borrow::Cow<'_, str> {
        if typ == "at+jwt" {
            self.access_header_b64.as_str().into()
        } else {
            encode_header(&self.header_prefix, typ).into()
        }
    }
}

/// The base64url of a JOSE header: the key's `{"alg":..,"kid":..,` prefix and `typ`.
fn encode_header(prefix: &str, typ: &str) -> String {
    let header = format!(
        "{prefix}\"typ\":{}}}",
        serde_json::Value::String(typ.into())
    );
    crypto::b64url(header.as_bytes())
}

pub enum Signer {
    Es256(aws_lc_rs::signature::EcdsaKeyPair),
    EdDsa(aws_lc_rs::signature::Ed25519KeyPair),
    Rs256(aws_lc_rs::signature::RsaKeyPair),
}

impl Signer {
    /// Parses a PKCS#8 private key once, for every signature it will make.
    pub fn load(alg: KeyAlg, pkcs8: &[u8]) -> Result<Self> {
        use aws_lc_rs::signature::{
            ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair,
        };
        let bad = |_| Error::internal("cannot load a signing key");
        Ok(match alg {
            KeyAlg::Es256 => Self::Es256(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).map_err(bad)?,
            ),
            KeyAlg::EdDsa => Self::EdDsa(Ed25519KeyPair::from_pkcs8(pkcs8).map_err(bad)?),
            KeyAlg::Rs256 => Self::Rs256(RsaKeyPair::from_pkcs8(pkcs8).map_err(bad)?),
        })
    }

    /// Signs the JWS signing input; the signature in JOSE form (ES256: r || s).
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let failed = |_| Error::internal("signing failed");
        Ok(match self {
            Self::Es256(k) => k.sign(&rng, msg).map_err(failed)?.as_ref().to_vec(),
            Self::EdDsa(k) => k.sign(msg).as_ref().to_vec(),
            Self::Rs256(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig)
                    .map_err(failed)?;
                sig
            }
        })
    }
}

pub struct VerifyingKey {
    pub alg: Algorithm,
    pub key: DecodingKey,
}
