//! Rhai definition files (`.d.rhai`) for editors: with them the Rhai language server completes
//! `ctx.`, the stdlib modules' functions and a recipe's declarations, and shows their docs.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use rhai::FnAccess;

use crate::error::{Error, Result};
use crate::scripts::{Scripts, StdlibModule};

/// `serpent definitions DIR` (and `serpent api --definitions DIR`): writes `__static__.d.rhai`
/// (the `ctx` API), `declarations.d.rhai` (NAME, VERSION, ...) and one file per stdlib module.
pub fn write_definitions(scripts: &Scripts, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|error| Error::io("cannot create", dir, error))?;
    let mut files: Vec<(String, String)> = scripts
        .engine
        .definitions()
        .include_standard_packages(false)
        .iter_files()
        .collect();
    files.push(("declarations.d.rhai".into(), declarations()));
    for (name, module) in scripts.modules() {
        files.push((format!("{name}.d.rhai"), module_definitions(&name, &module)));
    }
    let mut written = Vec::new();
    for (file_name, text) in files {
        let path = dir.join(file_name);
        std::fs::write(&path, text).map_err(|error| Error::io("cannot write", &path, error))?;
        written.push(path);
    }
    Ok(written)
}

/// `serpent definitions DIR`: the files written, one path per line.
pub fn print_definitions(scripts: &Scripts, dir: &Path) -> Result<i32> {
    for path in write_definitions(scripts, dir)? {
        println!("{}", path.display());
    }
    Ok(0)
}

/// A recipe's top-level declarations as global constants, each with its meaning as its doc.
fn declarations() -> String {
    let mut text = String::from("module static;\n");
    for field in crate::recipe::SCHEMA.fields {
        let _ = write!(
            text,
            "\n/// A recipe declaration: {}.\nconst {}: {};\n",
            field.doc,
            field.name,
            field.kind.rhai_type()
        );
    }
    text
}

/// By convention a parameter named `ctx` is the phase's `Context`; others are untyped.
fn parameter(name: &str) -> String {
    let kind = if name == "ctx" { "Context" } else { "?" };
    format!("{name}: {kind}")
}

/// A stdlib module's functions that scripts may call, with their `///` comments.
fn module_definitions(name: &str, module: &StdlibModule) -> String {
    let mut text = format!("module {name};\n");
    let mut functions: Vec<_> = module
        .ast
        .iter_functions()
        .filter(|function| {
            function.access != FnAccess::Private && !function.name.starts_with("anon$")
        })
        .collect();
    functions.sort_by_key(|function| (function.name, function.params.len()));
    for function in functions {
        text.push('\n');
        for comment in function.comments.iter() {
            let _ = writeln!(text, "{comment}");
        }
        let params: Vec<String> = function.params.iter().map(|p| parameter(p)).collect();
        let _ = writeln!(text, "fn {}({});", function.name, params.join(", "));
    }
    text
}
