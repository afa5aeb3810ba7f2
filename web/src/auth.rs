//! Passwords (argon2id), signed session cookies, CSRF tokens, the Origin
//! check and the login rate limit.

use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

type HmacSha256 = Hmac<Sha256>;

pub const COOKIE: &str = "hanoi_session";
const SESSION_SECONDS: u64 = 12 * 3600;

pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of nothing anyone knows, verified when the account does not exist
/// so that a login takes as long either way.
pub fn dummy_hash() -> String {
    hash_password("hanoi-web: no such account").unwrap_or_default()
}

pub struct Keys {
    secret: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub nonce: String,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Keys {
    pub fn new(secret: Option<&str>) -> Keys {
        let secret = match secret {
            Some(s) => s.as_bytes().to_vec(),
            None => {
                use rand::RngCore;
                let mut k = vec![0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut k);
                k
            }
        };
        Keys { secret }
    }

    fn mac(&self, parts: &[&[u8]]) -> Vec<u8> {
        // HMAC takes a key of any length: this cannot fail.
        let mut m = match HmacSha256::new_from_slice(&self.secret) {
            Ok(m) => m,
            Err(_) => return Vec::new(),
        };
        for p in parts {
            m.update(&(p.len() as u64).to_le_bytes());
            m.update(p);
        }
        m.finalize().into_bytes().to_vec()
    }

    /// The cookie value for a new session of `user`.
    pub fn issue(&self, user: &str) -> String {
        use rand::RngCore;
        let mut n = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut n);
        let nonce = B64.encode(n);
        let expiry = (now_secs() + SESSION_SECONDS).to_string();
        let user_b64 = B64.encode(user.as_bytes());
        let payload = format!("{user_b64}.{expiry}.{nonce}");
        let sig = B64.encode(self.mac(&[b"session", payload.as_bytes()]));
        format!("{payload}.{sig}")
    }

    /// The session a cookie value stands for, if it is ours and not expired.
    pub fn check(&self, value: &str) -> Option<Session> {
        let mut parts = value.split('.');
        let (user_b64, expiry, nonce, sig) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let payload = format!("{user_b64}.{expiry}.{nonce}");
        let want = self.mac(&[b"session", payload.as_bytes()]);
        let got = B64.decode(sig).ok()?;
        if !constant_eq(&want, &got) {
            return None;
        }
        if expiry.parse::<u64>().ok()? < now_secs() {
            return None;
        }
        let user = String::from_utf8(B64.decode(user_b64).ok()?).ok()?;
        Some(Session {
            user,
            nonce: nonce.to_owned(),
        })
    }

    /// The CSRF token of a session: every form carries it.
    pub fn csrf(&self, s: &Session) -> String {
        B64.encode(self.mac(&[b"csrf", s.nonce.as_bytes()]))
    }

    pub fn csrf_ok(&self, s: &Session, token: &str) -> bool {
        constant_eq(self.csrf(s).as_bytes(), token.as_bytes())
    }
}

/// Equal, in a time that depends on neither content nor length: both
/// sides are hashed first (an API key's length stays secret too).
pub fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The Origin check on writes: the request's `Origin` (or, without one, its
/// `Referer`) must name the host it was sent to. A write with neither is
/// refused.
pub fn same_origin(headers: &axum::http::HeaderMap) -> bool {
    let host = match headers.get("host").and_then(|h| h.to_str().ok()) {
        Some(h) => h,
        None => return false,
    };
    let from = headers
        .get("origin")
        .or_else(|| headers.get("referer"))
        .and_then(|h| h.to_str().ok());
    let Some(from) = from else {
        return false;
    };
    let rest = from
        .strip_prefix("http://")
        .or_else(|| from.strip_prefix("https://"));
    match rest {
        Some(rest) => rest.split('/').next() == Some(host),
        None => false,
    }
}

/// Login attempts per account and per client address, in a sliding window.
/// An attempt is counted when it starts, under the lock that checks the
/// limit, so parallel attempts cannot all pass the check before any is
/// counted; a successful login clears its keys.
pub struct LoginLimiter {
    max: u32,
    window: Duration,
    attempts: Mutex<HashMap<String, (u32, Instant)>>,
}

/// At most this many keys are tracked; when full (after dropping expired
/// ones) a new key is refused, as a blocked one would be.
const MAX_TRACKED: usize = 100_000;

impl LoginLimiter {
    pub fn new(max: u32) -> LoginLimiter {
        LoginLimiter {
            max,
            window: Duration::from_secs(300),
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt for every key, unless one of them is at the limit
    /// (or the table is full): then false, and nothing is counted.
    pub fn begin(&self, keys: &[String]) -> bool {
        let Ok(mut map) = self.attempts.lock() else {
            return false;
        };
        let now = Instant::now();
        let fresh = |k: &String, map: &HashMap<String, (u32, Instant)>| {
            map.get(k)
                .filter(|(_, t)| now.duration_since(*t) < self.window)
                .map_or(0, |(n, _)| *n)
        };
        if keys.iter().any(|k| fresh(k, &map) >= self.max) {
            return false;
        }
        if map.len() + keys.len() > MAX_TRACKED {
            map.retain(|_, (_, t)| now.duration_since(*t) < self.window);
            if map.len() + keys.len() > MAX_TRACKED {
                return false;
            }
        }
        for k in keys {
            let n = fresh(k, &map);
            let started = map.get(k).filter(|_| n > 0).map_or(now, |(_, t)| *t);
            map.insert(k.clone(), (n + 1, started));
        }
        true
    }

    /// A successful login: its keys start again from zero.
    pub fn succeeded(&self, keys: &[String]) {
        if let Ok(mut map) = self.attempts.lock() {
            for k in keys {
                map.remove(k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_and_csrf() {
        let k = Keys::new(None);
        let v = k.issue("al.ice");
        let s = k.check(&v).unwrap();
        assert_eq!(s.user, "al.ice");
        assert!(k.csrf_ok(&s, &k.csrf(&s)));
        assert!(!k.csrf_ok(&s, "nope"));
        let mut forged = v.clone();
        forged.insert(0, 'x');
        assert!(k.check(&forged).is_none());
        assert!(Keys::new(None).check(&v).is_none());
        assert!(k.check("a.b.c").is_none());
    }

    #[test]
    fn passwords() {
        let h = hash_password("s3cret").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("S3cret", &h));
        assert!(!verify_password("s3cret", "garbage"));
    }

    #[test]
    fn login_limiter_counts_attempts_as_they_start() {
        let l = LoginLimiter::new(3);
        let keys = ["user:a".to_string(), "ip:1".to_string()];
        assert!(l.begin(&keys) && l.begin(&keys) && l.begin(&keys));
        assert!(
            !l.begin(&keys),
            "the fourth attempt in the window is refused"
        );
        assert!(!l.begin(&["user:a".to_string()]));
        assert!(l.begin(&["user:b".to_string()]));
        l.succeeded(&keys);
        assert!(l.begin(&keys));
    }

    #[test]
    fn origin() {
        let mut h = axum::http::HeaderMap::new();
        h.insert("host", "127.0.0.1:8080".parse().unwrap());
        assert!(!same_origin(&h));
        h.insert("origin", "http://127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&h));
        h.insert("origin", "http://evil.example".parse().unwrap());
        assert!(!same_origin(&h));
    }
}
