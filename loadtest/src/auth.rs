//! Credentials: the load tester holds the server's signing secret (`auth.jwt_secret`) and
//! mints its own short-lived service tokens, one per organisation, with the claims the
//! server verifies (`iss`, `aud`, `typ: service`, role `manager`: enough to ingest and
//! read, nothing more). No account or login is needed, so a run measures the server's
//! work, not the load tester's log-ins.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::ensure;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parking_lot::Mutex;
use serde::Serialize;

/// Environment variable the server reads its signing secret from; the load tester's
/// `--jwt-secret` defaults to it, so one exported variable serves both.
pub const SECRET_ENV: &str = "WARROOM__AUTH__JWT_SECRET";
/// `sub` of the tokens (the server's audit rows name it as the service).
pub const SERVICE_NAME: &str = "warroom-loadtest";
/// Lifetime of a minted token: short, like the server's own access tokens.
pub const TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
/// A cached token is minted again when less than this is left (long runs reconnect).
const RENEW_BEFORE: Duration = Duration::from_secs(2 * 60);

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    org: &'a str,
    role: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
    typ: &'a str,
}

/// Mints and caches `Authorization` header values per organisation.
pub struct Credentials {
    key: EncodingKey,
    issuer: String,
    audience: String,
    /// `org` → (header value, expiry in seconds since the epoch).
    cache: Mutex<HashMap<String, (String, i64)>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret is never printed.
        f.debug_struct("Credentials")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Credentials signing with `secret` (the server's `auth.jwt_secret`, at least 32
    /// bytes) for the server's `issuer` and `audience`.
    pub fn new(secret: &str, issuer: &str, audience: &str) -> anyhow::Result<Self> {
        ensure!(
            secret.len() >= warroom_engine::config::MIN_JWT_SECRET_BYTES,
            "the signing secret must be the server's auth.jwt_secret (at least {} bytes)",
            warroom_engine::config::MIN_JWT_SECRET_BYTES
        );
        Ok(Self {
            key: EncodingKey::from_secret(secret.as_bytes()),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Credentials for a server with the default `[auth]` issuer and audience.
    pub fn with_default_claims(secret: &str) -> anyhow::Result<Self> {
        let auth = warroom_engine::Config::defaults().auth;
        Self::new(secret, &auth.issuer, &auth.audience)
    }

    /// `Bearer <token>` for `org`, minted now or reused while it has time left.
    pub fn bearer(&self, org: &str) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut cache = self.cache.lock();
        if let Some((value, exp)) = cache.get(org) {
            if *exp - now > RENEW_BEFORE.as_secs() as i64 {
                return value.clone();
            }
        }
        let exp = now + TOKEN_TTL.as_secs() as i64;
        let claims = Claims {
            iss: &self.issuer,
            aud: &self.audience,
            sub: SERVICE_NAME,
            org,
            role: "manager",
            iat: now,
            exp,
            jti: token_id(),
            typ: "service",
        };
        // Cannot fail: these claims (strings and integers) always serialise, and an HMAC
        // key signs anything; jsonwebtoken only errs on other key types or bad claims.
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)
            .expect("HS256 signs serialisable claims");
        let value = format!("Bearer {token}");
        cache.insert(org.to_owned(), (value.clone(), exp));
        value
    }
}

/// A token id no other token of this process (nor, practically, of another) shares.
fn token_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let random: u64 = rand::random();
    format!("lt-{random:016x}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "loadtest-unit-secret-0123456789abcdef";

    #[test]
    fn tokens_carry_the_claims_the_server_checks_and_are_reused() {
        let creds = Credentials::with_default_claims(SECRET).unwrap();
        let a = creds.bearer("harbor-city");
        assert_eq!(a, creds.bearer("harbor-city"), "cached");
        assert_ne!(a, creds.bearer("green-valley"), "one per organisation");
        let token = a.strip_prefix("Bearer ").unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
        validation.set_issuer(&["warroom"]);
        validation.set_audience(&["warroom-api"]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(
            token,
            &jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()),
            &validation,
        )
        .unwrap()
        .claims;
        assert_eq!(claims["org"], "harbor-city");
        assert_eq!(claims["role"], "manager");
        assert_eq!(claims["typ"], "service");
        assert_eq!(claims["sub"], SERVICE_NAME);
        let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
        assert_eq!(lifetime, TOKEN_TTL.as_secs() as i64);
    }

    #[test]
    fn a_short_secret_is_refused_and_never_printed() {
        assert!(Credentials::with_default_claims("short").is_err());
        let creds = Credentials::with_default_claims(SECRET).unwrap();
        assert!(!format!("{creds:?}").contains(SECRET));
    }
}
