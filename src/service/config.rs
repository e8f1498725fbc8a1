//! Typed configuration: the validated configuration printed as RFC 7951 JSON with
//! every default filled in, from which each service's `Config` type is built by
//! serde. A value that does not convert (an enum value the code does not know, a
//! number out of range, a pattern that does not compile) refuses the commit,
//! naming the data path, with its list keys, where it sits.
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use yang5::context::Context;

use super::Refusal;

/// One configuration as a JSON document (top-level members are
/// `module:name`), shared by every service asked at a commit and published as
/// the running configuration afterwards.
#[derive(Clone)]
pub struct ConfigDoc {
    pub ctx: &'static Context,
    pub json: Arc<Value>,
}

impl ConfigDoc {
    pub fn new(ctx: &'static Context, json: Value) -> ConfigDoc {
        ConfigDoc {
            ctx,
            json: Arc::new(json),
        }
    }

    /// An empty configuration.
    pub fn empty(ctx: &'static Context) -> ConfigDoc {
        ConfigDoc::new(ctx, Value::Object(Default::default()))
    }

    /// Builds `T` from the document.
    pub fn typed<T: DeserializeOwned>(&self) -> Result<T, Refusal> {
        serde_path_to_error::deserialize(&*self.json).map_err(|e| {
            let path = data_path(self.ctx, &self.json, e.path());
            Refusal::invalid(e.inner().to_string()).at(path)
        })
    }

    /// The value at a data path without keys, where lists are entered by their
    /// key predicates (`/a:b/list[k='v']/leaf`); a convenience for faces.
    pub fn get(&self, path: &str) -> Option<&Value> {
        lookup(&self.json, path)
    }
}

/// Follows a data path (`/mod:top/child/list[key='v']/leaf`) through a JSON document.
pub fn lookup<'v>(root: &'v Value, path: &str) -> Option<&'v Value> {
    let mut cur = root;
    let mut module = "";
    for step in split_steps(path) {
        let (name, preds) = step_parts(step);
        let (m, local) = match name.split_once(':') {
            Some((m, l)) => (m, l),
            None => (module, name),
        };
        let obj = cur.as_object()?;
        cur = obj
            .get(&format!("{m}:{local}"))
            .or_else(|| if m == module { obj.get(local) } else { None })?;
        module = m;
        if !preds.is_empty() {
            let keys = parse_predicates(preds)?;
            cur = cur.as_array()?.iter().find(|e| {
                keys.iter().all(|(k, v)| {
                    e.get(k)
                        .is_some_and(|x| scalar_text(x).as_deref() == Some(v))
                })
            })?;
        }
    }
    Some(cur)
}

/// Splits a data path or simple XPath into its steps, at the `/` outside of
/// quotes and predicates (a leading `//` gives an empty first step).
pub fn split_steps(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quote, mut depth, mut start) = (None, 0i32, 0);
    let body = path.strip_prefix('/').unwrap_or(path);
    let offset = path.len() - body.len();
    for (i, c) in body.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '[') => depth += 1,
            (None, ']') => depth -= 1,
            (None, '/') if depth == 0 => {
                out.push(&path[offset + start..offset + i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < body.len() {
        out.push(&path[offset + start..]);
    }
    out
}

/// A step as its name (maybe `module:name`) and its predicates (`[...]...`).
pub fn step_parts(step: &str) -> (&str, &str) {
    match step.find('[') {
        Some(i) => (&step[..i], &step[i..]),
        None => (step, ""),
    }
}

/// `[k='v'][k2="w"]` as pairs.
pub fn parse_predicates(mut s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    while let Some(rest) = s.strip_prefix('[') {
        let eq = rest.find('=')?;
        let key = rest[..eq].trim();
        let key = key.rsplit(':').next().unwrap_or(key).to_string();
        let rest = rest[eq + 1..].trim_start();
        let q = rest.chars().next()?;
        if q != '\'' && q != '"' {
            return None;
        }
        let end = rest[1..].find(q)? + 1;
        out.push((key, rest[1..end].to_string()));
        s = rest[end + 1..].strip_prefix(']')?;
    }
    s.is_empty().then_some(out)
}

/// A JSON scalar as the text a YANG value has.
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(a) if a.len() == 1 && a[0].is_null() => Some(String::new()),
        _ => None,
    }
}

/// Quotes a key value for a path predicate.
pub fn quote(v: &str) -> String {
    if v.contains('\'') {
        format!("\"{v}\"")
    } else {
        format!("'{v}'")
    }
}

/// The data path (with list keys) of serde's error location in `doc`.
fn data_path(ctx: &Context, doc: &Value, at: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    let mut schema = String::new();
    let mut module = String::new();
    let mut cur = Some(doc);
    for seg in at.iter() {
        match seg {
            Segment::Map { key } => {
                let (m, local) = match key.split_once(':') {
                    Some((m, l)) => (m.to_string(), l.to_string()),
                    None => (module.clone(), key.clone()),
                };
                if m != module {
                    out.push_str(&format!("/{m}:{local}"));
                } else {
                    out.push_str(&format!("/{local}"));
                }
                schema.push_str(&format!("/{m}:{local}"));
                module = m;
                cur = cur.and_then(|v| v.get(key.as_str()));
            }
            Segment::Seq { index } => {
                let entry = cur.and_then(|v| v.get(*index));
                let keys: Vec<String> = ctx
                    .find_path(&schema)
                    .map(|s| s.list_keys().map(|k| k.name().to_string()).collect())
                    .unwrap_or_default();
                match (entry, keys.is_empty()) {
                    (Some(e), false) => {
                        for k in keys {
                            let v = e.get(&k).and_then(scalar_text).unwrap_or_default();
                            out.push_str(&format!("[{k}={}]", quote(&v)));
                        }
                    }
                    // A leaf-list or a keyless list: its position (XPath counts from 1).
                    _ => out.push_str(&format!("[{}]", index + 1)),
                }
                cur = entry;
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    if out.is_empty() { "/".into() } else { out }
}

/// RFC 7951 encodes 64-bit integers and decimal64 as strings, smaller integers
/// as numbers: accept either for a number type.
pub fn number<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        N(serde_json::Number),
        S(String),
    }
    let text = match Either::deserialize(d)? {
        Either::N(n) => n.to_string(),
        Either::S(s) => s,
    };
    text.parse::<T>().map_err(serde::de::Error::custom)
}

/// Like [`number`], for an optional leaf.
pub fn opt_number<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    number(d).map(Some)
}

/// A leaf of type `empty`, present as `[null]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Empty;

impl<'de> Deserialize<'de> for Empty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Empty, D::Error> {
        let v: Vec<()> = Deserialize::deserialize(d)?;
        if v.len() == 1 {
            Ok(Empty)
        } else {
            Err(serde::de::Error::custom("not an empty leaf"))
        }
    }
}

impl serde::Serialize for Empty {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        [()].serialize(s)
    }
}

/// An IP address leaf (`inet:ip-address`), without a zone.
pub fn ip<'de, D: Deserializer<'de>>(d: D) -> Result<std::net::IpAddr, D::Error> {
    let s = String::deserialize(d)?;
    let bare = s.split('%').next().unwrap_or("");
    bare.parse()
        .map_err(|_| serde::de::Error::custom(format!("{s} is not an IP address")))
}

/// A leaf-list of IP addresses.
pub fn ips<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<std::net::IpAddr>, D::Error> {
    let v: Vec<String> = Deserialize::deserialize(d)?;
    v.iter()
        .map(|s| {
            s.split('%')
                .next()
                .unwrap_or("")
                .parse()
                .map_err(|_| serde::de::Error::custom(format!("{s} is not an IP address")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_follows_keys_and_modules() {
        let doc: Value = serde_json::from_str(
            r#"{"a:top":{"list":[{"k":"x","v":1},{"k":"y","v":2,"b:aug":true}]}}"#,
        )
        .unwrap();
        assert_eq!(lookup(&doc, "/a:top/list[k='y']/v"), Some(&Value::from(2)));
        assert_eq!(
            lookup(&doc, "/a:top/list[k='y']/b:aug"),
            Some(&Value::from(true))
        );
        assert_eq!(lookup(&doc, "/a:top/list[k='z']/v"), None);
        assert_eq!(
            parse_predicates("[name='a/b'][id=\"3\"]").unwrap(),
            vec![("name".into(), "a/b".into()), ("id".into(), "3".into())]
        );
        assert_eq!(
            split_steps("/a:b/c[n='x/y']/d"),
            vec!["a:b", "c[n='x/y']", "d"]
        );
    }

    #[test]
    fn numbers_and_empty_leaves() {
        #[derive(Deserialize)]
        struct T {
            #[serde(deserialize_with = "number")]
            a: u64,
            #[serde(deserialize_with = "number")]
            b: f64,
            e: Option<Empty>,
        }
        let t: T =
            serde_json::from_str(r#"{"a":"18446744073709551615","b":229.5,"e":[null]}"#).unwrap();
        assert_eq!(t.a, u64::MAX);
        assert_eq!(t.b, 229.5);
        assert_eq!(t.e, Some(Empty));
    }
}
