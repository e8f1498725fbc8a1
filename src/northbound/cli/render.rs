//! Data trees shown the way router CLIs do: a brace tree, `set` commands, or the
//! differences between two trees as `set` lines.
use std::collections::BTreeSet;

use yang5::data::DataNodeRef;
use yang5::schema::SchemaNodeKind;

use crate::datastore::tree::{self, Tree};

/// A value as a CLI word: quoted when it would not read back as one word.
pub fn word(v: &str) -> String {
    let plain = !v.is_empty()
        && !v.chars().any(|c| {
            c.is_whitespace() || matches!(c, '"' | '\'' | ';' | '{' | '}' | '|' | '\\' | '#')
        });
    if plain {
        v.to_string()
    } else {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn key_values(n: &DataNodeRef<'_>) -> Vec<String> {
    n.list_keys()
        .map(|k| word(&k.value_canonical().unwrap_or_default()))
        .collect()
}

/// The brace tree.
pub fn braces(t: &Tree) -> String {
    let mut out = String::new();
    for n in tree::top_nodes(t) {
        node(&mut out, &n, 0);
    }
    out
}

/// Whether a node holds nothing but configuration defaults (not shown, as in
/// `explicit` mode; state is always shown).
fn only_defaults(n: &DataNodeRef<'_>) -> bool {
    n.traverse().all(|d| {
        let s = d.schema();
        s.is_config()
            && (d.is_default()
                || matches!(s.kind(), SchemaNodeKind::Container) && s.is_np_container())
    })
}

fn node(out: &mut String, n: &DataNodeRef<'_>, depth: usize) {
    if only_defaults(n) {
        return;
    }
    let pad = "    ".repeat(depth);
    let schema = n.schema();
    let name = schema.name();
    match schema.kind() {
        SchemaNodeKind::Leaf | SchemaNodeKind::LeafList => {
            let v = n.value_canonical().unwrap_or_default();
            if v.is_empty()
                && schema
                    .leaf_type()
                    .is_some_and(|t| t.base_type() == yang5::schema::DataValueType::Empty)
            {
                out.push_str(&format!("{pad}{name};\n"));
            } else {
                out.push_str(&format!("{pad}{name} {};\n", word(&v)));
            }
        }
        SchemaNodeKind::List | SchemaNodeKind::Container => {
            let head = if schema.kind() == SchemaNodeKind::List {
                format!("{name} {}", key_values(n).join(" "))
            } else {
                name.to_string()
            };
            let kids: Vec<_> = n.children().filter(|c| !c.schema().is_list_key()).collect();
            if kids.is_empty() {
                out.push_str(&format!("{pad}{head};\n"));
            } else {
                out.push_str(&format!("{pad}{head} {{\n"));
                for c in kids {
                    node(out, &c, depth + 1);
                }
                out.push_str(&format!("{pad}}}\n"));
            }
        }
        _ => {}
    }
}

/// The CLI words that name a data node: node names and list keys.
pub fn words_of(n: &DataNodeRef<'_>) -> Vec<String> {
    let mut chain: Vec<DataNodeRef<'_>> = n.inclusive_ancestors().collect();
    chain.reverse();
    let mut words = Vec::new();
    for a in chain {
        words.push(a.schema().name().to_string());
        if a.schema().kind() == SchemaNodeKind::List {
            words.extend(key_values(&a));
        }
    }
    words
}

/// `set` commands that rebuild the tree.
pub fn set_lines(t: &Tree) -> Vec<String> {
    let mut out = Vec::new();
    for top in tree::top_nodes(t) {
        for n in top.traverse() {
            if only_defaults(&n) {
                continue;
            }
            let schema = n.schema();
            let leafy = matches!(
                schema.kind(),
                SchemaNodeKind::Leaf | SchemaNodeKind::LeafList
            );
            if schema.is_list_key() {
                continue;
            }
            let bare = !leafy && n.children().all(|c| c.schema().is_list_key());
            if !leafy && !bare {
                continue;
            }
            let mut w = words_of(&n);
            if leafy {
                let v = n.value_canonical().unwrap_or_default();
                if !(v.is_empty()
                    && schema
                        .leaf_type()
                        .is_some_and(|t| t.base_type() == yang5::schema::DataValueType::Empty))
                {
                    w.push(word(&v));
                }
            }
            out.push(format!("set {}", w.join(" ")));
        }
    }
    out
}

/// The changes from `old` to `new`, as removed and added `set` lines.
pub fn compare(old: &Tree, new: &Tree) -> String {
    let a: Vec<String> = set_lines(old);
    let b: Vec<String> = set_lines(new);
    let sa: BTreeSet<&String> = a.iter().collect();
    let sb: BTreeSet<&String> = b.iter().collect();
    let mut out = String::new();
    for l in &a {
        if !sb.contains(l) {
            out.push_str(&format!("- {l}\n"));
        }
    }
    for l in &b {
        if !sa.contains(l) {
            out.push_str(&format!("+ {l}\n"));
        }
    }
    out
}
