/// The text of a new recipe. `source` is the URL and sha256 of its tarball, when known.
/// `depends` are the stage's COMMON_DEPENDS.
pub fn recipe(
    name: &str,
    version: &str,
    style: &str,
    source: Option<(&str, &str)>,
    depends: &[String],
) -> String {
    let sources = match source {
        Some((url, sha256)) => {
            let url = if version.is_empty() { url.to_string() } else { url.replace(version, "${VERSION}") };
            format!("[\n    #{{ url: `{url}`, sha256: \"{sha256}\" }},\n]")
        }
        None => "[\n    // #{ url: `https://example.org/pkg-${VERSION}.tar.xz`, sha256: \"<sha256sum of the file>\" },\n]".to_string(),
    };
    let version = if version.is_empty() { "0.1" } else { version };
    let depends: Vec<String> = depends.iter().map(|name| format!("{name:?}")).collect();
    let depends = depends.join(", ");
    let args = match style {
        "cmake" => "const CMAKE_ARGS = [];\n",
        "meson" => "const MESON_ARGS = [];\n",
        "make" => "const MAKE_ARGS = [];\n",
        _ => "const CONFIGURE_ARGS = [];\n",
    };
    format!(
        "// {name}: built with the {style} style from stdlib/{style}.rhai.\n\
         // Define fn setup(ctx), build(ctx), check(ctx) or install(ctx) to replace a phase.\n\
         \n\
         const NAME = \"{name}\";\n\
         const VERSION = \"{version}\";\n\
         const SOURCES = {sources};\n\
         const DEPENDS = [{depends}];\n\
         const STYLE = \"{style}\";\n\
         {args}"
    )
}

/// Guesses the version from a tarball name such as `zlib-1.3.1.tar.xz`.
pub fn version_from_url(name: &str, url: &str) -> String {
    let file = url.rsplit('/').next().unwrap_or(url);
    let stem = file
        .trim_end_matches(".tar.gz")
        .trim_end_matches(".tar.xz")
        .trim_end_matches(".tar.bz2")
        .trim_end_matches(".tar.zst")
        .trim_end_matches(".tgz")
        .trim_end_matches(".tar");
    let rest = stem.strip_prefix(name).unwrap_or(stem);
    let rest = rest.trim_start_matches(['-', '_', 'v']);
    // Debian names its copy of upstream's tarball NAME_VERSION.orig.tar.gz, and a repack of
    // it VERSION+dfsg or +ds: neither suffix is part of upstream's version.
    let rest = rest.split(".orig").next().unwrap_or(rest);
    let rest = rest
        .split_once("+dfsg")
        .or_else(|| rest.split_once("+ds"))
        .map_or(rest, |(version, _)| version);
    if rest.starts_with(|c: char| c.is_ascii_digit()) {
        rest.to_string()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::version_from_url;

    #[test]
    fn versions_come_from_upstream_and_debian_file_names() {
        let cases = [
            ("zlib", "https://zlib.net/zlib-1.3.1.tar.xz", "1.3.1"),
            ("lz4", "file:///src/lz4_1.9.4.orig.tar.gz", "1.9.4"),
            ("lz4", "/src/lz4_1.9.4.orig-doc.tar.gz", "1.9.4"),
            (
                "tcc",
                "tcc_0.9.27+git20200814.62c30a4a.orig.tar.bz2",
                "0.9.27+git20200814.62c30a4a",
            ),
            ("unzip", "unzip_6.0+dfsg1.orig.tar.xz", "6.0"),
            ("foo", "https://host/download?id=7", ""),
        ];
        for (name, url, version) in cases {
            assert_eq!(version_from_url(name, url), version, "{url}");
        }
    }
}
