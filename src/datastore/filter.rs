//! NETCONF filters turned into libyang XPath: subtree filters (RFC 6241 section 6)
//! become a union of paths with key/content predicates; XPath filters get their XML
//! prefixes rewritten to module names.
use std::collections::HashMap;

use yang5::data::Data;

use super::error::{Error, ErrorTag};
use super::tree::{self, Tree};
use crate::xml::Element;

#[derive(Debug, Clone)]
pub enum Filter {
    /// No filter: everything.
    All,
    /// The `<filter type="subtree">` element (its children are the filter).
    Subtree(Element),
    /// An XPath 1.0 expression with the prefixes in scope where it was written.
    XPath {
        select: String,
        scope: Vec<(String, String)>,
    },
    /// A data path with module names as prefixes (the CLI's paths).
    Path(String),
}

/// The paths (libyang XPaths with module names) a filter selects; `None` for
/// everything.
pub fn paths(
    filter: &Filter,
    modules: &HashMap<String, String>,
) -> Result<Option<Vec<String>>, Error> {
    Ok(Some(match filter {
        Filter::All => return Ok(None),
        Filter::Subtree(el) => {
            let mut out = Vec::new();
            for top in el.elements() {
                subtree_paths(top, "", modules, &mut out);
            }
            out
        }
        Filter::XPath { select, scope } => split_union(&rewrite_prefixes(select, scope, modules)?),
        Filter::Path(p) => vec![p.clone()],
    }))
}

/// `a | b` as its operands (a `|` inside quotes or predicates is not one).
fn split_union(xpath: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut quote, mut depth, mut start) = (None, 0i32, 0);
    for (i, c) in xpath.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '[' | '(') => depth += 1,
            (None, ']' | ')') => depth -= 1,
            (None, '|') if depth == 0 => {
                out.push(xpath[start..i].trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(xpath[start..].trim().to_string());
    out
}

/// Selects what `filter` asks for from `source` into a new tree.
pub fn select(
    source: &Tree,
    filter: &Filter,
    modules: &HashMap<String, String>,
) -> Result<Tree, Error> {
    let Some(paths) = paths(filter, modules)? else {
        return tree::dup(source);
    };
    let mut result = tree::empty(source.context());
    if source.reference().is_none() {
        return Ok(result);
    }
    for p in paths {
        let set = source.find_xpath(&p).map_err(|e| {
            Error::protocol(
                ErrorTag::InvalidValue,
                format!("invalid filter: {}", e.msg.unwrap_or_default()),
            )
        })?;
        for node in set {
            tree::copy_into(&mut result, &node)
                .map_err(|e| Error::from_yang(&e, ErrorTag::OperationFailed))?;
        }
    }
    Ok(result)
}

fn quote(v: &str) -> String {
    if v.contains('\'') {
        format!("\"{v}\"")
    } else {
        format!("'{v}'")
    }
}

fn subtree_paths(
    el: &Element,
    base: &str,
    modules: &HashMap<String, String>,
    out: &mut Vec<String>,
) {
    // A namespace the schema does not know selects nothing.
    let Some(module) = modules.get(&el.ns) else {
        return;
    };
    let mut here = format!("{base}/{module}:{}", el.name);
    let mut content = Vec::new();
    let mut selection = Vec::new();
    let mut containment = Vec::new();
    for child in el.elements() {
        if child.has_elements() {
            containment.push(child);
        } else if child.text().is_empty() {
            selection.push(child);
        } else {
            content.push(child);
        }
    }
    for c in &content {
        let Some(cm) = modules.get(&c.ns) else { return };
        here.push_str(&format!("[{cm}:{}={}]", c.name, quote(&c.text())));
    }
    if selection.is_empty() && containment.is_empty() {
        out.push(here);
        return;
    }
    for c in content.iter().chain(selection.iter()) {
        if let Some(m) = modules.get(&c.ns) {
            out.push(format!("{here}/{m}:{}", c.name));
        }
    }
    for c in containment {
        subtree_paths(c, &here, modules, out);
    }
}

/// Rewrites `prefix:name` steps of an XPath from XML prefixes to module names.
pub fn rewrite_prefixes(
    xpath: &str,
    scope: &[(String, String)],
    modules: &HashMap<String, String>,
) -> Result<String, Error> {
    let mut out = String::with_capacity(xpath.len());
    let chars: Vec<char> = xpath.chars().collect();
    let mut i = 0;
    let name_start = |c: char| c.is_alphabetic() || c == '_';
    let name_char = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.');
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' || c == '"' {
            let end = chars[i + 1..]
                .iter()
                .position(|&d| d == c)
                .map(|p| i + 1 + p)
                .unwrap_or(chars.len() - 1);
            out.extend(&chars[i..=end]);
            i = end + 1;
            continue;
        }
        if name_start(c) && (i == 0 || !name_char(chars[i - 1])) {
            let start = i;
            while i < chars.len() && name_char(chars[i]) {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            let is_prefix = i + 1 < chars.len() && chars[i] == ':' && chars[i + 1] != ':';
            if is_prefix {
                let ns = scope
                    .iter()
                    .rev()
                    .find(|(p, _)| *p == name)
                    .map(|(_, ns)| ns);
                let module = ns.and_then(|ns| modules.get(ns)).ok_or_else(|| {
                    Error::protocol(
                        ErrorTag::InvalidValue,
                        format!("unknown prefix \"{name}\" in XPath filter"),
                    )
                })?;
                out.push_str(module);
            } else {
                out.push_str(&name);
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modules() -> HashMap<String, String> {
        [("urn:sys".to_string(), "ietf-system".to_string())]
            .into_iter()
            .collect()
    }

    #[test]
    fn xpath_prefixes_become_module_names() {
        let scope = vec![("s".to_string(), "urn:sys".to_string())];
        let got =
            rewrite_prefixes("/s:system/s:hostname[.='a:b'] | //s:x", &scope, &modules()).unwrap();
        assert_eq!(
            got,
            "/ietf-system:system/ietf-system:hostname[.='a:b'] | //ietf-system:x"
        );
        assert!(rewrite_prefixes("/q:system", &scope, &modules()).is_err());
    }

    #[test]
    fn unions_split_outside_quotes_and_predicates() {
        assert_eq!(
            split_union("/a:x[.='p|q'] | /a:y[b or c]|/a:z"),
            vec!["/a:x[.='p|q']", "/a:y[b or c]", "/a:z"]
        );
    }

    #[test]
    fn subtree_filter_becomes_paths() {
        let f = crate::xml::parse(
            r#"<filter><system xmlns="urn:sys"><authentication><user><name>admin</name><password/></user></authentication><hostname/></system></filter>"#,
        )
        .unwrap();
        let mut out = Vec::new();
        for top in f.elements() {
            subtree_paths(top, "", &modules(), &mut out);
        }
        assert_eq!(
            out,
            vec![
                "/ietf-system:system/ietf-system:hostname",
                "/ietf-system:system/ietf-system:authentication/ietf-system:user[ietf-system:name='admin']/ietf-system:name",
                "/ietf-system:system/ietf-system:authentication/ietf-system:user[ietf-system:name='admin']/ietf-system:password",
            ]
        );
    }
}
