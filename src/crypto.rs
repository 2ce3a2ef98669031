//! Small crypto helpers on aws-lc-rs (already in the tree through jsonwebtoken): random
//! tokens, SHA-256 for tokens at rest, AES-256-GCM for secrets at rest, constant-time compares.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::error::{Error, Result};

/// Fills a fresh array with random bytes from the system CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // SystemRandom only fails when the OS has no randomness at all; nothing is safe then.
    if SystemRandom::new().fill(&mut buf).is_err() {
        panic!("the operating system's random number generator failed");
    }
    buf
}

/// A 256-bit random token, base64url, with a readable prefix (`idb_...`, `scim_...`).
pub fn new_token(prefix: &str) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// SHA-256 of a token, hex: what the database keeps instead of the token.
pub fn token_hash(token: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    hex(digest.as_ref())
}

pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0xf) as usize] as char);
    }
    out
}

/// Constant-time equality for secrets.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The instance master key: encrypts private signing keys and connection secrets.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    pub fn generate() -> Self {
        Self(random_bytes::<32>())
    }

    /// Parses the base64 form kept in config or `master.key`.
    pub fn from_base64(s: &str) -> Result<Self> {
        let bytes = STANDARD
            .decode(s.trim())
            .or_else(|_| URL_SAFE_NO_PAD.decode(s.trim()))
            .map_err(|_| Error::internal("the master key is not valid base64"))?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| {
            Error::internal("the master key must be 32 bytes (base64 of 32 random bytes)")
        })?;
        Ok(Self(arr))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    fn key(&self) -> Result<LessSafeKey> {
        UnboundKey::new(&AES_256_GCM, &self.0)
            .map(LessSafeKey::new)
            .map_err(|_| Error::internal("aes key"))
    }

    /// A secret derived for one purpose (HMAC-SHA256 of `context` under the master key): the same
    /// on every replica that shares the master key, and nothing to store.
    pub fn derive(&self, context: &str) -> [u8; 32] {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &self.0);
        let tag = aws_lc_rs::hmac::sign(&key, context.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Encrypts `plain`, binding it to `context` (a purpose label, e.g. `signing_key:<kid>`).
    /// Output: base64(nonce || ciphertext || tag).
    pub fn seal(&self, context: &str, plain: &[u8]) -> Result<String> {
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let mut buf = plain.to_vec();
        self.key()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| Error::internal("encryption failed"))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        Ok(STANDARD.encode(out))
    }

    /// Decrypts what [`MasterKey::seal`] produced under the same context.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>> {
        let data = STANDARD
            .decode(sealed)
            .map_err(|_| Error::internal("sealed value is not base64"))?;
        if data.len() < NONCE_LEN + 16 {
            return Err(Error::internal("sealed value is too short"));
        }
        let (nonce, rest) = data.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::internal("nonce"))?;
        let mut buf = rest.to_vec();
        let plain = self
            .key()?
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| {
                Error::internal("cannot decrypt a stored secret: is this the master key the data was written with?")
            })?;
        Ok(plain.to_vec())
    }
}

/// A freshly generated P-256 key: PKCS#8 DER for signing and the public point for JWKS.
pub struct EcKey {
    pub pkcs8_der: Vec<u8>,
    pub x: String,
    pub y: String,
}

pub fn generate_es256() -> Result<EcKey> {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    let rng = SystemRandom::new();
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| Error::internal("cannot generate an EC key"))?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
        .map_err(|_| Error::internal("cannot load the EC key"))?;
    ec_public_xy(pair.public_key().as_ref()).map(|(x, y)| EcKey {
        pkcs8_der: doc.as_ref().to_vec(),
        x,
        y,
    })
}

/// A freshly generated Ed25519 key: PKCS#8 DER for signing and the public key (base64url) for JWKS.
pub struct EdKey {
    pub pkcs8_der: Vec<u8>,
    pub x: String,
}

pub fn generate_ed25519() -> Result<EdKey> {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|_| Error::internal("cannot generate an Ed25519 key"))?;
    let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref())
        .map_err(|_| Error::internal("cannot load the Ed25519 key"))?;
    Ok(EdKey {
        pkcs8_der: doc.as_ref().to_vec(),
        x: b64url(pair.public_key().as_ref()),
    })
}

/// A unique token id (`jti`) without a system call: 96 random bits drawn once per process,
/// then a counter. Unique across replicas and restarts; not a secret.
pub fn unique_id() -> String {
    let mut out = String::with_capacity(40);
    push_unique_id(&mut out);
    out
}

/// Appends a `unique_id` to `out` (40 hex digits), for callers that build a token in one buffer.
pub fn push_unique_id(out: &mut String) {
    use std::fmt::Write;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    out.push_str(PREFIX.get_or_init(|| hex(&random_bytes::<12>())));
    let _ = write!(out, "{:016x}", NEXT.fetch_add(1, Ordering::Relaxed));
}

/// A freshly generated RSA-2048 key: PKCS#8 DER for storage, and the public modulus and exponent
/// (base64url) for JWKS. Signing goes through aws-lc-rs (constant time), never a pure-Rust RSA.
pub struct RsaKey {
    pub pkcs8_der: Vec<u8>,
    pub n: String,
    pub e: String,
}

pub fn generate_rs256() -> Result<RsaKey> {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::KeyPair as _;
    let pair = KeyPair::generate(KeySize::Rsa2048)
        .map_err(|_| Error::internal("cannot generate an RSA key"))?;
    let der = pair
        .as_der()
        .map_err(|_| Error::internal("cannot encode the RSA key"))?;
    let public = pair.public_key();
    Ok(RsaKey {
        pkcs8_der: der.as_ref().to_vec(),
        n: b64url(public.modulus().big_endian_without_leading_zero()),
        e: b64url(public.exponent().big_endian_without_leading_zero()),
    })
}

/// Splits an uncompressed P-256 point (0x04 || x || y) into base64url x and y.
pub fn ec_public_xy(point: &[u8]) -> Result<(String, String)> {
    if point.len() != 65 || point[0] != 4 {
        return Err(Error::internal("unexpected EC public key encoding"));
    }
    Ok((b64url(&point[1..33]), b64url(&point[33..65])))
}

/// reqwest and lettre are built without a bundled TLS crypto provider: installs aws-lc-rs, once
/// per process, before any TLS client is built.
pub fn install_tls_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_and_context_binding() {
        let k = MasterKey::generate();
        let sealed = k.seal("a", b"secret").unwrap();
        assert_eq!(k.open("a", &sealed).unwrap(), b"secret");
        assert!(k.open("b", &sealed).is_err());
        assert!(MasterKey::generate().open("a", &sealed).is_err());
        let again = MasterKey::from_base64(&k.to_base64()).unwrap();
        assert_eq!(again.open("a", &sealed).unwrap(), b"secret");
    }

    #[test]
    fn rsa_keys_are_2048_bit_and_sign() {
        use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
        let k = generate_rs256().unwrap();
        assert_eq!(k.e, "AQAB");
        let pair = RsaKeyPair::from_pkcs8(&k.pkcs8_der).unwrap();
        assert_eq!(pair.public_modulus_len(), 256);
        let mut sig = vec![0; pair.public_modulus_len()];
        pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), b"m", &mut sig)
            .unwrap();
    }

    #[test]
    fn unique_ids_differ_and_share_the_process_prefix() {
        let (a, b) = (unique_id(), unique_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 40);
        assert_eq!(a[..24], b[..24]);
    }

    #[test]
    fn tokens_are_unique_and_hashed() {
        let a = new_token("idb_");
        assert!(a.starts_with("idb_") && a.len() > 40);
        assert_ne!(a, new_token("idb_"));
        assert_eq!(token_hash("abc").len(), 64);
        assert!(ct_eq(b"abc", b"abc") && !ct_eq(b"abc", b"abd") && !ct_eq(b"ab", b"abc"));
    }
}
