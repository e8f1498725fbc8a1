//! The web console's files, bundled into the binary: nothing is fetched from
//! elsewhere at run time (xterm.js is vendored under assets/vendor).
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// (path under /assets, content type, bytes)
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/app.css"),
    ),
    (
        "xterm/xterm.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/vendor/xterm/xterm.js"),
    ),
    (
        "xterm/xterm.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/vendor/xterm/xterm.css"),
    ),
    (
        "xterm/addon-fit.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/vendor/xterm/addon-fit.js"),
    ),
];

pub const INDEX: &[u8] = include_bytes!("assets/index.html");

/// The headers every page of the console carries: no framing, no sniffing,
/// scripts and styles from this server only.
pub fn secure(r: &mut Response) {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
}

pub fn index() -> Response {
    let mut r = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure(&mut r);
    r
}

pub fn file(path: &str) -> Response {
    let Some((_, mime, bytes)) = FILES.iter().find(|(p, _, _)| *p == path) else {
        return (StatusCode::NOT_FOUND, "no such file\n").into_response();
    };
    let mut r = ([(header::CONTENT_TYPE, *mime)], *bytes).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure(&mut r);
    r
}
