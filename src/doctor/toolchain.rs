//! The quick path's toolchain: when the spin's stage1 links the host's clang and lld in (the
//! host-llvm overlay's llvm recipe), the same clang its recipe finds, at the version and with
//! the programs the recipe itself asks for.

use std::path::{Path, PathBuf};

use rhai::{Array, Scope, AST};

use super::Check;
use crate::project::Project;
use crate::scripts::Scripts;

const FIX: &str = "apt-get install clang lld llvm (one version, on PATH as clang)";

/// Nothing when the spin's stage1 builds LLVM from source.
pub fn quick_toolchain(scripts: &Scripts, project: &Project) -> Vec<Check> {
    let Some(path) = project.find("stage1/llvm.rhai") else {
        return Vec::new();
    };
    let Ok(script) = scripts.compile(&path) else {
        return Vec::new();
    };
    let ast = script.ast;
    let (Some(oldest), Some(programs)) = (
        call::<i64>(scripts, &ast, "oldest_major"),
        call::<Array>(scripts, &ast, "programs"),
    ) else {
        return Vec::new();
    };
    let Some(clang) = on_path("clang") else {
        let found = "not on PATH; the quick stage1 uses the host's clang and lld";
        return vec![Check::missing("clang", found, FIX)];
    };
    let clang = std::fs::canonicalize(&clang).unwrap_or(clang);
    let version = std::process::Command::new(&clang)
        .arg("-dumpversion")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .unwrap_or_default();
    let major: i64 = version.split('.').next().unwrap_or("").parse().unwrap_or(0);
    let found = format!("{version} at {}", clang.display());
    if major < oldest {
        let fix = format!("install clang {oldest} or newer, with lld and llvm of the same version");
        return vec![Check::missing("clang", found, fix)];
    }
    let dir = clang.parent().unwrap_or(Path::new("/"));
    let absent: Vec<String> = programs
        .iter()
        .map(|program| program.to_string())
        .filter(|program| !dir.join(program).exists())
        .collect();
    let tools = if absent.is_empty() {
        Check::ok(
            "lld and LLVM tools",
            format!("all {} next to clang", programs.len()),
        )
    } else {
        let found = format!("{} has no {}", dir.display(), absent.join(", "));
        Check::missing("lld and LLVM tools", found, FIX)
    };
    vec![Check::ok("clang", found), tools]
}

fn call<T: Clone + Send + Sync + 'static>(scripts: &Scripts, ast: &AST, name: &str) -> Option<T> {
    scripts
        .engine
        .call_fn::<T>(&mut Scope::new(), ast, name, ())
        .ok()
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}
