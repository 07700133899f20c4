//! The module layering of ARCHITECTURE.md, checked on the source: every `crate::` path in
//! `src/` may only name a module of a lower layer (or its own module).
//!
//! ```text
//! model, secret, shutdown  ←  config, telemetry  ←  collect, sli, store, export  ←  web  ←  app
//! ```
//!
//! Modules of one layer may use each other (the SLI engine reads the store); nothing may
//! reach up, so there are no cycles between layers. Comments are not scanned: a doc line
//! may name a consumer. `lib.rs` and `main.rs` sit above everything.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layer of each top-level module (and of the crate-root macros, by their module).
fn layer(module: &str) -> Option<u8> {
    Some(match module {
        "model" | "secret" | "shutdown" => 0,
        "config" | "telemetry" => 1,
        "collect" | "sli" | "store" | "export" => 2,
        // `on_pool!` is exported at the crate root by `store`.
        "on_pool" => 2,
        // The metric catalogue gathers the descriptor lists of layer 2.
        "web" | "metrics" | "alert" | "notify" | "cli" => 3,
        "app" => 4,
        _ => return None,
    })
}

/// The top-level module a file under `src/` belongs to (`src/config/validate/sli.rs` →
/// `config`); `None` for `lib.rs` and `main.rs`.
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_string())
}

/// The code of `text` without `//` comments (line and doc comments; string literals that
/// contain `//` keep what precedes it, which is enough for `crate::` paths).
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::<name>` in `code`, with its byte offset; a group
/// `crate::{model::Kind, sli}` (also over several lines) gives each of its first names.
fn crate_paths(code: &str) -> Vec<(usize, &str)> {
    let ident_end = |s: &str| {
        s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len())
    };
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = code[from..].find("crate::") {
        let at = from + found;
        let start = at + "crate::".len();
        // `fedimeter_crate::` or `$crate::` are not ours.
        let before = code[..at].chars().next_back();
        let ours = !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
        let after = &code[start..];
        if ours && after.starts_with('{') {
            let close = after.find('}').unwrap_or(after.len());
            let mut offset = start + 1;
            for item in after[1..close].split(',') {
                let trimmed = item.trim_start();
                let name = &trimmed[..ident_end(trimmed)];
                if !name.is_empty() {
                    out.push((offset + (item.len() - trimmed.len()), name));
                }
                offset += item.len() + 1;
            }
            from = start + close;
        } else {
            let end = ident_end(after);
            if ours {
                out.push((at, &after[..end]));
            }
            from = start + end;
        }
    }
    out
}

/// Upward imports in one file's text, as `line: module -> target`.
fn violations(module: &str, text: &str) -> Vec<String> {
    let Some(own) = layer(module) else {
        return vec![format!("module {module} has no layer: add it to layer()")];
    };
    let code = strip_comments(text);
    let mut out = Vec::new();
    for (offset, target) in crate_paths(&code) {
        if target == module || target.is_empty() {
            continue;
        }
        let line = code[..offset].matches('\n').count() + 1;
        match layer(target) {
            Some(l) if l > own => out.push(format!(
                "{line}: {module} (layer {own}) uses crate::{target} (layer {l})"
            )),
            Some(_) => {}
            None => out.push(format!("{line}: crate::{target} has no layer")),
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_imports_a_higher_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut modules = BTreeSet::new();
    let mut problems = Vec::new();
    for path in &files {
        let relative = path.strip_prefix(&src).expect("under src");
        let Some(module) = module_of(relative) else {
            continue;
        };
        modules.insert(module.clone());
        let text = std::fs::read_to_string(path).expect("readable source");
        for v in violations(&module, &text) {
            problems.push(format!("src/{}:{v}", relative.display()));
        }
    }
    assert!(
        problems.is_empty(),
        "upward imports:\n{}",
        problems.join("\n")
    );
    // The scan saw the modules of the layering (a moved `src/` would otherwise pass).
    for m in [
        "model", "secret", "config", "collect", "sli", "store", "export", "web", "app",
    ] {
        assert!(modules.contains(m), "no files of module {m} under src/");
    }
}

#[test]
fn the_scanner_finds_upward_imports_and_ignores_comments() {
    let text = "use crate::model::Kind;\n\
                use crate::sli::Component; // a real one\n\
                /// see [`crate::web::router`]\n\
                let x = crate::config::Config::default();\n\
                let y = fedimeter_crate::web::x; $crate::app::run();\n\
                crate::store::unix_ms(t) + crate::on_pool!(p)\n\
                use crate::{model::Kind, web};\n\
                use crate::{\n    model,\n    app::run,\n};\n";
    assert_eq!(
        violations("config", text),
        [
            "2: config (layer 1) uses crate::sli (layer 2)",
            "6: config (layer 1) uses crate::store (layer 2)",
            "6: config (layer 1) uses crate::on_pool (layer 2)",
            "7: config (layer 1) uses crate::web (layer 3)",
            "10: config (layer 1) uses crate::app (layer 4)",
        ]
    );
    assert_eq!(
        violations("app", text),
        Vec::<String>::new(),
        "app may use every lower layer"
    );
    assert_eq!(
        violations(
            "model",
            "use crate::secret::Secret;\nuse crate::config::Config;\n"
        ),
        ["2: model (layer 0) uses crate::config (layer 1)"]
    );
    assert_eq!(
        module_of(Path::new("config/validate/sli.rs")).as_deref(),
        Some("config")
    );
    assert_eq!(module_of(Path::new("secret.rs")).as_deref(), Some("secret"));
    assert_eq!(module_of(Path::new("main.rs")), None);
}
