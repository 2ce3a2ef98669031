//! Per-connection cache of each upstream IdP's OpenID Connect metadata and keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{AdditionalProviderMetadata, ProviderMetadata};
use serde::{Deserialize, Serialize};

/// Provider metadata fields the crate does not model.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Extra {
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}
impl AdditionalProviderMetadata for Extra {}

pub type Metadata = ProviderMetadata<
    Extra,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// Metadata is refreshed after this long.
const METADATA_TTL: Duration = Duration::from_secs(3600);
const JWKS_COOLDOWN: Duration = Duration::from_secs(30);

struct Cached {
    issuer: String,
    metadata: Arc<Metadata>,
    fetched: Instant,
    jwks_refreshed: Option<Instant>,
}

/// Per-connection cache of the IdP's metadata and keys.
#[derive(Default)]
pub struct SsoCache {
    map: Mutex<HashMap<String, Cached>>,
}

impl SsoCache {
    /// Connections whose IdP metadata and keys are held.
    pub fn len(&self) -> usize {
        self.map.lock().map_or(0, |m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn forget(&self, connection_id: &str) {
        if let Ok(mut m) = self.map.lock() {
            m.remove(connection_id);
        }
    }

    pub(super) fn get(&self, id: &str, issuer: &str) -> Option<Arc<Metadata>> {
        let m = self.map.lock().ok()?;
        m.get(id)
            .filter(|c| c.issuer == issuer && c.fetched.elapsed() < METADATA_TTL)
            .map(|c| c.metadata.clone())
    }

    pub(super) fn put(&self, id: &str, issuer: &str, metadata: Arc<Metadata>) {
        if let Ok(mut m) = self.map.lock() {
            m.insert(
                id.to_string(),
                Cached {
                    issuer: issuer.to_string(),
                    metadata,
                    fetched: Instant::now(),
                    jwks_refreshed: None,
                },
            );
        }
    }

    /// Whether a JWKS refetch is allowed now (and records it).
    pub(super) fn may_refresh_jwks(&self, id: &str) -> bool {
        let Ok(mut m) = self.map.lock() else {
            return false;
        };
        match m.get_mut(id) {
            Some(c)
                if c.jwks_refreshed
                    .is_none_or(|t| t.elapsed() >= JWKS_COOLDOWN) =>
            {
                c.jwks_refreshed = Some(Instant::now());
                true
            }
            _ => false,
        }
    }

    pub(super) fn set_jwks(&self, id: &str, jwks: CoreJsonWebKeySet) -> Option<Arc<Metadata>> {
        let mut m = self.map.lock().ok()?;
        let c = m.get_mut(id)?;
        let updated = Arc::new((*c.metadata).clone().set_jwks(jwks));
        c.metadata = updated.clone();
        Some(updated)
    }
}
