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
    /// Hashes running or waiting, and how many may be (slots + `throttle.hash_queue`).
    in_line: Arc<std::sync::atomic::AtomicUsize>,
    max_in_line: usize,
    /// A hash of a random password, verified against when the user does not exist so that
    /// timing does not tell which emails have accounts.
    dummy: Arc<String>,
}

impl PasswordHasher {
    /// Hashes running or waiting now, and how many may be.
    pub fn in_line(&self) -> (usize, usize) {
        (
            self.in_line.load(std::sync::atomic::Ordering::Relaxed),
            self.max_in_line,
        )
    }

    /// `queue`: how many hashes may wait for one of `s.max_concurrent_hashes` slots; beyond
    /// that a request is refused at once with [`Error::Overloaded`].
    pub fn new(s: &AuthSettings, queue: usize) -> Result<Self> {
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
            in_line: Arc::default(),
            max_in_line: s.max_concurrent_hashes + queue,
            dummy: Arc::new(dummy),
        })
    }

    /// A place in line, or 503 at once when the line is full (a flood of sign-ins never delays
    /// the others beyond the queue, nor anything that does not hash).
    fn join(&self) -> Result<InLine> {
        use std::sync::atomic::Ordering;
        let n = self.in_line.fetch_add(1, Ordering::SeqCst) + 1;
        let place = InLine(self.in_line.clone());
        if n > self.max_in_line {
            return Err(Error::Overloaded);
        }
        Ok(place)
    }

    pub async fn hash(&self, password: String) -> Result<String> {
        let _place = self.join()?;
        let _permit = self.permits.acquire().await.map_err(Error::internal)?;
        let params = self.params.clone();
        tokio::task::spawn_blocking(move || hash_with(&params, &password))
            .await
            .map_err(Error::internal)?
    }

    /// Verifies `password` against `hash`, or against a dummy hash when there is none.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool> {
        let _place = self.join()?;
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

/// Leaves the line when dropped.
struct InLine(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for InLine {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

fn hash_with(params: &Params, password: &str) -> Result<String> {
    let salt = crate::crypto::random_bytes::<16>();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("argon2: {e}")))
}
