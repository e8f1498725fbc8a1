//! RFC 8072's YANG Patch (`application/yang-patch+json`): an ordered list of
//! edits, each an operation on a target below the request's resource, applied
//! as one commit or not at all. The answer is the yang-patch-status: `ok`, or
//! the error of the edit at fault.
use axum::http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::reply::{Failure, Media, Reply};
use super::target::{self, Target};
use super::uri::{self, Step};
use super::{body, respond};
use crate::datastore::edit::Operation;
use crate::datastore::{Error, ErrorTag, ResourceEdit};
use crate::northbound::https::Https;
use crate::northbound::https::auth::Caller;

/// The most edits one patch may hold.
const MAX_EDITS: usize = 1024;

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "ietf-yang-patch:yang-patch")]
    patch: Patch,
}

#[derive(Deserialize)]
struct Patch {
    #[serde(rename = "patch-id")]
    id: String,
    #[serde(default)]
    edit: Vec<Edit>,
}

#[derive(Deserialize)]
struct Edit {
    #[serde(rename = "edit-id")]
    id: String,
    operation: String,
    target: String,
    value: Option<Value>,
}

/// The steps of an edit's target, below the request's own.
fn steps(base: &[Step], target: &str) -> Result<Vec<Step>, String> {
    let rel = target.trim_start_matches('/');
    let mut out = base.to_vec();
    if rel.is_empty() {
        return Ok(out);
    }
    // A relative path may leave out the module of its first step: the
    // request's target names it.
    let module = base
        .last()
        .and_then(|_| base.iter().rev().find_map(|s| s.module.clone()));
    let qualified = match (rel.split('/').next(), &module) {
        (Some(first), Some(m)) if !first.split('=').next().unwrap_or("").contains(':') => {
            format!("{m}:{rel}")
        }
        _ => rel.to_string(),
    };
    out.extend(uri::parse_path(&qualified).map_err(|e| e.0)?);
    Ok(out)
}

fn status(id: &str, errors: Option<(Option<&str>, &[Error])>) -> Value {
    match errors {
        None => json!({"ietf-yang-patch:yang-patch-status": {"patch-id": id, "ok": [null]}}),
        Some((edit, errs)) => {
            let list = super::reply::error_list(errs);
            let errors = json!({"error": list});
            match edit {
                Some(eid) => json!({"ietf-yang-patch:yang-patch-status": {
                    "patch-id": id,
                    "edit-status": {"edit": [{"edit-id": eid, "errors": errors}]},
                }}),
                None => json!({"ietf-yang-patch:yang-patch-status": {
                    "patch-id": id, "errors": errors,
                }}),
            }
        }
    }
}

/// Answers a failed patch: its status with the HTTP code of its first error.
fn failed(id: &str, edit: Option<&str>, errs: Vec<Error>) -> Reply {
    let code = errs
        .first()
        .map(|e| super::reply::status_of(e, &Method::PATCH))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Ok(respond(
        code,
        Media::Json,
        status(id, Some((edit, &errs))).to_string(),
    ))
}

pub async fn apply(
    app: &Https,
    who: &Caller,
    base_steps: &[Step],
    media: Media,
    raw: &[u8],
    if_version: Option<(String, u64)>,
) -> Reply {
    if media != Media::Json {
        return Err(Failure::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::protocol(
                ErrorTag::InvalidValue,
                "YANG Patch is taken as application/yang-patch+json",
            ),
        ));
    }
    let env: Envelope = serde_json::from_slice(raw).map_err(|e| {
        Failure::bad(
            ErrorTag::MalformedMessage,
            format!("the body is not a YANG Patch: {e}"),
        )
    })?;
    let p = env.patch;
    if p.edit.len() > MAX_EDITS {
        return Err(Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Error::protocol(ErrorTag::TooBig, format!("at most {MAX_EDITS} edits")),
        ));
    }
    let ctx = app.ds.ctx;
    let mut edits = Vec::with_capacity(p.edit.len());
    for (i, e) in p.edit.iter().enumerate() {
        let bad = |msg: String| {
            failed(
                &p.id,
                Some(&e.id),
                vec![Error::protocol(ErrorTag::InvalidValue, msg)],
            )
        };
        let op = match e.operation.as_str() {
            "create" => Operation::Create,
            "delete" => Operation::Delete,
            "merge" => Operation::Merge,
            "replace" => Operation::Replace,
            "remove" => Operation::Remove,
            "insert" | "move" => {
                return failed(
                    &p.id,
                    Some(&e.id),
                    vec![Error::protocol(
                        ErrorTag::OperationNotSupported,
                        format!("operation {} is not supported", e.operation),
                    )],
                );
            }
            other => return bad(format!("no operation {other}")),
        };
        let steps = match steps(base_steps, &e.target) {
            Ok(s) => s,
            Err(m) => return bad(format!("target {}: {m}", e.target)),
        };
        let t: Target = match target::resolve(ctx, &steps, false) {
            Ok(t) => t,
            Err(f) => return failed(&p.id, Some(&e.id), f.errors),
        };
        if t.all_entries || t.is_operation() || !t.config {
            return bad(format!(
                "target {} is not a configuration resource",
                e.target
            ));
        }
        let body = match (op, &e.value) {
            (Operation::Delete | Operation::Remove, _) => None,
            (_, None) => return bad(format!("edit {} needs a value", e.id)),
            (_, Some(v)) => {
                let text = v.to_string();
                let parent = if t.xpath.is_empty() {
                    ""
                } else {
                    &t.parent_xpath
                };
                match body::parse(ctx, parent, Media::Json, text.as_bytes()) {
                    Ok((tree, added)) if t.xpath.is_empty() || added.len() == 1 => Some(tree),
                    Ok(_) => return bad(format!("the value of edit {} must be its target", e.id)),
                    Err(f) => return failed(&p.id, Some(&e.id), f.errors),
                }
            }
        };
        edits.push(ResourceEdit {
            xpath: t.xpath.clone(),
            op,
            body,
            if_version: if i == 0 { if_version.clone() } else { None },
        });
    }
    match app.ds.edit_resources(&who.session, edits).await {
        Ok(_) => Ok(respond(
            StatusCode::OK,
            Media::Json,
            status(&p.id, None).to_string(),
        )),
        Err((at, errs)) => {
            let edit = at.and_then(|i| p.edit.get(i)).map(|e| e.id.as_str());
            failed(&p.id, edit, super::locked(errs))
        }
    }
}
