//! RFC 6241 `<edit-config>` semantics (merge, replace, create, delete, remove, none)
//! applied from a parsed edit tree onto a target tree. libyang parses the edit and
//! validates the result; the operations themselves are ours.
use yang5::data::DataNodeRef;
use yang5::schema::SchemaNodeKind;

use super::error::{Error, ErrorTag};
use super::tree::{self, Tree};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Merge,
    Replace,
    Create,
    Delete,
    Remove,
    None,
}

impl Operation {
    pub fn parse(s: &str) -> Option<Operation> {
        Some(match s {
            "merge" => Operation::Merge,
            "replace" => Operation::Replace,
            "create" => Operation::Create,
            "delete" => Operation::Delete,
            "remove" => Operation::Remove,
            "none" => Operation::None,
            _ => return None,
        })
    }
}

/// Applies `edit` to `target`. With `continue_on_error` every failing node is
/// skipped and reported; otherwise the first error stops the edit (the caller
/// discards the half-edited copy).
pub fn apply(
    target: &mut Tree,
    edit: &Tree,
    default_op: Operation,
    continue_on_error: bool,
) -> Vec<Error> {
    let mut errors = Vec::new();
    for node in tree::top_nodes(edit) {
        if let Err(e) = apply_node(target, &node, default_op, continue_on_error, &mut errors) {
            errors.push(e);
            if !continue_on_error {
                break;
            }
        }
    }
    errors
}

fn node_op(node: &DataNodeRef<'_>, inherited: Operation) -> Result<Operation, Error> {
    for meta in node.meta() {
        if meta.name() == "operation" {
            return Operation::parse(meta.value()).ok_or_else(|| {
                Error::protocol(
                    ErrorTag::BadAttribute,
                    format!("unknown operation \"{}\"", meta.value()),
                )
                .with_info("bad-attribute", "operation")
                .with_info("bad-element", node.schema().name())
            });
        }
    }
    Ok(inherited)
}

fn has_nested_ops(node: &DataNodeRef<'_>) -> bool {
    node.traverse()
        .skip(1)
        .any(|n| n.meta().any(|m| m.name() == "operation"))
}

fn is_terminal(kind: SchemaNodeKind) -> bool {
    matches!(
        kind,
        SchemaNodeKind::Leaf
            | SchemaNodeKind::LeafList
            | SchemaNodeKind::AnyData
            | SchemaNodeKind::AnyXml
    )
}

fn apply_node(
    target: &mut Tree,
    node: &DataNodeRef<'_>,
    inherited: Operation,
    continue_on_error: bool,
    errors: &mut Vec<Error>,
) -> Result<(), Error> {
    let op = node_op(node, inherited)?;
    let schema = node.schema();
    let kind = schema.kind();
    let path = tree::path(node);
    let exists = tree::exists(target, &path);
    match op {
        Operation::Delete | Operation::Remove => {
            if exists {
                tree::remove(target, &path);
            } else if op == Operation::Delete {
                return Err(Error::application(
                    ErrorTag::DataMissing,
                    "the data to delete does not exist",
                )
                .with_path(path));
            }
            return Ok(());
        }
        Operation::Create
            if exists
            // An NP container always "exists" implicitly; only real data counts.
            && !(kind == SchemaNodeKind::Container && schema.is_np_container()) =>
        {
            return Err(Error::application(
                ErrorTag::DataExists,
                "the data to create already exists",
            )
            .with_path(path));
        }
        Operation::Replace if exists => tree::remove(target, &path),
        _ => {}
    }
    // A subtree without operations of its own is exactly libyang's merge: copy it
    // in one step instead of node by node.
    if matches!(
        op,
        Operation::Merge | Operation::Create | Operation::Replace
    ) && !has_nested_ops(node)
    {
        return tree::copy_into(target, node)
            .map_err(|e| Error::from_yang(&e, ErrorTag::InvalidValue).with_path(path));
    }
    if is_terminal(kind) {
        if op != Operation::None {
            let value = node.value_canonical();
            target
                .new_path(&path, value.as_deref(), false)
                .map_err(|e| {
                    Error::from_yang(&e, ErrorTag::InvalidValue).with_path(path.clone())
                })?;
        }
        return Ok(());
    }
    if op != Operation::None && !tree::exists(target, &path) {
        target
            .new_path(&path, None, false)
            .map_err(|e| Error::from_yang(&e, ErrorTag::InvalidValue).with_path(path.clone()))?;
    }
    // Children inherit this node's operation; list keys were set by the path.
    let child_op = if op == Operation::Replace {
        Operation::Merge
    } else {
        op
    };
    for child in node.children() {
        if child.schema().is_list_key() {
            continue;
        }
        if let Err(e) = apply_node(target, &child, child_op, continue_on_error, errors) {
            if !continue_on_error {
                return Err(e);
            }
            errors.push(e);
        }
    }
    Ok(())
}
