//! Creating a flag: type first (on or off, text, a number, JSON), then the
//! form for that type, and its save (`HANOI.DEFINE`, then `HANOI.META` for
//! the fields given).

use super::forms::{check_variant_rows, define_cmd, meta_cmds, variant_rows};
use super::session::{check_write_unconfirmed, confirm_problem, Who};
use super::{flag_url, layout, respond, Fail};
use crate::store::WriteOutcome;
use crate::App;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use std::collections::HashMap;
use std::sync::Arc;

/// The types a new flag may serve: (`type`, what to call it, how its
/// values are typed).
const TYPES: [(&str, &str, &str); 4] = [
    ("boolean", "On or off", ""),
    ("string", "Text", "plain text, no quotes"),
    ("number", "A number", "a number: 10, 0.5, -3"),
    ("object", "JSON", "a JSON object or array: {\"columns\": 2}"),
];

/// Variant rows a new typed flag's form offers.
const NEW_ROWS: usize = 4;

pub(super) async fn new_flag_page(
    w: Who,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Fail> {
    if !w.can_write {
        return Err(Fail::Forbidden("viewers cannot create flags".into()));
    }
    let mut f = HashMap::new();
    if let Some(t) = q
        .get("type")
        .filter(|t| TYPES.iter().any(|(n, _, _)| n == t))
    {
        f.insert("type".to_owned(), t.clone());
    }
    Ok(respond(StatusCode::OK, new_flag_form(&w, &f, None)))
}

/// A typed flag's rows as the module takes them: a text's values quoted as
/// JSON strings; each value checked against the type chosen. The problems
/// in words, or the form to send.
fn typed_values(f: &HashMap<String, String>) -> Result<HashMap<String, String>, Vec<String>> {
    let kind = f.get("type").map(String::as_str).unwrap_or("");
    let mut g = f.clone();
    let mut problems = Vec::new();
    let rows = variant_rows(f);
    if !rows.iter().any(|r| !r.name.trim().is_empty()) {
        problems.push("give the flag at least one variant (a name and its value)".to_owned());
    }
    for (i, r) in rows.iter().enumerate() {
        let value = r.value.trim();
        if r.name.trim().is_empty() {
            continue;
        }
        if value.is_empty() {
            problems.push(format!("variant {}: give it a value", r.name.trim()));
            continue;
        }
        let json = match kind {
            "string" => serde_json::Value::String(value.to_owned()).to_string(),
            _ => value.to_owned(),
        };
        let fits = match serde_json::from_str::<serde_json::Value>(&json) {
            Ok(serde_json::Value::Number(_)) => kind == "number",
            Ok(serde_json::Value::String(_)) => kind == "string",
            Ok(serde_json::Value::Object(_) | serde_json::Value::Array(_)) => kind == "object",
            _ => false,
        };
        if !fits {
            problems.push(format!(
                "variant {}: {value:?} is not {}",
                r.name.trim(),
                TYPES
                    .iter()
                    .find(|(n, _, _)| *n == kind)
                    .map_or("of this type", |t| t.2)
            ));
        }
        g.insert(format!("value_{i}"), json);
    }
    // The rest (names twice, weights, the default) once the values fit.
    if problems.is_empty() {
        problems.extend(check_variant_rows(&g).into_iter().map(|(_, e)| e));
    }
    if problems.is_empty() {
        Ok(g)
    } else {
        Err(problems)
    }
}

fn new_flag_form(w: &Who, f: &HashMap<String, String>, error: Option<&str>) -> Markup {
    let v = |k: &str| f.get(k).cloned().unwrap_or_default();
    let kind = f.get("type").cloned().unwrap_or_default();
    let typed = !kind.is_empty() && kind != "boolean";
    let hint = TYPES
        .iter()
        .find(|(n, _, _)| *n == kind)
        .map_or("", |t| t.2);
    let mut rows = variant_rows(f);
    while rows.len() < NEW_ROWS {
        rows.push(Default::default());
    }
    layout(
        "New flag",
        Some(w),
        html! {
            h1 { "New flag" @if w.multi { " in " span id="new-env" { (w.env_name) } } }
            nav.row.types id="flag-types" aria-label="what the flag serves" {
                "It serves: "
                @for (name, words, _) in TYPES {
                    @let current = kind == name || (kind.is_empty() && name == "boolean");
                    a href=(w.link(&format!("/flags/new?type={name}"))) id={"type-" (name)}
                        aria-current=[current.then_some("page")] { @if current { strong { (words) } } @else { (words) } } " "
                }
            }
            @if let Some(e) = error { div.msg.err id="error" role="alert" { (e) } }
            section.card { form method="post" action=(w.link("/flags/new")) {
                input type="hidden" name="csrf" value=(w.csrf);
                @if !kind.is_empty() { input type="hidden" name="type" value=(kind); }
                @if w.protected {
                    label.confirm-env { "Type " strong { (w.env_name) } " to confirm a change in this protected environment: "
                        input type="text" name="confirm_env" autocomplete="off" value=(v("confirm_env")); }
                }
                label { "Name (the Redis key)" br; input type="text" name="name" id="flag-name" required value=(v("name")); }
                label { input type="checkbox" name="enabled" value="1" checked[!f.contains_key("name") || f.contains_key("enabled")]; " switched on" }
                label { "Percentage" br; input type="number" name="percentage" min="0" max="100" value=(f.get("percentage").cloned().unwrap_or_else(|| "0".into())); }
                @if typed {
                    table id="new-variants" {
                        caption { "Its variants and the value each serves (" (hint) ")" }
                        thead { tr { th { "variant" } th { "value" } th { "weight (optional)" } th { "served when off" } } }
                        tbody { @for (i, r) in rows.iter().enumerate() { tr {
                            td { label { span.sr-only { "Variant " (i + 1) } input type="text" name={"variant_" (i)} id={"new-variant-" (i)} value=(r.name); } }
                            // An object's value gets room for its lines.
                            td { label { span.sr-only { "Value of variant " (i + 1) }
                                @if kind == "object" { textarea.json name={"value_" (i)} id={"new-value-" (i)} rows="4" spellcheck="false" { (r.value) } }
                                @else { input type="text" name={"value_" (i)} id={"new-value-" (i)} value=(r.value); } } }
                            td { label { span.sr-only { "Weight of variant " (i + 1) } input type="text" name={"weight_" (i)} value=(r.weight); } }
                            td { label { span.sr-only { "Variant " (i + 1) " is served when off" }
                                input type="radio" name="default_row" value=(i) id={"new-default-" (i)}
                                    checked[f.get("default_row").is_some_and(|d| *d == i.to_string())]; } }
                        } } }
                    }
                    p.muted { "Served when off: the variant ticked in the last column (none ticked: nothing is served when off)." }
                } @else if kind.is_empty() {
                    label { "Variants (space or comma separated, optional)" br; input type="text" name="variants" value=(v("variants")); }
                    label { "Weights (one per variant, optional)" br; input type="text" name="weights" value=(v("weights")); }
                }
                label { "Salt (optional)" br; input type="text" name="salt" value=(v("salt")); }
                label { "Description" br; input type="text" name="description" value=(v("description")); }
                label { "Owner" br; input type="text" name="owner" value=(v("owner")); }
                label { "Tags (comma separated)" br; input type="text" name="tags" value=(v("tags")); }
                (w.comment_field(&v("comment")))
                button type="submit" id="create" { "Create" (w.in_env()) }
            } }
        },
    )
}

pub(super) async fn create_flag(
    State(app): State<Arc<App>>,
    w: Who,
    headers: HeaderMap,
    Form(mut f): Form<HashMap<String, String>>,
) -> Result<Response, Fail> {
    check_write_unconfirmed(&app, &w, &headers, &f, true)?;
    // The default chosen among the typed variants (a radio per row).
    if let Some(name) = f
        .get("default_row")
        .and_then(|i| f.get(&format!("variant_{i}")))
        .cloned()
    {
        f.insert("default".to_owned(), name);
    }
    // A wrong confirmation comes back at the form, everything typed kept.
    if let Some(problem) = confirm_problem(&w, &f) {
        return Ok(respond(
            StatusCode::FORBIDDEN,
            new_flag_form(&w, &f, Some(&problem)),
        ));
    }
    let name = f
        .get("name")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    if name.is_empty() {
        return Ok(respond(
            StatusCode::BAD_REQUEST,
            new_flag_form(&w, &f, Some("A flag needs a name.")),
        ));
    }
    if let Some(missing) = w.comment_missing(&f) {
        return Ok(respond(
            StatusCode::BAD_REQUEST,
            new_flag_form(&w, &f, Some(&missing)),
        ));
    }
    // A typed flag: its values checked against the type, as JSON.
    let sent = if f.get("type").is_some_and(|t| t != "boolean") {
        match typed_values(&f) {
            Ok(g) => g,
            Err(problems) => {
                return Ok(respond(
                    StatusCode::BAD_REQUEST,
                    new_flag_form(
                        &w,
                        &f,
                        Some(&format!("Not created: {}.", problems.join("; "))),
                    ),
                ))
            }
        }
    } else {
        f.clone()
    };
    let key = name.as_bytes();
    let mut cmds = vec![define_cmd(key, &sent)];
    // A new flag has no metadata: only the fields given are set.
    let given: HashMap<String, String> = f
        .iter()
        .filter(|(k, v)| {
            ["description", "owner", "tags"].contains(&k.as_str()) && !v.trim().is_empty()
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    cmds.extend(meta_cmds(key, &given));
    if w.approvals > 0 {
        let expect = crate::store::requests::Expect::Absent;
        return match super::requests::propose(&app, &w, key, expect, &cmds, &f, "create", None)
            .await?
        {
            Ok(r) => Ok(r),
            Err(e) => Ok(respond(
                StatusCode::BAD_REQUEST,
                new_flag_form(&w, &f, Some(&e)),
            )),
        };
    }
    let audit = w.audit(&app, &f, "create");
    match w
        .env(&app)
        .store
        .write(&w.name, key, None, &cmds, &audit)
        .await?
    {
        WriteOutcome::Conflict => Ok(respond(
            StatusCode::CONFLICT,
            new_flag_form(&w, &f, Some("A key with this name already exists.")),
        )),
        WriteOutcome::Done(results) => {
            let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
            if errors.is_empty() {
                w.env(&app).attributes.invalidate();
                Ok(Redirect::to(&w.link(&flag_url(key))).into_response())
            } else {
                // DEFINE refused: nothing exists; META refused: the flag does.
                Ok(respond(
                    StatusCode::BAD_REQUEST,
                    new_flag_form(&w, &f, Some(&errors.join("; "))),
                ))
            }
        }
    }
}
