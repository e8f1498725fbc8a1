//! RESTCONF's media types and its errors (RFC 8040 sections 5.2 and 7): the
//! `ietf-restconf:errors` structure in JSON or XML, with the HTTP status of
//! each error-tag.
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::datastore::{Error, ErrorTag, PRECONDITION_FAILED};

pub const JSON: &str = "application/yang-data+json";
pub const XML: &str = "application/yang-data+xml";
pub const PATCH_JSON: &str = "application/yang-patch+json";
pub const PATCH_XML: &str = "application/yang-patch+xml";
const RESTCONF_NS: &str = "urn:ietf:params:xml:ns:yang:ietf-restconf";

/// The encoding of a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    Json,
    Xml,
}

impl Media {
    pub fn mime(self) -> &'static str {
        match self {
            Media::Json => JSON,
            Media::Xml => XML,
        }
    }
}

/// A failed request: its status and errors, in the encoding the client reads.
#[derive(Debug)]
pub struct Failure {
    pub status: StatusCode,
    pub errors: Vec<Error>,
    pub media: Media,
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

pub type Reply = Result<Response, Failure>;

impl Failure {
    pub fn new(status: StatusCode, e: Error) -> Failure {
        Failure {
            status,
            errors: vec![e],
            media: Media::Json,
            headers: Vec::new(),
        }
    }

    /// Errors of the datastore, with the status their first error's tag says.
    pub fn from_errors(errors: Vec<Error>, method: &axum::http::Method) -> Failure {
        let status = errors
            .first()
            .map(|e| status_of(e, method))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Failure {
            status,
            errors,
            media: Media::Json,
            headers: Vec::new(),
        }
    }

    pub fn bad(tag: ErrorTag, msg: impl Into<String>) -> Failure {
        Failure::new(StatusCode::BAD_REQUEST, Error::protocol(tag, msg))
    }

    pub fn not_found(msg: impl Into<String>) -> Failure {
        Failure::new(
            StatusCode::NOT_FOUND,
            Error::protocol(ErrorTag::InvalidValue, msg),
        )
    }

    pub fn in_media(mut self, media: Media) -> Failure {
        self.media = media;
        self
    }

    pub fn with_header(mut self, name: header::HeaderName, value: &str) -> Failure {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::from_errors(vec![e], &axum::http::Method::GET)
    }
}

/// RFC 8040 section 7's table; where it gives two statuses, the method decides.
pub fn status_of(e: &Error, method: &axum::http::Method) -> StatusCode {
    use ErrorTag::*;
    if e.app_tag.as_deref() == Some(PRECONDITION_FAILED) {
        return StatusCode::PRECONDITION_FAILED;
    }
    let read_or_delete = matches!(
        *method,
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::DELETE
    );
    match e.tag {
        InUse | LockDenied | ResourceDenied | DataExists => StatusCode::CONFLICT,
        DataMissing if read_or_delete => StatusCode::NOT_FOUND,
        DataMissing => StatusCode::CONFLICT,
        TooBig => StatusCode::PAYLOAD_TOO_LARGE,
        AccessDenied => StatusCode::FORBIDDEN,
        OperationNotSupported => StatusCode::NOT_IMPLEMENTED,
        RollbackFailed | OperationFailed => StatusCode::INTERNAL_SERVER_ERROR,
        InvalidValue | MissingAttribute | BadAttribute | UnknownAttribute | MissingElement
        | BadElement | UnknownElement | UnknownNamespace | MalformedMessage => {
            StatusCode::BAD_REQUEST
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = match self.media {
            Media::Json => errors_json(&self.errors).to_string(),
            Media::Xml => errors_xml(&self.errors),
        };
        let mut r = (self.status, body).into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.media.mime()),
        );
        for (k, v) in self.headers {
            h.append(k, v);
        }
        r
    }
}

/// The `error` entries of RFC 8040's errors structure (also in YANG Patch's
/// status).
pub fn error_list(errors: &[Error]) -> Vec<Value> {
    errors
        .iter()
        .map(|e| {
            let mut o = json!({
                "error-type": e.error_type.as_str(),
                "error-tag": e.tag.as_str(),
                "error-message": e.message,
            });
            if let Some(t) = &e.app_tag {
                o["error-app-tag"] = json!(t);
            }
            if let Some(p) = &e.path {
                o["error-path"] = json!(p);
            }
            if !e.info.is_empty() {
                let info: serde_json::Map<String, Value> = e
                    .info
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                o["error-info"] = Value::Object(info);
            }
            o
        })
        .collect()
}

fn errors_json(errors: &[Error]) -> Value {
    json!({"ietf-restconf:errors": {"error": error_list(errors)}})
}

fn errors_xml(errors: &[Error]) -> String {
    use crate::xml::escape;
    let mut s = format!("<errors xmlns=\"{RESTCONF_NS}\">");
    for e in errors {
        s.push_str(&format!(
            "<error><error-type>{}</error-type><error-tag>{}</error-tag>",
            e.error_type.as_str(),
            e.tag.as_str()
        ));
        if let Some(t) = &e.app_tag {
            s.push_str(&format!("<error-app-tag>{}</error-app-tag>", escape(t)));
        }
        if let Some(p) = &e.path {
            // The path's prefixes are module names: declare each one.
            let mut decl = String::new();
            let mut seen = Vec::new();
            for m in p
                .split('/')
                .filter_map(|s| s.split_once(':').map(|(m, _)| m.trim_start_matches('[')))
            {
                if seen.contains(&m) {
                    continue;
                }
                seen.push(m);
                if let Some(ns) = crate::schema::module_namespace(m) {
                    decl.push_str(&format!(" xmlns:{m}=\"{}\"", escape(&ns)));
                }
            }
            s.push_str(&format!("<error-path{decl}>{}</error-path>", escape(p)));
        }
        s.push_str(&format!(
            "<error-message>{}</error-message>",
            escape(&e.message)
        ));
        if !e.info.is_empty() {
            s.push_str("<error-info>");
            for (k, v) in &e.info {
                s.push_str(&format!("<{k}>{}</{k}>", escape(v)));
            }
            s.push_str("</error-info>");
        }
        s.push_str("</error>");
    }
    s.push_str("</errors>");
    s
}

/// The encoding the client accepts (RFC 8040 section 5.2); JSON unless it
/// asks for XML only. `Err` when it accepts neither (406).
pub fn accepted(headers: &HeaderMap) -> Result<Media, Failure> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(Media::Json);
    };
    let mut any = false;
    let mut xml = false;
    for part in accept.split(',') {
        let mime = part.split(';').next().unwrap_or("").trim();
        match mime {
            JSON | "application/json" | PATCH_JSON => return Ok(Media::Json),
            XML | "application/xml" | "text/xml" | PATCH_XML => xml = true,
            "*/*" | "application/*" | "" => any = true,
            _ => {}
        }
    }
    if xml {
        Ok(Media::Xml)
    } else if any {
        Ok(Media::Json)
    } else {
        Err(Failure::new(
            StatusCode::NOT_ACCEPTABLE,
            Error::protocol(
                ErrorTag::InvalidValue,
                format!("cannot answer in {accept}: {JSON} or {XML}"),
            ),
        ))
    }
}

/// What a request body is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyType {
    Data(Media),
    /// RFC 8072's YANG Patch.
    Patch(Media),
}

/// The body's media type; `Err` (415) for any other.
pub fn body_type(headers: &HeaderMap) -> Result<BodyType, Failure> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    Ok(match mime.as_str() {
        JSON | "application/json" => BodyType::Data(Media::Json),
        XML | "application/xml" | "text/xml" => BodyType::Data(Media::Xml),
        PATCH_JSON => BodyType::Patch(Media::Json),
        PATCH_XML => BodyType::Patch(Media::Xml),
        _ => {
            return Err(Failure::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Error::protocol(
                    ErrorTag::InvalidValue,
                    format!("the body must be {JSON} or {XML}, not \"{ct}\""),
                ),
            ));
        }
    })
}
