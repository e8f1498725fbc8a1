//! RESTCONF (RFC 8040): the `{+restconf}` root at /restconf, its datastore
//! resource `data`, `operations`, `yang-library-version`, and the
//! notification streams. A request's path and query are parsed by `uri`, its
//! target resolved against the schema by `target`; reads and edits are the
//! datastore's, as the caller's session.
pub mod body;
pub mod patch;
pub mod prune;
pub mod reply;
pub mod sse;
pub mod target;
pub mod uri;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};
use yang5::data::{Data, DataFormat, DataPrinterFlags};

use self::reply::{BodyType, Failure, Media, Reply};
use self::target::Target;
use self::uri::{Content, Query};
use super::auth::{Caller, Refused};
use super::{ConnInfo, Https};
use crate::datastore::edit::Operation;
use crate::datastore::{
    ActionCall, Datastore, Error, ErrorTag, Filter, ResourceEdit, WithDefaults, tree,
};

pub const ROOT: &str = "/restconf";
const YANG_LIBRARY: &str = "2019-01-04";
const RESTCONF_NS: &str = "urn:ietf:params:xml:ns:yang:ietf-restconf";

pub fn routes() -> Router<Arc<Https>> {
    Router::new()
        .route("/.well-known/host-meta", any(host_meta))
        .route("/restconf", any(dispatch))
        .route("/restconf/", any(dispatch))
        .route("/restconf/{*rest}", any(dispatch))
}

async fn host_meta(method: Method) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    (
        [(header::CONTENT_TYPE, "application/xrd+xml")],
        "<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n  <Link rel='restconf' href='/restconf'/>\n</XRD>\n",
    )
        .into_response()
}

/// The caller of a RESTCONF request, or the 401 that says how to log in.
pub fn caller(app: &Https, headers: &HeaderMap, info: &ConnInfo) -> Result<Caller, Failure> {
    match app.logins.authenticate(headers, info.peer, true) {
        Ok(c) => Ok(c),
        Err(why) => {
            let msg = match why {
                Refused::Missing => "authentication required (HTTP basic or bearer)",
                Refused::Bad => "the user name or password is wrong",
                Refused::Expired => "the session or token is unknown or expired: log in again",
            };
            Err(Failure::new(
                StatusCode::UNAUTHORIZED,
                Error::protocol(ErrorTag::AccessDenied, msg),
            )
            .with_header(
                header::WWW_AUTHENTICATE,
                "Basic realm=\"lifeline\", Bearer realm=\"lifeline\"",
            ))
        }
    }
}

async fn dispatch(State(app): State<Arc<Https>>, req: Request) -> Response {
    let media = reply::accepted(req.headers()).unwrap_or(Media::Json);
    match serve(app, req).await {
        Ok(r) => r,
        Err(f) => {
            let bad_password = f.status == StatusCode::UNAUTHORIZED
                && f.errors
                    .first()
                    .is_some_and(|e| e.message.contains("wrong"));
            if bad_password {
                // As the SSH server: a wrong password costs the guesser time.
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
            f.in_media(media).into_response()
        }
    }
}

async fn serve(app: Arc<Https>, req: Request) -> Reply {
    let Some(info) = req.extensions().get::<ConnInfo>().cloned() else {
        return Ok(StatusCode::INTERNAL_SERVER_ERROR.into_response());
    };
    let who = caller(&app, req.headers(), &info)?;
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let rest = path
        .strip_prefix(ROOT)
        .unwrap_or("")
        .trim_start_matches('/');
    let (resource, sub) = rest.split_once('/').unwrap_or((rest, ""));
    let query = req.uri().query().map(str::to_string);
    // A stream answers text/event-stream; everything else JSON or XML.
    let media = if resource == "streams" {
        Media::Json
    } else {
        reply::accepted(req.headers())?
    };
    if !who.may_change() && !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            Error::protocol(
                ErrorTag::AccessDenied,
                "a change from the web console needs its X-CSRF-Token header",
            ),
        ));
    }
    match resource {
        "" => only_get(&method, "GET, HEAD, OPTIONS").map(|()| root(media)),
        "yang-library-version" => only_get(&method, "GET, HEAD, OPTIONS").map(|()| {
            let body = match media {
                Media::Json => {
                    json!({"ietf-restconf:yang-library-version": YANG_LIBRARY}).to_string()
                }
                Media::Xml => format!(
                    "<yang-library-version xmlns=\"{RESTCONF_NS}\">{YANG_LIBRARY}</yang-library-version>"
                ),
            };
            respond(StatusCode::OK, media, body)
        }),
        "data" => data(&app, &who, req, sub, query.as_deref(), media).await,
        "operations" => operations(&app, &who, req, sub, media).await,
        "streams" => sse::stream(&app, &who, &method, sub, query.as_deref(), req.headers()).await,
        _ => Err(Failure::not_found(format!("no resource {path}"))),
    }
}

fn only_get(method: &Method, allow: &str) -> Result<(), Failure> {
    if matches!(*method, Method::GET | Method::HEAD) {
        return Ok(());
    }
    Err(not_allowed(allow))
}

fn not_allowed(allow: &str) -> Failure {
    Failure::new(
        StatusCode::METHOD_NOT_ALLOWED,
        Error::protocol(
            ErrorTag::OperationNotSupported,
            "this method does not apply to this resource",
        ),
    )
    .with_header(header::ALLOW, allow)
}

pub fn respond(status: StatusCode, media: Media, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(media.mime()));
    r
}

fn root(media: Media) -> Response {
    let body = match media {
        Media::Json => json!({"ietf-restconf:restconf": {
            "data": {}, "operations": {}, "yang-library-version": YANG_LIBRARY
        }})
        .to_string(),
        Media::Xml => format!(
            "<restconf xmlns=\"{RESTCONF_NS}\"><data/><operations/><yang-library-version>{YANG_LIBRARY}</yang-library-version></restconf>"
        ),
    };
    respond(StatusCode::OK, media, body)
}

/// The request body, bounded in size and in time.
async fn read_body(body: Body) -> Result<axum::body::Bytes, Failure> {
    match tokio::time::timeout(
        super::BODY_TIME,
        axum::body::to_bytes(body, super::MAX_BODY),
    )
    .await
    {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(_)) => Err(Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Error::protocol(
                ErrorTag::TooBig,
                format!("the body is larger than {} bytes", super::MAX_BODY),
            ),
        )),
        Err(_) => Err(Failure::new(
            StatusCode::REQUEST_TIMEOUT,
            Error::protocol(
                ErrorTag::MalformedMessage,
                "the body did not arrive in time",
            ),
        )),
    }
}

/// `{+restconf}/data` and everything below it.
async fn data(
    app: &Arc<Https>,
    who: &Caller,
    req: Request,
    sub: &str,
    query: Option<&str>,
    media: Media,
) -> Reply {
    let steps = uri::parse_path(sub).map_err(|e| Failure::bad(ErrorTag::InvalidValue, e.0))?;
    let q = uri::parse_query(query).map_err(|e| Failure::bad(ErrorTag::InvalidValue, e.0))?;
    if q.filter.is_some() || q.start_time.is_some() || q.stop_time.is_some() {
        return Err(Failure::bad(
            ErrorTag::InvalidValue,
            "filter, start-time and stop-time apply to event streams only",
        ));
    }
    let t = target::resolve(app.ds.ctx, &steps, false)?;
    let method = req.method().clone();
    if t.is_operation() {
        if method != Method::POST {
            return Err(not_allowed("POST, OPTIONS"));
        }
        let (parts, body) = req.into_parts();
        let body = read_body(body).await?;
        return action(app, who, &t, &parts.headers, &body, media).await;
    }
    match method {
        Method::GET | Method::HEAD => {
            get(
                app,
                who,
                &t,
                &q,
                media,
                req.headers(),
                method == Method::HEAD,
            )
            .await
        }
        Method::OPTIONS => {
            let allow = if t.config {
                "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
            } else {
                "GET, HEAD, OPTIONS"
            };
            let mut r = StatusCode::OK.into_response();
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            r.headers_mut().insert(
                "accept-patch",
                HeaderValue::from_static(
                    "application/yang-data+json, application/yang-data+xml, application/yang-patch+json",
                ),
            );
            Ok(r)
        }
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE => {
            if !t.config {
                return Err(not_allowed("GET, HEAD, OPTIONS"));
            }
            let (parts, body) = req.into_parts();
            let body = read_body(body).await?;
            edit(
                app,
                who,
                &steps,
                &t,
                &parts.method,
                &parts.headers,
                &body,
                &q,
            )
            .await
        }
        _ => Err(not_allowed("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")),
    }
}

/// The entity-tag of a target now: the boot, and the version of its
/// top-level node (the datastore's generation for the datastore).
fn etag(app: &Https, t: &Target) -> String {
    let v = match &t.top {
        Some(top) => app.ds.version(top),
        None => app.ds.generation(),
    };
    format!("\"{}-{v}\"", app.boot)
}

/// The version an If-Match names, if it is of this boot; `Some(None)` when
/// it cannot match (another boot, or a tag never given).
fn if_match(app: &Https, headers: &HeaderMap) -> Option<Option<u64>> {
    let h = headers.get(header::IF_MATCH)?.to_str().ok()?;
    if h.trim() == "*" {
        return None;
    }
    for tag in h.split(',') {
        let tag = tag.trim().trim_start_matches("W/").trim_matches('"');
        if let Some((boot, v)) = tag.split_once('-')
            && boot == app.boot
            && let Ok(v) = v.parse()
        {
            return Some(Some(v));
        }
    }
    Some(None)
}

fn last_modified(app: &Https) -> Option<String> {
    app.ds
        .history()
        .last()
        .map(|r| r.time.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
}

fn with_defaults(q: &Query) -> WithDefaults {
    match q.with_defaults.as_deref() {
        Some("report-all") => WithDefaults::ReportAll,
        Some("trim") => WithDefaults::Trim,
        Some("report-all-tagged") => WithDefaults::ReportAllTagged,
        _ => WithDefaults::Explicit,
    }
}

async fn get(
    app: &Arc<Https>,
    who: &Caller,
    t: &Target,
    q: &Query,
    media: Media,
    headers: &HeaderMap,
    head: bool,
) -> Reply {
    let tag = etag(app, t);
    if let Some(inm) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        && inm.split(',').any(|x| x.trim() == tag || x.trim() == "*")
    {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        r.headers_mut()
            .insert(header::ETAG, HeaderValue::from_str(&tag).expect("ascii"));
        return Ok(r);
    }
    let filter = if t.xpath.is_empty() {
        Filter::All
    } else {
        Filter::Path(t.xpath.clone())
    };
    // The whole configuration as it is: printed in place, as NETCONF's
    // get-config does, without a copy of the tree.
    if t.xpath.is_empty() && q.content == Content::Config && !prune::needed(q, false) {
        let fmt = match media {
            Media::Json => DataFormat::JSON,
            Media::Xml => DataFormat::XML,
        };
        let text = app
            .ds
            .get_config_as(
                &who.session,
                Datastore::Running,
                Filter::All,
                with_defaults(q),
                fmt,
            )
            .await
            .map_err(|e| Failure::from_errors(vec![e], &Method::GET))?;
        let body = datastore_body(&text, media);
        return Ok(data_reply(
            app,
            &tag,
            media,
            if head { String::new() } else { body },
        ));
    }
    let data = match q.content {
        Content::Config => {
            app.ds
                .config_tree(&who.session, Datastore::Running, filter)
                .await
        }
        _ => app.ds.operational_tree(&who.session, filter).await,
    }
    .map_err(|e| Failure::from_errors(vec![e], &Method::GET))?;
    let body = render(&data, t, q, media)?;
    Ok(data_reply(
        app,
        &tag,
        media,
        if head { String::new() } else { body },
    ))
}

/// The datastore resource's body around its printed top-level nodes.
fn datastore_body(text: &str, media: Media) -> String {
    match media {
        Media::Json => {
            let inner = if text.trim().is_empty() {
                "{}"
            } else {
                text.trim()
            };
            format!("{{\"ietf-restconf:data\":{inner}}}")
        }
        Media::Xml => format!("<data xmlns=\"{RESTCONF_NS}\">{text}</data>"),
    }
}

/// A data resource's answer with its entity-tag and last change.
fn data_reply(app: &Https, tag: &str, media: Media, body: String) -> Response {
    let mut r = respond(StatusCode::OK, media, body);
    let h = r.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_str(tag).expect("ascii"));
    if let Some(lm) = last_modified(app)
        && let Ok(v) = HeaderValue::from_str(&lm)
    {
        h.insert(header::LAST_MODIFIED, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// The target's instances in the asked encoding, pruned as the query says.
fn render(data: &tree::Tree, t: &Target, q: &Query, media: Media) -> Result<String, Failure> {
    let fmt = match media {
        Media::Json => DataFormat::JSON,
        Media::Xml => DataFormat::XML,
    };
    let wd = with_defaults(q);
    let flags = || DataPrinterFlags::SHRINK | crate::datastore::wd_flags(wd);
    let nonconfig = q.content == Content::Nonconfig;
    let failed = |e: yang5::Error| Failure::from(Error::from_yang(&e, ErrorTag::OperationFailed));
    if t.xpath.is_empty() {
        if prune::needed(q, nonconfig) {
            let tops: Vec<_> = tree::top_nodes(data).collect();
            for n in &tops {
                prune::prune(n, q, nonconfig);
            }
        }
        let text = if data.reference().is_some() {
            data.print_string(fmt, flags() | DataPrinterFlags::WITH_SIBLINGS)
                .map_err(failed)?
        } else {
            String::new()
        };
        return Ok(datastore_body(&text, media));
    }
    let found: Vec<_> = data
        .find_xpath(&t.xpath)
        .map(|set| set.collect())
        .unwrap_or_default();
    // An empty container prints as nothing: RFC 8040 answers it as {}.
    let empty = || {
        let ns = crate::schema::module_namespace(&t.module).unwrap_or_default();
        match media {
            Media::Json => format!("{{\"{}:{}\":{{}}}}", t.module, t.name),
            Media::Xml => format!("<{} xmlns=\"{ns}\"/>", t.name),
        }
    };
    if found.is_empty() {
        if t.np_container {
            return Ok(empty());
        }
        return Err(Failure::not_found(format!("{} does not exist", t.xpath)).in_media(media));
    }
    let mut parts = Vec::with_capacity(found.len());
    for n in &found {
        if prune::needed(q, nonconfig) {
            prune::prune(n, q, nonconfig);
        }
        let text = n.print_string(fmt, flags()).map_err(failed)?;
        let blank = matches!(text.trim(), "" | "{}");
        parts.push(if blank { empty() } else { text });
    }
    if parts.len() == 1 || media == Media::Xml {
        return Ok(parts.concat());
    }
    // Entries of one list, each printed as `{"m:list":[{...}]}`: one array.
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        let (Some(a), Some(b)) = (p.find('['), p.rfind(']')) else {
            continue;
        };
        if i == 0 {
            out.push_str(&p[..=a]);
        } else {
            out.push(',');
        }
        out.push_str(&p[a + 1..b]);
    }
    out.push_str("]}");
    Ok(out)
}

/// POST (create), PUT (create or replace), PATCH (merge), DELETE.
#[allow(clippy::too_many_arguments)]
async fn edit(
    app: &Arc<Https>,
    who: &Caller,
    steps: &[uri::Step],
    t: &Target,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
    q: &Query,
) -> Reply {
    if q.insert.is_some() || q.point.is_some() {
        return Err(Failure::bad(
            ErrorTag::InvalidValue,
            "insert and point are not supported",
        ));
    }
    let version = match if_match(app, headers) {
        None => None,
        Some(Some(v)) => Some(v),
        Some(None) => {
            return Err(Failure::new(
                StatusCode::PRECONDITION_FAILED,
                Error::protocol(
                    ErrorTag::OperationFailed,
                    "If-Match names an entity-tag the resource does not have",
                ),
            ));
        }
    };
    let if_version = version.map(|v| (t.top.clone().unwrap_or_default(), v));
    let ctx = app.ds.ctx;
    let media_of = |headers: &HeaderMap| -> Result<Media, Failure> {
        match reply::body_type(headers)? {
            BodyType::Data(m) => Ok(m),
            BodyType::Patch(_) => Err(Failure::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Error::protocol(ErrorTag::InvalidValue, "YANG Patch is taken by PATCH only"),
            )),
        }
    };
    let (op, xpath, tree, created) = match *method {
        Method::DELETE => {
            if t.xpath.is_empty() {
                return Err(not_allowed("GET, HEAD, POST, PUT, PATCH, OPTIONS"));
            }
            (Operation::Delete, t.xpath.clone(), None, None)
        }
        Method::POST => {
            if t.all_entries {
                return Err(Failure::bad(
                    ErrorTag::InvalidValue,
                    "POST a new list entry to the list's parent",
                ));
            }
            let m = media_of(headers)?;
            let (tree, added) = body::parse(ctx, &t.xpath, m, body)?;
            let [child] = added.as_slice() else {
                return Err(Failure::bad(
                    ErrorTag::InvalidValue,
                    "the body must hold exactly one child resource to create",
                ));
            };
            (
                Operation::Create,
                child.clone(),
                Some(tree),
                Some(child.clone()),
            )
        }
        Method::PUT | Method::PATCH => {
            if let BodyType::Patch(m) = reply::body_type(headers)? {
                if *method != Method::PATCH {
                    return Err(media_of(headers).unwrap_err());
                }
                return patch::apply(app, who, steps, m, body, if_version).await;
            }
            let m = media_of(headers)?;
            let parent = if t.xpath.is_empty() {
                String::new()
            } else {
                t.parent_xpath.clone()
            };
            if t.all_entries {
                return Err(Failure::bad(
                    ErrorTag::InvalidValue,
                    "name the list entry to replace or merge (list=key)",
                ));
            }
            let (tree, added) = body::parse(ctx, &parent, m, body)?;
            if !t.xpath.is_empty() && added.len() != 1 {
                return Err(Failure::bad(
                    ErrorTag::InvalidValue,
                    "the body must hold exactly the resource the URI names",
                ));
            }
            let op = if *method == Method::PUT {
                Operation::Replace
            } else {
                Operation::Merge
            };
            (op, t.xpath.clone(), Some(tree), None)
        }
        _ => unreachable!("only edits come here"),
    };
    let existed = app
        .ds
        .edit_resources(
            &who.session,
            vec![ResourceEdit {
                xpath,
                op,
                body: tree,
                if_version,
            }],
        )
        .await
        .map_err(|(_, e)| Failure::from_errors(locked(e), method))?
        .first()
        .copied()
        .unwrap_or(true);
    let status = match op {
        Operation::Create => StatusCode::CREATED,
        Operation::Replace if !existed => StatusCode::CREATED,
        _ => StatusCode::NO_CONTENT,
    };
    let mut r = status.into_response();
    let h = r.headers_mut();
    if let Some(c) = created.or_else(|| (status == StatusCode::CREATED).then(|| t.xpath.clone()))
        && let Ok(v) = HeaderValue::from_str(&format!("{ROOT}/data{}", target::api_path(&c)))
    {
        h.insert(header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&etag(app, t)) {
        h.insert(header::ETAG, v);
    }
    if let Some(lm) = last_modified(app)
        && let Ok(v) = HeaderValue::from_str(&lm)
    {
        h.insert(header::LAST_MODIFIED, v);
    }
    Ok(r)
}

/// A NETCONF lock held on running: NETCONF says in-use, RFC 8040 section 1.4
/// lock-denied.
pub fn locked(mut errors: Vec<Error>) -> Vec<Error> {
    for e in &mut errors {
        if e.tag == ErrorTag::InUse && e.info.iter().any(|(k, _)| k == "session-id") {
            e.tag = ErrorTag::LockDenied;
        }
    }
    errors
}

/// The input of an operation from its body: `{"module:input": {...}}`, or
/// nothing.
fn input(t: &Target, headers: &HeaderMap, body: &[u8]) -> Result<Value, Failure> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(json!({}));
    }
    match reply::body_type(headers)? {
        BodyType::Data(Media::Json) => {}
        _ => {
            return Err(Failure::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Error::protocol(
                    ErrorTag::InvalidValue,
                    "an operation's input is application/yang-data+json",
                ),
            ));
        }
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        Failure::bad(
            ErrorTag::MalformedMessage,
            format!("the body is not JSON: {e}"),
        )
    })?;
    let Value::Object(o) = v else {
        return Err(Failure::bad(
            ErrorTag::MalformedMessage,
            "the body is not a JSON object",
        ));
    };
    if o.is_empty() {
        return Ok(json!({}));
    }
    let qualified = format!("{}:input", t.module);
    match (o.len(), o.get(&qualified).or_else(|| o.get("input"))) {
        (1, Some(v @ Value::Object(_))) => Ok(v.clone()),
        _ => Err(Failure::bad(
            ErrorTag::InvalidValue,
            format!("the body must be {{\"{qualified}\": {{...}}}}"),
        )),
    }
}

/// Runs an action or RPC: 200 with its output, 204 without.
async fn action(
    app: &Arc<Https>,
    who: &Caller,
    t: &Target,
    headers: &HeaderMap,
    body: &[u8],
    media: Media,
) -> Reply {
    let Some(path) = t.path.clone() else {
        return Err(Failure::bad(ErrorTag::InvalidValue, "not an operation"));
    };
    let input = input(t, headers, body)?;
    let out = app
        .ds
        .action(&who.session, ActionCall::Json(path, input))
        .await
        .map_err(|e| Failure::from_errors(vec![e], &Method::POST))?;
    if out.value.as_object().is_none_or(|o| o.is_empty()) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let body = match media {
        Media::Json => {
            let mut o = serde_json::Map::new();
            o.insert(format!("{}:output", t.module), out.value);
            Value::Object(o).to_string()
        }
        Media::Xml => {
            let ns = crate::schema::module_namespace(&t.module).unwrap_or_default();
            format!(
                "<output xmlns=\"{ns}\">{}</output>",
                out.xml().map_err(Failure::from)?
            )
        }
    };
    Ok(respond(StatusCode::OK, media, body))
}

/// `{+restconf}/operations`: the RPCs, or one RPC run.
async fn operations(
    app: &Arc<Https>,
    who: &Caller,
    req: Request,
    sub: &str,
    media: Media,
) -> Reply {
    let method = req.method().clone();
    if sub.is_empty() {
        only_get(&method, "GET, HEAD, OPTIONS")?;
        let mut rpcs = Vec::new();
        for m in app.ds.ctx.modules(true) {
            if !m.is_implemented() {
                continue;
            }
            for r in m.rpcs() {
                rpcs.push((
                    m.name().to_string(),
                    m.namespace().to_string(),
                    r.name().to_string(),
                ));
            }
        }
        let body = match media {
            Media::Json => {
                let o: serde_json::Map<String, Value> = rpcs
                    .iter()
                    .map(|(m, _, r)| (format!("{m}:{r}"), json!([null])))
                    .collect();
                json!({"ietf-restconf:operations": o}).to_string()
            }
            Media::Xml => {
                let mut s = format!("<operations xmlns=\"{RESTCONF_NS}\">");
                for (_, ns, r) in &rpcs {
                    s.push_str(&format!("<{r} xmlns=\"{ns}\"/>"));
                }
                s.push_str("</operations>");
                s
            }
        };
        return Ok(respond(StatusCode::OK, media, body));
    }
    let steps = uri::parse_path(sub).map_err(|e| Failure::bad(ErrorTag::InvalidValue, e.0))?;
    if steps.len() != 1 {
        return Err(Failure::not_found("an operation is module:name"));
    }
    let t = target::resolve(app.ds.ctx, &steps, true)?;
    if method != Method::POST {
        return Err(not_allowed("POST, OPTIONS"));
    }
    if !who.may_change() {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            Error::protocol(ErrorTag::AccessDenied, "the X-CSRF-Token header is missing"),
        ));
    }
    let (parts, body) = req.into_parts();
    let body = read_body(body).await?;
    action(app, who, &t, &parts.headers, &body, media).await
}
