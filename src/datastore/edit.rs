//! RFC 6241 `<edit-config>` semantics (merge, replace, create, delete, remove, none)
//! applied from a parsed edit tree onto a target tree. libyang parses the edit and
//! validates the result; the operations themselves are ours.
use yang5::data::{Data, DataNodeRef};
use yang5::iter::NodeIterable;
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
        .any(|n| n.meta().any(|m| matches!(m.name(), "operation" | "insert")))
}

fn meta(node: &DataNodeRef<'_>, name: &str) -> Option<String> {
    node.meta()
        .find(|m| m.name() == name)
        .map(|m| m.value().to_string())
}

/// Moves a new entry of an ordered-by-user list or leaf-list where the edit's
/// `yang:insert` (first, last, before, after with `yang:key`/`yang:value`) says.
fn position(target: &mut Tree, node: &DataNodeRef<'_>, path: &str) -> Result<(), Error> {
    let schema = node.schema();
    if !schema.is_user_ordered() {
        return Ok(());
    }
    let Some(insert) = meta(node, "insert") else {
        return Ok(());
    };
    let parent = node.parent().map(|p| tree::path(&p)).unwrap_or_default();
    let instances = format!("{parent}/{}:{}", schema.module().name(), schema.name());
    let bad = |msg: &str| {
        Error::protocol(ErrorTag::BadAttribute, msg.to_string())
            .with_info("bad-attribute", "insert")
            .with_info("bad-element", schema.name())
    };
    let anchor_path = match insert.as_str() {
        "first" | "last" => None,
        "before" | "after" if schema.kind() == SchemaNodeKind::LeafList => {
            let v = meta(node, "value")
                .ok_or_else(|| bad("insert before/after needs a value attribute"))?;
            let q = if v.contains('\'') {
                format!("\"{v}\"")
            } else {
                format!("'{v}'")
            };
            Some(format!("{instances}[.={q}]"))
        }
        "before" | "after" => {
            let k = meta(node, "key")
                .ok_or_else(|| bad("insert before/after needs a key attribute"))?;
            Some(format!("{instances}{k}"))
        }
        _ => return Err(bad("insert is first, last, before or after")),
    };
    let me = tree::find(target, path).map(|n| n.as_raw());
    let anchor = match &anchor_path {
        Some(p) => tree::find(target, p).map(|n| n.as_raw()),
        None => {
            let all: Vec<_> = target
                .find_xpath(&instances)
                .map(|set| set.map(|n| n.as_raw()).collect())
                .unwrap_or_default();
            if insert == "first" {
                all.first().copied()
            } else {
                all.last().copied()
            }
        }
    };
    let Some(me) = me else { return Ok(()) };
    let Some(anchor) = anchor else {
        return Err(
            Error::application(ErrorTag::DataMissing, "the insert anchor does not exist")
                .with_app_tag("missing-instance")
                .with_path(path),
        );
    };
    if anchor == me {
        return Ok(());
    }
    let rc = unsafe {
        match insert.as_str() {
            "first" | "before" => yang5::ffi::lyd_insert_before(anchor, me),
            _ => yang5::ffi::lyd_insert_after(anchor, me),
        }
    };
    if rc != yang5::ffi::LY_ERR::LY_SUCCESS {
        return Err(
            Error::application(ErrorTag::OperationFailed, "cannot move the entry").with_path(path),
        );
    }
    Ok(())
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
        tree::copy_into(target, node)
            .map_err(|e| Error::from_yang(&e, ErrorTag::InvalidValue).with_path(path.clone()))?;
        return position(target, node, &path);
    }
    if is_terminal(kind) {
        if op != Operation::None {
            let value = node.value_canonical();
            target
                .new_path(&path, value.as_deref(), false)
                .map_err(|e| {
                    Error::from_yang(&e, ErrorTag::InvalidValue).with_path(path.clone())
                })?;
            position(target, node, &path)?;
        }
        return Ok(());
    }
    if op != Operation::None && !tree::exists(target, &path) {
        target
            .new_path(&path, None, false)
            .map_err(|e| Error::from_yang(&e, ErrorTag::InvalidValue).with_path(path.clone()))?;
        position(target, node, &path)?;
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
