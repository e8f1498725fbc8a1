//! CLI words to YANG paths, from the schema at run time: `ports port port01 serial
//! baud 9600` is `/lifeline-ports:ports/port[name='port01']/serial/baud` = 9600.
//! Nothing here knows any module: a new leaf is a new word with no CLI code.
use std::ffi::CStr;

use yang5::context::Context;
use yang5::iter::IterSchemaFlags;
use yang5::schema::{DataValueType, SchemaNode, SchemaNodeKind};

/// What the words are for: which nodes are offered and what a path may end on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `show`: configuration and state.
    Show,
    /// `set`: configuration, ending in a leaf with its value (or a list entry or
    /// presence container).
    Set,
    /// `delete`, `edit`: configuration.
    Config,
    /// `request`: RPCs and actions, then their input.
    Request,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PathError(pub String);

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Words resolved to a data path.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The data path (JSON-style prefixes, key predicates); "" for the root.
    pub path: String,
    /// The last schema node, `None` at the root.
    pub node: Option<SchemaNode<'static>>,
    /// The value given after a leaf (`set`).
    pub value: Option<String>,
    /// Input of an RPC or action: (leaf name, value).
    pub input: Vec<(String, String)>,
    /// The CLI words of the path, for `edit` and prompts.
    pub words: Vec<String>,
}

/// Schema children as the CLI shows them: choices and cases are transparent.
pub fn children(
    ctx: &'static Context,
    parent: Option<&SchemaNode<'static>>,
    purpose: Purpose,
) -> Vec<SchemaNode<'static>> {
    let mut out: Vec<SchemaNode<'static>> = match parent {
        Some(p) => {
            let mut v: Vec<_> = p.children2(IterSchemaFlags::empty()).collect();
            if purpose == Purpose::Request {
                v.retain(has_actions);
                v.extend(p.actions());
            }
            v
        }
        None => {
            let mut v = Vec::new();
            for m in ctx.modules(true).filter(|m| m.is_implemented()) {
                if purpose == Purpose::Request {
                    v.extend(m.rpcs());
                    // And the data nodes that lead to actions.
                    v.extend(flatten(m.data()).into_iter().filter(has_actions));
                } else {
                    v.extend(flatten(m.data()));
                }
            }
            v
        }
    };
    out.retain(|n| match purpose {
        Purpose::Show => !matches!(
            n.kind(),
            SchemaNodeKind::Rpc | SchemaNodeKind::Action | SchemaNodeKind::Notification
        ),
        Purpose::Set | Purpose::Config => {
            n.is_config()
                && !matches!(
                    n.kind(),
                    SchemaNodeKind::Rpc | SchemaNodeKind::Action | SchemaNodeKind::Notification
                )
        }
        Purpose::Request => true,
    });
    out
}

/// Whether a data node has actions at or below it.
fn has_actions(n: &SchemaNode<'_>) -> bool {
    n.actions().next().is_some()
        || n.children2(IterSchemaFlags::empty()).any(|c| {
            matches!(
                c.kind(),
                SchemaNodeKind::Container
                    | SchemaNodeKind::List
                    | SchemaNodeKind::Choice
                    | SchemaNodeKind::Case
            ) && has_actions(&c)
        })
}

fn flatten<'a>(nodes: impl Iterator<Item = SchemaNode<'a>>) -> Vec<SchemaNode<'a>> {
    let mut out = Vec::new();
    for n in nodes {
        match n.kind() {
            SchemaNodeKind::Choice | SchemaNodeKind::Case => out.extend(flatten(n.children())),
            _ => out.push(n),
        }
    }
    out
}

/// The child a word names: by name, or `module:name` where several modules have it.
pub fn child<'a>(
    kids: &'a [SchemaNode<'static>],
    word: &str,
) -> Result<&'a SchemaNode<'static>, PathError> {
    let (module, name) = match word.split_once(':') {
        Some((m, n)) => (Some(m), n),
        None => (None, word),
    };
    let matches: Vec<_> = kids
        .iter()
        .filter(|k| k.name() == name && module.is_none_or(|m| k.module().name() == m))
        .collect();
    match matches.len() {
        0 => Err(PathError(format!(
            "syntax error: \"{word}\" is not expected here"
        ))),
        1 => Ok(matches[0]),
        _ => Err(PathError(format!(
            "\"{word}\" is ambiguous: say {}",
            matches
                .iter()
                .map(|m| format!("{}:{name}", m.module().name()))
                .collect::<Vec<_>>()
                .join(" or ")
        ))),
    }
}

fn quote_value(v: &str) -> String {
    if v.contains('\'') {
        format!("\"{v}\"")
    } else {
        format!("'{v}'")
    }
}

/// The path step of a node under a parent (module prefix where the module changes).
pub fn step(node: &SchemaNode<'_>, parent: Option<&SchemaNode<'_>>) -> String {
    let module = node.module();
    match parent {
        Some(p) if p.module().name() == module.name() => node.name().to_string(),
        _ => format!("{}:{}", module.name(), node.name()),
    }
}

pub fn keys(list: &SchemaNode<'static>) -> Vec<SchemaNode<'static>> {
    list.list_keys().collect()
}

/// Resolves CLI words, starting below `base` (the `edit` level).
pub fn resolve(
    ctx: &'static Context,
    base: &Resolved,
    words: &[String],
    purpose: Purpose,
) -> Result<Resolved, PathError> {
    let mut r = base.clone();
    r.value = None;
    r.input.clear();
    let mut i = 0;
    while i < words.len() {
        let parent = r.node.clone();
        if let Some(p) = &parent {
            if matches!(p.kind(), SchemaNodeKind::Rpc | SchemaNodeKind::Action) {
                // The rest is input: name value pairs.
                let names = input_names(p);
                let name = words[i].rsplit(':').next().unwrap_or("");
                if !names.iter().any(|n| n == name) {
                    return Err(PathError(format!(
                        "syntax error: \"{}\" is not an input of {}",
                        words[i],
                        p.name()
                    )));
                }
                let v = words
                    .get(i + 1)
                    .ok_or_else(|| PathError(format!("{name} needs a value")))?;
                r.input.push((name.to_string(), v.clone()));
                i += 2;
                continue;
            }
            if matches!(p.kind(), SchemaNodeKind::Leaf | SchemaNodeKind::LeafList) {
                if purpose == Purpose::Set
                    || (purpose == Purpose::Config && p.kind() == SchemaNodeKind::LeafList)
                {
                    if r.value.is_some() || i + 1 < words.len() {
                        return Err(PathError(format!(
                            "syntax error: unexpected \"{}\"",
                            words[i..].join(" ")
                        )));
                    }
                    r.value = Some(words[i].clone());
                    if p.kind() == SchemaNodeKind::LeafList {
                        r.path.push_str(&format!("[.={}]", quote_value(&words[i])));
                    }
                    i += 1;
                    continue;
                }
                return Err(PathError(format!(
                    "syntax error: \"{}\" is a leaf: nothing goes below it",
                    p.name()
                )));
            }
        }
        let kids = children(ctx, parent.as_ref(), purpose);
        let node = child(&kids, &words[i])?.clone();
        r.path.push('/');
        r.path.push_str(&step(&node, parent.as_ref()));
        r.words.push(words[i].clone());
        i += 1;
        if node.kind() == SchemaNodeKind::List {
            let ks = keys(&node);
            for k in &ks {
                match words.get(i) {
                    Some(v) => {
                        r.path
                            .push_str(&format!("[{}={}]", k.name(), quote_value(v)));
                        r.words.push(v.clone());
                        i += 1;
                    }
                    None if purpose == Purpose::Show => break,
                    None => {
                        return Err(PathError(format!(
                            "{} needs its {} ",
                            node.name(),
                            k.name()
                        )));
                    }
                }
            }
        }
        r.node = Some(node);
    }
    if purpose == Purpose::Set {
        match r.node.as_ref().map(|n| n.kind()) {
            Some(SchemaNodeKind::Leaf) if r.value.is_none() => {
                // An empty-type leaf needs no value.
                let empty = r
                    .node
                    .as_ref()
                    .and_then(|n| n.leaf_type())
                    .is_some_and(|t| t.base_type() == DataValueType::Empty);
                if !empty {
                    return Err(PathError(format!(
                        "{} needs a value",
                        r.node.as_ref().unwrap().name()
                    )));
                }
            }
            Some(SchemaNodeKind::LeafList) if r.value.is_none() => {
                return Err(PathError(format!(
                    "{} needs a value",
                    r.node.as_ref().unwrap().name()
                )));
            }
            None => return Err(PathError("set what?".into())),
            _ => {}
        }
    }
    Ok(r)
}

/// The input leaves of an RPC or action.
pub fn input_names(op: &SchemaNode<'_>) -> Vec<String> {
    op.input()
        .map(|(kids, _)| flatten(kids).iter().map(|n| n.name().to_string()).collect())
        .unwrap_or_default()
}

/// The names of an enumeration's values (also through typedefs); booleans too.
pub fn enum_values(node: &SchemaNode<'_>) -> Vec<String> {
    let Some(t) = node.leaf_type() else {
        return Vec::new();
    };
    match t.base_type() {
        DataValueType::Bool => vec!["true".into(), "false".into()],
        DataValueType::Enum => unsafe {
            let raw = t.as_raw() as *mut yang5::ffi::lysc_type_enum;
            let items = (*raw).enums;
            if items.is_null() {
                return Vec::new();
            }
            let count = *(items as *const u64).sub(1) as usize;
            (0..count)
                .map(|i| {
                    CStr::from_ptr((*items.add(i)).name)
                        .to_string_lossy()
                        .into_owned()
                })
                .collect()
        },
        _ => Vec::new(),
    }
}

/// A short type description for `?` help: `uint32 (50..921600)`, `enumeration`...
pub fn type_hint(node: &SchemaNode<'_>) -> String {
    let Some(t) = node.leaf_type() else {
        return match node.kind() {
            SchemaNodeKind::List => "list".into(),
            SchemaNodeKind::Container => "container".into(),
            SchemaNodeKind::Rpc | SchemaNodeKind::Action => "operation".into(),
            _ => String::new(),
        };
    };
    let name = t
        .typedef_name()
        .unwrap_or_else(|| format!("{:?}", t.base_type()).to_lowercase());
    let mut s = name;
    if let Ok(Some(d)) = node.default_value_canonical() {
        s.push_str(&format!(", default {d}"));
    }
    if let Some(u) = node.units() {
        s.push_str(&format!(", {u}"));
    }
    s
}

/// One line of `?` help for a node.
pub fn help_line(node: &SchemaNode<'_>) -> String {
    let desc = node
        .description()
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let desc = match desc.find(". ") {
        Some(i) if i < 100 => desc[..=i].to_string(),
        _ if desc.len() > 100 => format!(
            "{}...",
            &desc[..desc
                .char_indices()
                .nth(97)
                .map(|(i, _)| i)
                .unwrap_or(desc.len())]
        ),
        _ => desc,
    };
    let hint = type_hint(node);
    if hint.is_empty() {
        desc
    } else {
        format!("{desc} [{hint}]")
    }
}

/// What the next word must be, for completion.
pub enum Expect {
    Child(Option<SchemaNode<'static>>),
    Key {
        list_path: String,
        key: SchemaNode<'static>,
    },
    Value(SchemaNode<'static>),
    Input(Vec<String>),
    Nothing,
}

/// Walks `words` like [`resolve`] and says what may follow them.
pub fn expect(
    ctx: &'static Context,
    base: &Resolved,
    words: &[String],
    purpose: Purpose,
) -> Expect {
    let mut parent = base.node.clone();
    let mut path = base.path.clone();
    let mut i = 0;
    while i < words.len() {
        if let Some(p) = &parent {
            match p.kind() {
                SchemaNodeKind::Rpc | SchemaNodeKind::Action => {
                    let remaining = words.len() - i;
                    if remaining % 2 == 1 {
                        return Expect::Nothing; // a value comes next
                    }
                    return Expect::Input(input_names(p));
                }
                SchemaNodeKind::Leaf | SchemaNodeKind::LeafList => return Expect::Nothing,
                _ => {}
            }
        }
        let kids = children(ctx, parent.as_ref(), purpose);
        let Ok(node) = child(&kids, &words[i]) else {
            return Expect::Nothing;
        };
        let node = node.clone();
        path.push('/');
        path.push_str(&step(&node, parent.as_ref()));
        i += 1;
        if node.kind() == SchemaNodeKind::List {
            for k in keys(&node) {
                if i >= words.len() {
                    return Expect::Key {
                        list_path: path,
                        key: k,
                    };
                }
                path.push_str(&format!("[{}={}]", k.name(), quote_value(&words[i])));
                i += 1;
            }
        }
        parent = Some(node);
    }
    match &parent {
        Some(p) if matches!(p.kind(), SchemaNodeKind::Leaf | SchemaNodeKind::LeafList) => {
            if purpose == Purpose::Set {
                Expect::Value(p.clone())
            } else {
                Expect::Nothing
            }
        }
        Some(p) if matches!(p.kind(), SchemaNodeKind::Rpc | SchemaNodeKind::Action) => {
            Expect::Input(input_names(p))
        }
        _ => Expect::Child(parent),
    }
}
