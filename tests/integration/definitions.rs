//! `serpent definitions DIR`: .d.rhai files for the Rhai language server, with every function
//! serpent registers, every stdlib function and every recipe declaration, each with its doc.

use std::path::Path;

use crate::test::{Test, REPO};

/// Every `.d.rhai` file written into `dir`, by file name.
fn definitions_in(dir: &Path) -> std::collections::BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect()
}

/// The definitions `serpent ARGS... DIR` writes for the repository's project.
fn written_by(args: &[&str]) -> std::collections::BTreeMap<String, String> {
    let mut test = Test::new();
    let dir = test.dir.path().join("definitions");
    test = test
        .args(["--root", REPO])
        .args(args.iter().copied())
        .args([dir.to_str().unwrap()]);
    test.run();
    definitions_in(&dir)
}

/// Whether `text` has `declaration` right after the whole doc comment `doc`.
fn documented(text: &str, doc: &[String], declaration: &str) -> bool {
    let block: String = doc.iter().map(|line| format!("{line}\n")).collect();
    text.contains(&format!("{block}{declaration}"))
}

#[test]
fn every_registered_function_is_defined_with_its_doc() {
    let files = written_by(&["definitions"]);
    let ctx = &files["__static__.d.rhai"];
    let scripts = serpent::scripts::Scripts::load(Path::new(REPO)).unwrap();
    let metadata: serde_json::Value =
        serde_json::from_str(&scripts.engine.gen_fn_metadata_to_json(false).unwrap()).unwrap();
    let functions = metadata["functions"].as_array().unwrap();
    assert!(functions.len() > 40, "{} functions", functions.len());
    for function in functions {
        let name = function["name"].as_str().unwrap();
        let doc: Vec<String> = function["docComments"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|block| block.as_str().unwrap().lines().map(str::to_string))
            .collect();
        assert!(!doc.is_empty(), "{name} has no doc comment");
        let declaration = match name.strip_prefix("get$") {
            Some(property) => format!("fn get {property}(ctx: Context)"),
            None => format!("fn {name}(ctx: Context"),
        };
        assert!(
            documented(ctx, &doc, &declaration),
            "{declaration} lacks {doc:?}\n{ctx}"
        );
    }
}

#[test]
fn every_stdlib_function_and_declaration_is_defined_with_its_doc() {
    let files = written_by(&["definitions"]);
    let make = &files["make.d.rhai"];
    assert!(make.starts_with("module make;\n"), "{make}");
    let install = "/// Phase: runs make install with DESTDIR and PREFIX, plus MAKE_INSTALL_ARGS.\n\
                   fn install(ctx: Context);";
    assert!(make.contains(install), "{make}");
    let scripts = serpent::scripts::Scripts::load(Path::new(REPO)).unwrap();
    for (name, module) in scripts.modules() {
        let text = &files[&format!("{name}.d.rhai")];
        for function in module.ast.iter_functions() {
            if function.access == rhai::FnAccess::Private || function.name.starts_with("anon$") {
                continue;
            }
            let doc: Vec<String> = function.comments.iter().map(|c| c.to_string()).collect();
            let declaration = format!("fn {}(", function.name);
            assert!(
                documented(text, &doc, &declaration),
                "{name}::{declaration} lacks {doc:?}\n{text}"
            );
        }
    }
    let declarations = &files["declarations.d.rhai"];
    for field in serpent::recipe::SCHEMA.fields {
        let constant = format!(
            "/// A recipe declaration: {}.\nconst {}: {};",
            field.doc,
            field.name,
            field.kind.rhai_type()
        );
        assert!(
            declarations.contains(&constant),
            "{constant}\n{declarations}"
        );
    }
}

#[test]
fn api_definitions_writes_the_same_files() {
    assert_eq!(
        written_by(&["api", "--definitions"]),
        written_by(&["definitions"])
    );
}
