//! Entry points of the fuzz targets (`fuzz/`), also run over the seed corpus by
//! the unit tests so every CI run exercises them.
use std::sync::OnceLock;

use super::framing::{Decoder, Mode};
use crate::datastore::edit::{self, Operation};
use crate::datastore::filter::{self, Filter};
use crate::datastore::tree::{self, Tree};

/// Feeds bytes to both framings in uneven pieces: no panic, no message over the cap.
pub fn framing(data: &[u8]) {
    for mode in [Mode::EndOfMessage, Mode::Chunked] {
        let mut dec = Decoder::new(4096);
        dec.set_mode(mode);
        for piece in data.chunks(7) {
            dec.feed(piece);
            while let Ok(Some(m)) = dec.next_message() {
                assert!(m.len() <= 4096 + super::framing::EOM.len());
            }
        }
    }
}

struct World {
    ctx: &'static yang5::context::Context,
    base: Tree,
    modules: std::collections::HashMap<String, String>,
}

// SAFETY-free sharing: the context is immutable and the base tree only read.
fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let ctx = crate::schema::build(&[]).expect("schema");
        crate::schema::set_global(ctx);
        let base = crate::datastore::parse_instance(ctx, crate::appliance::FACTORY_CONFIG)
            .expect("factory");
        World {
            ctx,
            base,
            modules: crate::schema::namespaces(ctx),
        }
    })
}

/// An `<rpc>` as a client sends it: XML envelope, edit-config content applied to
/// the factory configuration, filters selected from it.
pub fn rpc(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(rpc) = crate::xml::parse(text) else {
        return;
    };
    let w = world();
    for op in rpc.elements() {
        if let Some(cfg) = op.nc_child("config")
            && let Ok(edit_tree) = tree::parse_config_xml(w.ctx, &cfg.children_xml())
            && let Ok(mut target) = tree::dup(&w.base)
        {
            let _ = edit::apply(&mut target, &edit_tree, Operation::Merge, true);
            let _ = crate::datastore::validate(&mut target);
        }
        if let Some(f) = op.nc_child("filter") {
            let filter = match f.attr("select") {
                Some(sel) => Filter::XPath {
                    select: sel.to_string(),
                    scope: f.scope.to_vec(),
                },
                None => Filter::Subtree(f.clone()),
            };
            let _ = filter::select(&w.base, &filter, &w.modules);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::seed_corpus as corpus;

    #[test]
    fn seed_corpus_framing() {
        for input in corpus("netconf_framing") {
            super::framing(&input);
        }
    }

    #[test]
    fn seed_corpus_rpc() {
        for input in corpus("netconf_rpc") {
            super::rpc(&input);
        }
    }
}
