//! The session cookies: the access token and the refresh token are httpOnly, Secure
//! (unless `auth.cookie_secure = false` for plain-HTTP development) and SameSite=Strict;
//! the CSRF token is readable by scripts so they can echo it in `X-CSRF-Token`.

use axum::http::{header, HeaderMap, HeaderValue};

/// The access-token cookie.
pub const ACCESS: &str = "warroom_access";
/// The refresh-token cookie (sent to `/api/v1/auth` only).
pub const REFRESH: &str = "warroom_refresh";
/// The CSRF cookie: the session's CSRF token, echoed in `X-CSRF-Token`.
pub const CSRF: &str = "warroom_csrf";
/// The device cookie: this browser logged in to the account before (login throttling).
pub const DEVICE: &str = "warroom_device";
/// How long a device cookie lives.
pub const DEVICE_MAX_AGE_SECS: i64 = 365 * 86_400;

/// A cookie's value from the `Cookie` headers.
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}

/// A `Set-Cookie` value. `max_age_secs = 0` deletes the cookie.
pub fn set(
    name: &str,
    value: &str,
    path: &str,
    max_age_secs: i64,
    http_only: bool,
    secure: bool,
) -> Option<HeaderValue> {
    let mut cookie =
        format!("{name}={value}; Path={path}; Max-Age={max_age_secs}; SameSite=Strict");
    if http_only {
        cookie.push_str("; HttpOnly");
    }
    if secure {
        cookie.push_str("; Secure");
    }
    HeaderValue::from_str(&cookie).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others_and_set_strictly() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; warroom_csrf=xyz; b=2"),
        );
        assert_eq!(get(&headers, CSRF).as_deref(), Some("xyz"));
        assert_eq!(get(&headers, ACCESS), None);
        let v = set(ACCESS, "t", "/api/v1", 900, true, true).unwrap();
        let v = v.to_str().unwrap();
        for part in [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Max-Age=900",
            "Path=/api/v1",
        ] {
            assert!(v.contains(part), "{v}");
        }
    }
}
