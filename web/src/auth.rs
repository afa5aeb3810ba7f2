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

/// The Origin check on writes: the request's `Origin` (or, without one,
/// its `Referer`) must be the origin hanoi-web is reached at: scheme and
/// host. With `public_url` that is exactly it; without, the request's
/// `Host` with `https` when cookies are `Secure` (served over HTTPS) and
/// `http` otherwise. A write with neither header is refused.
pub fn same_origin(headers: &axum::http::HeaderMap, config: &crate::config::Config) -> bool {
    let expected = match config.public_origin() {
        Some((origin, _)) => origin,
        None => {
            let Some(host) = headers.get("host").and_then(|h| h.to_str().ok()) else {
                return false;
            };
            let scheme = if config.secure_cookies {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{}", host.to_ascii_lowercase())
        }
    };
    let from = headers
        .get("origin")
        .or_else(|| headers.get("referer"))
        .and_then(|h| h.to_str().ok());
    let Some(from) = from else {
        return false;
    };
    // The origin part of an Origin or Referer: scheme://host[:port].
    let Some((scheme, rest)) = from.split_once("://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase()
    ) == expected
}

/// With `public_url`, whether a request's `Host` is its host.
pub fn host_allowed(headers: &axum::http::HeaderMap, config: &crate::config::Config) -> bool {
    let Some((_, host)) = config.public_origin() else {
        return true;
    };
    headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| h.eq_ignore_ascii_case(&host))
}

/// Login attempts per account and per client address, in a sliding window.
/// An attempt is counted when it starts, under the lock that checks the
/// limit, so parallel attempts cannot all pass the check before any is
/// counted.
///
/// Accounts come first: only the config's accounts are counted (a name no
/// account has needs no protection), so that table is as small as the
/// config and nobody can fill it. Addresses are counted in a table of at
/// most [`MAX_TRACKED`] entries; when it is full the oldest entries make
/// room (it never refuses logins for being full). A successful login
/// clears its account's failures only: one account holder cannot wipe
/// their address's count and go on guessing other accounts' passwords.
pub struct LoginLimiter {
    max: u32,
    window: Duration,
    tables: Mutex<Tables>,
}

#[derive(Default)]
struct Tables {
    accounts: HashMap<String, (u32, Instant)>,
    addresses: HashMap<String, (u32, Instant)>,
}

/// At most this many addresses are tracked.
const MAX_TRACKED: usize = 100_000;

impl LoginLimiter {
    pub fn new(max: u32) -> LoginLimiter {
        LoginLimiter {
            max,
            window: Duration::from_secs(300),
            tables: Mutex::new(Tables::default()),
        }
    }

    /// Counts an attempt for the account (when it is one of the config's)
    /// and for the address, unless either is at the limit: then false, and
    /// nothing is counted.
    pub fn begin(&self, account: Option<&str>, address: &str) -> bool {
        let Ok(mut t) = self.tables.lock() else {
            return false;
        };
        let now = Instant::now();
        let window = self.window;
        let fresh = |map: &HashMap<String, (u32, Instant)>, k: &str| {
            map.get(k)
                .filter(|(_, t)| now.duration_since(*t) < window)
                .copied()
        };
        let acc = account.and_then(|a| fresh(&t.accounts, a));
        let adr = fresh(&t.addresses, address);
        if acc.is_some_and(|(n, _)| n >= self.max) || adr.is_some_and(|(n, _)| n >= self.max) {
            return false;
        }
        if !t.addresses.contains_key(address) && t.addresses.len() >= MAX_TRACKED {
            // Full: drop the expired entries, and if that is not enough the
            // oldest tenth (sorted once for many inserts: no quadratic cost).
            t.addresses
                .retain(|_, (_, s)| now.duration_since(*s) < window);
            if t.addresses.len() >= MAX_TRACKED {
                let mut starts: Vec<Instant> = t.addresses.values().map(|(_, s)| *s).collect();
                let cut = MAX_TRACKED / 10;
                starts.select_nth_unstable(cut);
                let oldest = starts[cut];
                t.addresses.retain(|_, (_, s)| *s > oldest);
            }
        }
        let bump = |e: Option<(u32, Instant)>| e.map_or((1, now), |(n, s)| (n + 1, s));
        if let Some(a) = account {
            t.accounts.insert(a.to_owned(), bump(acc));
        }
        t.addresses.insert(address.to_owned(), bump(adr));
        true
    }

    /// A successful login: its account starts again from zero (its
    /// address's count stays).
    pub fn succeeded(&self, account: &str) {
        if let Ok(mut t) = self.tables.lock() {
            t.accounts.remove(account);
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
        assert!(
            l.begin(Some("a"), "ip:1") && l.begin(Some("a"), "ip:1") && l.begin(Some("a"), "ip:1")
        );
        assert!(
            !l.begin(Some("a"), "ip:1"),
            "the fourth attempt in the window is refused"
        );
        assert!(!l.begin(Some("a"), "ip:2"), "the account is at its limit");
        assert!(!l.begin(Some("b"), "ip:1"), "the address is at its limit");
        assert!(l.begin(Some("b"), "ip:2"));
        l.succeeded("a");
        assert!(l.begin(Some("a"), "ip:3"), "a success clears the account");
        assert!(
            !l.begin(Some("c"), "ip:1"),
            "but not the address: no spraying guesses over other accounts"
        );
    }

    #[test]
    fn a_full_address_table_makes_room_instead_of_refusing() {
        let l = LoginLimiter::new(3);
        for i in 0..MAX_TRACKED + 5 {
            assert!(l.begin(None, &format!("ip:{i}")), "address {i}");
        }
        assert!(l.begin(Some("a"), "ip:new"));
        let t = l.tables.lock().unwrap();
        assert!(t.addresses.len() <= MAX_TRACKED);
        assert!(t.addresses.contains_key("ip:new"));
    }

    #[test]
    fn origin() {
        let plain = crate::config::Config::parse("").unwrap();
        let mut h = axum::http::HeaderMap::new();
        h.insert("host", "127.0.0.1:8080".parse().unwrap());
        assert!(!same_origin(&h, &plain));
        h.insert("origin", "http://127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&h, &plain));
        h.insert("origin", "https://127.0.0.1:8080".parse().unwrap());
        assert!(!same_origin(&h, &plain), "the scheme counts");
        h.insert("origin", "http://evil.example".parse().unwrap());
        assert!(!same_origin(&h, &plain));
        h.insert(
            "origin",
            "http://127.0.0.1:8080.evil.example".parse().unwrap(),
        );
        assert!(!same_origin(&h, &plain));
        let pinned =
            crate::config::Config::parse("public_url = \"https://flags.example.com\"").unwrap();
        h.insert("host", "flags.example.com".parse().unwrap());
        h.insert("origin", "https://flags.example.com".parse().unwrap());
        assert!(same_origin(&h, &pinned) && host_allowed(&h, &pinned));
        h.insert("origin", "http://flags.example.com".parse().unwrap());
        assert!(!same_origin(&h, &pinned));
        h.insert("host", "127.0.0.1:8080".parse().unwrap());
        assert!(!host_allowed(&h, &pinned));
        assert!(crate::config::Config::parse("public_url = \"flags.example.com\"").is_err());
    }
}
