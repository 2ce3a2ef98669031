//! Argon2id password hashing on a bounded blocking pool: a login storm cannot take all memory
//! or starve the async runtime.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::config::AuthSettings;
use crate::error::{Error, Result};

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified against when the user does not exist so that
    /// timing does not tell which emails have accounts.
    dummy: Arc<String>,
}

impl PasswordHasher {
    pub fn new(s: &AuthSettings) -> Result<Self> {
        let params = Params::new(
            s.argon2_memory_kib,
            s.argon2_iterations,
            s.argon2_parallelism,
            None,
        )
        .map_err(|e| Error::internal(format!("auth.argon2_*: {e}")))?;
        let dummy = hash_with(&params, &crate::crypto::new_token(""))?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(s.max_concurrent_hashes)),
            dummy: Arc::new(dummy),
        })
    }

    pub async fn hash(&self, password: String) -> Result<String> {
        let _permit = self.permits.acquire().await.map_err(Error::internal)?;
        let params = self.params.clone();
        tokio::task::spawn_blocking(move || hash_with(&params, &password))
            .await
            .map_err(Error::internal)?
    }

    /// Verifies `password` against `hash`, or against a dummy hash when there is none.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool> {
        let _permit = self.permits.acquire().await.map_err(Error::internal)?;
        let real = hash.is_some();
        let hash = hash.unwrap_or_else(|| (*self.dummy).clone());
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .map_err(Error::internal)?;
        Ok(real && ok)
    }
}

fn hash_with(params: &Params, password: &str) -> Result<String> {
    let salt = crate::crypto::random_bytes::<16>();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("argon2: {e}")))
}
