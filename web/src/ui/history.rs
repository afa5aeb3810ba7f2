//! The history table in words: when (ISO 8601, UTC, and how long ago), who
//! (`alice via hanoi-web`, the ACL user beside), what (a sentence), and
//! the command as sent on demand.

use super::lossy;
use super::time::{fmt_iso, fmt_iso_u, now_ms, relative, signed};
use crate::store::HistoryEntry;
use hanoi_core::store::Command;
use maud::{html, Markup};

/// 1000 as "1,000".
pub(super) fn thousands(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// Who wrote: `hanoi-web:alice` is "alice via hanoi-web".
pub(super) fn actor(client: &str) -> String {
    match client.split_once(':') {
        // An approved change request:
        // `hanoi-web:<proposer>:cr-<id>[:by-<approver>,<approver>]`.
        Some(("hanoi-web", user)) => match user.rsplit_once(":cr-") {
            Some((user, rest)) => {
                let (id, by) = rest.split_once(":by-").unwrap_or((rest, ""));
                if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                    return format!("{user}:cr-{rest} via hanoi-web");
                }
                let by = by.split(',').filter(|a| !a.is_empty()).collect::<Vec<_>>();
                if by.is_empty() {
                    format!("{user} via hanoi-web (change request #{id})")
                } else {
                    format!(
                        "{user} via hanoi-web (change request #{id}, approved by {})",
                        by.join(", ")
                    )
                }
            }
            None => format!("{user} via hanoi-web"),
        },
        _ if client.is_empty() => "a client without a name".to_owned(),
        _ => client.to_owned(),
    }
}

/// An entry's command (its name, then its arguments after the key) as
/// text.
fn words(h: &HistoryEntry) -> Vec<String> {
    h.command
        .iter()
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect()
}

/// The value after `word` among a command's arguments.
fn after<'a>(args: &'a [String], word: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a.eq_ignore_ascii_case(word))
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

/// What commands (each its name and its arguments after the key) would
/// change, in the history's words, `percentage` being the flag's now
/// ("percentage 10 % → 20 %"): what a change request shows.
pub(super) fn changes_in_words(commands: &[Vec<String>], percentage: i64) -> String {
    let before = percentage.to_string();
    commands
        .iter()
        .map(|command| {
            let h = HistoryEntry {
                at_ms: 0,
                user: Vec::new(),
                client: None,
                command: command.iter().map(|w| w.as_bytes().to_vec()).collect(),
                args: command.len().saturating_sub(1) as u64,
            };
            sentence(&h, Some(&before))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// An entry as a sentence; `before` is the percentage before it, when the
/// older entries tell.
fn sentence(h: &HistoryEntry, before: Option<&str>) -> String {
    let command = words(h);
    let arguments = signed(h.args);
    let name = command.first().map(String::as_str).unwrap_or("");
    let args = command.get(1..).unwrap_or(&[]);
    let cut = if h.args > args.len() as u64 {
        " …"
    } else {
        ""
    };
    let joined = args.join(" ");
    let Some(command) = Command::parse(name.as_bytes()) else {
        return format!("{name} {joined}{cut}");
    };
    match (command, args) {
        (Command::Enable, _) => "switched on".to_owned(),
        (Command::Disable, _) => "switched off".to_owned(),
        (Command::Toggle, _) => "switched over (toggled)".to_owned(),
        (Command::Percentage, [p, ..]) => match before {
            Some(b) if b != p.as_str() => format!("percentage {b} % → {p} %"),
            _ => format!("percentage set to {p} %"),
        },
        (Command::Define, _) => {
            let mut parts = vec![if args.iter().any(|a| a.eq_ignore_ascii_case("DISABLED")) {
                "switched off".to_owned()
            } else {
                "switched on".to_owned()
            }];
            if let Some(p) = after(args, "PERCENTAGE") {
                parts.push(format!("{p} %"));
            }
            if let Some(n) = after(args, "VARIANTS").and_then(|n| n.parse::<i64>().ok()) {
                parts.push(plural(n, "variant", "variants"));
            }
            if args.iter().any(|a| a.eq_ignore_ascii_case("SEGMENT")) {
                return format!("defined as a segment{cut}");
            }
            format!("defined: {}{cut}", parts.join(", "))
        }
        (Command::Register | Command::Unregister, [kind, first, ..]) => {
            let verb = if command == Command::Register {
                ("registered", "added")
            } else {
                ("unregistered", "removed")
            };
            let n = (arguments - 1).max(1);
            if kind.eq_ignore_ascii_case("REGEX") {
                format!(
                    "{} {}: {first}{cut}",
                    verb.1,
                    plural(n, "pattern", "patterns")
                )
            } else {
                format!("{} {}", verb.0, plural(n, "id", "ids"))
            }
        }
        (Command::Block, _) => format!("blocked {}", plural(arguments.max(1), "id", "ids")),
        (Command::Unblock, _) => format!("unblocked {}", plural(arguments.max(1), "id", "ids")),
        (Command::Rule, [sub, rule, rest @ ..]) => match sub.to_ascii_uppercase().as_str() {
            // The rule in words, as the flag page says it (a rule cut by
            // the history's argument limit is said as it was kept).
            "SET" => format!(
                "rule {rule} set: {}{cut}",
                super::rules::command_sentence(rule, rest)
            ),
            "DEL" => format!("rule {} deleted{cut}", args[1..].join(", ")),
            // Positions are counted from 1, as the flag page numbers rules.
            "MOVE" => format!(
                "rule {rule} moved to position {}",
                rest.first()
                    .and_then(|i| i.parse::<u64>().ok())
                    .map_or_else(|| "?".to_owned(), |i| (i + 1).to_string())
            ),
            _ => format!("{name} {joined}{cut}"),
        },
        (Command::Prereq, [sub, other, rest @ ..]) => match sub.to_ascii_uppercase().as_str() {
            "SET" => match rest {
                [v, variant, ..] if v.eq_ignore_ascii_case("VARIANT") => {
                    format!("prerequisite {other} set (serving {variant})")
                }
                _ => format!("prerequisite {other} set"),
            },
            "DEL" => format!("prerequisite {} removed{cut}", args[1..].join(", ")),
            "MOVE" => format!(
                "prerequisite {other} moved to position {}",
                rest.first()
                    .and_then(|i| i.parse::<u64>().ok())
                    .map_or_else(|| "?".to_owned(), |i| (i + 1).to_string())
            ),
            _ => format!("{name} {joined}{cut}"),
        },
        (Command::Schedule, [sub, rest @ ..]) => match (sub.to_ascii_uppercase().as_str(), rest) {
            ("WINDOW", [a, b, ..]) => format!("window set: {} → {}", when(a), when(b)),
            ("RAMP", [f, t, s, e, ..]) => {
                format!("ramp set: {f} % → {t} % from {} to {}", when(s), when(e))
            }
            ("CLEAR", []) => "schedule cleared".to_owned(),
            ("CLEAR", [what, ..]) => format!("{} cleared", what.to_ascii_lowercase()),
            _ => format!("{name} {joined}{cut}"),
        },
        (Command::Meta, [sub, rest @ ..]) => {
            let names: Vec<&str> = if sub.eq_ignore_ascii_case("SET") {
                rest.iter().step_by(2).map(String::as_str).collect()
            } else {
                rest.iter().map(String::as_str).collect()
            };
            if sub.eq_ignore_ascii_case("SET") {
                format!("metadata set: {}{cut}", names.join(", "))
            } else {
                format!("metadata removed: {}{cut}", names.join(", "))
            }
        }
        // The core reads the words, as the module did.
        (Command::Experiment, _) => {
            let words: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            match hanoi_core::experiment::Change::parse(&words) {
                Ok(hanoi_core::experiment::Change::Stop) => "experiment stopped".to_owned(),
                Ok(hanoi_core::experiment::Change::Start {
                    control,
                    metrics,
                    reset,
                }) => {
                    let metrics: Vec<String> = metrics.iter().map(|m| lossy(m)).collect();
                    let control = control
                        .map(|c| format!(", control {}", lossy(c)))
                        .unwrap_or_default();
                    let reset = if reset { ", counts reset" } else { "" };
                    format!(
                        "experiment started: metrics {}{control}{reset}{cut}",
                        metrics.join(", ")
                    )
                }
                Err(_) => format!("{name} {joined}{cut}"),
            }
        }
        (Command::Import, _) => "replaced by an import (HANOI.IMPORT)".to_owned(),
        // What a command cannot be followed by: said as it was recorded.
        (
            Command::Percentage
            | Command::Register
            | Command::Unregister
            | Command::Rule
            | Command::Prereq
            | Command::Schedule
            | Command::Meta,
            _,
        ) => format!("{name} {joined}{cut}"),
    }
}

/// A time argument (Unix ms; 0 is open) in ISO 8601.
fn when(ms: &str) -> String {
    match ms.parse::<i64>() {
        Ok(0) => "open".to_owned(),
        Ok(t) => fmt_iso(t),
        Err(_) => ms.to_owned(),
    }
}

/// The percentage before each entry (entries newest first), as far as the
/// entries tell: from the older `PERCENTAGE` and `DEFINE` entries.
fn percentages_before(entries: &[HistoryEntry]) -> Vec<Option<String>> {
    let mut out = vec![None; entries.len()];
    let mut known: Option<String> = None;
    for (i, h) in entries.iter().enumerate().rev() {
        out[i] = known.clone();
        let command = words(h);
        let args = command.get(1..).unwrap_or(&[]);
        match command.first().and_then(|c| Command::parse(c.as_bytes())) {
            Some(Command::Percentage) => known = args.first().cloned(),
            Some(Command::Define) => known = after(args, "PERCENTAGE").map(str::to_owned),
            _ => {}
        }
    }
    out
}

pub(super) fn history_table(entries: &[HistoryEntry], id: &str) -> Markup {
    let now = now_ms();
    let before = percentages_before(entries);
    html! {
        div.scroll {
            table.history id=(id) {
                thead { tr { th { "when (UTC)" } th { "who" } th { "what" } } }
                tbody {
                    @for (h, b) in entries.iter().zip(&before) {
                        @let client = h.client.as_deref().map(String::from_utf8_lossy).unwrap_or_default();
                        tr {
                            td { time datetime=(fmt_iso_u(h.at_ms)) { (fmt_iso_u(h.at_ms)) } br; span.muted { (relative(signed(h.at_ms), now)) } }
                            td { (actor(&client)) br; span.muted { "ACL user " (String::from_utf8_lossy(&h.user)) } }
                            td { (sentence(h, b.as_deref()))
                                details { summary { "command" }
                                    code { (words(h).join(" ")) }
                                    @if h.args as usize + 1 > h.command.len() { span.muted { " … (" (thousands(signed(h.args))) " arguments in all)" } } } }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(cmd: &[&str], arguments: u64) -> HistoryEntry {
        HistoryEntry {
            at_ms: 0,
            user: b"default".to_vec(),
            client: Some(b"hanoi-web:alice".to_vec()),
            command: cmd.iter().map(|s| s.as_bytes().to_vec()).collect(),
            args: arguments,
        }
    }

    #[test]
    fn sentences() {
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(actor("hanoi-web:alice"), "alice via hanoi-web");
        assert_eq!(
            actor("hanoi-web:alice:cr-12"),
            "alice via hanoi-web (change request #12)"
        );
        assert_eq!(
            changes_in_words(
                &[
                    vec!["HANOI.PERCENTAGE".into(), "20".into()],
                    vec!["HANOI.DISABLE".into()]
                ],
                10
            ),
            "percentage 10 % → 20 %; switched off"
        );
        assert_eq!(
            actor("hanoi-web:alice:cr-12:by-bob,carol"),
            "alice via hanoi-web (change request #12, approved by bob, carol)"
        );
        let entries = vec![
            entry(&["HANOI.PERCENTAGE", "50"], 1),
            entry(&["HANOI.REGISTER", "USER", "a", "b"], 1001),
            entry(&["HANOI.PERCENTAGE", "30"], 1),
        ];
        let b = percentages_before(&entries);
        assert_eq!(
            sentence(&entries[0], b[0].as_deref()),
            "percentage 30 % → 50 %"
        );
        assert_eq!(sentence(&entries[1], None), "registered 1,000 ids");
        assert_eq!(
            sentence(&entries[2], b[2].as_deref()),
            "percentage set to 30 %"
        );
        assert_eq!(
            sentence(
                &entry(&["HANOI.RULE", "SET", "de", "IF", "country", "EQ", "DE"], 6),
                None
            ),
            "rule de set: If country is DE: on for all of them."
        );
        assert_eq!(
            sentence(&entry(&["HANOI.RULE", "MOVE", "de", "0"], 4), None),
            "rule de moved to position 1"
        );
        assert_eq!(
            sentence(
                &entry(
                    &[
                        "HANOI.EXPERIMENT",
                        "START",
                        "CONTROL",
                        "a",
                        "METRICS",
                        "2",
                        "buy",
                        "click"
                    ],
                    7
                ),
                None
            ),
            "experiment started: metrics buy, click, control a"
        );
        assert_eq!(
            sentence(&entry(&["HANOI.EXPERIMENT", "STOP"], 1), None),
            "experiment stopped"
        );
        assert_eq!(
            sentence(&entry(&["HANOI.IMPORT", "blob"], 1), None),
            "replaced by an import (HANOI.IMPORT)"
        );
        // A command this page does not know is said as it was recorded.
        assert_eq!(
            sentence(&entry(&["HANOI.NEWER", "x"], 1), None),
            "HANOI.NEWER x"
        );
        // Every write the core knows has its own sentence.
        for c in hanoi_core::store::Command::ALL {
            assert!(!sentence(&entry(&[c.name()], 0), None).is_empty());
        }
    }
}
