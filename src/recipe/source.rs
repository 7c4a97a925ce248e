//! The SOURCES declaration: each entry checked and read into a [`Source`].

use rhai::{Dynamic, Map};

use super::{is_sha256, Problems};
use crate::suggest::closest;

const SOURCE_KEYS: [&str; 6] = ["url", "sha256", "dest", "strip", "only", "unpack"];

/// One upstream file a recipe needs.
#[derive(Debug, Clone)]
pub struct Source {
    pub url: String,
    pub sha256: String,
    /// Where to unpack it, relative to the source tree ("" is the tree itself).
    pub dest: String,
    pub strip: usize,
    pub only: Vec<String>,
    pub unpack: bool,
    /// Where the recipe declares it, `file:line:column`, for errors about it.
    pub declared_at: String,
}

impl Source {
    /// The source as the fetcher names it in errors: its hash and where it is declared.
    pub fn declared(&self) -> (&str, &str) {
        (&self.sha256, &self.declared_at)
    }

    pub fn file_name(&self) -> &str {
        self.url.rsplit('/').next().unwrap_or(&self.url)
    }
}

/// Checks a URL's form: a supported scheme and a file name at the end.
pub fn url_problem(url: &str) -> Option<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Some(format!(
            "`{url}` is not a URL (expected https://host/path/file)"
        ));
    };
    if !["http", "https", "file"].contains(&scheme) {
        return Some(format!(
            "`{url}` uses the scheme `{scheme}`; serpent fetches http, https and file URLs"
        ));
    }
    if scheme != "file" && rest.split('/').next().is_none_or(str::is_empty) {
        return Some(format!("`{url}` has no host"));
    }
    if rest.ends_with('/') || !rest.contains('/') {
        return Some(format!("`{url}` does not end in a file name"));
    }
    if url.contains(char::is_whitespace) {
        return Some(format!("`{url}` contains white space"));
    }
    None
}

/// The recipe's SOURCES, every entry read even after a bad one so that one run reports all
/// of their problems.
pub(super) fn read_sources(declarations: &Map, problems: &mut Problems) -> Vec<Source> {
    let items = declarations["sources"]
        .clone()
        .into_array()
        .unwrap_or_default();
    let mut sources = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let Some(map) = item.try_cast::<Map>() else {
            problems.add(
                "SOURCES",
                None,
                format!("SOURCES[{index}] must be a map like #{{ url: \"...\", sha256: \"...\" }}"),
                None,
            );
            continue;
        };
        sources.push(read_source(index, &map, problems));
    }
    sources
}

/// One SOURCES entry; a bad field is reported and given its default, so the entry's other
/// fields are still checked.
fn read_source(index: usize, map: &Map, problems: &mut Problems) -> Source {
    check_keys(index, map, problems);
    let text = |key: &str| map.get(key).map(|value| value.to_string());
    let url = text("url").unwrap_or_default();
    let sha256 = text("sha256").unwrap_or_default();
    check_url(index, &url, problems);
    check_sha256(index, &url, &sha256, problems);
    let strip = read_strip(index, map, problems);
    let unpack = read_unpack(index, map, problems);
    let only = read_only(map);
    let dest = text("dest").unwrap_or_default();
    check_dest(index, &dest, problems);
    // The hash is the part most often written out literally (URLs interpolate VERSION).
    let declared_at = problems.place("SOURCES", &sha256);
    Source {
        url,
        sha256,
        dest,
        strip,
        only,
        unpack,
        declared_at,
    }
}

/// A misspelt key would otherwise be ignored silently and its setting lost.
fn check_keys(index: usize, map: &Map, problems: &mut Problems) {
    for key in map.keys() {
        if !SOURCE_KEYS.contains(&key.as_str()) {
            let help = closest(key, &SOURCE_KEYS)
                .map(|guess| format!("did you mean `{guess}`?"))
                .unwrap_or_else(|| format!("known keys: {}", SOURCE_KEYS.join(", ")));
            problems.add(
                "SOURCES",
                Some(key),
                format!("SOURCES[{index}] has an unknown key `{key}`"),
                Some(help),
            );
        }
    }
}

/// A URL that cannot be fetched is found here, when the recipe is read, not at fetch time.
fn check_url(index: usize, url: &str, problems: &mut Problems) {
    if url.is_empty() {
        problems.add(
            "SOURCES",
            None,
            format!("SOURCES[{index}] has no url"),
            None,
        );
    } else if let Some(problem) = url_problem(url) {
        problems.add(
            "SOURCES",
            Some(url),
            format!("SOURCES[{index}]: {problem}"),
            None,
        );
    }
}

/// Every download is verified against its hash, so a source without a well-formed one could
/// never be used.
fn check_sha256(index: usize, url: &str, sha256: &str, problems: &mut Problems) {
    if sha256.is_empty() {
        problems.add(
            "SOURCES",
            Some(url),
            format!("SOURCES[{index}] has no sha256"),
            Some(
                "every source needs `sha256: \"<64 hex digits>\"`; `sha256sum FILE` prints it"
                    .into(),
            ),
        );
    } else if !is_sha256(sha256) {
        problems.add(
            "SOURCES",
            Some(sha256),
            format!("SOURCES[{index}]: sha256 `{sha256}` is not 64 lower-case hex digits"),
            Some("`sha256sum FILE` prints the right value".into()),
        );
    }
}

/// How many leading path components to drop when unpacking; 1 by default, since most
/// tarballs hold one top folder.
fn read_strip(index: usize, map: &Map, problems: &mut Problems) -> usize {
    match map.get("strip").map(Dynamic::as_int) {
        None => 1,
        Some(Ok(strip)) if strip >= 0 => strip as usize,
        Some(_) => {
            problems.add(
                "SOURCES",
                Some("strip"),
                format!("SOURCES[{index}]: strip must be a number"),
                None,
            );
            1
        }
    }
}

/// Whether to unpack the file or place it as it is; archives are the common case.
fn read_unpack(index: usize, map: &Map, problems: &mut Problems) -> bool {
    match map.get("unpack").map(Dynamic::as_bool) {
        None => true,
        Some(Ok(unpack)) => unpack,
        Some(Err(_)) => {
            problems.add(
                "SOURCES",
                Some("unpack"),
                format!("SOURCES[{index}]: unpack must be true or false"),
                None,
            );
            true
        }
    }
}

/// The paths to take from the archive; none named means all of it.
fn read_only(map: &Map) -> Vec<String> {
    map.get("only")
        .and_then(|value| value.clone().into_array().ok())
        .unwrap_or_default()
        .iter()
        .map(|path| path.to_string())
        .collect()
}

/// A source must not unpack outside the tree it is built in.
fn check_dest(index: usize, dest: &str, problems: &mut Problems) {
    if dest.starts_with('/') || dest.split('/').any(|part| part == "..") {
        problems.add(
            "SOURCES",
            Some(dest),
            format!("SOURCES[{index}]: dest must be a relative path inside the source tree"),
            None,
        );
    }
}
