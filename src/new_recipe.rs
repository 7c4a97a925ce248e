//! `serpent new NAME`: a recipe from the template, with its source's upstream URL, sha256 and
//! version filled in. The tarball comes from the store, a local file or a download.

use std::path::Path;

use crate::cli::Command;
use crate::error::{Error, Result};
use crate::fetch::Fetcher;
use crate::session::Session;

/// Where the new recipe's tarball comes from, as the command line says.
struct SourceOptions<'a> {
    url: Option<&'a str>,
    sha256: Option<&'a str>,
    file: Option<&'a Path>,
}

/// `serpent new NAME [--url URL] [--sha256 HASH] [--file PATH]`: the recipe written to
/// recipes/<stage>/<name>.rhai (or `--output`), with the stage's COMMON_DEPENDS.
pub fn new_recipe(session: &Session) -> Result<i32> {
    let Command::New {
        name,
        url,
        sha256,
        file,
        style,
        stage,
        output,
    } = &session.cli.command
    else {
        unreachable!("dispatched for new")
    };
    let config = &session.config;
    let options = SourceOptions {
        url: url.as_deref(),
        sha256: sha256.as_deref(),
        file: file.as_deref(),
    };
    let source = source(session, &options)?;
    let version = source
        .as_ref()
        .map_or_else(String::new, |(url, _)| version_of(name, url, options.file));
    let stage_dir = config.root.join("recipes").join(stage);
    let depends = if stage_dir.join("stage.rhai").is_file() {
        crate::stage::Stage::load(&session.scripts, &stage_dir)?.common_depends
    } else {
        Vec::new()
    };
    let source = source
        .as_ref()
        .map(|(url, sha)| (url.as_str(), sha.as_str()));
    let text = crate::template::recipe(name, &version, style, source, &depends);
    let path = output
        .clone()
        .unwrap_or_else(|| stage_dir.join(format!("{name}.rhai")));
    if path.exists() {
        return Err(Error::Usage(format!(
            "{} exists already; not overwriting it",
            path.display()
        )));
    }
    std::fs::write(&path, text).map_err(|error| Error::io("cannot write", &path, error))?;
    if !config.quiet {
        println!("wrote {}", path.display());
    }
    Ok(0)
}

/// The version from the URL's file name, else from the local file's.
fn version_of(name: &str, url: &str, file: Option<&Path>) -> String {
    let from_url = crate::template::version_from_url(name, url);
    match file {
        Some(file) if from_url.is_empty() => {
            crate::template::version_from_url(name, &file.to_string_lossy())
        }
        _ => from_url,
    }
}

/// The source's URL and sha256, with the file in the store: the local file imported, the
/// file of that hash fetched (store, mirrors, then the URL), or the file of that name the
/// store has, or else downloaded.
fn source(session: &Session, options: &SourceOptions) -> Result<Option<(String, String)>> {
    let Some(url) = options.url else {
        if options.sha256.is_some() || options.file.is_some() {
            return Err(Error::Usage(
                "--sha256 and --file need --url: the recipe names where its source comes from"
                    .into(),
            ));
        }
        return Ok(None);
    };
    if let Some(problem) = crate::recipe::url_problem(url) {
        return Err(Error::Usage(problem));
    }
    let fetcher = &session.fetcher;
    let sha256 = match (options.file, options.sha256) {
        (Some(file), expected) => imported(fetcher, file, expected)?,
        (None, Some(sha256)) => {
            fetcher.fetch(url, sha256)?;
            sha256.to_string()
        }
        (None, None) => match url.strip_prefix("file://") {
            Some(path) => fetcher.store().import(Path::new(path))?,
            None if session.config.offline => stored_by_name(fetcher, url)?,
            None => download_unverified(fetcher, url)?,
        },
    };
    Ok(Some((url.to_string(), sha256)))
}

/// A local file put into the store; with `--sha256`, it must have that hash.
fn imported(fetcher: &Fetcher, file: &Path, expected: Option<&str>) -> Result<String> {
    let sha256 = fetcher.store().import(file)?;
    match expected {
        Some(expected) if !expected.eq_ignore_ascii_case(&sha256) => Err(Error::Usage(format!(
            "{} has sha256 {sha256}, not the {expected} given with --sha256",
            file.display()
        ))),
        _ => Ok(sha256),
    }
}

/// Offline, the one file the store holds under the URL's file name.
fn stored_by_name(fetcher: &Fetcher, url: &str) -> Result<String> {
    let name = url.rsplit('/').next().unwrap_or(url);
    let mut hashes = fetcher.store().hashes_named(name);
    match hashes.len() {
        1 => Ok(hashes.remove(0)),
        0 => Err(Error::Usage(format!(
            "cannot download {url}: --offline is set and the store has no file named {name}; \
             give the file with --file PATH, or its hash with --sha256 HASH if the store or a \
             file:// mirror has it"
        ))),
        _ => Err(Error::Usage(format!(
            "the store has {} files named {name}: {}; say which with --sha256 HASH",
            hashes.len(),
            hashes.join(", ")
        ))),
    }
}

/// Downloads a file whose hash is not known yet and stores it by the hash it turns out to
/// have, which the new recipe then pins.
fn download_unverified(fetcher: &Fetcher, url: &str) -> Result<String> {
    let temp = tempfile::NamedTempFile::new()
        .map_err(|error| Error::io("cannot create", std::env::temp_dir(), error))?;
    let failed =
        |error: &dyn std::fmt::Display| Error::Usage(format!("cannot download {url}: {error}"));
    let mut response = reqwest::blocking::get(url)
        .and_then(|r| r.error_for_status())
        .map_err(|e| failed(&e))?;
    let mut file = temp.as_file();
    std::io::copy(&mut response, &mut file).map_err(|e| failed(&e))?;
    let sha256 = fetcher.store().import(temp.path())?;
    fetcher
        .store()
        .remember_name(url.rsplit('/').next().unwrap_or(url), &sha256);
    Ok(sha256)
}
