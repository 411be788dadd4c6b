//! Access tokens (JWT, HS256) and opaque secrets (refresh tokens, API keys).
//!
//! Access tokens carry `iss`, `aud`, `sub`, `org`, `role`, `exp`, `iat`, `jti`, `typ` and,
//! for a user's login, `sid` (the session they belong to).
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
    /// The session (refresh-token family) of a user's token: revoking the session
    /// revokes every access token minted in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// Why a token was refused (the client only ever learns "invalid token").
#[derive(Debug, thiserror::Error)]
#[error("invalid access token: {0}")]
pub struct TokenError(String);

/// Signs and verifies access tokens.
pub struct TokenKeys {
    /// The signing secret, also the key of the sessions' CSRF tokens.
    secret: Vec<u8>,
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
        // A token not yet valid (`nbf` ahead) is refused; `iat` is checked in `verify`.
        validation.validate_nbf = true;
        Self {
            secret: secret.to_vec(),
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

    /// Mints an access token (of `session`, for a user's login).
    pub fn mint(
        &self,
        sub: &str,
        org: Option<&str>,
        role: Role,
        typ: TokenKind,
        session: Option<uuid::Uuid>,
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
            sid: session.map(|s| s.to_string()),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError(e.to_string()))?;
        Ok((token, claims))
    }

    /// The CSRF token of a session: HMAC-SHA256 of its id under the signing secret,
    /// base64url. Bound to the session, so a token of another session (or one an attacker
    /// planted as a cookie) does not pass, and every node derives the same one.
    pub fn csrf_token(&self, session: uuid::Uuid) -> String {
        self.mac(&[b"warroom-csrf:", session.as_bytes()])
    }

    /// A device cookie for `user`: a random nonce and its HMAC. A browser holding one
    /// logged in to the account before, so the account-wide login throttle lets it
    /// through (the per-client throttle still applies).
    pub fn device_token(&self, user: uuid::Uuid) -> String {
        let nonce = random_secret("");
        let mac = self.mac(&[b"warroom-device:", user.as_bytes(), nonce.as_bytes()]);
        format!("{nonce}.{mac}")
    }

    /// The nonce of a device cookie when it was issued for `user` under this secret.
    pub fn device_of<'a>(&self, user: uuid::Uuid, cookie: &'a str) -> Option<&'a str> {
        let (nonce, mac) = cookie.split_once('.')?;
        let expected = self.mac(&[b"warroom-device:", user.as_bytes(), nonce.as_bytes()]);
        same_secret(&expected, mac).then_some(nonce)
    }

    /// HMAC-SHA256 of the concatenated `parts` under the signing secret, base64url.
    fn mac(&self, parts: &[&[u8]]) -> String {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&self.secret)
            .expect("HMAC takes a key of any length");
        for part in parts {
            mac.update(part);
        }
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Verifies signature, algorithm, issuer, audience, expiry, `nbf`, and that it was
    /// not issued in the future (beyond the leeway): a token minted with a clock ahead,
    /// or forged to outlive its lifetime, is refused.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| TokenError(e.to_string()))?;
        let latest = Utc::now().timestamp() + i64::try_from(self.validation.leeway).unwrap_or(0);
        if claims.iat > latest {
            return Err(TokenError("issued in the future (iat)".into()));
        }
        Ok(claims)
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
                Some(uuid::Uuid::new_v4()),
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
            .mint(
                "u1",
                Some("demo"),
                Role::Admin,
                TokenKind::User,
                None,
                Utc::now(),
            )
            .unwrap();
        assert!(k.verify(&token).is_err());
        let (old, _) = k
            .mint(
                "u1",
                Some("demo"),
                Role::Admin,
                TokenKind::User,
                None,
                Utc::now() - chrono::Duration::hours(1),
            )
            .unwrap();
        assert!(k.verify(&old).is_err());
        let (good, _) = k
            .mint(
                "u1",
                Some("demo"),
                Role::Admin,
                TokenKind::User,
                None,
                Utc::now(),
            )
            .unwrap();
        let payload = good.split('.').nth(1).unwrap();
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(k.verify(&format!("{header}.{payload}.")).is_err());
    }

    #[test]
    fn tokens_issued_or_valid_only_in_the_future_are_refused() {
        let k = keys("0123456789abcdef0123456789abcdef");
        let ahead = Utc::now() + chrono::Duration::minutes(10);
        let (future, _) = k
            .mint("u1", Some("demo"), Role::User, TokenKind::User, None, ahead)
            .unwrap();
        assert!(k.verify(&future).is_err(), "iat in the future");
        let now = Utc::now().timestamp();
        let claims = serde_json::json!({
            "iss": "warroom", "aud": "warroom-api", "sub": "u1", "org": "demo",
            "role": "user", "iat": now, "exp": now + 600, "nbf": now + 300,
            "jti": "j", "typ": "user",
        });
        let not_yet = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .unwrap();
        assert!(k.verify(&not_yet).is_err(), "nbf in the future");
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_session_and_the_secret() {
        let k = keys("0123456789abcdef0123456789abcdef");
        let other = keys("fedcba9876543210fedcba9876543210");
        let (s1, s2) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        assert_eq!(k.csrf_token(s1), k.csrf_token(s1));
        assert_ne!(k.csrf_token(s1), k.csrf_token(s2));
        assert_ne!(k.csrf_token(s1), other.csrf_token(s1));
        assert_eq!(k.csrf_token(s1).len(), 43);
    }

    #[test]
    fn device_cookies_name_their_account() {
        let k = keys("0123456789abcdef0123456789abcdef");
        let (u1, u2) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let cookie = k.device_token(u1);
        let nonce = k.device_of(u1, &cookie).expect("valid for its user");
        assert!(cookie.starts_with(nonce));
        assert_eq!(k.device_of(u2, &cookie), None);
        assert_eq!(k.device_of(u1, "forged.value"), None);
        assert_eq!(k.device_of(u1, "no-dot"), None);
        assert_ne!(k.device_token(u1), cookie);
    }

    proptest::proptest! {
        /// Fuzz: arbitrary strings, and valid tokens with one byte changed, are refused
        /// with an error, never a panic.
        #[test]
        fn any_token_text_is_refused_without_panicking(
            text in ".{0,400}",
            flip in 0usize..400,
            byte in proptest::prelude::any::<u8>(),
        ) {
            let k = keys("0123456789abcdef0123456789abcdef");
            proptest::prop_assert!(k.verify(&text).is_err());
            let (good, _) = k
                .mint("u1", Some("demo"), Role::User, TokenKind::User, None, Utc::now())
                .unwrap();
            let mut bytes = good.into_bytes();
            let at = flip % bytes.len();
            if bytes[at] != byte {
                bytes[at] = byte;
                let changed = String::from_utf8_lossy(&bytes).into_owned();
                proptest::prop_assert!(k.verify(&changed).is_err());
            }
        }
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
