//! The operational view, built where it is read (never on the actor's thread):
//! the configuration the filter selects, plus the live state of only the
//! providers, and only the entries, that the filter can select. A `get` of one
//! port's state asks the ports provider for that port alone.
use std::collections::HashMap;

use serde_json::Value;
use yang5::context::Context;
use yang5::data::{DataFormat, DataParserFlags, DataTree, DataValidationFlags};
use yang5::schema::SchemaNodeKind;

use super::error::Result;
use super::filter::{self, Filter};
use super::tree::Tree;
use crate::service::config::{parse_predicates, split_steps, step_parts};
use crate::service::state::Select;
use crate::service::{DataPath, Registry};

/// Adds the state the filter can select to `tree`.
pub fn add_state(
    ctx: &'static Context,
    registry: &Registry,
    tree: &mut Tree,
    filter: &Filter,
    modules: &HashMap<String, String>,
) -> Result<()> {
    let paths = filter::paths(filter, modules)?;
    for (root, provider) in registry.roots() {
        let Some(select) = narrow(ctx, &root, paths.as_deref()) else {
            continue;
        };
        let entries = crate::service::state::read_pages(&*provider, &root, select);
        if entries.is_empty() {
            continue;
        }
        merge_entries(ctx, tree, &root, entries);
    }
    Ok(())
}

/// Merges provider entries of `root` into `tree`. Entries that do not fit the
/// schema are a provider's bug: logged and left out, never failing the read.
pub fn merge_entries(ctx: &'static Context, tree: &mut Tree, root: &str, entries: Vec<Value>) {
    let is_list = ctx
        .find_path(root)
        .is_ok_and(|s| s.kind() == SchemaNodeKind::List);
    let Some(path) = DataPath::parse(root) else {
        return;
    };
    let value = if is_list {
        Value::Array(entries)
    } else {
        entries.into_iter().next().unwrap_or(Value::Null)
    };
    let doc = path.to_json(value).to_string();
    let parsed = DataTree::parse_string(
        ctx,
        &doc,
        DataFormat::JSON,
        DataParserFlags::NO_VALIDATION | DataParserFlags::STRICT,
        DataValidationFlags::empty(),
    );
    match parsed {
        Ok(state) => {
            if let Err(e) = tree.merge(&state) {
                tracing::warn!("state of {root}: {e}");
            }
        }
        Err(e) => tracing::warn!("state of {root} does not fit the schema: {e}"),
    }
}

/// The local names of a path's steps and the predicates of each.
fn steps(path: &str) -> Option<Vec<(String, String)>> {
    path.strip_prefix('/')?;
    let mut out = Vec::new();
    for step in split_steps(path) {
        let (name, preds) = step_parts(step);
        let local = name.rsplit(':').next().unwrap_or(name);
        // Anything but plain named steps (`//`, `*`, axes) is not narrowed.
        if local.is_empty()
            || !local
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return None;
        }
        out.push((local.to_string(), preds.to_string()));
    }
    Some(out)
}

/// Which entries of `root` the filter's paths can select: `None` for none of
/// them. `paths` is `None` for "everything".
fn narrow(ctx: &Context, root: &str, paths: Option<&[String]>) -> Option<Select> {
    let Some(paths) = paths else {
        return Some(Select::All);
    };
    let root_steps = steps(root)?;
    let mut keys: Vec<Vec<String>> = Vec::new();
    for p in paths {
        let Some(ps) = steps(p) else {
            return Some(Select::All);
        };
        let common = ps.len().min(root_steps.len());
        if ps[..common]
            .iter()
            .zip(&root_steps[..common])
            .any(|(a, b)| a.0 != b.0)
        {
            continue;
        }
        if ps.len() < root_steps.len() {
            // The path selects an ancestor of the root: all of it.
            return Some(Select::All);
        }
        let preds = &ps[root_steps.len() - 1].1;
        let key_names: Vec<String> = ctx
            .find_path(root)
            .map(|s| s.list_keys().map(|k| k.name().to_string()).collect())
            .unwrap_or_default();
        let given = parse_predicates(preds).unwrap_or_default();
        let values: Option<Vec<String>> = key_names
            .iter()
            .map(|k| given.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
            .collect();
        match values {
            Some(v) if !key_names.is_empty() && given.len() == key_names.len() => keys.push(v),
            _ => return Some(Select::All),
        }
    }
    if keys.is_empty() {
        None
    } else {
        Some(Select::Keys(keys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_keep_predicates_and_refuse_axes() {
        assert_eq!(
            steps("/m:a/m:b[m:name='x/y']/c").unwrap(),
            vec![
                ("a".to_string(), String::new()),
                ("b".to_string(), "[m:name='x/y']".to_string()),
                ("c".to_string(), String::new())
            ]
        );
        assert!(steps("//m:a").is_none());
        assert!(steps("/m:a/*").is_none());
    }
}
