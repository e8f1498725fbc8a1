//! A small namespace-aware XML tree for protocol envelopes (NETCONF rpcs, filters).
//! Payload data is handed to libyang; this only has to split envelopes, keep every
//! in-scope namespace binding, and write subtrees back out self-contained.
use std::sync::Arc;

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

/// Nesting deeper than this is refused: a bound on stack use for hostile input.
pub const MAX_DEPTH: usize = 128;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum XmlError {
    #[error("malformed XML: {0}")]
    Malformed(String),
    #[error("XML nesting deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("no XML element")]
    Empty,
    #[error("unknown namespace prefix: {0}")]
    UnboundPrefix(String),
}

/// Prefix bindings in scope at an element: (prefix, namespace), shared between
/// elements that declare nothing new.
pub type Scope = Arc<Vec<(String, String)>>;

#[derive(Debug, Clone, PartialEq)]
pub struct Attr {
    /// Empty when the attribute has no namespace.
    pub ns: String,
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Element(Element),
    Text(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub ns: String,
    pub name: String,
    pub attrs: Vec<Attr>,
    pub children: Vec<Node>,
    pub scope: Scope,
}

impl Element {
    pub fn new(ns: &str, name: &str) -> Element {
        Element {
            ns: ns.into(),
            name: name.into(),
            attrs: Vec::new(),
            children: Vec::new(),
            scope: Arc::default(),
        }
    }

    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|c| match c {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name && e.ns == ns)
    }

    /// A NETCONF parameter: the child in the base namespace, or (as some clients
    /// send them) in no namespace.
    pub fn nc_child(&self, name: &str) -> Option<&Element> {
        const NC: &str = "urn:ietf:params:xml:ns:netconf:base:1.0";
        self.elements()
            .find(|e| e.name == name && (e.ns == NC || e.ns.is_empty()))
    }

    /// The child with this name, whatever its namespace.
    pub fn child_any_ns(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.name == name && a.ns.is_empty())
            .map(|a| a.value.as_str())
    }

    pub fn attr_ns(&self, ns: &str, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.name == name && a.ns == ns)
            .map(|a| a.value.as_str())
    }

    /// All text directly inside, trimmed.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for c in &self.children {
            if let Node::Text(t) = c {
                s.push_str(t);
            }
        }
        s.trim().to_string()
    }

    pub fn has_elements(&self) -> bool {
        self.elements().next().is_some()
    }

    /// The namespace a prefix is bound to here.
    pub fn resolve_prefix(&self, prefix: &str) -> Option<&str> {
        self.scope
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, ns)| ns.as_str())
    }

    /// Serializes this element as a self-contained document fragment: every prefix
    /// in scope is declared on it, so prefixed values in text keep their meaning.
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, None, None);
        out
    }

    /// Serializes every child element, each self-contained (a libyang data input).
    pub fn children_xml(&self) -> String {
        let mut out = String::new();
        for e in self.elements() {
            e.write(&mut out, None, None);
        }
        out
    }

    fn write(&self, out: &mut String, parent_ns: Option<&str>, parent_scope: Option<&Scope>) {
        out.push('<');
        out.push_str(&self.name);
        if parent_ns != Some(self.ns.as_str()) {
            out.push_str(" xmlns=\"");
            out.push_str(&escape(&self.ns));
            out.push('"');
        }
        let new_scope = match parent_scope {
            Some(p) if Arc::ptr_eq(p, &self.scope) => &[][..],
            Some(p) if self.scope.starts_with(p) => &self.scope[p.len()..],
            _ => &self.scope[..],
        };
        for (prefix, ns) in new_scope {
            if !prefix.is_empty() {
                out.push_str(&format!(" xmlns:{prefix}=\"{}\"", escape(ns)));
            }
        }
        for a in &self.attrs {
            out.push(' ');
            if !a.ns.is_empty() {
                match self
                    .scope
                    .iter()
                    .rev()
                    .find(|(p, ns)| !p.is_empty() && *ns == a.ns)
                {
                    Some((p, _)) => {
                        out.push_str(p);
                        out.push(':');
                    }
                    None => {
                        out.push_str(&format!("xmlns:a_=\"{}\" a_:", escape(&a.ns)));
                    }
                }
            }
            out.push_str(&a.name);
            out.push_str("=\"");
            out.push_str(&escape(&a.value));
            out.push('"');
        }
        if self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for c in &self.children {
            match c {
                Node::Element(e) => e.write(out, Some(&self.ns), Some(&self.scope)),
                Node::Text(t) => out.push_str(&escape(t)),
            }
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

pub fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

/// Parses one document into its root element.
pub fn parse(input: &str) -> Result<Element, XmlError> {
    // U+0000 is not an XML character, raw or as a reference (and C libraries
    // downstream cannot hold it).
    if input.contains('\0') {
        return Err(XmlError::Malformed("NUL character".into()));
    }
    let mut reader = NsReader::from_str(input);
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    let bad = |e: &dyn std::fmt::Display| XmlError::Malformed(e.to_string());
    loop {
        let (res, ev) = reader.read_resolved_event().map_err(|e| bad(&e))?;
        match ev {
            Event::Start(ref s) | Event::Empty(ref s) => {
                if root.is_some() {
                    return Err(XmlError::Malformed("content after the root element".into()));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                let ns = match res {
                    ResolveResult::Bound(ns) => String::from_utf8_lossy(ns.as_ref()).into_owned(),
                    ResolveResult::Unbound => String::new(),
                    ResolveResult::Unknown(p) => {
                        return Err(XmlError::UnboundPrefix(String::from_utf8_lossy(&p).into()));
                    }
                };
                let parent_scope = stack.last().map(|p| p.scope.clone()).unwrap_or_default();
                let mut declared = Vec::new();
                let mut attrs = Vec::new();
                for a in s.attributes() {
                    let a = a.map_err(|e| bad(&e))?;
                    let value = a.unescape_value().map_err(|e| bad(&e))?.into_owned();
                    if value.contains('\0') {
                        return Err(XmlError::Malformed("NUL character".into()));
                    }
                    if let Some(binding) = a.key.as_namespace_binding() {
                        let prefix = match binding {
                            quick_xml::name::PrefixDeclaration::Default => String::new(),
                            quick_xml::name::PrefixDeclaration::Named(p) => {
                                String::from_utf8_lossy(p).into_owned()
                            }
                        };
                        declared.push((prefix, value));
                        continue;
                    }
                    let (ares, local) = reader.resolve_attribute(a.key);
                    let ans = match ares {
                        ResolveResult::Bound(ns) => {
                            String::from_utf8_lossy(ns.as_ref()).into_owned()
                        }
                        ResolveResult::Unbound => String::new(),
                        ResolveResult::Unknown(p) => {
                            return Err(XmlError::UnboundPrefix(
                                String::from_utf8_lossy(&p).into(),
                            ));
                        }
                    };
                    attrs.push(Attr {
                        ns: ans,
                        name: String::from_utf8_lossy(local.as_ref()).into_owned(),
                        value,
                    });
                }
                let scope = if declared.is_empty() {
                    parent_scope
                } else {
                    let mut v = (*parent_scope).clone();
                    v.extend(declared);
                    Arc::new(v)
                };
                let el = Element {
                    ns,
                    name: String::from_utf8_lossy(s.local_name().as_ref()).into_owned(),
                    attrs,
                    children: Vec::new(),
                    scope,
                };
                if matches!(ev, Event::Empty(_)) {
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(Node::Element(el)),
                        None => root = Some(el),
                    }
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let el = stack
                    .pop()
                    .ok_or_else(|| XmlError::Malformed("unbalanced end tag".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(el)),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let text = t.decode().map_err(|e| bad(&e))?;
                push_text(&mut stack, &text)?;
            }
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|e| bad(&e))?;
                let reference = format!("&{name};");
                let text = quick_xml::escape::unescape(&reference).map_err(|e| bad(&e))?;
                push_text(&mut stack, &text)?;
            }
            Event::CData(t) => {
                let text = String::from_utf8_lossy(&t.into_inner()).into_owned();
                push_text(&mut stack, &text)?;
            }
            Event::DocType(_) => return Err(XmlError::Malformed("DOCTYPE is not allowed".into())),
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Malformed("unclosed element".into()));
    }
    root.ok_or(XmlError::Empty)
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), XmlError> {
    if text.contains('\0') {
        return Err(XmlError::Malformed("NUL character".into()));
    }
    match stack.last_mut() {
        Some(el) => {
            if let Some(Node::Text(prev)) = el.children.last_mut() {
                prev.push_str(text);
            } else {
                el.children.push(Node::Text(text.to_string()));
            }
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(XmlError::Malformed("text outside the root element".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_namespaces_and_reserializes_self_contained() {
        let doc = r#"<rpc xmlns="urn:a" xmlns:nc="urn:nc" message-id="1"><edit><config><x xmlns="urn:x" nc:operation="delete"><v>nc:ident &amp; more</v></x></config></edit></rpc>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.ns, "urn:a");
        assert_eq!(root.attr("message-id"), Some("1"));
        let config = root
            .child("urn:a", "edit")
            .unwrap()
            .child("urn:a", "config")
            .unwrap();
        let x = config.child("urn:x", "x").unwrap();
        assert_eq!(x.attr_ns("urn:nc", "operation"), Some("delete"));
        let out = config.children_xml();
        let again = parse(&out).unwrap();
        assert_eq!(again.ns, "urn:x");
        assert_eq!(again.attr_ns("urn:nc", "operation"), Some("delete"));
        assert_eq!(again.child("urn:x", "v").unwrap().text(), "nc:ident & more");
        assert_eq!(
            again.child("urn:x", "v").unwrap().resolve_prefix("nc"),
            Some("urn:nc")
        );
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse("<a><b></a>").is_err());
        assert!(parse("<a>").is_err());
        assert!(parse("").is_err());
        assert!(parse("<p:a/>").is_err());
        assert!(parse("<a>x&#0;y</a>").is_err());
        assert!(parse("<a>x&#x00;y</a>").is_err());
        assert!(parse("<a b='&#0;'/>").is_err());
        assert!(parse("<a>\0</a>").is_err());
        assert!(parse("<!DOCTYPE x [<!ENTITY e 'x'>]><a>&e;</a>").is_err());
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert_eq!(parse(&deep), Err(XmlError::TooDeep));
    }
}
