//! What a GET returns of its target (RFC 8040 section 4.8): `content=nonconfig`
//! keeps state and the config nodes leading to it, `depth` cuts below a level,
//! `fields` keeps the selected paths. List keys stay with their entries, so
//! every entry returned is still named.
use std::collections::HashSet;

use yang5::data::DataNodeRef;
use yang5::ffi;
use yang5::iter::NodeIterable;
use yang5::schema::SchemaNodeKind;

use super::uri::Query;

fn is_key(n: &DataNodeRef<'_>) -> bool {
    n.schema().is_list_key()
}

fn has_state(n: &DataNodeRef<'_>) -> bool {
    n.traverse().any(|d| !d.schema().is_config())
}

fn terminal(n: &DataNodeRef<'_>) -> bool {
    matches!(
        n.schema().kind(),
        SchemaNodeKind::Leaf
            | SchemaNodeKind::LeafList
            | SchemaNodeKind::AnyData
            | SchemaNodeKind::AnyXml
    )
}

/// The names from below `top` down to `n`; a step is `module:name` where the
/// module changes (the form a fields expression uses).
fn rel_path(top: &DataNodeRef<'_>, n: &DataNodeRef<'_>) -> Vec<String> {
    let top_raw = top.as_raw();
    let mut out = Vec::new();
    let mut cur = Some(n.clone());
    while let Some(c) = cur {
        if c.as_raw() == top_raw {
            break;
        }
        let parent = c.parent();
        let s = c.schema();
        let qualified = parent
            .as_ref()
            .is_none_or(|p| p.schema().module().name() != s.module().name());
        out.push(if qualified {
            format!("{}:{}", s.module().name(), s.name())
        } else {
            s.name().to_string()
        });
        cur = parent;
    }
    out.reverse();
    out
}

/// A step of a fields path matches a node's step by name, with or without
/// the module.
fn step_matches(field: &str, node: &str) -> bool {
    field == node
        || node.split_once(':').is_some_and(|(_, n)| n == field)
        || field.split_once(':').is_some_and(|(_, f)| f == node)
}

fn selected(fields: &[Vec<String>], rel: &[String]) -> bool {
    fields.iter().any(|f| {
        let n = f.len().min(rel.len());
        f[..n]
            .iter()
            .zip(&rel[..n])
            .all(|(a, b)| step_matches(a, b))
    })
}

/// Whether the query asks for any pruning.
pub fn needed(q: &Query, nonconfig: bool) -> bool {
    nonconfig || q.depth.is_some() || q.fields.is_some()
}

/// Removes from below `top` what the query does not ask for.
pub fn prune(top: &DataNodeRef<'_>, q: &Query, nonconfig: bool) {
    let mut remove: Vec<*mut ffi::lyd_node> = Vec::new();
    let mut gone: HashSet<*mut ffi::lyd_node> = HashSet::new();
    for n in top.traverse().skip(1) {
        if n.ancestors().any(|a| gone.contains(&a.as_raw())) {
            continue;
        }
        if is_key(&n) {
            continue;
        }
        let rel = rel_path(top, &n);
        let depth = rel.len() + 1;
        let cut = q.depth.is_some_and(|d| depth > d as usize)
            || q.fields.as_ref().is_some_and(|f| !selected(f, &rel))
            || (nonconfig && n.schema().is_config() && (terminal(&n) || !has_state(&n)));
        if cut {
            gone.insert(n.as_raw());
            remove.push(n.as_raw());
        }
    }
    for raw in remove {
        unsafe { ffi::lyd_free_tree(raw) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_select_by_prefix_either_way() {
        let f = vec![
            vec!["a".to_string(), "b".to_string()],
            vec!["m:c".to_string()],
        ];
        let p = |s: &str| s.split('/').map(str::to_string).collect::<Vec<_>>();
        assert!(selected(&f, &p("a")), "an ancestor of a selected node");
        assert!(selected(&f, &p("a/b/x")), "below a selected node");
        assert!(!selected(&f, &p("a/z")));
        assert!(selected(&f, &p("c")), "the module may be left out");
        assert!(selected(&f, &p("m:c/d")));
    }
}
