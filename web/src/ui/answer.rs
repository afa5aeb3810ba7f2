//! Answers in words: attributes typed as `attr=value` lines, an answer's
//! reason as a sentence, the module's refusals without their `ERR `.

use super::rules::operator_list;
use crate::store::Explain;

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

/// Why the answer is what it is, in words.
pub(super) fn reason_words(e: &Explain) -> String {
    let detail = e.detail.clone().unwrap_or_default();
    let pct = e.percentage.unwrap_or(0);
    let bucket = if detail.is_empty() {
        String::new()
    } else {
        format!(" (this id's bucket is {detail})")
    };
    match e.reason.as_str() {
        "undefined" => "there is no such flag".to_owned(),
        "disabled" => "the flag is switched off".to_owned(),
        "inactive" => "it is outside the flag's schedule window".to_owned(),
        "blocked" => "this id is blocked".to_owned(),
        "all" => "the flag is on for everyone (100 %)".to_owned(),
        "user" => "this id is registered".to_owned(),
        "regex" => format!("this id matches the pattern {detail}"),
        "rule" => format!("rule {detail} matched"),
        "percentage" => format!("it is in the {pct} %{bucket}"),
        "outside" => format!("it is not in the {pct} %{bucket}"),
        "needs_id" => "the answer depends on the id, and none was given".to_owned(),
        "prerequisite" => format!("prerequisite {detail} is off for this user"),
        "error" if detail.is_empty() => "the flag could not be evaluated".to_owned(),
        "error" => format!("the flag could not be evaluated: {detail}"),
        r if detail.is_empty() => r.to_owned(),
        r => format!("{r} ({detail})"),
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
        let e = Explain {
            enabled: false,
            variant: None,
            reason: "outside".into(),
            detail: Some("43".into()),
            percentage: Some(25),
            value: None,
            missing: None,
        };
        assert_eq!(
            reason_words(&e),
            "it is not in the 25 % (this id's bucket is 43)"
        );
        let pre = Explain {
            reason: "prerequisite".into(),
            detail: Some("new_payments".into()),
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
