//! An api-path resolved against the schema: which node it names, the data path
//! (libyang XPath with key predicates) of its instance, and the service path of
//! an action. Key values are matched to the list's keys in order.
use yang5::context::Context;
use yang5::schema::{SchemaNode, SchemaNodeKind};

use super::reply::Failure;
use super::uri::Step;
use crate::datastore::{Error, ErrorTag};
use crate::service::DataPath;
use crate::service::config::quote;

/// What a request URI names.
#[derive(Debug, Clone)]
pub struct Target {
    /// The data path of the instance; empty for the datastore itself.
    pub xpath: String,
    /// The data path of its parent; empty at the top level.
    pub parent_xpath: String,
    /// The same as a service path (for actions; `None` for the datastore and
    /// a leaf-list value).
    pub path: Option<DataPath>,
    /// The schema node; `None` for the datastore.
    pub kind: Option<SchemaNodeKind>,
    pub config: bool,
    pub np_container: bool,
    /// The last node's module and name.
    pub module: String,
    pub name: String,
    /// The top-level node, `module:name` (the entity-tag's scope).
    pub top: Option<String>,
    /// A list named without keys (all its entries).
    pub all_entries: bool,
}

impl Target {
    pub fn datastore() -> Target {
        Target {
            xpath: String::new(),
            parent_xpath: String::new(),
            path: None,
            kind: None,
            config: true,
            np_container: true,
            module: String::new(),
            name: String::new(),
            top: None,
            all_entries: false,
        }
    }

    pub fn is_operation(&self) -> bool {
        matches!(
            self.kind,
            Some(SchemaNodeKind::Action | SchemaNodeKind::Rpc)
        )
    }
}

fn unknown(what: String) -> Failure {
    Failure::new(
        axum::http::StatusCode::BAD_REQUEST,
        Error::protocol(ErrorTag::UnknownElement, what),
    )
}

/// Resolves data steps (`{+restconf}/data/...`) or, with `rpc`, one RPC
/// (`{+restconf}/operations/module:rpc`).
pub fn resolve(ctx: &'static Context, steps: &[Step], rpc: bool) -> Result<Target, Failure> {
    if steps.is_empty() {
        return Ok(Target::datastore());
    }
    let mut schema_path = String::new();
    let mut xpath = String::new();
    let mut parent_xpath = String::new();
    let mut path: Option<DataPath> = None;
    let mut module = String::new();
    let mut node: Option<SchemaNode<'static>> = None;
    let mut all_entries = false;
    let last = steps.len() - 1;
    for (i, step) in steps.iter().enumerate() {
        if all_entries {
            return Err(Failure::bad(
                ErrorTag::MissingAttribute,
                "a list in the middle of the path needs its key values (list=key)",
            ));
        }
        if let Some(n) = &node
            && matches!(n.kind(), SchemaNodeKind::Action | SchemaNodeKind::Rpc)
        {
            return Err(unknown(format!(
                "{} is an operation: nothing is below it",
                n.name()
            )));
        }
        let new_module = step.module.as_deref().unwrap_or(&module).to_string();
        if ctx.get_module_implemented(&new_module).is_none() {
            return Err(Failure::new(
                axum::http::StatusCode::BAD_REQUEST,
                Error::protocol(
                    ErrorTag::UnknownNamespace,
                    format!("no module {new_module}"),
                ),
            ));
        }
        let qualified = new_module != module;
        module = new_module;
        let seg = if qualified {
            format!("/{module}:{}", step.name)
        } else {
            format!("/{}", step.name)
        };
        schema_path.push_str(&seg);
        let found = ctx
            .find_path(&schema_path)
            .map_err(|_| unknown(format!("no node {schema_path} in the schema")))?;
        let kind = found.kind();
        if (kind == SchemaNodeKind::Rpc) != rpc {
            return Err(unknown(if rpc {
                format!("{schema_path} is not an RPC")
            } else {
                format!("{schema_path} is an RPC: POST it under /restconf/operations")
            }));
        }
        let name = if qualified {
            format!("{module}:{}", step.name)
        } else {
            step.name.clone()
        };
        parent_xpath = xpath.clone();
        xpath.push_str(&seg);
        match kind {
            SchemaNodeKind::List => {
                let keys: Vec<String> = found.list_keys().map(|k| k.name().to_string()).collect();
                match &step.keys {
                    None if i == last => {
                        all_entries = true;
                        path = Some(match path {
                            None => DataPath::root(&name),
                            Some(p) => p.child(&name),
                        });
                    }
                    None => {
                        return Err(Failure::bad(
                            ErrorTag::MissingAttribute,
                            format!(
                                "{schema_path} is a list: name its entry with {}=key",
                                step.name
                            ),
                        ));
                    }
                    Some(values) if values.len() != keys.len() || keys.is_empty() => {
                        return Err(Failure::bad(
                            ErrorTag::InvalidValue,
                            format!(
                                "{schema_path} has {} key(s) ({}), the path gives {}",
                                keys.len(),
                                keys.join(", "),
                                values.len()
                            ),
                        ));
                    }
                    Some(values) => {
                        let pairs: Vec<(&str, &str)> = keys
                            .iter()
                            .map(String::as_str)
                            .zip(values.iter().map(String::as_str))
                            .collect();
                        for (k, v) in &pairs {
                            xpath.push_str(&format!("[{k}={}]", quote(v)));
                        }
                        path = Some(match path {
                            None => DataPath::root(&name).with_keys(&pairs),
                            Some(p) => p.entry(&name, &pairs),
                        });
                    }
                }
            }
            SchemaNodeKind::LeafList => match &step.keys {
                Some(values) if values.len() == 1 => {
                    xpath.push_str(&format!("[.={}]", quote(&values[0])));
                    path = None;
                }
                Some(_) => {
                    return Err(Failure::bad(
                        ErrorTag::InvalidValue,
                        "a leaf-list value is one value (leaf-list=value)",
                    ));
                }
                None => {
                    all_entries = true;
                    path = None;
                }
            },
            _ => {
                if step.keys.is_some() {
                    return Err(Failure::bad(
                        ErrorTag::InvalidValue,
                        format!("{schema_path} is not a list: it has no keys"),
                    ));
                }
                path = Some(match path {
                    None => DataPath::root(&name),
                    Some(p) => p.child(&name),
                });
            }
        }
        node = Some(found);
    }
    let n = node.expect("steps are not empty");
    let top = steps[0]
        .module
        .as_ref()
        .map(|m| format!("{m}:{}", steps[0].name));
    Ok(Target {
        xpath,
        parent_xpath,
        path,
        kind: Some(n.kind()),
        config: n.is_config(),
        np_container: n.kind() == SchemaNodeKind::Container && n.is_np_container(),
        module: n.module().name().to_string(),
        name: n.name().to_string(),
        top,
        all_entries,
    })
}

/// A data path as libyang prints it (`/m:a/l[k='v']/c`) as an api-path
/// (`/m:a/l=v/c`), key values percent-encoded.
pub fn api_path(xpath: &str) -> String {
    use crate::service::config::{parse_predicates, split_steps, step_parts};
    let mut out = String::new();
    for step in split_steps(xpath) {
        let (name, preds) = step_parts(step);
        out.push('/');
        out.push_str(name);
        if preds.is_empty() {
            continue;
        }
        let values: Vec<String> = match parse_predicates(preds) {
            Some(kv) => kv.into_iter().map(|(_, v)| encode(&v)).collect(),
            None => continue,
        };
        out.push('=');
        out.push_str(&values.join(","));
    }
    out
}

/// Percent-encodes all but RFC 3986's unreserved characters.
pub fn encode(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn data_paths_become_api_paths() {
        assert_eq!(
            super::api_path("/m:a/l[k='x,y'][n='1']/c"),
            "/m:a/l=x%2Cy,1/c"
        );
    }
}
