//! A service depends on `census` alone: every item a census crate exports
//! from its root must be reachable through the facade, or a user meets a
//! public field whose type they cannot name (`Row::exemplars` was a
//! `Vec<Exemplar>` the facade did not export). This reads each crate's
//! `lib.rs` for the names it exports and looks for each among the
//! facade's exports.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// The crates the facade stands for (census-testkit is not published).
const CRATES: [&str; 7] = [
    "core",
    "stats",
    "pipeline",
    "exporter-http",
    "exporter-prometheus",
    "exporter-stdout",
    "tower",
];

/// The names a crate root exports: what its `pub use` statements bring in
/// (the last segment of each path, or its `as` name) and its own `pub`
/// items.
fn exported(root: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = root;
    while let Some(at) = rest.find("pub use ") {
        let tail = &rest[at + "pub use ".len()..];
        let end = tail.find(';').unwrap_or(tail.len());
        let statement = &tail[..end];
        let list = match (statement.find('{'), statement.rfind('}')) {
            (Some(open), Some(close)) if open < close => &statement[open + 1..close],
            _ => statement,
        };
        for item in list.split(',') {
            let item = item.trim();
            let name = match item.split_once(" as ") {
                Some((_, alias)) => alias.trim(),
                None => item.rsplit("::").next().unwrap_or(item).trim(),
            };
            if !name.is_empty() && name != "self" && name != "*" {
                names.insert(name.to_owned());
            }
        }
        rest = &tail[end..];
    }
    for line in root.lines() {
        for kind in [
            "pub fn ",
            "pub struct ",
            "pub enum ",
            "pub trait ",
            "pub const ",
            "pub mod ",
        ] {
            if let Some(tail) = line.strip_prefix(kind) {
                let name: String = tail
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                names.insert(name);
            }
        }
    }
    names
}

#[test]
fn every_crate_roots_export_is_named_by_the_facade() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
    let facade =
        exported(&fs::read_to_string(workspace.join("src/lib.rs")).expect("the facade's lib.rs"));
    let mut missing = Vec::new();
    for krate in CRATES {
        let path = workspace.join("crates").join(krate).join("src/lib.rs");
        let root = fs::read_to_string(&path).expect("a crate's lib.rs");
        let found = exported(&root);
        assert!(!found.is_empty(), "read no export from {}", path.display());
        missing.extend(
            found
                .into_iter()
                .filter(|name| !facade.contains(name))
                .map(|name| format!("census-{krate}: {name}")),
        );
    }
    assert!(
        missing.is_empty(),
        "exported by a census crate but not by the facade (src/lib.rs): {missing:?}"
    );
}
