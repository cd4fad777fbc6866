//! Bearer API keys. Every route takes a [`Caller`] and asks it for the
//! permission it needs, so an unauthenticated or under-privileged request never
//! reaches a handler's logic: 401 when the key is missing or unknown, 403 when
//! the key is valid but its role may not do this.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures::future::LocalBoxFuture;
use sha2::{Digest, Sha256};

use crate::problem::ApiError;
use crate::state::AppState;

// In a module of its own: the state caches callers, and this module reads
// the state, so neither can hold the type without a cycle.
pub use crate::caller::Caller;

/// SHA-256 of an API key, hex: what the database stores.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A fresh API key: `fry_` + 256 random bits in hex.
pub fn generate_key() -> String {
    format!("fry_{}", hex::encode(rand::random::<[u8; 32]>()))
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal("app state missing".into()))?;
            let header = header.ok_or(ApiError::Unauthenticated)?;
            let key = header
                .strip_prefix("Bearer ")
                .or_else(|| header.strip_prefix("bearer "))
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .ok_or(ApiError::Unauthenticated)?;
            let hash = hash_key(key);
            if let Some(caller) = state.callers.get(&hash) {
                return Ok(caller);
            }
            let record = state
                .store
                .find_active_key(&hash)
                .await?
                .ok_or(ApiError::BadKey)?;
            let caller = Caller {
                key_id: record.id,
                role: record.role,
                tenant: record.tenant,
            };
            // Unknown keys are not cached: a key created a moment ago works
            // at once, and guessing keys stays a database round trip.
            state.callers.put(hash, caller.clone());
            Ok(caller)
        })
    }
}
