//! YANG actions and RPCs between services and faces. A caller names the action by
//! its data path with keys and gives its input as an RFC 7951 JSON tree; the
//! datastore validates the input against the schema (filling in its defaults),
//! checks NACM for the caller, and hands the request to the handler that the
//! owning service registered. The output comes back as a JSON tree, validated
//! against the schema's output.
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::Refusal;
use super::config::{parse_predicates, quote, split_steps, step_parts};

pub type ActionFuture = Pin<Box<dyn Future<Output = Result<Value, Refusal>> + Send>>;

/// Runs one action (or RPC) of a service.
pub trait ActionHandler: Send + Sync + 'static {
    fn run(&self, req: ActionRequest) -> ActionFuture;
}

/// A validated request.
#[derive(Debug, Clone)]
pub struct ActionRequest {
    /// The action's data path with keys, e.g.
    /// `/lifeline-power:power/device[name='pdu1']/outlet[id='3']/cycle`.
    pub path: DataPath,
    /// The input, with defaults filled in (an object, maybe empty).
    pub input: Value,
    /// Who asked (NACM already said yes).
    pub user: String,
}

impl ActionRequest {
    /// The value of key `key` of the enclosing list entry `list`.
    pub fn key(&self, list: &str, key: &str) -> Option<&str> {
        self.path.key(list, key)
    }

    /// The input as a typed value.
    pub fn input<T: DeserializeOwned>(&self) -> Result<T, Refusal> {
        serde_json::from_value(self.input.clone())
            .map_err(|e| Refusal::invalid(format!("input: {e}")))
    }
}

/// A handler from an async function of the request.
pub fn handler<F, Fut>(f: F) -> Arc<dyn ActionHandler>
where
    F: Fn(ActionRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, Refusal>> + Send + 'static,
{
    struct H<F>(F);
    impl<F, Fut> ActionHandler for H<F>
    where
        F: Fn(ActionRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, Refusal>> + Send + 'static,
    {
        fn run(&self, req: ActionRequest) -> ActionFuture {
            Box::pin((self.0)(req))
        }
    }
    Arc::new(H(f))
}

/// An output value as the JSON tree an action returns.
pub fn output(v: impl Serialize) -> Result<Value, Refusal> {
    serde_json::to_value(v).map_err(|e| Refusal::failed(format!("output: {e}")))
}

/// One step of a data path: a node name (module-qualified where the module
/// changes) and, for a list entry, its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    module: Option<String>,
    name: String,
    keys: Vec<(String, String)>,
}

/// A data path built step by step, so key values are quoted right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPath {
    steps: Vec<Step>,
}

impl DataPath {
    /// Starts at a top-level node, `module:name`.
    pub fn root(top: &str) -> DataPath {
        let (m, n) = top.split_once(':').unwrap_or(("", top));
        DataPath {
            steps: vec![Step {
                module: Some(m.to_string()),
                name: n.to_string(),
                keys: Vec::new(),
            }],
        }
    }

    /// A child node (`module:name` if from another module).
    pub fn child(mut self, name: &str) -> DataPath {
        let (module, name) = match name.split_once(':') {
            Some((m, n)) => (Some(m.to_string()), n.to_string()),
            None => (None, name.to_string()),
        };
        self.steps.push(Step {
            module,
            name,
            keys: Vec::new(),
        });
        self
    }

    /// A list entry by its keys.
    pub fn entry(self, list: &str, keys: &[(&str, &str)]) -> DataPath {
        self.child(list).with_keys(keys)
    }

    /// The same path with `keys` on its last step (a top-level list entry).
    pub fn with_keys(mut self, keys: &[(&str, &str)]) -> DataPath {
        if let Some(s) = self.steps.last_mut() {
            s.keys = keys
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        }
        self
    }

    /// Parses a data path such as libyang prints (`/m:a/b[k='v']/c`).
    pub fn parse(path: &str) -> Option<DataPath> {
        path.strip_prefix('/')?;
        let mut steps = Vec::new();
        for step in split_steps(path) {
            let (name, preds) = step_parts(step);
            if name.is_empty() {
                return None;
            }
            let (module, name) = match name.split_once(':') {
                Some((m, n)) => (Some(m.to_string()), n.to_string()),
                None => (None, name.to_string()),
            };
            steps.push(Step {
                module,
                name,
                keys: if preds.is_empty() {
                    Vec::new()
                } else {
                    parse_predicates(preds)?
                },
            });
        }
        (!steps.is_empty() && steps[0].module.is_some()).then_some(DataPath { steps })
    }

    /// The value of key `key` of the list entry `list` on the path.
    pub fn key(&self, list: &str, key: &str) -> Option<&str> {
        self.steps
            .iter()
            .rev()
            .find(|s| s.name == list)?
            .keys
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The last node's name.
    pub fn name(&self) -> &str {
        self.steps.last().map_or("", |s| s.name.as_str())
    }

    /// The path of the parent node.
    pub fn parent(&self) -> Option<DataPath> {
        (self.steps.len() > 1).then(|| DataPath {
            steps: self.steps[..self.steps.len() - 1].to_vec(),
        })
    }

    /// The path without keys (the schema's view of it, choices aside).
    pub fn schema_path(&self) -> String {
        let mut out = String::new();
        let mut module = "";
        for s in &self.steps {
            match &s.module {
                Some(m) if m != module => {
                    out.push_str(&format!("/{m}:{}", s.name));
                    module = m;
                }
                _ => out.push_str(&format!("/{}", s.name)),
            }
        }
        out
    }

    /// A JSON document with the path's nodes down to the last one, which holds
    /// `leaf` (an object for an action's input or output).
    pub fn to_json(&self, leaf: Value) -> Value {
        let mut cur = leaf;
        let mut module_of: Vec<&str> = Vec::new();
        let mut m = "";
        for s in &self.steps {
            if let Some(x) = &s.module {
                m = x;
            }
            module_of.push(m);
        }
        for (i, s) in self.steps.iter().enumerate().rev() {
            let name = if i == 0 || module_of[i] != module_of[i - 1] {
                format!("{}:{}", module_of[i], s.name)
            } else {
                s.name.clone()
            };
            let mut obj = Map::new();
            if s.keys.is_empty() {
                obj.insert(name, cur);
            } else {
                let mut entry = Map::new();
                for (k, v) in &s.keys {
                    entry.insert(k.clone(), Value::String(v.clone()));
                }
                if let Value::Object(inner) = cur {
                    entry.extend(inner);
                }
                obj.insert(name, Value::Array(vec![Value::Object(entry)]));
            }
            cur = Value::Object(obj);
        }
        cur
    }
}

impl std::fmt::Display for DataPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut module = "";
        for s in &self.steps {
            match &s.module {
                Some(m) if m != module => {
                    write!(f, "/{m}:{}", s.name)?;
                    module = m;
                }
                _ => write!(f, "/{}", s.name)?,
            }
            for (k, v) in &s.keys {
                write!(f, "[{k}={}]", quote(v))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_parse_and_nest() {
        let p = DataPath::root("lifeline-power:power")
            .entry("device", &[("name", "pdu'1")])
            .entry("outlet", &[("id", "3")])
            .child("cycle");
        let text = p.to_string();
        assert_eq!(
            text,
            "/lifeline-power:power/device[name=\"pdu'1\"]/outlet[id='3']/cycle"
        );
        assert_eq!(DataPath::parse(&text).unwrap(), p);
        assert_eq!(p.key("device", "name"), Some("pdu'1"));
        assert_eq!(p.schema_path(), "/lifeline-power:power/device/outlet/cycle");
        let json = p.to_json(serde_json::json!({}));
        assert_eq!(
            json,
            serde_json::json!({"lifeline-power:power": {"device": [{"name": "pdu'1",
                "outlet": [{"id": "3", "cycle": {}}]}]}})
        );
        let aug = DataPath::root("ietf-snmp:snmp")
            .child("engine")
            .child("lifeline-snmp:state");
        assert_eq!(
            aug.to_json(serde_json::json!({})),
            serde_json::json!({"ietf-snmp:snmp": {"engine": {"lifeline-snmp:state": {}}}})
        );
    }
}
