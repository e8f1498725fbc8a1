//! Embeds every YANG module under `yang/` (ours and the standard ones) in the binary,
//! so the daemon never depends on files on the target's disk.
use std::{env, fs, path::Path};

fn main() {
    let mut entries = Vec::new();
    for dir in ["yang", "yang/ietf", "yang/iana"] {
        println!("cargo:rerun-if-changed={dir}");
        let Ok(read) = fs::read_dir(dir) else {
            continue;
        };
        for entry in read.flatten() {
            let path = entry.path();
            let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
                continue;
            };
            let Some(stem) = file.strip_suffix(".yang") else {
                continue;
            };
            let (name, rev) = match stem.split_once('@') {
                Some((n, r)) => (n.to_string(), Some(r.to_string())),
                None => (stem.to_string(), None),
            };
            let abs = fs::canonicalize(&path).unwrap();
            let text = fs::read_to_string(&path).unwrap();
            // A submodule is found by libyang through the module it belongs to.
            let belongs_to = text.trim_start().starts_with("submodule").then(|| {
                let at = text
                    .find("belongs-to")
                    .expect("submodule without belongs-to");
                text[at + 10..]
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .trim_matches(['{', '"', ';'])
                    .to_string()
            });
            entries.push((name, rev, belongs_to, abs.display().to_string()));
        }
    }
    entries.sort();
    let mut out = String::from(
        "/// (name, revision, belongs-to module for submodules, text)\n\
         pub static EMBEDDED: &[(&str, Option<&str>, Option<&str>, &str)] = &[\n",
    );
    for (name, rev, belongs_to, path) in entries {
        out.push_str(&format!(
            "    ({name:?}, {rev:?}, {belongs_to:?}, include_str!({path:?})),\n"
        ));
    }
    out.push_str("];\n");
    let dest = Path::new(&env::var("OUT_DIR").unwrap()).join("embedded_yang.rs");
    fs::write(dest, out).unwrap();
}
