//! Signing keys and their lifecycle: `next` -> `active` -> `retired` -> `expired`.
//!
//! - There is always one `active` key (signs) and one `next` key (published in the JWKS, not yet
//!   signing), so verifiers have the next key long before it signs (OIDC Core §10.1.1).
//! - At the rotation time (default 30 days after activation) the `next` key is promoted if it has
//!   been published for at least one JWKS cache lifetime; the old key becomes `retired` and stays
//!   in the JWKS until every token it signed has expired (`retained_ms`), then `expired`.
//! - Private keys are sealed with the master key; every replica loads the same keys. Changes are
//!   made under a lock (PostgreSQL advisory lock; SQLite `BEGIN IMMEDIATE`) and a partial unique
//!   index allows one active key, so replicas never create two. A change bumps the `keys`
//!   counter; replicas reload when they see it move (maintenance tick, or an unknown `kid`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use serde::Serialize;
use serde_json::json;

use crate::crypto::{self, MasterKey};
use crate::engine::jwt::keys::{KeyAlg, Keys, Signer, SigningKey, VerifyingKey};
use crate::error::{Error, Result};
use crate::store::{self, Store, Tx, keys::KeyRow};

/// When keys rotate and how long they stay published.
#[derive(Debug, Clone, Copy)]
pub struct KeyPolicy {
    pub alg: KeyAlg,
    /// An active key is replaced this long after it started signing.
    pub rotation_ms: i64,
    /// A next key must have been published this long before it may sign (the JWKS max-age).
    pub publish_ms: i64,
    /// A retired key stays published this long (the longest token lifetime plus leeway).
    pub retained_ms: i64,
}

/// The JWKS document, pre-rendered with its ETag.
pub struct Jwks {
    pub body: String,
    pub etag: String,
}

pub struct KeyRing {
    signing: RwLock<Option<Arc<SigningKey>>>,
    verifying: RwLock<HashMap<String, Arc<VerifyingKey>>>,
    jwks: RwLock<Arc<Jwks>>,
    generation: AtomicI64,
    last_refresh: Mutex<Option<Instant>>,
}

/// What a rotation did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Rotation {
    /// The `kid` of the key that signs now.
    pub active: String,
    /// The `kid` of the new next key.
    pub next: String,
    /// The `kid` of the key that stopped signing, if there was one.
    pub retired: Option<String>,
}

impl KeyRing {
    fn empty() -> Self {
        Self {
            signing: RwLock::new(None),
            verifying: RwLock::new(HashMap::new()),
            jwks: RwLock::new(Arc::new(Jwks {
                body: "{\"keys\":[]}".into(),
                etag: String::new(),
            })),
            generation: AtomicI64::new(i64::MIN),
            last_refresh: Mutex::new(None),
        }
    }

    /// Brings the keys in line with the policy (first start: creates active and next) and loads them.
    pub async fn load_or_create(
        store: &Store,
        master: &MasterKey,
        policy: &KeyPolicy,
        now_ms: i64,
    ) -> Result<Self> {
        let ring = Self::empty();
        maintain(store, master, policy, now_ms).await?;
        ring.reload(store, master).await?;
        Ok(ring)
    }

    /// Reloads the keys from the store when the `keys` counter moved; returns whether it did.
    pub async fn reload(&self, store: &Store, master: &MasterKey) -> Result<bool> {
        let mut c = store.acquire().await?;
        let generation = store::counter(c.conn(), "keys").await?;
        if generation == self.generation.load(Ordering::Acquire) {
            return Ok(false);
        }
        let rows = store::keys::published(c.conn()).await?;
        drop(c);
        self.install(&rows, master)?;
        self.generation.store(generation, Ordering::Release);
        Ok(true)
    }

    /// For an unknown `kid`: reload at most once every `cooldown`, so a flood of tokens with
    /// random key ids costs one query per cooldown.
    pub async fn refresh_on_miss(
        &self,
        store: &Store,
        master: &MasterKey,
        cooldown: Duration,
    ) -> Result<()> {
        {
            let mut last = self
                .last_refresh
                .lock()
                .map_err(|_| Error::internal("key ring lock"))?;
            if last.is_some_and(|t| t.elapsed() < cooldown) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        self.reload(store, master).await.map(|_| ())
    }

    fn install(&self, rows: &[KeyRow], master: &MasterKey) -> Result<()> {
        let mut verifying = HashMap::new();
        let mut keys = Vec::new();
        let mut signing = None;
        for row in rows {
            let jwk: serde_json::Value =
                serde_json::from_str(&row.public_jwk).map_err(Error::internal)?;
            let alg = KeyAlg::parse(&row.alg)
                .ok_or_else(|| Error::internal(format!("unknown key algorithm {}", row.alg)))?;
            let key = match alg {
                KeyAlg::Es256 => DecodingKey::from_ec_components(
                    jwk["x"].as_str().unwrap_or_default(),
                    jwk["y"].as_str().unwrap_or_default(),
                ),
                KeyAlg::EdDsa => {
                    DecodingKey::from_ed_components(jwk["x"].as_str().unwrap_or_default())
                }
                KeyAlg::Rs256 => DecodingKey::from_rsa_components(
                    jwk["n"].as_str().unwrap_or_default(),
                    jwk["e"].as_str().unwrap_or_default(),
                ),
            }
            .map_err(Error::internal)?;
            verifying.insert(
                row.kid.clone(),
                Arc::new(VerifyingKey {
                    alg: alg.jwt(),
                    key,
                }),
            );
            keys.push(jwk);
            if row.state == "active" {
                let der = master.open(&format!("signing_key:{}", row.kid), &row.private_sealed)?;
                signing = Some(Arc::new(SigningKey::new(
                    row.kid.clone(),
                    alg,
                    Signer::load(alg, &der)?,
                )));
            }
        }
        let signing = signing.ok_or_else(|| Error::internal("no active signing key"))?;
        let body = json!({ "keys": keys }).to_string();
        let etag = format!("\"{}\"", &crypto::token_hash(&body)[..32]);
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
            .map_err(|_| Error::internal("key ring lock"))? = Arc::new(Jwks { body, etag });
        Ok(())
    }

    pub fn signing_key(&self) -> Result<Arc<SigningKey>> {
        self.signing
            .read()
            .ok()
            .and_then(|g| g.clone())
            .ok_or_else(|| Error::internal("no signing key loaded"))
    }

    /// The verification key for a `kid`: only a lookup in the in-memory map, never a fetch.
    pub fn verifying_key(&self, kid: &str) -> Option<Arc<VerifyingKey>> {
        self.verifying.read().ok().and_then(|m| m.get(kid).cloned())
    }

    pub fn jwks(&self) -> Arc<Jwks> {
        self.jwks.read().map(|j| j.clone()).unwrap_or_else(|_| {
            Arc::new(Jwks {
                body: "{\"keys\":[]}".into(),
                etag: String::new(),
            })
        })
    }
}

/// The JOSE code reads the ring through the engine's view of it.
impl Keys for KeyRing {
    fn signing_key(&self) -> Result<Arc<SigningKey>> {
        KeyRing::signing_key(self)
    }

    fn verifying_key(&self, kid: &str) -> Option<Arc<VerifyingKey>> {
        KeyRing::verifying_key(self, kid)
    }
}

fn new_key(alg: KeyAlg, state: &str, master: &MasterKey, now_ms: i64) -> Result<KeyRow> {
    let kid = format!(
        "{}-{}",
        alg.as_str().to_lowercase(),
        crypto::hex(&crypto::random_bytes::<8>())
    );
    let (der, jwk) = match alg {
        KeyAlg::Es256 => {
            let k = crypto::generate_es256()?;
            let jwk = json!({"kty": "EC", "crv": "P-256", "x": k.x, "y": k.y, "kid": kid, "alg": "ES256", "use": "sig"});
            (k.pkcs8_der, jwk)
        }
        KeyAlg::EdDsa => {
            let k = crypto::generate_ed25519()?;
            let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": k.x, "kid": kid, "alg": "EdDSA", "use": "sig"});
            (k.pkcs8_der, jwk)
        }
        KeyAlg::Rs256 => {
            let k = crypto::generate_rs256()?;
            let jwk =
                json!({"kty": "RSA", "n": k.n, "e": k.e, "kid": kid, "alg": "RS256", "use": "sig"});
            (k.pkcs8_der, jwk)
        }
    };
    Ok(KeyRow {
        private_sealed: master.seal(&format!("signing_key:{kid}"), &der)?,
        kid,
        alg: alg.as_str().into(),
        state: state.into(),
        public_jwk: jwk.to_string(),
        created_at: now_ms,
        activated_at: (state == "active").then_some(now_ms),
        retired_at: None,
    })
}

/// One maintenance pass under the key lock: ensure an active and a next key, promote on
/// schedule, expire retired keys past their retention. Returns whether anything changed.
pub async fn maintain(
    store: &Store,
    master: &MasterKey,
    policy: &KeyPolicy,
    now: i64,
) -> Result<bool> {
    let mut tx = store.begin().await?;
    store::keys::lock(tx.conn()).await?;
    let (changed, _) = maintain_in(&mut tx, master, policy, now, false).await?;
    tx.commit().await?;
    Ok(changed)
}

/// Rotates now: promotes the next key (refused while it is younger than the JWKS cache
/// lifetime, unless `force`), retires the active one and publishes a new next key.
pub async fn rotate_now(
    store: &Store,
    master: &MasterKey,
    policy: &KeyPolicy,
    now: i64,
    force: bool,
) -> Result<Rotation> {
    let mut tx = store.begin().await?;
    store::keys::lock(tx.conn()).await?;
    let (_, outcome) = maintain_in(&mut tx, master, policy, now, true).await?;
    let rows = store::keys::published(tx.conn()).await?;
    if let Some(next) = rows.iter().find(|k| k.state == "next")
        && outcome.is_none()
        && !force
        && next.created_at + policy.publish_ms > now
    {
        return Err(Error::conflict(
            "next_key_too_new",
            format!(
                "the next key was published {} s ago; verifiers cache the JWKS for {} s: rotate again later, or force it",
                (now - next.created_at) / 1000,
                policy.publish_ms / 1000
            ),
        ));
    }
    let rotation = match outcome {
        Some(r) => r,
        None => promote(&mut tx, master, policy, now).await?,
    };
    tx.commit().await?;
    Ok(rotation)
}

/// Returns whether anything changed, and the rotation if one happened.
async fn maintain_in(
    tx: &mut Tx,
    master: &MasterKey,
    policy: &KeyPolicy,
    now: i64,
    manual: bool,
) -> Result<(bool, Option<Rotation>)> {
    let rows = store::keys::published(tx.conn()).await?;
    let mut changed = false;
    let mut rotation = None;
    let active = rows.iter().find(|k| k.state == "active");
    let next = rows.iter().find(|k| k.state == "next");
    if active.is_none() {
        store::keys::insert(tx.conn(), &new_key(policy.alg, "active", master, now)?).await?;
        changed = true;
    } else if let (Some(a), Some(n)) = (active, next)
        && !manual
        && a.activated_at.unwrap_or(a.created_at) + policy.rotation_ms <= now
        && n.created_at + policy.publish_ms <= now
    {
        rotation = Some(promote(tx, master, policy, now).await?);
        changed = true;
    }
    if next.is_none() && rotation.is_none() {
        store::keys::insert(tx.conn(), &new_key(policy.alg, "next", master, now)?).await?;
        changed = true;
    }
    for r in rows.iter().filter(|k| k.state == "retired") {
        if r.retired_at.unwrap_or(now) + policy.retained_ms <= now {
            store::keys::set_state(tx.conn(), &r.kid, "expired", now).await?;
            changed = true;
        }
    }
    if changed {
        tx.bump(store::Counter::Keys).await?;
    }
    Ok((changed, rotation))
}

async fn promote(
    tx: &mut Tx,
    master: &MasterKey,
    policy: &KeyPolicy,
    now: i64,
) -> Result<Rotation> {
    let rows = store::keys::published(tx.conn()).await?;
    let active = rows
        .iter()
        .find(|k| k.state == "active")
        .map(|k| k.kid.clone());
    let next = match rows.iter().find(|k| k.state == "next") {
        Some(n) => n.kid.clone(),
        None => {
            let row = new_key(policy.alg, "next", master, now)?;
            store::keys::insert(tx.conn(), &row).await?;
            row.kid
        }
    };
    if let Some(a) = &active {
        store::keys::set_state(tx.conn(), a, "retired", now).await?;
    }
    store::keys::set_state(tx.conn(), &next, "active", now).await?;
    let new_next = new_key(policy.alg, "next", master, now)?;
    store::keys::insert(tx.conn(), &new_next).await?;
    tx.bump(store::Counter::Keys).await?;
    Ok(Rotation {
        active: next,
        next: new_next.kid,
        retired: active,
    })
}
