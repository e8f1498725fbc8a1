//! Small safe helpers over libyang that the `yang5` bindings do not offer.
use std::ffi::CStr;

use yang5::context::Context;
use yang5::data::{Data, DataNodeRef, DataTree};
use yang5::ffi;
use yang5::utils::Binding;

pub type Tree = DataTree<'static>;

/// The node's data path (JSON-style prefixes, key predicates); no length limit.
pub fn path(node: &DataNodeRef<'_>) -> String {
    unsafe {
        let p = ffi::lyd_path(
            node.as_raw(),
            ffi::LYD_PATH_TYPE::LYD_PATH_STD,
            std::ptr::null_mut(),
            0,
        );
        if p.is_null() {
            return String::new();
        }
        let s = CStr::from_ptr(p).to_string_lossy().into_owned();
        libc::free(p as *mut libc::c_void);
        s
    }
}

/// The value of the descendant leaf at `rel` (names separated by `/`).
pub fn leaf(node: &DataNodeRef<'_>, rel: &str) -> Option<String> {
    let mut cur = node.clone();
    for name in rel.split('/') {
        cur = cur.children().find(|c| c.schema().name() == name)?;
    }
    cur.value_canonical()
}

/// The values of the descendant leaf-list (or leaves of a list) at `rel`.
pub fn leaves(node: &DataNodeRef<'_>, rel: &str) -> Vec<String> {
    let (parent, name) = match rel.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, rel),
    };
    let mut cur = node.clone();
    if let Some(p) = parent {
        for n in p.split('/') {
            match cur.children().find(|c| c.schema().name() == n) {
                Some(c) => cur = c,
                None => return Vec::new(),
            }
        }
    }
    cur.children()
        .filter(|c| c.schema().name() == name)
        .filter_map(|c| c.value_canonical())
        .collect()
}

/// An empty tree of the context.
pub fn empty(ctx: &'static Context) -> Tree {
    DataTree::new(ctx)
}

/// Copies `node` with its subtree and its ancestors into `target` (merging with what
/// is there). Metadata is not copied.
pub fn copy_into(target: &mut Tree, node: &DataNodeRef<'_>) -> Result<(), yang5::Error> {
    let ctx = target.context();
    unsafe {
        let mut dup = std::ptr::null_mut();
        let rc = ffi::lyd_dup_single(
            node.as_raw(),
            std::ptr::null_mut(),
            ffi::LYD_DUP_RECURSIVE
                | ffi::LYD_DUP_WITH_PARENTS
                | ffi::LYD_DUP_WITH_FLAGS
                | ffi::LYD_DUP_NO_META,
            &mut dup,
        );
        if rc != ffi::LY_ERR::LY_SUCCESS {
            return Err(yang5::Error::new(ctx));
        }
        let mut top = dup;
        while !(*top).parent.is_null() {
            top = (*top).parent;
        }
        let mut raw = std::mem::replace(target, DataTree::new(ctx)).into_raw();
        let rc = ffi::lyd_merge_tree(
            &mut raw,
            top,
            (ffi::LYD_MERGE_DESTRUCT | ffi::LYD_MERGE_WITH_FLAGS) as u16,
        );
        *target = DataTree::from_raw(ctx, raw);
        if rc != ffi::LY_ERR::LY_SUCCESS {
            return Err(yang5::Error::new(ctx));
        }
    }
    Ok(())
}

/// Whether a node of `tree` exists at `path` (libyang's own error is not left behind).
pub fn exists(tree: &Tree, path: &str) -> bool {
    find(tree, path).is_some()
}

pub fn find<'a>(tree: &'a Tree, path: &str) -> Option<DataNodeRef<'a>> {
    tree.reference()?;
    let cpath = std::ffi::CString::new(path).ok()?;
    unsafe {
        let mut out = std::ptr::null_mut();
        let rc = ffi::lyd_find_path(tree.raw(), cpath.as_ptr(), 0, &mut out);
        if rc != ffi::LY_ERR::LY_SUCCESS || out.is_null() {
            return None;
        }
        // lyd_find_path searches from the given node's siblings: the tree's first
        // top-level node is a sibling of every other top-level node.
        DataNodeRef::from_raw_opt(tree, out)
    }
}

/// The first node at or below the top of `tree` (in document order).
pub fn top_nodes<'a>(tree: &'a Tree) -> impl Iterator<Item = DataNodeRef<'a>> {
    tree.reference()
        .into_iter()
        .flat_map(|n| n.inclusive_siblings())
}

/// Parses XML configuration (a sequence of top-level elements) without validating.
pub fn parse_config_xml(ctx: &'static Context, xml: &str) -> Result<Tree, yang5::Error> {
    use yang5::data::{DataFormat, DataParserFlags, DataValidationFlags};
    if xml.trim().is_empty() {
        return Ok(DataTree::new(ctx));
    }
    DataTree::parse_string(
        ctx,
        xml,
        DataFormat::XML,
        DataParserFlags::NO_VALIDATION | DataParserFlags::STRICT | DataParserFlags::NO_STATE,
        DataValidationFlags::NO_STATE,
    )
}

/// Duplicates a whole tree.
pub fn dup(tree: &Tree) -> Result<Tree, crate::datastore::Error> {
    if tree.reference().is_none() {
        return Ok(DataTree::new(tree.context()));
    }
    tree.duplicate().map_err(|e| {
        crate::datastore::Error::from_yang(&e, crate::datastore::ErrorTag::OperationFailed)
    })
}

#[cfg(test)]
thread_local! {
    /// Makes the next prints of this thread fail, as libyang would when out of memory.
    pub static FAIL_PRINTS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Prints a tree; a libyang failure is an error, never an empty text.
pub fn print(
    tree: &Tree,
    format: yang5::data::DataFormat,
    flags: yang5::data::DataPrinterFlags,
) -> Result<String, crate::datastore::Error> {
    #[cfg(test)]
    if FAIL_PRINTS.with(|f| f.get()) {
        return Err(crate::datastore::Error::application(
            crate::datastore::ErrorTag::OperationFailed,
            "printing the data failed (forced by a test)",
        ));
    }
    if tree.reference().is_none() {
        return Ok(String::new());
    }
    tree.print_string(format, flags).map_err(|e| {
        crate::datastore::Error::from_yang(&e, crate::datastore::ErrorTag::OperationFailed)
    })
}

/// Frees the subtree at `node`, keeping `tree`'s top-level anchor valid.
pub fn remove(tree: &mut Tree, path: &str) {
    let _ = tree.remove(path);
}

/// Marks the node at `path` of an edit with its NETCONF operation
/// (`ietf-netconf:operation`, as an `operation` attribute would).
pub fn set_operation(
    edit: &Tree,
    path: &str,
    op: crate::datastore::edit::Operation,
) -> Result<(), crate::datastore::Error> {
    use crate::datastore::edit::Operation;
    use crate::datastore::{Error, ErrorTag};
    let Some(node) = find(edit, path) else {
        return Err(Error::protocol(
            ErrorTag::InvalidValue,
            "the message body does not hold the resource the URI names (are the key values the same?)",
        )
        .with_path(path));
    };
    let value = match op {
        Operation::Merge => "merge",
        Operation::Replace => "replace",
        Operation::Create => "create",
        Operation::Delete => "delete",
        Operation::Remove => "remove",
        Operation::None => "none",
    };
    let name = std::ffi::CString::new("ietf-netconf:operation").expect("no NUL");
    let value = std::ffi::CString::new(value).expect("no NUL");
    let rc = unsafe {
        ffi::lyd_new_meta(
            ctx_raw(edit.context()),
            node.as_raw(),
            std::ptr::null(),
            name.as_ptr(),
            value.as_ptr(),
            0,
            std::ptr::null_mut(),
        )
    };
    if rc != ffi::LY_ERR::LY_SUCCESS {
        return Err(Error::application(
            ErrorTag::OperationFailed,
            "cannot mark the edit's operation",
        ));
    }
    Ok(())
}

/// The raw libyang context (the bindings keep it private).
pub fn ctx_raw(ctx: &Context) -> *mut ffi::ly_ctx {
    let module = ctx
        .modules(false)
        .next()
        .expect("a context always has internal modules");
    unsafe { (*module.as_raw()).ctx }
}
