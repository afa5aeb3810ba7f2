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
/// The work one step may do, in bytes of ids looked at (and matched, in
/// time linear in them: [`Glob`]). A step stops early when it is spent
/// (returning fewer ids and a cursor to go on from, as SSCAN may), so one
/// call stays well under a millisecond whatever the ids and the pattern;
/// it always covers at least one slot of the set, so a walk ends.
pub const WORK_BUDGET: usize = 128 * 1024;

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
        let glob = self.pattern.map(Glob::new);
        let mut out = Vec::new();
        let next = set.scan_within(self.cursor, self.count, WORK_BUDGET, |id| {
            if glob.as_ref().is_none_or(|g| g.is_match(id)) {
                out.push(id);
            }
            // Each byte: read and replied, and matched in a few operations
            // on each word of the state.
            (id.len() + 16) * (1 + glob.as_ref().map_or(0, Glob::words))
        });
        (next, out)
    }
}

/// Redis's glob (`SCAN MATCH`): `*`, `?`, `[abc]`, `[^a]`, `[a-z]`, and `\\`
/// to take the next byte as it is. Linear in the id whatever the pattern:
/// see [`Glob`].
pub fn glob_match(pattern: &[u8], s: &[u8]) -> bool {
    Glob::new(pattern).is_match(s)
}

/// Words of the state set: one bit per token of a pattern of at most
/// [`MAX_PATTERN`] bytes, and one for "all matched".
const WORDS: usize = MAX_PATTERN / 64 + 1;
type Bits = [u64; WORDS];

/// A glob compiled to a bit-parallel NFA (Shift-And with stars): bit `k` of
/// the state says "the first `k` tokens have matched". Each byte of an id
/// moves every bit at once in a few word operations, so a match costs
/// O(id length) with no backtracking (the review's `*aaa…ab` over 64 KiB
/// ids took 2.3 s with a backtracking matcher).
pub struct Glob {
    /// Per byte: the tokens that consume it (literals, `?`, classes).
    takes: Box<[Bits; 256]>,
    /// The `*` tokens (adjacent stars folded into one).
    stars: Bits,
    /// The bit set when every token has matched.
    accept: usize,
    /// The words that hold a token's bit: the only ones a byte moves.
    words: usize,
    /// The tokens before the first `*` and after the last one: each takes
    /// exactly one byte at the id's start or end, checked first (an id
    /// that cannot end as the pattern does is refused without a scan).
    head: usize,
    tail: usize,
    /// Whether the pattern has a `*` at all (else the id's length is fixed).
    star: bool,
}

fn bit(b: &mut Bits, k: usize) {
    b[k / 64] |= 1 << (k % 64);
}

impl Glob {
    /// Compiles `pattern` (at most [`MAX_PATTERN`] bytes: longer ones are
    /// refused by [`IdsQuery::parse`]; here their tail is ignored).
    pub fn new(pattern: &[u8]) -> Glob {
        let pattern = &pattern[..pattern.len().min(MAX_PATTERN)];
        let mut takes = Box::new([[0u64; WORDS]; 256]);
        let mut stars = [0u64; WORDS];
        let (mut p, mut k) = (0, 0);
        while p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    if k == 0 || stars[(k - 1) / 64] & (1 << ((k - 1) % 64)) == 0 {
                        bit(&mut stars, k);
                        k += 1;
                    }
                    p += 1;
                    continue;
                }
                b'?' => {
                    for t in takes.iter_mut() {
                        bit(t, k);
                    }
                    p += 1;
                }
                b'[' => match class(&pattern[p..], 0) {
                    Some((_, len)) => {
                        for c in 0..=255u8 {
                            if class(&pattern[p..], c).is_some_and(|(hit, _)| hit) {
                                bit(&mut takes[usize::from(c)], k);
                            }
                        }
                        p += len;
                    }
                    // An unclosed `[` is itself.
                    None => {
                        bit(&mut takes[usize::from(b'[')], k);
                        p += 1;
                    }
                },
                b'\\' if p + 1 < pattern.len() => {
                    bit(&mut takes[usize::from(pattern[p + 1])], k);
                    p += 2;
                }
                c => {
                    bit(&mut takes[usize::from(c)], k);
                    p += 1;
                }
            }
            k += 1;
        }
        let is_star = |t: usize| stars[t / 64] & (1 << (t % 64)) != 0;
        let head = (0..k).find(|&t| is_star(t)).unwrap_or(k);
        let tail = (0..k).rev().find(|&t| is_star(t)).map_or(0, |t| k - 1 - t);
        Glob {
            takes,
            stars,
            accept: k,
            words: k / 64 + 1,
            head,
            tail,
            star: head < k,
        }
    }

    /// The work of matching one byte (the words of the state it moves).
    pub fn words(&self) -> usize {
        self.words
    }

    /// Does the whole of `id` match?
    pub fn is_match(&self, id: &[u8]) -> bool {
        let has = |t: usize, c: u8| self.takes[usize::from(c)][t / 64] & (1 << (t % 64)) != 0;
        if !self.star && id.len() != self.accept || id.len() < self.head + self.tail {
            return false;
        }
        let end = id.len() - self.tail;
        if !(0..self.head).all(|t| has(t, id[t]))
            || !(0..self.tail).all(|j| has(self.accept - self.tail + j, id[end + j]))
        {
            return false;
        }
        match self.words {
            1 => self.run::<1>(id),
            2 => self.run::<2>(id),
            3 => self.run::<3>(id),
            4 => self.run::<4>(id),
            _ => self.run::<WORDS>(id),
        }
    }

    /// [`Glob::is_match`] over the first `W` words of the state (the
    /// compiler unrolls each).
    fn run<const W: usize>(&self, id: &[u8]) -> bool {
        let mut stars = [0u64; W];
        stars.copy_from_slice(&self.stars[..W]);
        let close = |s: &mut [u64; W]| {
            let mut carry = 0;
            for w in 0..W {
                let starred = s[w] & stars[w];
                s[w] |= (starred << 1) | carry;
                carry = starred >> 63;
            }
        };
        let mut s = [0u64; W];
        s[0] = 1;
        close(&mut s);
        for &c in id {
            let takes = &self.takes[usize::from(c)];
            let mut carry = 0;
            let mut any = 0;
            for w in 0..W {
                let moved = s[w] & takes[w];
                s[w] = (moved << 1) | carry | (s[w] & stars[w]);
                carry = moved >> 63;
                any |= s[w];
            }
            if any == 0 {
                return false;
            }
            close(&mut s);
        }
        s[self.accept / 64] & (1 << (self.accept % 64)) != 0
    }
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

    /// The backtracking matcher this module had (Redis's own algorithm):
    /// the reference the bit-parallel one is checked against.
    fn greedy(pattern: &[u8], s: &[u8]) -> bool {
        let (mut p, mut i) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while i < s.len() {
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
                        if let Some((matched, after)) = class(&pattern[p..], s[i]) {
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

    #[test]
    fn the_linear_glob_agrees_with_the_backtracking_one() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let pats = b"ab*?[]^-\\";
        let text = b"ab[]-\\*?";
        for _ in 0..200_000 {
            let p: Vec<u8> = (0..next(9))
                .map(|_| pats[next(pats.len() as u64) as usize])
                .collect();
            let s: Vec<u8> = (0..next(9))
                .map(|_| text[next(text.len() as u64) as usize])
                .collect();
            assert_eq!(
                glob_match(&p, &s),
                greedy(&p, &s),
                "{:?} {:?}",
                p.escape_ascii().to_string(),
                s.escape_ascii().to_string()
            );
        }
    }

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
            ("[", "x", false),
            ("a**b", "ab", true),
            ("a**b", "axxb", true),
            ("*?", "", false),
            ("?*", "x", true),
            ("\\", "\\", true),
            ("[]]", "]", true),
            ("[^]]", "]", false),
            ("*a[0-9]?", "xxa5z", true),
            ("*a[0-9]?", "xxa5", false),
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
