//! What a form means: the commands each form of the flag pages stands for,
//! and the tokenizer and quoting of rule conditions.

use super::time::parse_time;
use hanoi_core::Description;
use redis::Cmd;
use std::collections::HashMap;

fn words(s: &str) -> Vec<&str> {
    s.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect()
}

/// `HANOI.DEFINE key ...` from a form's fields.
pub(super) fn define_cmd(key: &[u8], f: &HashMap<String, String>) -> Cmd {
    let mut c = redis::cmd("HANOI.DEFINE");
    c.arg(key);
    c.arg(if f.contains_key("enabled") {
        "ENABLED"
    } else {
        "DISABLED"
    });
    c.arg("PERCENTAGE").arg(
        f.get("percentage")
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .unwrap_or("0"),
    );
    let rows = variant_rows(f);
    if f.contains_key("variant_0") {
        // The flag page's rows: a variant a row, its weight and value beside
        // it (checked by `check_variant_rows` before this is sent).
        let rows: Vec<&VariantRow> = rows.iter().filter(|r| !r.name.trim().is_empty()).collect();
        if !rows.is_empty() {
            c.arg("VARIANTS").arg(rows.len());
            c.arg(rows.iter().map(|r| r.name.trim()).collect::<Vec<_>>());
            if rows.iter().any(|r| !r.weight.trim().is_empty()) {
                c.arg("WEIGHTS");
                c.arg(rows.iter().map(|r| r.weight.trim()).collect::<Vec<_>>());
            }
            if rows.iter().any(|r| !r.value.trim().is_empty()) {
                c.arg("VALUES");
                c.arg(rows.iter().map(|r| r.value.trim()).collect::<Vec<_>>());
            }
        }
    }
    let variants = words(f.get("variants").map(String::as_str).unwrap_or(""));
    if !f.contains_key("variant_0") && !variants.is_empty() {
        c.arg("VARIANTS").arg(variants.len()).arg(&variants);
        let weights = words(f.get("weights").map(String::as_str).unwrap_or(""));
        if !weights.is_empty() {
            c.arg("WEIGHTS").arg(&weights);
        }
        // One JSON value per line, in the variants' order (the module
        // checks each: JSON, one type, one per variant).
        let values: Vec<&str> = f
            .get("values")
            .map(String::as_str)
            .unwrap_or("")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        if !values.is_empty() {
            c.arg("VALUES").arg(&values);
        }
    }
    if let Some(d) = f.get("default").map(|d| d.trim()).filter(|d| !d.is_empty()) {
        c.arg("DEFAULT").arg(d);
    }
    if let Some(s) = f.get("salt").filter(|s| !s.is_empty()) {
        c.arg("SALT").arg(s);
    }
    c
}

/// At most this many variant rows are read from a form (the module's own
/// `hanoi.max-variants` is lower).
pub(super) const MAX_ROWS: usize = 256;

/// One row of the flag page's variants form, as typed.
#[derive(Clone, Default)]
pub(super) struct VariantRow {
    pub name: String,
    pub weight: String,
    pub value: String,
}

/// The rows `variant_0`, `weight_0`, `value_0`, `variant_1`, ... of a form.
pub(super) fn variant_rows(f: &HashMap<String, String>) -> Vec<VariantRow> {
    let get = |k: String| f.get(&k).cloned().unwrap_or_default();
    (0..MAX_ROWS)
        .map_while(|i| {
            let name = f.get(&format!("variant_{i}"))?.clone();
            Some(VariantRow {
                name,
                weight: get(format!("weight_{i}")),
                value: get(format!("value_{i}")),
            })
        })
        .collect()
}

/// The variants form checked before anything is sent to Redis: each
/// problem with the name of the field it concerns and what is wrong, in
/// plain words. (The module checks the same and more; this puts the
/// common mistakes next to the field.)
pub(super) fn check_variant_rows(f: &HashMap<String, String>) -> Vec<(String, String)> {
    let rows = variant_rows(f);
    let filled: Vec<(usize, &VariantRow)> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.name.trim().is_empty())
        .collect();
    let any_weight = filled.iter().any(|(_, r)| !r.weight.trim().is_empty());
    let any_value = filled.iter().any(|(_, r)| !r.value.trim().is_empty());
    let mut errors = Vec::new();
    let mut first_type: Option<(&str, &str)> = None;
    let mut seen = std::collections::HashSet::new();
    for (i, r) in rows.iter().enumerate() {
        let name = r.name.trim();
        if name.is_empty() {
            if !r.weight.trim().is_empty() || !r.value.trim().is_empty() {
                errors.push((
                    format!("variant_{i}"),
                    "give this variant a name".to_owned(),
                ));
            }
            continue;
        }
        if !seen.insert(name) {
            errors.push((
                format!("variant_{i}"),
                format!("{name:?} is already a variant above"),
            ));
        }
        let weight = r.weight.trim();
        if any_weight && !weight.parse::<u32>().is_ok_and(|w| w > 0) {
            let what = if weight.is_empty() {
                "a weight for every variant, or none".to_owned()
            } else {
                format!("{weight:?} is not a whole number above 0")
            };
            errors.push((format!("weight_{i}"), what));
        }
        let value = r.value.trim();
        if !any_value {
            continue;
        }
        let problem = if value.is_empty() {
            Some("a value for every variant, or none (then a variant's value is its name)".into())
        } else {
            match serde_json::from_str::<serde_json::Value>(value) {
                Err(e) => Some(format!(
                    "not JSON ({e}); a string needs quotes: \"{}\"",
                    value.replace('"', "")
                )),
                Ok(serde_json::Value::Null) => Some("null is not a value".to_owned()),
                Ok(v) => {
                    let t = match v {
                        serde_json::Value::Bool(_) => "boolean",
                        serde_json::Value::Number(_) => "number",
                        serde_json::Value::String(_) => "string",
                        _ => "object",
                    };
                    match first_type {
                        None => {
                            first_type = Some((t, name));
                            None
                        }
                        Some((t0, n0)) if t0 != t => Some(format!(
                            "a {t}, but {n0}'s value is a {t0}: all values of a flag are of one type"
                        )),
                        Some(_) => None,
                    }
                }
            }
        };
        if let Some(p) = problem {
            errors.push((format!("value_{i}"), p));
        }
    }
    if let Some(d) = f.get("default").map(|d| d.trim()).filter(|d| !d.is_empty()) {
        if !filled.iter().any(|(_, r)| r.name.trim() == d) {
            errors.push((
                "default".to_owned(),
                format!("{d:?} is not one of the variants"),
            ));
        }
    }
    errors
}

pub(super) fn meta_cmds(key: &[u8], f: &HashMap<String, String>) -> Vec<Cmd> {
    let mut set = redis::cmd("HANOI.META");
    set.arg(key).arg("SET");
    let mut del = redis::cmd("HANOI.META");
    del.arg(key).arg("DEL");
    let (mut sets, mut dels) = (0, 0);
    for name in ["description", "owner", "tags"] {
        match f.get(name).map(|s| s.trim()) {
            Some(v) if !v.is_empty() => {
                set.arg(name).arg(v);
                sets += 1;
            }
            Some(_) => {
                del.arg(name);
                dels += 1;
            }
            None => {}
        }
    }
    let mut out = Vec::new();
    if sets > 0 {
        out.push(set);
    }
    if dels > 0 {
        out.push(del);
    }
    out
}

/// Ids pasted in a textarea: split on whitespace and commas, sent in
/// commands of at most 10,000.
fn id_cmds(name: &str, key: &[u8], sub: Option<&str>, text: &str) -> Vec<Cmd> {
    let ids = words(text);
    ids.chunks(10_000)
        .map(|chunk| {
            let mut c = redis::cmd(name);
            c.arg(key);
            if let Some(s) = sub {
                c.arg(s);
            }
            c.arg(chunk);
            c
        })
        .collect()
}

/// The commands a form stands for.
pub(super) fn commands(
    key: &[u8],
    op: &str,
    f: &HashMap<String, String>,
    flag: &Description,
) -> Result<Vec<Cmd>, String> {
    let field = |k: &str| f.get(k).map(|s| s.trim()).unwrap_or("");
    let one = |name: &str| {
        let mut c = redis::cmd(name);
        c.arg(key);
        c
    };
    let cmds = match op {
        "switch" => vec![one(if field("to") == "on" {
            "HANOI.ENABLE"
        } else {
            "HANOI.DISABLE"
        })],
        "percentage" => {
            let mut c = one("HANOI.PERCENTAGE");
            c.arg(field("percentage"));
            vec![c]
        }
        "define" => {
            let mut g = f.clone();
            if flag.enabled {
                g.insert("enabled".into(), "1".into());
            } else {
                g.remove("enabled");
            }
            g.insert("percentage".into(), flag.percentage.to_string());
            vec![define_cmd(key, &g)]
        }
        "users_add" => id_cmds("HANOI.REGISTER", key, Some("USER"), field("ids")),
        "users_remove" => id_cmds("HANOI.UNREGISTER", key, Some("USER"), field("ids")),
        "block" => id_cmds("HANOI.BLOCK", key, None, field("ids")),
        "unblock" => id_cmds("HANOI.UNBLOCK", key, None, field("ids")),
        "regex_add" | "regex_remove" => {
            let patterns: Vec<&str> = f
                .get("patterns")
                .map(|p| p.lines().map(str::trim).filter(|l| !l.is_empty()).collect())
                .unwrap_or_default();
            if patterns.is_empty() {
                return Err("no pattern given".into());
            }
            let mut c = one(if op == "regex_add" {
                "HANOI.REGISTER"
            } else {
                "HANOI.UNREGISTER"
            });
            c.arg("REGEX").arg(patterns);
            vec![c]
        }
        "rule_set" => {
            let mut c = one("HANOI.RULE");
            c.arg("SET").arg(field("name"));
            if !field("rollout").is_empty() {
                c.arg("ROLLOUT").arg(field("rollout"));
            }
            if !field("variant").is_empty() {
                c.arg("VARIANT").arg(field("variant"));
            }
            c.arg("IF")
                .arg(super::rules::text_to_args(field("conditions"))?);
            vec![c]
        }
        "rule_del" => {
            let mut c = one("HANOI.RULE");
            c.arg("DEL").arg(field("name"));
            vec![c]
        }
        "rule_move" => {
            let mut c = one("HANOI.RULE");
            c.arg("MOVE").arg(field("name")).arg(field("index"));
            vec![c]
        }
        // Prerequisites: one HANOI.PREREQ each (the module checks the
        // kind, cycles, the limit and the slot).
        "prereq_set" => {
            let other = field("prereq");
            if other.is_empty() {
                return Err("choose the flag this one needs".into());
            }
            let mut c = one("HANOI.PREREQ");
            c.arg("SET").arg(other);
            if !field("prereq_variant").is_empty() {
                c.arg("VARIANT").arg(field("prereq_variant"));
            }
            vec![c]
        }
        "prereq_del" => {
            let mut c = one("HANOI.PREREQ");
            c.arg("DEL").arg(field("prereq"));
            vec![c]
        }
        "prereq_move" => {
            let mut c = one("HANOI.PREREQ");
            c.arg("MOVE").arg(field("prereq")).arg(field("index"));
            vec![c]
        }
        "window" => {
            let from = parse_time(field("from")).ok_or("bad From time")?;
            let until = parse_time(field("until")).ok_or("bad Until time")?;
            let mut c = one("HANOI.SCHEDULE");
            c.arg("WINDOW").arg(from).arg(until);
            vec![c]
        }
        "ramp" => {
            let start = parse_time(field("start")).ok_or("bad Start time")?;
            let end = parse_time(field("end")).ok_or("bad End time")?;
            let mut c = one("HANOI.SCHEDULE");
            c.arg("RAMP")
                .arg(field("from_pct"))
                .arg(field("to_pct"))
                .arg(start)
                .arg(end);
            vec![c]
        }
        "clear" => {
            let mut c = one("HANOI.SCHEDULE");
            c.arg("CLEAR");
            if matches!(field("what"), "WINDOW" | "RAMP") {
                c.arg(field("what"));
            }
            vec![c]
        }
        "meta" => meta_cmds(key, f),
        "delete" => {
            if field("confirm").as_bytes() != key {
                return Err("type the flag's exact name to delete it".into());
            }
            vec![redis::cmd("DEL").arg(key).clone()]
        }
        _ => return Err(format!("unknown action {op:?}")),
    };
    if cmds.is_empty() {
        return Err("nothing to do: no id given".into());
    }
    Ok(cmds)
}
