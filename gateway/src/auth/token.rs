//! Access tokens (JWT, HS256) and opaque secrets (refresh tokens, API keys).
//!
//! Access tokens carry `iss`, `aud`, `sub`, `org`, `role`, `exp`, `iat`, `jti` and `typ`.
//! Only HS256 is accepted: a token whose header names another algorithm (`none`
//! included) is refused before its signature is looked at. Opaque secrets are 256 random
//! bits, base64url, with a readable prefix; only their SHA-256 is stored.

use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use warroom_engine::config::AuthConfig;
use warroom_engine::Role;

/// Prefix of API keys: tells them apart from JWTs in an `Authorization` header.
pub const API_KEY_PREFIX: &str = "wrk_";
/// Prefix of refresh tokens.
pub const REFRESH_PREFIX: &str = "wrr_";
/// Characters of an API key shown in listings (prefix included).
pub const API_KEY_DISPLAY_CHARS: usize = 12;

/// Who a token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// A user account (`sub` is its id); checked against the account on every use.
    #[default]
    User,
    /// A service holding the signing secret, such as the load tester (`sub` names it);
    /// limited to organisation roles up to `manager`.
    Service,
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Subject: a user id, or a service name.
    pub sub: String,
    /// Organisation; absent for the platform administrator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// Role at issue time.
    pub role: Role,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issue time (seconds since the epoch).
    pub iat: i64,
    /// Token id.
    pub jti: String,
    /// Who the token speaks for.
    #[serde(default)]
    pub typ: TokenKind,
}

/// Why a token was refused (the client only ever learns "invalid token").
#[derive(Debug, thiserror::Error)]
#[error("invalid access token: {0}")]
pub struct TokenError(String);

/// Signs and verifies access tokens.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: chrono::Duration,
}

impl TokenKeys {
    /// Keys for `secret`, with issuer, audience, lifetime and leeway from `config`.
    pub fn new(config: &AuthConfig, secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = config.leeway.as_secs();
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl: chrono::Duration::from_std(config.access_token_ttl)
                .unwrap_or_else(|_| chrono::Duration::minutes(15)),
        }
    }

    /// Lifetime of the tokens it mints.
    pub fn ttl(&self) -> chrono::Duration {
        self.ttl
    }

    /// Mints an access token.
    pub fn mint(
        &self,
        sub: &str,
        org: Option<&str>,
        role: Role,
        typ: TokenKind,
        now: DateTime<Utc>,
    ) -> Result<(String, Claims), TokenError> {
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: sub.to_owned(),
            org: org.map(str::to_owned),
            role,
            exp: (now + self.ttl).timestamp(),
            iat: now.timestamp(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            typ,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError(e.to_string()))?;
        Ok((token, claims))
    }

    /// Verifies signature, algorithm, issuer, audience and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| TokenError(e.to_string()))
    }
}

/// A new opaque secret: `prefix` + 256 random bits, base64url without padding.
pub fn random_secret(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// SHA-256 of a secret, lower-case hex: what the store keeps.
pub fn secret_hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random secret for signing when none is configured.
pub fn random_signing_secret() -> Vec<u8> {
    let bytes: [u8; 48] = rand::random();
    bytes.to_vec()
}

/// Constant-time equality of two strings (CSRF tokens).
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str) -> TokenKeys {
        let mut config = warroom_engine::Config::defaults().auth;
        config.leeway = std::time::Duration::ZERO;
        TokenKeys::new(&config, secret.as_bytes())
    }

    #[test]
    fn a_minted_token_verifies_and_carries_its_claims() {
        let k = keys("0123456789abcdef0123456789abcdef");
        let (token, claims) = k
            .mint(
                "u1",
                Some("demo"),
                Role::Manager,
                TokenKind::User,
                Utc::now(),
            )
            .unwrap();
        let back = k.verify(&token).unwrap();
        assert_eq!(back, claims);
        assert_eq!(back.exp - back.iat, 15 * 60);
    }

    #[test]
    fn other_secrets_expired_tokens_and_alg_none_are_refused() {
        let k = keys("0123456789abcdef0123456789abcdef");
        let other = keys("fedcba9876543210fedcba9876543210");
        let (token, _) = other
            .mint("u1", Some("demo"), Role::Admin, TokenKind::User, Utc::now())
            .unwrap();
        assert!(k.verify(&token).is_err());
        let (old, _) = k
            .mint(
                "u1",
                Some("demo"),
                Role::Admin,
                TokenKind::User,
                Utc::now() - chrono::Duration::hours(1),
            )
            .unwrap();
        assert!(k.verify(&old).is_err());
        let (good, _) = k
            .mint("u1", Some("demo"), Role::Admin, TokenKind::User, Utc::now())
            .unwrap();
        let payload = good.split('.').nth(1).unwrap();
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(k.verify(&format!("{header}.{payload}.")).is_err());
    }

    #[test]
    fn secrets_are_random_and_hashed() {
        let a = random_secret(API_KEY_PREFIX);
        assert!(a.starts_with(API_KEY_PREFIX));
        assert_ne!(a, random_secret(API_KEY_PREFIX));
        assert_eq!(secret_hash(&a).len(), 64);
        assert_ne!(secret_hash(&a), a);
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
