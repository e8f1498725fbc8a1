//! Building `<rpc-reply>` documents and rpc-errors.
use crate::datastore::{Error, ErrorTag};
use crate::xml::{Element, escape};

pub const NC: &str = "urn:ietf:params:xml:ns:netconf:base:1.0";

/// The opening tag of a reply, echoing every attribute of the `<rpc>` (RFC 6241
/// section 4.2), with the namespaces those attributes need.
pub fn open(rpc: Option<&Element>) -> String {
    let mut out = format!("<rpc-reply xmlns=\"{NC}\"");
    if let Some(rpc) = rpc {
        let mut n = 0;
        for a in &rpc.attrs {
            if a.ns.is_empty() {
                out.push_str(&format!(" {}=\"{}\"", a.name, escape(&a.value)));
            } else {
                out.push_str(&format!(
                    " xmlns:a{n}=\"{}\" a{n}:{}=\"{}\"",
                    escape(&a.ns),
                    a.name,
                    escape(&a.value)
                ));
                n += 1;
            }
        }
    }
    out.push('>');
    out
}

pub fn ok(rpc: &Element) -> String {
    format!("{}<ok/></rpc-reply>", open(Some(rpc)))
}

pub fn data(rpc: &Element, body: &str) -> String {
    format!("{}<data>{body}</data></rpc-reply>", open(Some(rpc)))
}

/// One `<rpc-error>` element.
pub fn error_xml(e: &Error) -> String {
    let mut out = String::from("<rpc-error>");
    out.push_str(&format!(
        "<error-type>{}</error-type>",
        e.error_type.as_str()
    ));
    out.push_str(&format!("<error-tag>{}</error-tag>", e.tag.as_str()));
    out.push_str("<error-severity>error</error-severity>");
    if let Some(t) = &e.app_tag {
        out.push_str(&format!("<error-app-tag>{}</error-app-tag>", escape(t)));
    }
    if let Some(p) = &e.path {
        let (path, decls) = json_path_to_xml(p);
        out.push_str(&format!(
            "<error-path{decls}>{}</error-path>",
            escape(&path)
        ));
    }
    if !e.message.is_empty() {
        out.push_str(&format!(
            "<error-message xml:lang=\"en\">{}</error-message>",
            escape(&e.message)
        ));
    }
    if !e.info.is_empty() {
        out.push_str("<error-info>");
        for (name, value) in &e.info {
            out.push_str(&format!("<{name}>{}</{name}>", escape(value)));
        }
        out.push_str("</error-info>");
    }
    out.push_str("</rpc-error>");
    out
}

pub fn errors(rpc: Option<&Element>, errs: &[Error]) -> String {
    let mut out = open(rpc);
    for e in errs {
        out.push_str(&error_xml(e));
    }
    out.push_str("</rpc-reply>");
    out
}

pub fn error(rpc: Option<&Element>, e: &Error) -> String {
    errors(rpc, std::slice::from_ref(e))
}

/// A protocol error about an element of the request.
pub fn bad_element(tag: ErrorTag, element: &str, message: impl Into<String>) -> Error {
    Error::protocol(tag, message).with_info("bad-element", element)
}

/// Converts a libyang data path (`/mod:a/b[k='v']`) to an XML instance-identifier
/// (every step prefixed, module names as prefixes) and the xmlns declarations it needs.
pub fn json_path_to_xml(path: &str) -> (String, String) {
    let ctx_modules = |m: &str| crate::schema::module_namespace(m);
    let mut out = String::with_capacity(path.len() * 2);
    let mut used: Vec<String> = Vec::new();
    let mut module = String::new();
    let chars: Vec<char> = path.chars().collect();
    let mut i = 0;
    let mut in_pred = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' | '"' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&d| d == c)
                    .map(|p| i + 1 + p)
                    .unwrap_or(chars.len() - 1);
                out.extend(&chars[i..=end]);
                i = end + 1;
                continue;
            }
            '[' => in_pred = true,
            ']' => in_pred = false,
            _ => {}
        }
        let starts_name =
            (c.is_alphabetic() || c == '_') && i > 0 && matches!(chars[i - 1], '/' | '[');
        if starts_name {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '-' | '.' | ':'))
            {
                i += 1;
            }
            let tok: String = chars[start..i].iter().collect();
            let (m, name) = match tok.split_once(':') {
                Some((m, n)) => (m.to_string(), n.to_string()),
                None => (module.clone(), tok),
            };
            if !in_pred {
                module = m.clone();
            }
            if !used.contains(&m) {
                used.push(m.clone());
            }
            out.push_str(&format!("{m}:{name}"));
            continue;
        }
        out.push(c);
        i += 1;
    }
    let decls = used
        .iter()
        .filter_map(|m| ctx_modules(m).map(|ns| format!(" xmlns:{m}=\"{}\"", escape(&ns))))
        .collect();
    (out, decls)
}
