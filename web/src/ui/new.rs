//! Creating a flag: the form and its save (`HANOI.DEFINE`, then
//! `HANOI.META` for the fields given).

use super::forms::{define_cmd, meta_cmds};
use super::session::{check_write_unconfirmed, confirm_problem, Who};
use super::{flag_url, layout, respond, Fail};
use crate::store::WriteOutcome;
use crate::App;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use std::collections::HashMap;
use std::sync::Arc;

pub(super) async fn new_flag_page(w: Who) -> Result<Response, Fail> {
    if !w.can_write {
        return Err(Fail::Forbidden("viewers cannot create flags".into()));
    }
    Ok(respond(
        StatusCode::OK,
        new_flag_form(&w, &HashMap::new(), None),
    ))
}

fn new_flag_form(w: &Who, f: &HashMap<String, String>, error: Option<&str>) -> Markup {
    let v = |k: &str| f.get(k).cloned().unwrap_or_default();
    layout(
        "New flag",
        Some(w),
        html! {
            h1 { "New flag" @if w.multi { " in " span id="new-env" { (w.env_name) } } }
            @if let Some(e) = error { div.msg.err id="error" role="alert" { (e) } }
            section.card { form method="post" action=(w.link("/flags/new")) {
                input type="hidden" name="csrf" value=(w.csrf);
                @if w.protected {
                    label.confirm-env { "Type " strong { (w.env_name) } " to confirm a change in this protected environment: "
                        input type="text" name="confirm_env" autocomplete="off" value=(v("confirm_env")); }
                }
                label { "Name (the Redis key)" br; input type="text" name="name" id="flag-name" required value=(v("name")); }
                label { input type="checkbox" name="enabled" value="1" checked[f.is_empty() || f.contains_key("enabled")]; " switched on" }
                label { "Percentage" br; input type="number" name="percentage" min="0" max="100" value=(f.get("percentage").cloned().unwrap_or_else(|| "0".into())); }
                label { "Variants (space or comma separated, optional)" br; input type="text" name="variants" value=(v("variants")); }
                label { "Weights (one per variant, optional)" br; input type="text" name="weights" value=(v("weights")); }
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
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, Fail> {
    check_write_unconfirmed(&app, &w, &headers, &f, true)?;
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
    let key = name.as_bytes();
    let mut cmds = vec![define_cmd(key, &f)];
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
