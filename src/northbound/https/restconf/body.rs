//! Request bodies as edit trees: libyang parses the body (JSON or XML) as the
//! children of the resource's parent, which is built from the URI with its
//! keys, so the body is checked by the schema exactly where it goes.
use std::ffi::CString;

use yang5::context::Context;
use yang5::data::{DataFormat, DataParserFlags, DataTree, DataValidationFlags};
use yang5::ffi;

use super::reply::{Failure, Media};
use crate::datastore::tree::{self, Tree};
use crate::datastore::{Error, ErrorTag};

fn format(m: Media) -> DataFormat {
    match m {
        Media::Json => DataFormat::JSON,
        Media::Xml => DataFormat::XML,
    }
}

fn malformed(msg: impl Into<String>) -> Failure {
    Failure::bad(ErrorTag::MalformedMessage, msg)
}

/// The body parsed as configuration below `parent` (a data path; empty for
/// the top level). Answers the tree and the paths of the nodes the body
/// holds (the children it added to the parent).
pub fn parse(
    ctx: &'static Context,
    parent: &str,
    media: Media,
    body: &[u8],
) -> Result<(Tree, Vec<String>), Failure> {
    let text = std::str::from_utf8(body).map_err(|_| malformed("the body is not UTF-8"))?;
    if text.trim().is_empty() {
        return Err(malformed("the body is empty"));
    }
    // Well-formed first: libyang's messages for broken JSON or XML are terse.
    match media {
        Media::Json => {
            let v: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| malformed(format!("the body is not JSON: {e}")))?;
            if v.as_object().is_none_or(|o| o.len() != 1) {
                return Err(malformed(
                    "the body must be one JSON object with one member, the resource",
                ));
            }
        }
        Media::Xml => {
            crate::xml::parse(text).map_err(|e| malformed(format!("the body is not XML: {e}")))?;
        }
    }
    let flags =
        DataParserFlags::NO_VALIDATION | DataParserFlags::STRICT | DataParserFlags::NO_STATE;
    if parent.is_empty() {
        let t = DataTree::parse_string(
            ctx,
            text,
            format(media),
            flags,
            DataValidationFlags::NO_STATE,
        )
        .map_err(|e| invalid(&e))?;
        let paths = tree::top_nodes(&t).map(|n| tree::path(&n)).collect();
        return Ok((t, paths));
    }
    let mut t = DataTree::new(ctx);
    t.new_path(parent, None, false).map_err(|e| invalid(&e))?;
    let before = children(&t, parent);
    let node = tree::find(&t, parent)
        .ok_or_else(|| malformed("the resource's parent cannot be built"))?
        .as_raw();
    let input = CString::new(text).map_err(|_| malformed("the body holds a NUL"))?;
    let rc = unsafe {
        let mut inp = std::ptr::null_mut();
        if ffi::ly_in_new_memory(input.as_ptr(), &mut inp) != ffi::LY_ERR::LY_SUCCESS {
            return Err(malformed("cannot read the body"));
        }
        let rc = ffi::lyd_parse_data(
            tree::ctx_raw(ctx),
            node,
            inp,
            match media {
                Media::Json => ffi::LYD_FORMAT::LYD_JSON,
                Media::Xml => ffi::LYD_FORMAT::LYD_XML,
            },
            ffi::LYD_PARSE_ONLY | ffi::LYD_PARSE_STRICT | ffi::LYD_PARSE_NO_STATE,
            0,
            std::ptr::null_mut(),
        );
        ffi::ly_in_free(inp, 0);
        rc
    };
    if rc != ffi::LY_ERR::LY_SUCCESS {
        return Err(invalid(&yang5::Error::new(ctx)));
    }
    let added = children(&t, parent)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    Ok((t, added))
}

/// The paths of the children of `parent` in `t`.
fn children(t: &Tree, parent: &str) -> Vec<String> {
    tree::find(t, parent)
        .map(|n| n.children().map(|c| tree::path(&c)).collect())
        .unwrap_or_default()
}

/// libyang's refusal of a body as RFC 8040's error: unknown nodes are
/// unknown-element, bad values invalid-value.
fn invalid(e: &yang5::Error) -> Failure {
    let mut err = Error::from_yang(e, ErrorTag::InvalidValue);
    let msg = err.message.to_ascii_lowercase();
    if msg.contains("not found") || msg.contains("unknown") {
        err.tag = ErrorTag::UnknownElement;
    }
    err.message = format!("the body does not fit the schema: {}", err.message);
    Failure::new(axum::http::StatusCode::BAD_REQUEST, err)
}
