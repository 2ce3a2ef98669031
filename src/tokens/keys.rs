//! Signing keys. The private key lives in the database sealed with the master key; every
//! replica loads the same keys. The first start creates one ES256 key; a partial unique index
//! guarantees at most one `active` key however many replicas race (full rotation: issue 3).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use jsonwebtoken::{DecodingKey, EncodingKey};
use serde_json::json;

use crate::crypto::{self, MasterKey};
use crate::error::{Error, Result};
use crate::store::{self, Store, keys::KeyRow};

/// A key that can sign.
pub struct SigningKey {
    pub kid: String,
    pub encoding: EncodingKey,
}

/// The keys this replica signs and verifies with.
#[derive(Default)]
pub struct KeyRing {
    signing: RwLock<Option<Arc<SigningKey>>>,
    verifying: RwLock<HashMap<String, Arc<DecodingKey>>>,
    jwks: RwLock<Vec<serde_json::Value>>,
}

impl KeyRing {
    /// Loads live keys, creating the first active key when there is none.
    pub async fn load_or_create(store: &Store, master: &MasterKey, now_ms: i64) -> Result<Self> {
        let ring = KeyRing::default();
        let mut rows = {
            let mut c = store.acquire().await?;
            store::keys::live(c.conn()).await?
        };
        if !rows.iter().any(|k| k.state == "active") {
            let key = crypto::generate_es256()?;
            let kid = format!("es256-{}", &crypto::hex(&crypto::random_bytes::<8>()));
            let jwk = json!({"kty": "EC", "crv": "P-256", "x": key.x, "y": key.y, "kid": kid, "alg": "ES256", "use": "sig"});
            let row = KeyRow {
                private_sealed: master.seal(&format!("signing_key:{kid}"), &key.pkcs8_der)?,
                kid,
                alg: "ES256".into(),
                state: "active".into(),
                public_jwk: jwk.to_string(),
                created_at: now_ms,
                activated_at: Some(now_ms),
                retired_at: None,
            };
            let mut tx = store.begin().await?;
            // Another replica may have won the race; the unique index keeps one active key.
            if let Err(e) = store::keys::insert(tx.conn(), &row).await {
                if !matches!(e, Error::Conflict { .. }) {
                    return Err(e);
                }
            } else {
                tx.commit().await?;
            }
            let mut c = store.acquire().await?;
            rows = store::keys::live(c.conn()).await?;
        }
        ring.install(&rows, master)?;
        Ok(ring)
    }

    fn install(&self, rows: &[KeyRow], master: &MasterKey) -> Result<()> {
        let mut verifying = HashMap::new();
        let mut jwks = Vec::new();
        let mut signing = None;
        for row in rows {
            let jwk: serde_json::Value =
                serde_json::from_str(&row.public_jwk).map_err(Error::internal)?;
            let (x, y) = (
                jwk["x"].as_str().unwrap_or_default(),
                jwk["y"].as_str().unwrap_or_default(),
            );
            let dec = DecodingKey::from_ec_components(x, y).map_err(Error::internal)?;
            verifying.insert(row.kid.clone(), Arc::new(dec));
            jwks.push(jwk);
            if row.state == "active" {
                let der = master.open(&format!("signing_key:{}", row.kid), &row.private_sealed)?;
                signing = Some(Arc::new(SigningKey {
                    kid: row.kid.clone(),
                    encoding: EncodingKey::from_ec_der(&der),
                }));
            }
        }
        let signing = signing.ok_or_else(|| Error::internal("no active signing key"))?;
        *self
            .signing
            .write()
            .map_err(|_| Error::internal("key ring lock"))? = Some(signing);
        *self
            .verifying
            .write()
            .map_err(|_| Error::internal("key ring lock"))? = verifying;
        *self
            .jwks
            .write()
            .map_err(|_| Error::internal("key ring lock"))? = jwks;
        Ok(())
    }

    pub fn signing_key(&self) -> Result<Arc<SigningKey>> {
        self.signing
            .read()
            .ok()
            .and_then(|g| g.clone())
            .ok_or_else(|| Error::internal("no signing key loaded"))
    }

    /// The verification key for a `kid`; only a key into the in-memory map, never fetched.
    pub fn verifying_key(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        self.verifying.read().ok().and_then(|m| m.get(kid).cloned())
    }

    /// The public keys as a JWK Set.
    pub fn jwks(&self) -> serde_json::Value {
        let keys = self.jwks.read().map(|k| k.clone()).unwrap_or_default();
        json!({ "keys": keys })
    }
}
