//! Answers in words: attributes typed as `attr=value` lines, an answer's
//! reason as a sentence, the module's refusals without their `ERR `.

use super::rules::operator_list;
use crate::store::detail_text;
use hanoi_core::reply::ExplainReply;
use hanoi_core::Reason;

/// Attributes typed one `attr=value` a line (blank lines skipped); a line
/// that is not `attr=value` is refused, saying which.
pub(super) fn parse_attrs(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match line.split_once('=') {
            Some((a, v)) if !a.trim().is_empty() => {
                out.push((a.trim().to_owned(), v.trim().to_owned()));
            }
            _ => {
                return Err(format!(
                    "line {}: {line:?} is not attr=value (for example country=DE)",
                    n + 1
                ))
            }
        }
    }
    Ok(out)
}

/// Why the answer is what it is, in words (every reason the core has: a
/// new one is a compile error here).
pub(super) fn reason_words(e: &ExplainReply) -> String {
    let detail = e.detail.as_ref().map(detail_text).unwrap_or_default();
    let pct = e.percentage;
    let bucket = if detail.is_empty() {
        String::new()
    } else {
        format!(" (this id's bucket is {detail})")
    };
    match e.reason {
        Reason::Undefined => "there is no such flag".to_owned(),
        Reason::Disabled => "the flag is switched off".to_owned(),
        Reason::Inactive => "it is outside the flag's schedule window".to_owned(),
        Reason::Blocked => "this id is blocked".to_owned(),
        Reason::All => "the flag is on for everyone (100 %)".to_owned(),
        Reason::User => "this id is registered".to_owned(),
        Reason::Regex => format!("this id matches the pattern {detail}"),
        Reason::Rule => format!("rule {detail} matched"),
        Reason::Percentage => format!("it is in the {pct} %{bucket}"),
        Reason::Outside => format!("it is not in the {pct} %{bucket}"),
        Reason::NeedsId => "the answer depends on the id, and none was given".to_owned(),
        Reason::Prerequisite => format!("prerequisite {detail} is off for this user"),
        Reason::Error if detail.is_empty() => "the flag could not be evaluated".to_owned(),
        Reason::Error => format!("the flag could not be evaluated: {detail}"),
    }
}

/// A missing segment the rules name, in words.
pub(super) fn missing_words(segment: &[u8]) -> String {
    format!(
        "Segment {} is missing: the conditions that name it are false (NOTIN too).",
        String::from_utf8_lossy(segment)
    )
}

/// The module's refusal in plain words: without `ERR `, an unknown
/// operator with the operators there are.
pub(super) fn plain(msg: &str) -> String {
    let m = msg.strip_prefix("ERR ").unwrap_or(msg);
    if m.contains("unknown operator") {
        format!("{m}: use one of {}", operator_list())
    } else {
        m.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(
            parse_attrs("country=DE\n\n plan = pro ").unwrap(),
            vec![
                ("country".into(), "DE".into()),
                ("plan".into(), "pro".into())
            ]
        );
        assert!(parse_attrs("country: DE").unwrap_err().contains("line 1"));
        assert!(parse_attrs("=x").is_err());
        let e = ExplainReply {
            enabled: false,
            variant: None,
            reason: Reason::Outside,
            detail: Some(hanoi_core::reply::DetailReply::Bucket(43)),
            percentage: 25,
            missing: None,
        };
        assert_eq!(
            reason_words(&e),
            "it is not in the 25 % (this id's bucket is 43)"
        );
        let pre = ExplainReply {
            reason: Reason::Prerequisite,
            detail: Some(hanoi_core::reply::DetailReply::Text(
                b"new_payments".to_vec(),
            )),
            ..e.clone()
        };
        assert_eq!(
            reason_words(&pre),
            "prerequisite new_payments is off for this user"
        );
        assert!(missing_words(b"beta").contains("beta is missing"));
        assert_eq!(plain("ERR percentage must be"), "percentage must be");
        assert!(plain("ERR unknown operator 'X'").contains("SEMVER_LT"));
    }
}
