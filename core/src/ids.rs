//! `HANOI.IDS key USERS|BLOCKED cursor [MATCH pattern] [COUNT n]`: a flag's
//! registered or blocked ids a page at a time, with SSCAN's guarantee (see
//! [`IdSet::scan`]). The arguments are parsed here, the glob too.

use crate::{quote, Error, Flag, IdSet};

/// Which ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdList {
    Users,
    Blocked,
}

/// The most ids a step examines (`COUNT`).
pub const MAX_COUNT: usize = 10_000;
/// The longest `MATCH` pattern.
pub const MAX_PATTERN: usize = 256;
/// The work one step may do, in bytes looked at: each id's bytes, and each
/// step of matching it against the pattern. A step stops early when it is
/// spent (returning fewer ids and a cursor to go on from, as SSCAN may), so
/// one call stays well under a millisecond whatever the ids and the
/// pattern; it always covers at least one slot of the set, so a walk ends.
pub const WORK_BUDGET: usize = 256 * 1024;

/// A parsed `HANOI.IDS` (the arguments after the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdsQuery<'a> {
    pub list: IdList,
    pub cursor: u64,
    pub pattern: Option<&'a [u8]>,
    pub count: usize,
}

fn usage() -> Error {
    Error::Usage("usage: HANOI.IDS key USERS|BLOCKED cursor [MATCH pattern] [COUNT n]".into())
}

impl<'a> IdsQuery<'a> {
    pub fn parse(args: &[&'a [u8]]) -> Result<IdsQuery<'a>, Error> {
        let (Some(list), Some(cursor)) = (args.first(), args.get(1)) else {
            return Err(usage());
        };
        let list = if list.eq_ignore_ascii_case(b"USERS") {
            IdList::Users
        } else if list.eq_ignore_ascii_case(b"BLOCKED") {
            IdList::Blocked
        } else {
            return Err(Error::Usage(format!(
                "expected USERS or BLOCKED, got '{}'",
                quote(list)
            )));
        };
        let cursor = std::str::from_utf8(cursor)
            .ok()
            .filter(|c| !c.starts_with('+'))
            .and_then(|c| c.parse::<u64>().ok())
            .ok_or_else(|| Error::Usage(format!("invalid cursor '{}'", quote(cursor))))?;
        let mut q = IdsQuery {
            list,
            cursor,
            pattern: None,
            count: 10,
        };
        let mut rest = args[2..].iter();
        while let Some(opt) = rest.next() {
            let value = rest.next().ok_or_else(usage)?;
            if opt.eq_ignore_ascii_case(b"MATCH") && q.pattern.is_none() {
                if value.len() > MAX_PATTERN {
                    return Err(Error::Usage(format!(
                        "a MATCH pattern has at most {MAX_PATTERN} bytes"
                    )));
                }
                q.pattern = Some(value);
            } else if opt.eq_ignore_ascii_case(b"COUNT") {
                q.count = std::str::from_utf8(value)
                    .ok()
                    .and_then(|c| c.parse::<usize>().ok())
                    .filter(|c| (1..=MAX_COUNT).contains(c))
                    .ok_or_else(|| {
                        Error::Usage(format!("COUNT must be an integer from 1 to {MAX_COUNT}"))
                    })?;
            } else {
                return Err(usage());
            }
        }
        Ok(q)
    }

    /// The step: the next cursor (0 at the end) and the ids found that
    /// match the pattern.
    pub fn run<'f>(&self, flag: &'f Flag) -> (u64, Vec<&'f [u8]>) {
        let set: &'f IdSet = match self.list {
            IdList::Users => flag.users(),
            IdList::Blocked => flag.blocked(),
        };
        let mut out = Vec::new();
        let next = set.scan_within(self.cursor, self.count, WORK_BUDGET, |id| {
            let mut work = id.len();
            if self.pattern.is_none_or(|p| glob(p, id, &mut work)) {
                out.push(id);
            }
            work
        });
        (next, out)
    }
}

/// Redis's glob (`SCAN MATCH`): `*`, `?`, `[abc]`, `[^a]`, `[a-z]`, and `\`
/// to take the next byte as it is. Backtracks to the last `*` only:
/// O(pattern × id) at worst.
pub fn glob_match(pattern: &[u8], s: &[u8]) -> bool {
    glob(pattern, s, &mut 0)
}

/// [`glob_match`], adding the bytes it looked at to `work`.
fn glob(pattern: &[u8], s: &[u8], work: &mut usize) -> bool {
    let (mut p, mut i) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        *work += 1;
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star = Some((p, i));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    i += 1;
                    continue;
                }
                b'[' => {
                    let class = class(&pattern[p..], s[i]);
                    *work += class.map_or(pattern.len() - p, |(_, after)| after);
                    if let Some((matched, after)) = class {
                        if matched {
                            p += after;
                            i += 1;
                            continue;
                        }
                    } else if s[i] == b'[' {
                        // An unclosed `[` is itself.
                        p += 1;
                        i += 1;
                        continue;
                    }
                }
                b'\\' if p + 1 < pattern.len() => {
                    if pattern[p + 1] == s[i] {
                        p += 2;
                        i += 1;
                        continue;
                    }
                }
                c => {
                    if c == s[i] {
                        p += 1;
                        i += 1;
                        continue;
                    }
                }
            }
        }
        // A mismatch: let the last `*` take one more byte, or fail.
        match star {
            Some((sp, si)) => {
                p = sp + 1;
                i = si + 1;
                star = Some((sp, si + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// A `[...]` class at the start of `pattern`: whether `c` is in it and the
/// class's length; None when it is not closed.
fn class(pattern: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut j = 1;
    let negate = pattern.get(j) == Some(&b'^');
    if negate {
        j += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let &b = pattern.get(j)?;
        if b == b']' && !first {
            return Some((hit != negate, j + 1));
        }
        first = false;
        let (lo, step) = if b == b'\\' {
            (*pattern.get(j + 1)?, 2)
        } else {
            (b, 1)
        };
        if pattern.get(j + step) == Some(&b'-')
            && pattern.get(j + step + 1).is_some_and(|&e| e != b']')
        {
            let hi = pattern[j + step + 1];
            let (a, z) = if lo <= hi { (lo, hi) } else { (hi, lo) };
            hit |= (a..=z).contains(&c);
            j += step + 2;
        } else {
            hit |= lo == c;
            j += step;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_as_redis() {
        for (p, s, want) in [
            ("*", "", true),
            ("*", "abc", true),
            ("a*", "abc", true),
            ("a*", "bac", false),
            ("*c", "abc", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("h[ae]llo", "hello", true),
            ("h[ae]llo", "hillo", false),
            ("h[^e]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-b]llo", "hbllo", true),
            ("h[a-b]llo", "hcllo", false),
            ("a\\*b", "a*b", true),
            ("a\\*b", "axb", false),
            ("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaa", false),
            ("user-*-de", "user-42-de", true),
            ("[", "[", true),
        ] {
            assert_eq!(glob_match(p.as_bytes(), s.as_bytes()), want, "{p} {s}");
        }
    }

    #[test]
    fn parses_and_refuses() {
        let q = IdsQuery::parse(&[b"users", b"0", b"MATCH", b"a*", b"COUNT", b"100"]).unwrap();
        assert_eq!(
            q,
            IdsQuery {
                list: IdList::Users,
                cursor: 0,
                pattern: Some(b"a*"),
                count: 100
            }
        );
        for bad in [
            &[][..],
            &[&b"USERS"[..]],
            &[b"ALL", b"0"],
            &[b"USERS", b"-1"],
            &[b"USERS", b"x"],
            &[b"USERS", b"0", b"COUNT"],
            &[b"USERS", b"0", b"COUNT", b"0"],
            &[b"USERS", b"0", b"COUNT", b"10001"],
            &[b"USERS", b"0", b"LIMIT", b"1"],
        ] {
            assert!(IdsQuery::parse(bad).is_err(), "{bad:?}");
        }
    }
}

#[cfg(test)]
mod rollout_tests {
    use crate::Rollout;

    #[test]
    fn rollout_walks_ids_as_the_module() {
        let mut r = Rollout::new();
        r.run("DEFINE", "f", &["PERCENTAGE", "5"]).unwrap();
        r.run("REGISTER", "f", &["USER", "a1", "a2", "b1"]).unwrap();
        let (next, mut ids) = r
            .ids("f", &["USERS", "0", "MATCH", "a*", "COUNT", "100"])
            .unwrap();
        ids.sort();
        assert_eq!((next, ids), (0, vec![b"a1".to_vec(), b"a2".to_vec()]));
        assert_eq!(r.ids("missing", &["BLOCKED", "0"]).unwrap(), (0, vec![]));
        assert!(r.ids("f", &["USERS"]).is_err());
    }
}
