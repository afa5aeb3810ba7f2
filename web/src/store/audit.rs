//! The audit log of an environment: every change made through hanoi-web
//! (who, which flag, what, the comment, the change request and its
//! approvers), a Redis Stream in that environment's Redis
//! (`XADD hanoi-web:audit MAXLEN ~ <audit_length> * ...`), shared by every
//! hanoi-web process. Entries are read back as untrusted data: a field
//! missing or not UTF-8 is read as what can be read.

use super::read::{bytes, list};
use redis::{Cmd, Value};

/// The stream's key.
pub const AUDIT_KEY: &[u8] = b"hanoi-web:audit";
/// A comment is cut to this many characters.
pub const MAX_COMMENT: usize = 1000;
/// What changed, as text, is cut to this many characters (ids pasted by
/// the ten thousand are counted, not listed).
const MAX_WHAT: usize = 2000;
/// One argument shown at most this long.
const MAX_ARG: usize = 200;

/// What an audit entry says besides the change itself.
#[derive(Debug, Clone, Default)]
pub struct Audit {
    /// The user who made the change (the proposer of a change request).
    pub user: String,
    /// Why (typed by the user), cut to [`MAX_COMMENT`].
    pub comment: String,
    /// Before the commands in the entry's `what` ("copy from staging").
    pub note: String,
    /// The change request applied, if any.
    pub request: Option<String>,
    /// Its approvers.
    pub approvers: Vec<String>,
    /// `MAXLEN ~` of the stream.
    pub length: usize,
    /// What changed, in words, instead of the commands (a copy's blob is
    /// not for reading).
    pub what: Option<String>,
}

/// A comment as kept: trimmed, at most [`MAX_COMMENT`] characters.
pub fn clean_comment(s: &str) -> String {
    s.trim().chars().take(MAX_COMMENT).collect()
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

/// A word of a command as text: lossy UTF-8, quoted when it has spaces or
/// quotes or is empty, cut to [`MAX_ARG`].
fn word(a: &[u8]) -> String {
    let t = cut(&String::from_utf8_lossy(a), MAX_ARG);
    if !t.is_empty()
        && !t
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\\' || c.is_control())
    {
        return t;
    }
    let mut out = String::from('"');
    for c in t.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&c.escape_default().to_string()),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Commands as text, `; ` between them: `HANOI.PERCENTAGE f 50`. A
/// command with more than 20 arguments shows the first 20 and how many
/// more; the whole is cut to [`MAX_WHAT`] characters.
pub fn describe(cmds: &[Cmd]) -> String {
    let text: Vec<String> = cmds
        .iter()
        .map(|c| {
            let args: Vec<&[u8]> = c
                .args_iter()
                .filter_map(|a| match a {
                    redis::Arg::Simple(b) => Some(b),
                    redis::Arg::Cursor => None,
                })
                .collect();
            let mut words: Vec<String> = args.iter().take(20).map(|a| word(a)).collect();
            if args.len() > 20 {
                words.push(format!("… ({} more)", args.len() - 20));
            }
            words.join(" ")
        })
        .collect();
    cut(&text.join("; "), MAX_WHAT)
}

/// The `XADD` of the entry for `cmds` applied to `flag`.
pub fn entry(a: &Audit, flag: &[u8], cmds: &[Cmd]) -> Cmd {
    let what = a.what.clone().unwrap_or_else(|| describe(cmds));
    xadd(a, flag, &what)
}

/// The `XADD` of an entry for `flag` with `what` changed.
pub fn xadd(a: &Audit, flag: &[u8], what: &str) -> Cmd {
    let mut c = redis::cmd("XADD");
    c.arg(AUDIT_KEY)
        .arg("MAXLEN")
        .arg("~")
        .arg(a.length.max(1))
        .arg("*")
        .arg("user")
        .arg(&a.user)
        .arg("flag")
        .arg(flag)
        .arg("what")
        .arg(if a.note.is_empty() {
            what.to_owned()
        } else {
            format!("{}: {what}", a.note)
        })
        .arg("comment")
        .arg(clean_comment(&a.comment));
    if let Some(r) = &a.request {
        c.arg("request").arg(r);
    }
    if !a.approvers.is_empty() {
        c.arg("approvers").arg(a.approvers.join(","));
    }
    c
}

/// One entry, as read back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    /// The stream id (`<ms>-<seq>`).
    pub id: String,
    /// When, Unix ms (from the id).
    pub time: i64,
    pub user: String,
    pub flag: Vec<u8>,
    pub what: String,
    pub comment: String,
    pub request: String,
    pub approvers: String,
}

impl Entry {
    /// An `XRANGE`/`XREVRANGE` item: `[id, [field, value, ...]]`.
    pub fn from_reply(v: &Value) -> Option<Entry> {
        let items = list(v);
        let id = String::from_utf8(bytes(items.first()?)?).ok()?;
        let time = id.split('-').next()?.parse().ok()?;
        let mut e = Entry {
            id,
            time,
            ..Entry::default()
        };
        for kv in list(items.get(1)?).chunks(2) {
            let (Some(k), Some(v)) = (kv.first().and_then(bytes), kv.get(1).and_then(bytes)) else {
                continue;
            };
            let text = || String::from_utf8_lossy(&v).into_owned();
            match k.as_slice() {
                b"user" => e.user = text(),
                b"flag" => e.flag = v.clone(),
                b"what" => e.what = text(),
                b"comment" => e.comment = text(),
                b"request" => e.request = text(),
                b"approvers" => e.approvers = text(),
                _ => {}
            }
        }
        Some(e)
    }
}

/// Entries as one JSON object a line.
pub fn jsonl(entries: &[Entry]) -> String {
    let mut out = String::new();
    for e in entries {
        let v = serde_json::json!({
            "id": e.id,
            "time": e.time,
            "user": e.user,
            "flag": String::from_utf8_lossy(&e.flag),
            "what": e.what,
            "comment": e.comment,
            "request": e.request,
            "approvers": e.approvers,
        });
        out.push_str(&v.to_string());
        out.push('\n');
    }
    out
}

/// A CSV cell: always quoted, quotes doubled (RFC 4180); a cell a
/// spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`,
/// a tab or a carriage return) gets a leading `'`.
pub fn cell(s: &str) -> String {
    let guarded = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    format!("\"{}\"", guarded.replace('"', "\"\""))
}

/// Entries as CSV, a header line first, CRLF line ends.
pub fn csv(entries: &[Entry], fmt_time: impl Fn(i64) -> String) -> String {
    let mut out = String::from(
        "\"id\",\"time\",\"user\",\"flag\",\"what\",\"comment\",\"request\",\"approvers\"\r\n",
    );
    for e in entries {
        let row = [
            e.id.clone(),
            fmt_time(e.time),
            e.user.clone(),
            String::from_utf8_lossy(&e.flag).into_owned(),
            e.what.clone(),
            e.comment.clone(),
            e.request.clone(),
            e.approvers.clone(),
        ];
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_as_text_are_bounded_and_quoted() {
        let mut c = redis::cmd("HANOI.META");
        c.arg("f").arg("SET").arg("description").arg("a \"b\"\n");
        assert_eq!(
            describe(&[c]),
            r#"HANOI.META f SET description "a \"b\"\n""#
        );
        let mut big = redis::cmd("HANOI.REGISTER");
        big.arg("f").arg("USER");
        for i in 0..10_000 {
            big.arg(i);
        }
        let text = describe(&[big]);
        assert!(text.ends_with("… (9983 more)"), "{text}");
        assert!(clean_comment(&"x".repeat(5000)).len() == MAX_COMMENT);
    }

    #[test]
    fn csv_cells_are_quoted_and_guarded() {
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=1+1"), "\"'=1+1\"");
        assert_eq!(cell("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(cell("-2"), "\"'-2\"");
        assert_eq!(cell("line\nbreak"), "\"line\nbreak\"");
    }
}
