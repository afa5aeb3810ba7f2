//! The rule builder of the flag page: the operators and what each means,
//! conditions as rows of a form (attribute, operator, values) or as typed
//! text (`plan IN pro team`: the values of IN/NOTIN counted when no count
//! is given), the form that edits a rule, and the `HANOI.RULE SET` it
//! stands for.

use super::lossy;
use crate::store;
use hanoi_core::{Cut, Description, RuleDescription};
use maud::{html, Markup};
use redis::Cmd;
use std::collections::HashMap;

/// Every operator of `HANOI.RULE`, what it means and how a sentence says
/// it: the core's table, the one its parser reads.
pub(super) use hanoi_core::rules::{Arity, OPERATORS, SEGMENT_OPERATORS};

/// The reserved attribute whose values are segments' names: the id (with
/// the same attributes) is a member of them or not.
pub(super) const SEGMENT: &str = "segment";

/// A word as the conditions field reads it back: quoted when it has spaces
/// or quotes, or is empty.
pub(super) fn quote_token(t: &str) -> String {
    if !t.is_empty()
        && !t
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\\')
    {
        return t.to_owned();
    }
    let mut out = String::from('"');
    for c in t.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A tokenizer for rule conditions: words split on whitespace, "double
/// quotes" keep spaces (`\"` and `\\` inside).
pub fn tokens(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e) => cur.push(e),
                            None => return Err("unfinished escape".into()),
                        },
                        Some(o) => cur.push(o),
                        None => return Err("unclosed quote".into()),
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// Whether `op` is refused on `attr` (`segment` takes IN, NOTIN, EQ, NE).
fn segment_refuses(attr: &str, op: &str) -> Option<String> {
    (attr == SEGMENT
        && !SEGMENT_OPERATORS
            .iter()
            .any(|o| o.name.eq_ignore_ascii_case(op)))
    .then(|| format!("{SEGMENT} takes IN, NOTIN, EQ or NE (the segments' names), not {op}"))
}

/// A `segment` condition as words: "the id is in segment beta".
fn segment_words(op: &str, values: &str) -> String {
    match SEGMENT_OPERATORS
        .iter()
        .find(|o| o.name.eq_ignore_ascii_case(op))
    {
        Some(o) => format!("the id {} {values}", o.words),
        None => format!("{SEGMENT} {op} {values}"),
    }
}

/// An operator as the middle of a sentence: "is one of".
fn op_words(op: &str) -> &'static str {
    hanoi_core::rules::operator(op.as_bytes()).map_or("?", |o| o.words)
}

/// A rule as a sentence: "If country is DE and plan is one of pro, team:
/// on for 50 % of them, serving blue."
pub(super) fn rule_sentence(r: &RuleDescription) -> String {
    sentence(r, false)
}

/// [`rule_sentence`], "and …" after the conditions when `more` (words the
/// history cut).
fn sentence(r: &RuleDescription, more: bool) -> String {
    let mut conds: Vec<String> = r
        .conditions
        .iter()
        .map(|c| {
            let values = c
                .arguments
                .iter()
                .map(|v| quote_token(&lossy(v)))
                .collect::<Vec<_>>()
                .join(", ");
            let attr = lossy(&c.attribute);
            if attr == SEGMENT {
                segment_words(&c.operator, &values)
            } else if values.is_empty() {
                format!("{attr} {}", op_words(&c.operator))
            } else {
                format!("{attr} {} {values}", op_words(&c.operator))
            }
        })
        .collect();
    if more {
        conds.push("…".to_owned());
    }
    let who = match r.rollout {
        None | Some(100) => "on for all of them".to_owned(),
        Some(0) => "skipped (a rollout of 0 %)".to_owned(),
        Some(p) => format!("on for {p} % of them"),
    };
    let serving = r
        .variant
        .as_ref()
        .map(|v| format!(", serving {}", lossy(v)))
        .unwrap_or_default();
    format!("If {}: {who}{serving}.", conds.join(" and "))
}

/// `HANOI.RULE key SET name args...` as the history keeps it (its first
/// arguments), as a sentence as far as the core reads it: a cut list ends
/// in "…"; words that are no rule are said as they are.
pub(super) fn command_sentence(name: &str, args: &[String]) -> String {
    let words: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
    match RuleDescription::of_command(name.as_bytes(), &words) {
        (r, _) if r.conditions.is_empty() => args.join(" "),
        (r, Cut::Whole) => sentence(&r, false),
        (r, Cut::After) => sentence(&r, true),
        (mut r, Cut::InLast) => {
            if let Some(last) = r.conditions.last_mut() {
                last.arguments.push("…".as_bytes().to_vec());
            }
            sentence(&r, false)
        }
    }
}

fn arity(op: &str) -> Option<Arity> {
    hanoi_core::rules::operator(op.as_bytes()).map(|o| o.arity)
}

/// The operators, for a message: "EQ, NE, IN, …".
pub(super) fn operator_list() -> String {
    OPERATORS
        .iter()
        .map(|o| o.name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn unknown_operator(op: &str) -> String {
    format!("unknown operator {op:?}: use one of {}", operator_list())
}

/// One condition as the form holds it: a list's values joined by ", ".
#[derive(Clone, Default, Debug, PartialEq)]
pub(super) struct Condition {
    pub attr: String,
    pub op: String,
    pub values: String,
}

/// A rule's conditions as rows.
fn rows_of(r: &RuleDescription) -> Vec<Condition> {
    r.conditions
        .iter()
        .map(|c| Condition {
            attr: lossy(&c.attribute),
            op: c.operator.clone(),
            values: c
                .arguments
                .iter()
                .map(|v| lossy(v))
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect()
}

/// The attributes the rules of this server's flags use, for the rule
/// builder's suggestions: read from every flag (`HANOI.EXPORT NOIDS`) at
/// most every [`KnownAttributes::TTL`], at most [`KnownAttributes::MAX`].
pub struct KnownAttributes {
    cached: std::sync::Mutex<Option<(std::time::Instant, std::sync::Arc<Catalog>)>>,
}

/// What the pickers offer, read with the attributes: the attributes the
/// rules use, the flags (prerequisites' choices) and the segments (the
/// `segment` attribute's choices), each at most [`KnownAttributes::NAMES`]
/// (keys that are not UTF-8 left out: a form could not name them).
#[derive(Default)]
pub struct Catalog {
    pub attributes: Vec<String>,
    pub flags: Vec<String>,
    pub segments: Vec<String>,
}

impl Default for KnownAttributes {
    fn default() -> Self {
        KnownAttributes {
            cached: std::sync::Mutex::new(None),
        }
    }
}

impl KnownAttributes {
    const TTL: std::time::Duration = std::time::Duration::from_secs(30);
    const MAX: usize = 200;
    pub(super) const NAMES: usize = 1000;

    /// What was read last (empty before the first read).
    pub(super) fn get(&self) -> std::sync::Arc<Catalog> {
        self.cached
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(|(_, a)| a.clone()))
            .unwrap_or_default()
    }

    /// Read again at the next refresh (after a write of this hanoi-web:
    /// a segment or flag just made is offered at once).
    pub(super) fn invalidate(&self) {
        if let Ok(mut c) = self.cached.lock() {
            *c = None;
        }
    }

    /// Reads them again when the last read is older than the TTL (a failed
    /// read keeps the last list: suggestions are a help, not a promise).
    pub(super) async fn refresh(&self, store: &crate::store::Store) {
        let fresh = self
            .cached
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(|(t, _)| t.elapsed() < Self::TTL))
            .unwrap_or(false);
        if fresh {
            return;
        }
        let Ok(keys) = store.all_flags(b"*").await else {
            return;
        };
        let Ok(replies) = store
            .per_key(&keys, |p, k| {
                p.cmd("HANOI.EXPORT").arg(k).arg("NOIDS");
                1
            })
            .await
        else {
            return;
        };
        let mut out: Vec<String> = Vec::new();
        let mut cat = Catalog::default();
        for (k, r) in keys.iter().zip(&replies) {
            let Some(f) = r.first().and_then(store::flag_from_export) else {
                continue;
            };
            if let Ok(name) = std::str::from_utf8(k) {
                let names = if f.segment {
                    &mut cat.segments
                } else {
                    &mut cat.flags
                };
                if names.len() < Self::NAMES {
                    names.push(name.to_owned());
                }
            }
            for a in attributes_used(&f).into_iter().skip(1) {
                if out.len() < Self::MAX && !out.contains(&a) {
                    out.push(a);
                }
            }
        }
        out.sort();
        cat.attributes = out;
        if let Ok(mut c) = self.cached.lock() {
            *c = Some((std::time::Instant::now(), std::sync::Arc::new(cat)));
        }
    }
}

/// The attributes a flag's rules use (for the attribute field's
/// suggestions), `id` first.
pub(super) fn attributes_used(flag: &Description) -> Vec<String> {
    let mut out = vec!["id".to_owned()];
    let mut seen: std::collections::HashSet<&[u8]> = [&b"id"[..]].into();
    for c in flag.rules.iter().flat_map(|r| &r.conditions) {
        if seen.insert(&c.attribute) {
            out.push(lossy(&c.attribute));
        }
    }
    out
}

/// A condition list's values: split on commas and line ends.
fn list_values(s: &str) -> Vec<String> {
    s.split([',', '\n'])
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

/// The rows as the arguments after `IF`, or the problems, each with the
/// field it concerns. Rows left empty are left out.
fn rows_to_args(rows: &[Condition]) -> Result<Vec<String>, Vec<(String, String)>> {
    let mut args = Vec::new();
    let mut problems = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let attr = r.attr.trim();
        if attr.is_empty() && r.values.trim().is_empty() {
            continue;
        }
        if attr.is_empty() {
            problems.push((format!("cond_attr_{i}"), "name the attribute".to_owned()));
            continue;
        }
        let op = r.op.trim().to_ascii_uppercase();
        let Some(a) = arity(&op) else {
            problems.push((format!("cond_op_{i}"), unknown_operator(&op)));
            continue;
        };
        if let Some(p) = segment_refuses(attr, &op) {
            problems.push((format!("cond_op_{i}"), p));
            continue;
        }
        let mut cond = vec![attr.to_owned(), op.clone()];
        match a {
            Arity::None => {}
            Arity::One => {
                let v = r.values.trim();
                if v.is_empty() {
                    problems.push((format!("cond_values_{i}"), format!("{op} needs a value")));
                    continue;
                }
                cond.push(v.to_owned());
            }
            Arity::List => {
                let vs = list_values(&r.values);
                if vs.is_empty() {
                    problems.push((
                        format!("cond_values_{i}"),
                        format!("{op} needs one value or more, separated by commas"),
                    ));
                    continue;
                }
                cond.push(vs.len().to_string());
                cond.extend(vs);
            }
        }
        if !args.is_empty() {
            args.push("AND".to_owned());
        }
        args.extend(cond);
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if args.is_empty() {
        return Err(vec![(
            "cond_attr_0".to_owned(),
            "a rule needs a condition: name an attribute".to_owned(),
        )]);
    }
    Ok(args)
}

/// Conditions typed as text, as `HANOI.RULE` takes them: the values of
/// IN/NOTIN counted when no count is given (`plan IN pro team` is `plan IN
/// 2 pro team`), an unknown operator explained.
pub(super) fn text_to_args(s: &str) -> Result<Vec<String>, String> {
    let t = tokens(s)?;
    if t.is_empty() {
        return Err("type a condition: attribute, operator, value".into());
    }
    let is_and = |w: &String| w.eq_ignore_ascii_case("AND");
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        let attr = &t[i];
        let Some(op) = t.get(i + 1) else {
            return Err(format!(
                "{attr:?} needs an operator after it ({})",
                operator_list()
            ));
        };
        let Some(a) = arity(op) else {
            return Err(unknown_operator(op));
        };
        if let Some(p) = segment_refuses(attr, op) {
            return Err(p);
        }
        out.push(attr.clone());
        out.push(op.clone());
        i += 2;
        match a {
            Arity::None => {}
            Arity::One => {
                let Some(v) = t.get(i) else {
                    return Err(format!("{attr} {op} needs a value"));
                };
                out.push(v.clone());
                i += 1;
            }
            Arity::List => {
                // A count followed by exactly that many values (then AND or
                // the end) is taken as typed; otherwise the values up to
                // the next AND are counted.
                let counted = t.get(i).and_then(|c| c.parse::<usize>().ok()).filter(|&n| {
                    n > 0 && i + 1 + n <= t.len() && t.get(i + 1 + n).is_none_or(is_and)
                });
                let values: Vec<String> = match counted {
                    Some(n) => t[i + 1..i + 1 + n].to_vec(),
                    None => t[i..].iter().take_while(|w| !is_and(w)).cloned().collect(),
                };
                if values.is_empty() {
                    return Err(format!("{attr} {op} needs one value or more"));
                }
                i += values.len() + usize::from(counted.is_some());
                out.push(values.len().to_string());
                out.extend(values);
            }
        }
        match t.get(i) {
            None => {}
            Some(w) if is_and(w) && i + 1 < t.len() => {
                out.push("AND".to_owned());
                i += 1;
            }
            Some(w) if is_and(w) => return Err("a condition is missing after the last AND".into()),
            Some(w) => {
                return Err(format!(
                    "expected AND before {w:?} (conditions are joined by AND)"
                ))
            }
        }
    }
    Ok(out)
}

/// The rule form as shown: the rule being edited, or what was typed.
#[derive(Default)]
pub(super) struct RuleForm {
    pub name: String,
    pub rollout: String,
    pub variant: String,
    pub rows: Vec<Condition>,
    pub text: String,
    /// The rule being edited (its name when the page was opened).
    pub editing: Option<String>,
    /// Problems by field (`name`, `cond_attr_0`, `conditions`, ...).
    pub problems: Vec<(String, String)>,
    /// The module's refusal, in plain words.
    pub refused: Option<String>,
}

impl RuleForm {
    /// An empty form: one empty condition row.
    pub fn blank() -> RuleForm {
        RuleForm {
            rows: vec![Condition::default()],
            ..RuleForm::default()
        }
    }

    /// The form filled with a rule of the flag, to edit it.
    pub fn editing(rule: &RuleDescription) -> RuleForm {
        let mut rows = rows_of(rule);
        if rows.is_empty() {
            rows.push(Condition::default());
        }
        // The conditions as typed text: the rule's words after `IF`.
        let conditions = RuleDescription {
            rollout: None,
            variant: None,
            ..rule.clone()
        };
        RuleForm {
            editing: Some(lossy(&rule.name)),
            text: conditions
                .args()
                .iter()
                .skip(1)
                .map(|w| quote_token(&lossy(w)))
                .collect::<Vec<_>>()
                .join(" "),
            name: lossy(&rule.name),
            rollout: rule.rollout.map(|p| p.to_string()).unwrap_or_default(),
            variant: rule.variant.as_deref().map(lossy).unwrap_or_default(),
            rows,
            ..RuleForm::default()
        }
    }

    /// The form as posted: a row added or removed when asked (`action`
    /// `add` or `remove_<i>`).
    pub fn typed(f: &HashMap<String, String>) -> RuleForm {
        let get = |k: &str| f.get(k).cloned().unwrap_or_default();
        let mut rows: Vec<Condition> = (0..64)
            .map_while(|i| {
                Some(Condition {
                    attr: f.get(&format!("cond_attr_{i}"))?.clone(),
                    op: get(&format!("cond_op_{i}")),
                    values: get(&format!("cond_values_{i}")),
                })
            })
            .collect();
        let action = get("action");
        if action == "add" {
            rows.push(Condition::default());
        } else if let Some(i) = action.strip_prefix("remove_").and_then(|i| i.parse().ok()) {
            if i < rows.len() {
                rows.remove(i);
            }
        }
        if rows.is_empty() {
            rows.push(Condition::default());
        }
        RuleForm {
            name: get("name"),
            rollout: get("rollout"),
            variant: get("variant"),
            rows,
            text: get("conditions"),
            editing: f.get("editing").filter(|e| !e.is_empty()).cloned(),
            ..RuleForm::default()
        }
    }

    fn problem(&self, field: &str) -> Option<&str> {
        self.problems
            .iter()
            .find(|(k, _)| k == field)
            .map(|(_, e)| e.as_str())
    }
}

/// What a posted rule form asks for.
pub(super) enum RuleStep {
    /// A row added or removed: the form again, nothing written.
    Draft(RuleForm),
    /// Refused before anything is sent: the form again, problems marked.
    Refused(RuleForm),
    /// The command to send.
    Send(Cmd),
}

/// The posted rule form: the rows (or, with `action=text` or without rows,
/// the typed conditions) as `HANOI.RULE key SET name ... IF ...`.
pub(super) fn rule_step(key: &[u8], f: &HashMap<String, String>) -> RuleStep {
    let action = f.get("action").map(String::as_str).unwrap_or("");
    if action == "add" || action.starts_with("remove_") {
        return RuleStep::Draft(RuleForm::typed(f));
    }
    let field = |k: &str| f.get(k).map(|s| s.trim()).unwrap_or("");
    let mut problems = Vec::new();
    if field("name").is_empty() {
        problems.push(("name".to_owned(), "give the rule a name".to_owned()));
    }
    let rollout = field("rollout");
    if !rollout.is_empty() && !rollout.parse::<u8>().is_ok_and(|p| p <= 100) {
        problems.push((
            "rollout".to_owned(),
            format!("{rollout:?} is not a whole number from 0 to 100"),
        ));
    }
    let from_text = action == "text" || !f.contains_key("cond_attr_0");
    let args = if from_text {
        text_to_args(field("conditions")).map_err(|e| vec![("conditions".to_owned(), e)])
    } else {
        rows_to_args(&RuleForm::typed(f).rows)
    };
    let args = match args {
        Ok(a) if problems.is_empty() => a,
        Ok(_) => Vec::new(),
        Err(p) => {
            problems.extend(p);
            Vec::new()
        }
    };
    if !problems.is_empty() {
        let mut form = RuleForm::typed(f);
        form.problems = problems;
        return RuleStep::Refused(form);
    }
    let mut c = redis::cmd("HANOI.RULE");
    c.arg(key).arg("SET").arg(field("name"));
    if !rollout.is_empty() {
        c.arg("ROLLOUT").arg(rollout);
    }
    if !field("variant").is_empty() {
        c.arg("VARIANT").arg(field("variant"));
    }
    c.arg("IF").arg(args);
    RuleStep::Send(c)
}

/// A field of the rule form: its label, the control, the problem under it
/// (announced).
fn field_error(form: &RuleForm, field: &str, id: &str) -> Markup {
    html! {
        @if let Some(e) = form.problem(field) {
            span.field-error id={(id) "-error"} role="alert" { (e) }
        }
    }
}

/// The rule builder: name, rollout, variant; a row per condition (attribute
/// with suggestions, operator, values); add and remove rows (a submit that
/// shows the form again, no script needed); the conditions as text for
/// those who prefer typing. `hidden` is the form's csrf/version fields.
/// `in_env` names the environment on the save buttons (" in staging", or
/// nothing); in a `protected` one the buttons that only add or remove a
/// row skip the browser's check of the confirmation field.
pub(super) fn rule_form(
    hidden: Markup,
    url: &str,
    flag: &Description,
    form: &RuleForm,
    in_env: &str,
    protected: bool,
    catalog: &Catalog,
) -> Markup {
    let segments = &catalog.segments;
    let invalid = |field: &str| form.problem(field).map(|_| "true");
    let mut attrs = attributes_used(flag);
    for a in &catalog.attributes {
        if !attrs.contains(a) {
            attrs.push(a.clone());
        }
    }
    if !segments.is_empty() && !attrs.iter().any(|a| a == SEGMENT) {
        attrs.push(SEGMENT.to_owned());
    }
    html! {
        form method="post" action={(url) "#rule-form"} id="rule-form" aria-labelledby="rule-form-title" {
            (hidden)
            @if let Some(e) = &form.editing {
                input type="hidden" name="editing" value=(e);
                h3 id="rule-form-title" { "Editing rule " strong id="editing-rule" { (e) } " · "
                    a href={(url) "#rules"} id="cancel-edit" { "cancel" } }
                p.muted { "Saving under another name adds a new rule and keeps this one." }
            } @else {
                h3 id="rule-form-title" { "Add a rule" }
            }
            @if let Some(m) = &form.refused {
                div.msg.err id="rule-error" role="alert" { "Not saved: " (m) }
            } @else if !form.problems.is_empty() {
                div.msg.err id="rule-error" role="alert" { "Not saved: see the fields marked below." }
            }
            // Enter in a field saves (the first submit button of a form is
            // the one Enter presses).
            button.sr-only type="submit" name="action" value="save" tabindex="-1" aria-hidden="true" { "Save rule" }
            div.row {
                label.field.invalid[form.problem("name").is_some()] { "Name" br;
                    input type="text" name="name" id="rule-name" value=(form.name)
                        aria-invalid=[invalid("name")] aria-describedby=[invalid("name").map(|_| "rule-name-error")];
                    (field_error(form, "name", "rule-name")) }
                label.field.invalid[form.problem("rollout").is_some()] { "Rollout % (optional)" br;
                    input type="number" name="rollout" id="rule-rollout" min="0" max="100" value=(form.rollout)
                        aria-invalid=[invalid("rollout")] aria-describedby=[invalid("rollout").map(|_| "rule-rollout-error")];
                    (field_error(form, "rollout", "rule-rollout")) }
                @if !flag.variants.is_empty() {
                    label { "Variant served" br;
                        select name="variant" id="rule-variant" {
                            option value="" selected[form.variant.is_empty()] { "(the flag's usual pick)" }
                            @for v in &flag.variants {
                                @let v = lossy(v);
                                option value=(v) selected[form.variant == v] { (v) }
                            }
                            @if !form.variant.is_empty() && !flag.variants.iter().any(|v| lossy(v) == form.variant) {
                                option value=(form.variant) selected { (form.variant) " (not a variant)" }
                            }
                        } }
                }
            }
            datalist id="rule-attributes" { @for a in &attrs { option value=(a) {} } }
            datalist id="rule-segments" { @for sg in segments { option value=(sg) {} } }
            @if !segments.is_empty() {
                p.muted id="segment-help" { "Attribute " code { (SEGMENT) } ": the id is a member of a segment. Its operators: "
                    @for (i, o) in SEGMENT_OPERATORS.iter().enumerate() { @if i > 0 { ", " } code { (o.name) } " (" (o.meaning) ")" }
                    ". The segments: "
                    @for (i, sg) in segments.iter().enumerate() { @if i > 0 { ", " } code.segment-choice { (sg) } } "." }
            }
            fieldset.conditions {
                legend { "Conditions (all must hold)" }
                @for (i, r) in form.rows.iter().enumerate() {
                    @let (a, o, v) = (format!("cond_attr_{i}"), format!("cond_op_{i}"), format!("cond_values_{i}"));
                    @if i > 0 { p.and { "AND" } }
                    div.row.condition id={"condition-" (i)} {
                        label.field.invalid[form.problem(&a).is_some()] { "Attribute" br;
                            input type="text" name=(a) id={"cond-attr-" (i)} list="rule-attributes" value=(r.attr)
                                autocomplete="off" aria-invalid=[invalid(&a)];
                            (field_error(form, &a, &format!("cond-attr-{i}"))) }
                        label.field.invalid[form.problem(&o).is_some()] { "Operator" br;
                            select name=(o) id={"cond-op-" (i)} aria-invalid=[invalid(&o)] {
                                @for o in OPERATORS {
                                    option value=(o.name) selected[r.op.eq_ignore_ascii_case(o.name)] { (o.name) " — " (o.meaning) }
                                }
                            }
                            (field_error(form, &o, &format!("cond-op-{i}"))) }
                        label.field.invalid[form.problem(&v).is_some()] { "Value (IN, NOTIN: several, separated by commas)" br;
                            input type="text" name=(v) id={"cond-values-" (i)} value=(r.values) aria-invalid=[invalid(&v)]
                                list=[(r.attr.trim() == SEGMENT).then_some("rule-segments")] autocomplete="off";
                            (field_error(form, &v, &format!("cond-values-{i}"))) }
                        @if form.rows.len() > 1 {
                            button.secondary type="submit" name="action" value={"remove_" (i)} id={"remove-condition-" (i)} formnovalidate[protected]
                                aria-label={"Remove condition " (i + 1)} { "remove" }
                        }
                    }
                }
                button.secondary type="submit" name="action" value="add" id="add-condition" formnovalidate[protected] { "+ add a condition (AND)" }
            }
            p.muted { "EXISTS and MISSING take no value. Every operator but MISSING is false when the attribute is not given." }
            @if !segments.is_empty() { p.muted { "A segment named in a rule that is deleted later makes its condition false (NOTIN too)." } }
            button type="submit" name="action" value="save" id="save-rule" {
                @if form.editing.is_some() { "Save rule" } @else { "Add rule" } (in_env) }
            details.typed open[form.problem("conditions").is_some()] {
                summary { "Type the conditions instead" }
                label.field.invalid[form.problem("conditions").is_some()] {
                    "Conditions (as after IF: " code { "country EQ DE AND plan IN pro team" } "; \"quotes\" for spaces)" br;
                    input type="text" name="conditions" id="rule-conditions" value=(form.text)
                        aria-invalid=[invalid("conditions")] aria-describedby=[invalid("conditions").map(|_| "rule-conditions-error")];
                    (field_error(form, "conditions", "rule-conditions")) }
                button type="submit" name="action" value="text" id="save-rule-text" { "Save from the text" (in_env) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_tokens() {
        assert_eq!(
            tokens(r#"country EQ DE AND name EQ "a b" AND x EQ "q\"""#).unwrap(),
            vec!["country", "EQ", "DE", "AND", "name", "EQ", "a b", "AND", "x", "EQ", "q\""]
        );
        assert_eq!(tokens(r#"x EQ """#).unwrap(), vec!["x", "EQ", ""]);
        assert!(tokens("x EQ \"open").is_err());
    }

    #[test]
    fn rules_read_as_sentences() {
        let words = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            command_sentence(
                "blue",
                &words("ROLLOUT 50 VARIANT blue IF plan IN 2 pro team AND country EQ DE")
            ),
            "If plan is one of pro, team and country is DE: on for 50 % of them, serving blue."
        );
        assert_eq!(
            command_sentence("b", &words("IF beta EXISTS AND app SEMVER_GE 2.1.0")),
            "If beta is given and app is a version at least 2.1.0: on for all of them."
        );
        assert_eq!(
            command_sentence("s", &words("ROLLOUT 0 IF segment IN 2 beta staff")),
            "If the id is in one of the segments beta, staff: skipped (a rollout of 0 %)."
        );
        assert_eq!(command_sentence("j", &words("junk here")), "junk here");
        // Cut after a whole condition: "and …", the condition as it was.
        assert_eq!(
            command_sentence("a", &words("IF country EQ DE AND")),
            "If country is DE and …: on for all of them."
        );
        // Cut by the history: said as far as it goes.
        assert_eq!(
            command_sentence("c", &words("VARIANT blue IF plan IN 3 a b")),
            "If plan is one of a, b, …: on for all of them, serving blue."
        );
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn typed_lists_are_counted() {
        assert_eq!(
            text_to_args("plan IN pro team").unwrap(),
            s(&["plan", "IN", "2", "pro", "team"])
        );
        assert_eq!(
            text_to_args("plan IN 2 pro team AND country EQ DE").unwrap(),
            s(&["plan", "IN", "2", "pro", "team", "AND", "country", "EQ", "DE"])
        );
        assert_eq!(
            text_to_args("size in 3 4 5 and beta exists").unwrap(),
            s(&["size", "in", "3", "3", "4", "5", "AND", "beta", "exists"])
        );
        let e = text_to_args("country IS DE").unwrap_err();
        assert!(
            e.contains("unknown operator") && e.contains("SEMVER_GE"),
            "{e}"
        );
        assert!(text_to_args("a EQ b c").unwrap_err().contains("AND"));
        assert!(text_to_args("a EQ").is_err());
        assert!(text_to_args("a EQ b AND").is_err());
    }

    #[test]
    fn rows_round_trip() {
        let rows = vec![
            Condition {
                attr: "plan".into(),
                op: "IN".into(),
                values: "pro, team\nfree".into(),
            },
            Condition::default(),
            Condition {
                attr: "beta".into(),
                op: "EXISTS".into(),
                values: String::new(),
            },
        ];
        let args = rows_to_args(&rows).unwrap();
        assert_eq!(
            args,
            s(&["plan", "IN", "3", "pro", "team", "free", "AND", "beta", "EXISTS"])
        );
        let words: Vec<Vec<u8>> = std::iter::once("IF".to_owned())
            .chain(args)
            .map(String::into_bytes)
            .collect();
        let back = rows_of(&RuleDescription::of_command(b"r", &words).0);
        assert_eq!(back[0].values, "pro, team, free");
        assert_eq!(back[1].op, "EXISTS");
        let e = rows_to_args(&[Condition {
            attr: "x".into(),
            op: "IN".into(),
            values: " , ".into(),
        }])
        .unwrap_err();
        assert_eq!(e[0].0, "cond_values_0");
        assert!(rows_to_args(&[Condition::default()]).is_err());
    }
}
