//! The README's "Feature dependencies" hold: features import one another in one direction,
//! with each exception named there.

use std::collections::BTreeSet;
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Modules below every feature: they import none.
const FOUNDATIONS: &[&str] = &[
    "auth",
    "cache",
    "clock",
    "config",
    "db",
    "error",
    "input",
    "mail",
    "pagination",
    "rate_limit",
    "spreadsheet",
    "telemetry",
];

/// Modules above every feature: they assemble the features and serve them.
const ASSEMBLY: &[&str] = &["app", "graphql", "http", "lib", "main", "server"];

/// Files of a feature that are its GraphQL tier: object types and resolvers, which link to
/// other features' types both ways as the graph does.
const GRAPHQL_TIER: &[&str] = &[
    "graphql.rs",
    "loader.rs",
    "subscription.rs",
    "edges.rs",
    "shared_answer.rs",
    "held.rs",
];

/// The feature order and the named exceptions, from the README section.
fn declared() -> (Vec<String>, BTreeSet<(String, String)>) {
    let readme = std::fs::read_to_string(format!("{ROOT}/README.md")).expect("README.md");
    let section = readme
        .split("\n## Feature dependencies\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README has a Feature dependencies section");
    let order_line = section
        .lines()
        .find(|line| line.contains(" → ") && !line.trim_start().starts_with('-'))
        .expect("the order line");
    let order = order_line.split(" → ").map(|f| f.trim().to_owned()).collect();
    let exceptions = section
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("- `"))
        .filter_map(|line| line.split_once('`').map(|(pair, _)| pair))
        .filter_map(|pair| pair.split_once(" → "))
        .map(|(from, to)| (from.to_owned(), to.to_owned()))
        .collect();
    (order, exceptions)
}

/// Every `crate::module::item` a file names outside comments, as (module, item).
fn imports(source: &str) -> Vec<(String, String)> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = Vec::new();
    for line in source.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (at, _) in line.match_indices("crate::") {
            let rest = &line[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let group = group.split('}').next().unwrap_or_default();
                for module in group.split(',') {
                    found.push((ident(module.trim()), String::new()));
                }
                continue;
            }
            let module = ident(rest);
            let after = &rest[module.len()..];
            if let Some(group) = after.strip_prefix("::{") {
                let group = group.split('}').next().unwrap_or_default();
                for item in group.split(',') {
                    found.push((module.clone(), ident(item.trim())));
                }
            } else if let Some(item) = after.strip_prefix("::") {
                found.push((module.clone(), ident(item)));
            } else {
                found.push((module.clone(), String::new()));
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A feature's data tier is its row structs and SQL.
fn is_data(item: &str) -> bool {
    matches!(item, "model" | "store")
}

#[test]
fn features_import_one_another_in_the_declared_direction() {
    let (order, exceptions) = declared();
    assert!(order.len() >= 10, "the order names the features: {order:?}");
    let rank = |feature: &str| order.iter().position(|f| f == feature);
    let mut files = Vec::new();
    rust_files(&Path::new(ROOT).join("src"), &mut files);

    let mut against = BTreeSet::new();
    let mut used_exceptions = BTreeSet::new();
    let mut data_links = BTreeSet::new();
    for path in &files {
        let relative = path.strip_prefix(Path::new(ROOT).join("src")).expect("under src");
        let top = Path::new(relative.iter().next().expect("a path"));
        let module = top.file_stem().expect("a name").to_string_lossy().into_owned();
        if rank(&module).is_none()
            && !FOUNDATIONS.contains(&module.as_str())
            && !ASSEMBLY.contains(&module.as_str())
        {
            against.insert(format!(
                "src/{}: {module} is neither in the feature order nor a foundation",
                relative.display()
            ));
        }
        let file = path.file_name().expect("a file").to_string_lossy().into_owned();
        let data_file =
            matches!(file.as_str(), "model.rs" | "store.rs") || relative.iter().any(|p| p == "store");
        let source = std::fs::read_to_string(path).expect("read");
        for (target, item) in imports(&source) {
            if target == module {
                continue;
            }
            let place = format!("src/{} imports crate::{target}::{item}", relative.display());
            if FOUNDATIONS.contains(&module.as_str()) {
                if rank(&target).is_some() {
                    against.insert(format!("{place}: foundations import no feature"));
                }
                continue;
            }
            let (Some(from), Some(to)) = (rank(&module), rank(&target)) else {
                continue;
            };
            if GRAPHQL_TIER.contains(&file.as_str()) {
                continue;
            }
            if data_file {
                data_links.insert((module.clone(), target.clone()));
            }
            if data_file && !is_data(&item) {
                against.insert(format!("{place}: a data tier imports only data tiers"));
            } else if !is_data(&item) && to > from {
                if exceptions.contains(&(module.clone(), target.clone())) {
                    used_exceptions.insert((module.clone(), target.clone()));
                } else {
                    against.insert(format!("{place}: {target} comes after {module}"));
                }
            }
        }
    }
    for (from, to) in &data_links {
        if data_links.contains(&(to.clone(), from.clone())) {
            against.insert(format!("the data tiers of {from} and {to} import each other"));
        }
    }
    assert!(
        against.is_empty(),
        "imports against the README's feature order:\n{against:#?}"
    );
    let unused: Vec<_> = exceptions.difference(&used_exceptions).collect();
    assert!(
        unused.is_empty(),
        "exceptions the README names that the code no longer has: {unused:?}"
    );
}
