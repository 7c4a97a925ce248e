//! LICENSE declarations: SPDX license expressions, checked against the SPDX license list (as
//! the `spdx` crate carries it) so that an SBOM's licenses mean to SPDX tools what the recipe
//! meant. A missing or malformed LICENSE is a warning, not an error: it stops no build.

use miette::{Diagnostic, NamedSource, SourceSpan};
use thiserror::Error as ThisError;

use crate::script::Script;

/// A recipe whose LICENSE is missing or is not a valid SPDX expression.
#[derive(Debug, ThisError, Diagnostic)]
#[error("{message}")]
#[diagnostic(code(serpent::license), severity(Warning))]
pub struct LicenseWarning {
    pub message: String,
    #[source_code]
    pub source_code: NamedSource<String>,
    #[label("{label}")]
    pub span: Option<SourceSpan>,
    pub label: String,
    #[help]
    pub help: Option<String>,
}

const HOW: &str = "LICENSE is an SPDX expression: license ids from the SPDX license list joined by AND, OR and WITH (an exception), e.g. \"GPL-2.0-only WITH Linux-syscall-note\" or \"MIT OR Apache-2.0\"; a license the list lacks is \"LicenseRef-<name>\"";

/// The warning for a recipe whose declared `license` is missing or invalid; `None` when it is
/// a valid SPDX expression.
pub fn warning(script: &Script, license: Option<&str>) -> Option<LicenseWarning> {
    let (source_name, text) = (script.name.as_str(), &*script.text);
    let Some(license) = license else {
        let span = script.locate("NAME", None);
        return Some(LicenseWarning {
            message: format!("{source_name}: no LICENSE"),
            source_code: NamedSource::new(source_name, text.to_string()),
            span,
            label: "this package".into(),
            help: Some(format!("declare the package's license, e.g. `const LICENSE = \"MIT\";`, so that `serpent sbom` can name it; {HOW}")),
        });
    };
    let error = spdx::Expression::parse(license).err()?;
    let term = license
        .get(error.span.clone())
        .filter(|term| !term.trim().is_empty())
        .unwrap_or(license);
    let help = match suggestion(license) {
        Some(fixed) => format!("did you mean \"{fixed}\"? {HOW}"),
        None => HOW.to_string(),
    };
    Some(LicenseWarning {
        message: format!(
            "{source_name}: LICENSE \"{license}\" is not a valid SPDX expression ({}: `{term}`)",
            error.reason
        ),
        source_code: NamedSource::new(source_name, text.to_string()),
        span: script.locate("LICENSE", Some(term)),
        label: error.reason.to_string(),
        help: Some(help),
    })
}

/// The expression the `spdx` crate reads a loosely written one as (`GPLv2+` for
/// `GPL-2.0-or-later`, `/` for OR, deprecated ids), when that reading is valid.
fn suggestion(license: &str) -> Option<String> {
    let fixed = spdx::Expression::canonicalize(license).ok()??;
    spdx::Expression::parse(&fixed).ok().map(|_| fixed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECIPE: &str = "const NAME = \"x\";\nconst VERSION = \"1\";\n";

    fn script(text: &str) -> Script {
        Script {
            name: "x.rhai".into(),
            path: "x.rhai".into(),
            text: text.into(),
            ast: rhai::Engine::new().compile(text).unwrap(),
        }
    }

    fn check(license: &str) -> Option<LicenseWarning> {
        let text = format!("{RECIPE}const LICENSE = \"{license}\";\n");
        warning(&script(&text), Some(license))
    }

    #[test]
    fn the_expressions_recipes_declare_are_valid() {
        for license in [
            "MIT",
            "Apache-2.0 WITH LLVM-exception",
            "GPL-2.0-only WITH Linux-syscall-note",
            "0BSD AND GPL-2.0-or-later AND LGPL-2.1-or-later",
            "(MIT OR Apache-2.0) AND Zlib",
            "LicenseRef-serpent-own",
        ] {
            assert!(check(license).is_none(), "{license}");
        }
    }

    #[test]
    fn unknown_ids_bad_syntax_and_deprecated_ids_are_warned_about() {
        let unknown = check("MIT AND Frobnicate-1.0").unwrap();
        assert!(
            unknown.message.contains("`Frobnicate-1.0`"),
            "{}",
            unknown.message
        );
        let text = unknown.source_code.inner();
        let span = unknown.span.unwrap();
        assert_eq!(
            &text[span.offset()..span.offset() + span.len()],
            "Frobnicate-1.0"
        );
        assert!(check("MIT AND").is_some());
        assert!(check("(MIT OR Zlib").is_some());
        assert!(check("MIT WITH Zlib").is_some());
        let deprecated = check("GPL-2.0+").unwrap();
        assert!(
            deprecated
                .help
                .unwrap()
                .contains("did you mean \"GPL-2.0-or-later\""),
            "{}",
            deprecated.message
        );
    }

    #[test]
    fn a_recipe_without_license_is_pointed_at_its_name() {
        let missing = warning(&script(RECIPE), None).unwrap();
        assert_eq!(missing.message, "x.rhai: no LICENSE");
        assert_eq!(missing.span.unwrap().offset(), "const ".len());
    }
}
