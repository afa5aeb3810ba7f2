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
    /// When it expires, in seconds since the epoch.
    pub expiry: u64,
}

impl Session {
    /// Seconds until it expires (at least 1).
    pub fn remaining(&self) -> u64 {
        self.expiry.saturating_sub(now_secs()).max(1)
    }
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

    /// The cookie value for a new session of `user`, whose password hash
    /// is `password_hash`: the signature covers that hash (not in the
    /// cookie), so a new password or a removed account ends the session.
    pub fn issue(&self, user: &str, password_hash: &str) -> String {
        use rand::RngCore;
        let mut n = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut n);
        let nonce = B64.encode(n);
        let expiry = (now_secs() + SESSION_SECONDS).to_string();
        let user_b64 = B64.encode(user.as_bytes());
        let payload = format!("{user_b64}.{expiry}.{nonce}");
        let sig = B64.encode(self.mac(&[b"session", payload.as_bytes(), password_hash.as_bytes()]));
        format!("{payload}.{sig}")
    }

    /// The session a cookie value stands for, if it is ours, not expired,
    /// and its user still has the password hash it was issued under
    /// (`password_hash` of a user name: None for no such account). Whether
    /// it was revoked (a logout) is [`Revoked`]'s, and the store's.
    pub fn check(
        &self,
        value: &str,
        password_hash: impl Fn(&str) -> Option<String>,
    ) -> Option<Session> {
        let mut parts = value.split('.');
        let (user_b64, expiry, nonce, sig) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let user = String::from_utf8(B64.decode(user_b64).ok()?).ok()?;
        let hash = password_hash(&user)?;
        let payload = format!("{user_b64}.{expiry}.{nonce}");
        let want = self.mac(&[b"session", payload.as_bytes(), hash.as_bytes()]);
        let got = B64.decode(sig).ok()?;
        if !constant_eq(&want, &got) {
            return None;
        }
        let expiry = expiry.parse::<u64>().ok()?;
        if expiry < now_secs() {
            return None;
        }
        Some(Session {
            user,
            nonce: nonce.to_owned(),
            expiry,
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

/// The Redis key (in the first environment) that marks a session as
/// ended: set at logout with the session's remaining lifetime as its TTL,
/// so every hanoi-web process sharing that Redis refuses the cookie.
pub fn revoked_key(nonce: &str) -> String {
    format!("hanoi-web:revoked:{nonce}")
}

/// The sessions this process ended (logouts), until they expire: honoured
/// even while the first environment's Redis (where logouts are shared with
/// other processes) cannot be reached. Only a logged-in user can add one,
/// and an entry goes when its session would have expired anyway.
#[derive(Default)]
pub struct Revoked {
    nonces: Mutex<HashMap<String, u64>>,
}

impl Revoked {
    pub fn add(&self, s: &Session) {
        if let Ok(mut m) = self.nonces.lock() {
            let now = now_secs();
            if m.len() >= MAX_TRACKED {
                m.retain(|_, expiry| *expiry >= now);
            }
            if m.len() < MAX_TRACKED {
                m.insert(s.nonce.clone(), s.expiry);
            }
        }
    }

    pub fn contains(&self, s: &Session) -> bool {
        self.nonces
            .lock()
            .map_or(true, |m| m.contains_key(&s.nonce))
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

/// The address a login comes from: the peer's, unless the peer is one of
/// `trusted_proxies`: then the right-most address of `X-Forwarded-For` (or
/// `Forwarded`'s `for=`) that is not a trusted proxy (each proxy appends
/// the address it saw, so that one was written by a proxy we trust; what
/// is left of it could be anything the client sent). Should the request
/// carry both headers and they disagree, the peer's address: a client
/// cannot pick its address by adding the header its proxy does not set.
pub fn client_ip(
    peer: std::net::IpAddr,
    headers: &axum::http::HeaderMap,
    trusted: &[crate::config::Cidr],
) -> std::net::IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: std::net::IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let walk = |hops: Vec<String>| -> Option<std::net::IpAddr> {
        let mut last = peer;
        for hop in hops.iter().rev() {
            // An entry that is no address (`unknown`, `_hidden`, garbage):
            // the last trusted hop's address stands for the client.
            let Some(ip) = parse_hop(hop) else {
                return Some(last);
            };
            if !is_trusted(ip) {
                return Some(ip);
            }
            last = ip;
        }
        // Everything trusted: the left-most.
        Some(last)
    };
    let values = |name: &str| -> Option<Vec<String>> {
        let mut hops = Vec::new();
        let mut any = false;
        for v in headers.get_all(name) {
            any = true;
            hops.extend(v.to_str().ok()?.split(',').map(|h| h.trim().to_owned()));
        }
        any.then_some(hops)
    };
    let xff = values("x-forwarded-for").and_then(walk);
    let fwd = values("forwarded")
        .map(|elements| {
            elements
                .iter()
                .filter_map(|e| {
                    e.split(';').find_map(|pair| {
                        let (k, v) = pair.trim().split_once('=')?;
                        k.trim()
                            .eq_ignore_ascii_case("for")
                            .then(|| v.trim().trim_matches('"').to_owned())
                    })
                })
                .collect()
        })
        .and_then(walk);
    match (xff, fwd) {
        (Some(a), Some(b)) if a != b => peer,
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => peer,
    }
}

/// An address as a forwarding header writes it: `1.2.3.4`, `1.2.3.4:80`,
/// `2001:db8::1`, `[2001:db8::1]:443`.
fn parse_hop(hop: &str) -> Option<std::net::IpAddr> {
    use std::net::{IpAddr, SocketAddr};
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sa) = hop.parse::<SocketAddr>() {
        return Some(sa.ip().to_canonical());
    }
    let inner = hop.strip_prefix('[')?.split(']').next()?;
    inner.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// What the login limit counts an address as: an IPv4 address, or the /64
/// of an IPv6 one (one host usually has a whole /64).
pub fn address_key(ip: std::net::IpAddr) -> String {
    match ip.to_canonical() {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// Failed logins per client address and per account name, in a window of
/// 5 minutes. Only failures count, so the owner of an account is slowed
/// as little as possible:
///
/// - an address with `max` failures (on any names) waits;
/// - a name with `max` failures (from any addresses) is "under attack":
///   it can then be tried only from addresses that have not failed in the
///   window, once each. The right password from a clean address still
///   logs in; an attacker gets one more guess per new address.
///
/// Every name is counted, account or not, so an existing name and an
/// unknown one are refused alike (no account-name oracle); a name is
/// counted as its digest, so long names cost no more memory. An attempt
/// counts as a failure as it starts, under the lock that checks the limit
/// (parallel guesses cannot all pass the check), and a success takes it
/// back. Each table holds at most [`MAX_TRACKED`] entries; when one is full
/// the oldest make room (it never refuses logins for being full).
pub struct LoginLimiter {
    max: u32,
    window: Duration,
    tables: Mutex<Tables>,
}

#[derive(Default)]
struct Tables {
    names: Counts,
    addresses: Counts,
}

/// Failures by key: how many, and when the first of the window was.
#[derive(Default)]
struct Counts(HashMap<String, (u32, Instant)>);

/// At most this many addresses (and as many names) are tracked.
const MAX_TRACKED: usize = 100_000;

impl Counts {
    fn get(&self, k: &str, now: Instant, window: Duration) -> u32 {
        self.0
            .get(k)
            .filter(|(_, s)| now.duration_since(*s) < window)
            .map_or(0, |(n, _)| *n)
    }

    fn add(&mut self, k: &str, now: Instant, window: Duration) {
        if !self.0.contains_key(k) && self.0.len() >= MAX_TRACKED {
            // Full: drop the expired entries, and if that is not enough the
            // oldest tenth (sorted once for many inserts: no quadratic cost).
            self.0.retain(|_, (_, s)| now.duration_since(*s) < window);
            if self.0.len() >= MAX_TRACKED {
                let mut starts: Vec<Instant> = self.0.values().map(|(_, s)| *s).collect();
                let cut = MAX_TRACKED / 10;
                starts.select_nth_unstable(cut);
                let oldest = starts[cut];
                self.0.retain(|_, (_, s)| *s > oldest);
            }
        }
        let e = self.0.entry(k.to_owned()).or_insert((0, now));
        if now.duration_since(e.1) >= window {
            *e = (0, now);
        }
        e.0 += 1;
    }

    /// Takes back one attempt counted by `add`.
    fn undo(&mut self, k: &str) {
        if let Some(e) = self.0.get_mut(k) {
            e.0 = e.0.saturating_sub(1);
            if e.0 == 0 {
                self.0.remove(k);
            }
        }
    }
}

/// A name as the limiter keeps it: its digest.
fn name_key(name: &str) -> String {
    use sha2::{Digest, Sha256};
    B64.encode(&Sha256::digest(name.as_bytes())[..16])
}

impl LoginLimiter {
    pub fn new(max: u32) -> LoginLimiter {
        LoginLimiter {
            max,
            window: Duration::from_secs(300),
            tables: Mutex::new(Tables::default()),
        }
    }

    /// Whether a login of `name` from `address` may be tried now; if so
    /// it is counted as a failure until [`LoginLimiter::succeeded`] says
    /// otherwise.
    pub fn begin(&self, name: &str, address: &str) -> bool {
        let Ok(mut t) = self.tables.lock() else {
            return false;
        };
        let now = Instant::now();
        let name = name_key(name);
        let adr = t.addresses.get(address, now, self.window);
        let nm = t.names.get(&name, now, self.window);
        if adr >= self.max || (nm >= self.max && adr > 0) {
            return false;
        }
        t.addresses.add(address, now, self.window);
        t.names.add(&name, now, self.window);
        true
    }

    /// The login begun for `name` from `address` succeeded: it was no
    /// failure.
    pub fn succeeded(&self, name: &str, address: &str) {
        if let Ok(mut t) = self.tables.lock() {
            t.addresses.undo(address);
            t.names.undo(&name_key(name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_and_csrf() {
        let k = Keys::new(None);
        let hash = |u: &str| (u == "al.ice").then(|| "hash-1".to_owned());
        let v = k.issue("al.ice", "hash-1");
        let s = k.check(&v, hash).unwrap();
        assert_eq!(s.user, "al.ice");
        assert!(s.remaining() > 11 * 3600);
        assert!(k.csrf_ok(&s, &k.csrf(&s)));
        assert!(!k.csrf_ok(&s, "nope"));
        let mut forged = v.clone();
        forged.insert(0, 'x');
        assert!(k.check(&forged, hash).is_none());
        assert!(Keys::new(None).check(&v, hash).is_none());
        assert!(k.check("a.b.c", hash).is_none());
        // A new password, or the account gone: the session is over.
        assert!(k.check(&v, |_| Some("hash-2".to_owned())).is_none());
        assert!(k.check(&v, |_| None).is_none());
        let r = Revoked::default();
        assert!(!r.contains(&s));
        r.add(&s);
        assert!(r.contains(&s));
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
    fn only_failures_count_and_the_owner_gets_in_from_a_clean_address() {
        let l = LoginLimiter::new(3);
        // Successes take their attempt back: any number from one address.
        for _ in 0..10 {
            assert!(l.begin("a", "ip:1"));
            l.succeeded("a", "ip:1");
        }
        assert!(l.begin("b", "ip:1"), "another user from the same address");
        // Three failures for `a` from ip:2: ip:2 waits, `a` is under attack.
        assert!(l.begin("a", "ip:2") && l.begin("a", "ip:2") && l.begin("a", "ip:2"));
        assert!(!l.begin("a", "ip:2"), "the fourth failure in the window");
        assert!(
            !l.begin("z", "ip:2"),
            "the address waits, whatever the name"
        );
        // `a` from an address that has not failed: tried (the owner gets in).
        assert!(l.begin("a", "ip:3"), "a clean address may try");
        assert!(!l.begin("a", "ip:3"), "once, while `a` is under attack");
        assert!(l.begin("c", "ip:3"), "other names from it still may");
    }

    #[test]
    fn known_and_unknown_names_are_limited_alike() {
        // The limiter does not know which names are accounts: a name's
        // answers depend only on the failures seen.
        for name in ["admin", "no-such-account"] {
            let l = LoginLimiter::new(2);
            let seen: Vec<bool> = ["ip:1", "ip:2", "ip:3", "ip:3", "ip:1"]
                .iter()
                .map(|a| l.begin(name, a))
                .collect();
            assert_eq!(seen, [true, true, true, false, false], "{name}");
        }
    }

    #[test]
    fn a_full_table_makes_room_instead_of_refusing() {
        let l = LoginLimiter::new(3);
        for i in 0..MAX_TRACKED + 5 {
            assert!(l.begin(&format!("n{i}"), &format!("ip:{i}")), "address {i}");
        }
        assert!(l.begin("a", "ip:new"));
        let t = l.tables.lock().unwrap();
        assert!(t.addresses.0.len() <= MAX_TRACKED && t.names.0.len() <= MAX_TRACKED);
        assert!(t.addresses.0.contains_key("ip:new"));
    }

    #[test]
    fn the_client_address_behind_trusted_proxies() {
        use axum::http::HeaderMap;
        let trusted: Vec<crate::config::Cidr> = ["10.0.0.0/8", "::1"]
            .iter()
            .map(|c| crate::config::Cidr::parse(c).unwrap())
            .collect();
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.append(*k, v.parse().unwrap());
            }
            h
        };
        let xff = headers(&[("x-forwarded-for", "6.6.6.6, 1.2.3.4, 10.0.0.2")]);
        // A peer that is no trusted proxy: its headers are not believed.
        assert_eq!(client_ip(ip("9.9.9.9"), &xff, &trusted), ip("9.9.9.9"));
        assert_eq!(client_ip(ip("10.0.0.1"), &xff, &[]), ip("10.0.0.1"));
        // The right-most address that is no trusted proxy.
        assert_eq!(client_ip(ip("10.0.0.1"), &xff, &trusted), ip("1.2.3.4"));
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.1"), &xff, &trusted),
            ip("1.2.3.4")
        );
        let fwd = headers(&[(
            "forwarded",
            "for=6.6.6.6, for=\"[2001:db8::7]:4711\";proto=https, for=10.0.0.2",
        )]);
        assert_eq!(client_ip(ip("::1"), &fwd, &trusted), ip("2001:db8::7"));
        let unknown = headers(&[("forwarded", "for=unknown, for=10.0.0.2")]);
        assert_eq!(client_ip(ip("::1"), &unknown, &trusted), ip("10.0.0.2"));
        // Both headers, disagreeing: the peer.
        let both = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=5.5.5.5")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &both, &trusted), ip("10.0.0.1"));
        assert_eq!(address_key(ip("2001:db8:1:2:3:4:5:6")), "2001:db8:1:2::/64");
        assert_eq!(address_key(ip("::ffff:1.2.3.4")), "1.2.3.4");
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
