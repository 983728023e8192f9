//! The browser session cookie and its CSRF token.
//!
//! The session cookie is HttpOnly and SameSite=Strict (and Secure under TLS), so scripts cannot
//! read it and other sites cannot send it. State changes made with the cookie must also carry
//! the CSRF token in the `X-CSRF-Token` header. The token is an HMAC of the session token, so
//! the server needs no storage to check it and learning it reveals nothing about the session
//! token. It is returned at login and kept in a readable `keyward_csrf` cookie.

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "keyward_session";
/// Name of the cookie that lets the page's scripts read the CSRF token.
pub const CSRF_COOKIE: &str = "keyward_csrf";
/// Header that carries the CSRF token on state changes.
pub const CSRF_HEADER: &str = "x-csrf-token";

const CSRF_LABEL: &[u8] = b"keyward csrf v1";

/// The CSRF token of a session token.
pub fn csrf_token(session_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(csrf_mac(session_token).finalize().into_bytes())
}

/// Whether `presented` is the CSRF token of `session_token`, compared in constant time.
pub fn csrf_matches(session_token: &str, presented: &str) -> bool {
    let Ok(presented) = URL_SAFE_NO_PAD.decode(presented.trim()) else {
        return false;
    };
    csrf_mac(session_token).verify_slice(&presented).is_ok()
}

fn csrf_mac(session_token: &str) -> Hmac<Sha256> {
    // HMAC takes keys of any length; the fallback key is never used.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(session_token.as_bytes())
        .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
    mac.update(CSRF_LABEL);
    mac
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_owned())
}

/// `Set-Cookie` values that store a session token and its CSRF token for `max_age_secs`.
pub fn session_cookies(token: &str, max_age_secs: i64, secure: bool) -> [String; 2] {
    let secure = if secure { "; Secure" } else { "" };
    let csrf = csrf_token(token);
    [
        format!(
            "{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age_secs}; HttpOnly; \
             SameSite=Strict{secure}"
        ),
        format!("{CSRF_COOKIE}={csrf}; Path=/; Max-Age={max_age_secs}; SameSite=Strict{secure}"),
    ]
}

/// `Set-Cookie` values that remove both cookies.
pub fn cleared_cookies(secure: bool) -> [String; 2] {
    let secure = if secure { "; Secure" } else { "" };
    [
        format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}"),
        format!("{CSRF_COOKIE}=; Path=/; Max-Age=0; SameSite=Strict{secure}"),
    ]
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn csrf_token_belongs_to_its_session() {
        let token = csrf_token("kws_first");
        assert!(csrf_matches("kws_first", &token));
        assert!(!csrf_matches("kws_second", &token));
        assert!(!csrf_matches("kws_first", ""));
        assert!(!csrf_matches("kws_first", "not base64!"));
        assert_ne!(token, "kws_first");
    }

    #[test]
    fn cookie_value_finds_one_cookie() {
        let mut headers = HeaderMap::new();
        headers.append(
            "cookie",
            HeaderValue::from_static("a=1; keyward_session=kws_x"),
        );
        headers.append("cookie", HeaderValue::from_static("keyward_csrf=abc"));
        assert_eq!(
            cookie_value(&headers, SESSION_COOKIE).as_deref(),
            Some("kws_x")
        );
        assert_eq!(cookie_value(&headers, CSRF_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie_value(&headers, "missing"), None);
    }

    #[test]
    fn session_cookie_is_http_only_and_strict() {
        let [session, csrf] = session_cookies("kws_x", 60, true);
        for attribute in [
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
            "Path=/",
            "Max-Age=60",
        ] {
            assert!(session.contains(attribute), "{session} lacks {attribute}");
        }
        assert!(
            !csrf.contains("HttpOnly"),
            "scripts must read the CSRF cookie"
        );
        let [plain, _] = session_cookies("kws_x", 60, false);
        assert!(!plain.contains("Secure"));
    }
}
