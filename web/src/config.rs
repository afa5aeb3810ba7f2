//! The TOML config file: accounts, API keys and settings.

use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Viewer,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    pub password_hash: String,
    /// The role in every environment ...
    pub role: Role,
    /// ... unless overridden here, by environment name.
    #[serde(default)]
    pub roles: std::collections::BTreeMap<String, Role>,
}

impl User {
    /// The user's role in the environment `env`.
    pub fn role_in(&self, env: &str) -> Role {
        self.roles.get(env).copied().unwrap_or(self.role)
    }
}

/// One `[[environment]]`: a Redis (standalone or a cluster) of its own.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    pub name: String,
    pub redis: String,
    #[serde(default)]
    pub cluster: bool,
    #[serde(default)]
    pub redis_username: Option<String>,
    #[serde(default)]
    pub redis_password: Option<String>,
    /// Changes need a confirmation naming the environment.
    #[serde(default)]
    pub protected: bool,
    /// N ≥ 1: a change here is a change request, applied once N other
    /// writers approved it; every change needs a comment. 0: changes are
    /// made at once.
    #[serde(default)]
    pub approvals: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    pub key: String,
    #[serde(default)]
    pub prefix: String,
    /// The one environment the key evaluates in (default: the first).
    #[serde(default)]
    pub environment: Option<String>,
}

fn default_stale_days() -> u64 {
    30
}

fn default_page_size() -> usize {
    50
}

fn default_audit_length() -> usize {
    10_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub user: Vec<User>,
    #[serde(default)]
    pub api_key: Vec<ApiKey>,
    /// Environments, each its own Redis; none: `--redis` is the single
    /// environment `default`.
    #[serde(default)]
    pub environment: Vec<Environment>,
    /// A flag not evaluated for this many days gets the "stale" badge.
    #[serde(default = "default_stale_days")]
    pub stale_days: u64,
    /// No writes at all, whatever the role.
    #[serde(default)]
    pub read_only: bool,
    /// Flags per page of the list.
    #[serde(default = "default_page_size")]
    pub page_size: usize,
    /// Audit entries kept per environment (the stream's `MAXLEN ~`).
    #[serde(default = "default_audit_length")]
    pub audit_length: usize,
    /// Key that signs session cookies (at least 32 characters). Without it a
    /// random key is drawn at start, so sessions end when the server restarts.
    #[serde(default)]
    pub session_secret: Option<String>,
    /// Mark the session cookie `Secure` (set when served over HTTPS).
    #[serde(default)]
    pub secure_cookies: bool,
    /// Redis ACL user and password (else those of the `--redis` URL).
    #[serde(default)]
    pub redis_username: Option<String>,
    #[serde(default)]
    pub redis_password: Option<String>,
    /// Origins of browser apps allowed to call OFREP (CORS), e.g.
    /// `["https://app.example.com"]`; `["*"]` allows any. Empty: none.
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// How long OFREP keeps a flag's description (type, metadata) and the
    /// list of flags, in ms; values and reasons are always evaluated live.
    /// 0: no cache.
    #[serde(default = "default_ofrep_cache_ms")]
    pub ofrep_cache_ms: u64,
    /// Failed logins allowed per account and per client address in 5 minutes.
    #[serde(default = "default_login_attempts")]
    pub login_attempts: u32,
    /// The address people and apps reach hanoi-web at, e.g.
    /// `https://flags.example.com` (behind a proxy): requests for another
    /// `Host` are refused, and a write's `Origin` must be exactly this.
    /// Without it a write's Origin must name the request's Host, with
    /// `https` when `secure_cookies` is set and `http` otherwise.
    #[serde(default)]
    pub public_url: Option<String>,
    /// The reverse proxies whose `X-Forwarded-For` / `Forwarded` headers
    /// are believed, as IPs or CIDRs (`["10.0.0.0/8", "::1"]`): a login's
    /// address is the right-most one in the header that is not a trusted
    /// proxy. Empty (the default): the headers are ignored.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// `trusted_proxies`, parsed.
    #[serde(skip)]
    pub proxies: Vec<Cidr>,
}

/// An address range: an IP and how many leading bits of it count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    ip: std::net::IpAddr,
    bits: u8,
}

impl Cidr {
    /// `10.0.0.0/8`, `192.168.1.7`, `fd00::/8`, `::1`.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (ip, bits) = match s.trim().split_once('/') {
            Some((ip, bits)) => (ip, Some(bits.parse::<u8>().ok()?)),
            None => (s.trim(), None),
        };
        let ip: std::net::IpAddr = ip.parse().ok()?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        (bits <= max).then_some(Cidr {
            ip: ip.to_canonical(),
            bits,
        })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        match (self.ip, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn default_ofrep_cache_ms() -> u64 {
    1000
}

fn default_login_attempts() -> u32 {
    5
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Config::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        let mut config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        for p in &config.trusted_proxies {
            let cidr = Cidr::parse(p).ok_or_else(|| {
                format!("trusted_proxies: {p:?} is not an IP or a CIDR (10.0.0.0/8, ::1)")
            })?;
            config.proxies.push(cidr);
        }
        for u in &config.user {
            if u.name.is_empty() {
                return Err("a [[user]] has an empty name".into());
            }
            if argon2::PasswordHash::new(&u.password_hash).is_err() {
                return Err(format!(
                    "user {:?}: password_hash is not a PHC string (make one with `hanoi-web hash-password`)",
                    u.name
                ));
            }
        }
        let mut names: Vec<&str> = Vec::new();
        for e in &config.environment {
            if e.name.is_empty()
                || !e
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            {
                return Err(format!(
                    "environment {:?}: a name is letters, digits, '-', '_' or '.'",
                    e.name
                ));
            }
            if names.contains(&e.name.as_str()) {
                return Err(format!("environment {:?} is defined twice", e.name));
            }
            names.push(&e.name);
        }
        let known = config.env_names();
        let unknown = |what: String, name: &str| -> Result<(), String> {
            if known.iter().any(|k| k == name) {
                Ok(())
            } else {
                Err(format!(
                    "{what}: unknown environment {name:?} (known: {})",
                    known.join(", ")
                ))
            }
        };
        for u in &config.user {
            for env in u.roles.keys() {
                unknown(format!("user {:?} roles", u.name), env)?;
            }
        }
        for k in &config.api_key {
            if k.key.len() < 16 {
                return Err("an [[api_key]] key is shorter than 16 characters".into());
            }
            if let Some(env) = &k.environment {
                unknown("an [[api_key]]".into(), env)?;
            }
        }
        if let Some(s) = &config.session_secret {
            if s.len() < 32 {
                return Err("session_secret is shorter than 32 characters".into());
            }
        }
        if let Some(u) = &config.public_url {
            if config.public_origin().is_none() {
                return Err(format!(
                    "public_url {u:?} is not scheme://host[:port] (http or https, no path)"
                ));
            }
        }
        if config.page_size == 0 {
            return Err("page_size must be at least 1".into());
        }
        if !(1..=10_000_000).contains(&config.audit_length) {
            return Err("audit_length must be between 1 and 10000000".into());
        }
        for e in &config.environment {
            if e.approvals > 16 {
                return Err(format!("environment {:?}: approvals is at most 16", e.name));
            }
        }
        Ok(config)
    }

    /// `public_url` as (origin, host): `("https://flags.example.com",
    /// "flags.example.com")`; None without it or when it is not an origin.
    pub fn public_origin(&self) -> Option<(String, String)> {
        let u = self.public_url.as_deref()?.trim_end_matches('/');
        let host = u
            .strip_prefix("https://")
            .or_else(|| u.strip_prefix("http://"))?;
        if host.is_empty() || host.contains(['/', '?', '#', '@', ' ']) {
            return None;
        }
        Some((u.to_ascii_lowercase(), host.to_ascii_lowercase()))
    }

    /// The environments' names, in order: `["default"]` without any
    /// `[[environment]]`.
    pub fn env_names(&self) -> Vec<String> {
        if self.environment.is_empty() {
            vec!["default".to_owned()]
        } else {
            self.environment.iter().map(|e| e.name.clone()).collect()
        }
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.user.iter().find(|u| u.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let c = Config::parse(
            r#"
stale_days = 14
[[user]]
name = "alice"
password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$cmFuZG9tcmFuZG9tcmFuZG9tcmFuZG9tcmFuZG9t"
role = "admin"
[[api_key]]
key = "0123456789abcdef0123"
prefix = "mobile:"
"#,
        )
        .unwrap();
        assert_eq!(c.stale_days, 14);
        assert_eq!(c.user[0].role, Role::Admin);
        assert_eq!(c.api_key[0].prefix, "mobile:");
        assert!(Config::parse("[[user]]\nname='a'\npassword_hash='x'\nrole='admin'").is_err());
        assert_eq!(c.env_names(), vec!["default"]);
    }

    #[test]
    fn trusted_proxies() {
        let c =
            Config::parse("trusted_proxies = ['10.0.0.0/8', '192.168.1.7', 'fd00::/8']").unwrap();
        let has = |ip: &str| c.proxies.iter().any(|p| p.contains(ip.parse().unwrap()));
        assert!(has("10.1.2.3") && has("192.168.1.7") && has("fd00::1"));
        assert!(has("::ffff:10.9.9.9"), "an IPv4-mapped address is its IPv4");
        assert!(!has("11.0.0.1") && !has("192.168.1.8") && !has("fe00::1"));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        for bad in ["10.0.0.0/33", "nope", "::1/129", "10.0.0.0/"] {
            assert!(
                Config::parse(&format!("trusted_proxies = ['{bad}']")).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn environments_and_unknown_names() {
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$cmFuZG9tcmFuZG9tcmFuZG9tcmFuZG9tcmFuZG9t";
        let envs = "[[environment]]\nname='staging'\nredis='redis://a'\n[[environment]]\nname='production'\nredis='redis://b'\nprotected=true\n";
        let c = Config::parse(&format!(
            "{envs}[[user]]\nname='ana'\npassword_hash='{hash}'\nrole='admin'\nroles={{production='viewer'}}\n[[api_key]]\nkey='0123456789abcdef0123'\nenvironment='production'\n"
        ))
        .unwrap();
        assert_eq!(c.env_names(), vec!["staging", "production"]);
        assert_eq!(c.user[0].role_in("staging"), Role::Admin);
        assert_eq!(c.user[0].role_in("production"), Role::Viewer);
        assert!(c.environment[1].protected);
        let bad_role = format!("{envs}[[user]]\nname='ana'\npassword_hash='{hash}'\nrole='admin'\nroles={{prod='viewer'}}\n");
        assert!(Config::parse(&bad_role)
            .unwrap_err()
            .contains("unknown environment"));
        let bad_key = format!("{envs}[[api_key]]\nkey='0123456789abcdef0123'\nenvironment='qa'\n");
        assert!(Config::parse(&bad_key)
            .unwrap_err()
            .contains("unknown environment"));
        // Without environments, only `default` is known.
        assert!(
            Config::parse("[[api_key]]\nkey='0123456789abcdef0123'\nenvironment='default'\n")
                .is_ok()
        );
        assert!(
            Config::parse("[[api_key]]\nkey='0123456789abcdef0123'\nenvironment='staging'\n")
                .is_err()
        );
        assert!(Config::parse(&format!("{envs}{envs}"))
            .unwrap_err()
            .contains("twice"));
        assert!(Config::parse("[[user]]\nname='a'\npassword_hash='x'\nrole='root'").is_err());
    }
}
