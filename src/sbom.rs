//! `serpent sbom`: an SPDX 2.3 JSON document of what the work dir's records say is built.
//! Every built recipe instance is a package (its version as recorded, its declared LICENSE);
//! each source tarball is a package of its own, with its URL and sha256, that the instance is
//! GENERATED_FROM; patches and the files a recipe carries are SPDX files; DEPENDS become
//! DEPENDS_ON and the previous stage's packages, which a stage's builds run on, are each a
//! BUILD_DEPENDENCY_OF them. Only a selection whose every record matches its inputs is
//! described, so that the recipes read now are the ones that were built.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::plan::{Instance, Plan, Status};
use crate::record::Record;
use crate::session::Session;

/// `serpent sbom [STAGE...] [--output FILE]`: the SBOM of the named stages (all when none are
/// named) and what they were built from, for the spin's targets or `--target`.
pub fn command(session: &Session, stages: &[String], output: Option<&Path>) -> Result<i32> {
    let plan = session.plan(None)?;
    let roots = plan.instances_of_stages(stages)?;
    if roots.is_empty() {
        return Err(Error::Usage(format!(
            "nothing to describe: {} of the spin `{}` has no package",
            named(stages),
            plan.spin.name
        )));
    }
    let selection = plan.closure(&roots);
    refuse_unbuilt(&plan, &selection, stages)?;
    let document = SpdxDocument::new(&plan).describe(&roots, &selection, &created())?;
    let text = serde_json::to_string_pretty(&document).expect("a document serializes") + "\n";
    match output {
        Some(path) => {
            std::fs::write(path, text).map_err(|error| Error::io("cannot write", path, error))?
        }
        None => print!("{text}"),
    }
    Ok(0)
}

/// The stages a command line names, for messages: `stage1, stage2`, or the whole spin.
fn named(stages: &[String]) -> String {
    if stages.is_empty() {
        "the spin".to_string()
    } else {
        stages.join(", ")
    }
}

/// An SBOM of packages that are not built, or were built from other inputs, would describe
/// something that does not exist: refused, naming them and the build that makes them.
fn refuse_unbuilt(plan: &Plan, selection: &[usize], stages: &[String]) -> Result<()> {
    let unbuilt: Vec<String> = selection
        .iter()
        .map(|index| &plan.instances[*index])
        .filter(|instance| instance.status != Status::Built)
        .map(|instance| match instance.status {
            Status::Stale => format!("{} (built from other inputs)", instance.id),
            _ => format!("{} (never built)", instance.id),
        })
        .collect();
    if unbuilt.is_empty() {
        return Ok(());
    }
    const SHOWN: usize = 8;
    let more = match unbuilt.len().saturating_sub(SHOWN) {
        0 => String::new(),
        rest => format!(" and {rest} more"),
    };
    let target = match plan.targets.as_slice() {
        [only] => format!(" --target {}", only.name),
        _ => String::new(),
    };
    let arguments: String = stages.iter().map(|stage| format!(" {stage}")).collect();
    Err(Error::Usage(format!(
        "cannot write an SBOM of {}: {} package(s) it needs are not built with their current inputs: {}{more}; run `serpent build{arguments}{target}` first",
        named(stages),
        unbuilt.len(),
        unbuilt[..unbuilt.len().min(SHOWN)].join(", "),
    )))
}

/// When the document was made: `SOURCE_DATE_EPOCH` when set, so that the same build gives the
/// same document, else now.
fn created() -> String {
    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|text| text.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_secs() as i64)
        });
    utc(seconds)
}

/// `YYYY-MM-DDThh:mm:ssZ`, the form SPDX wants, from seconds since 1970 (days to a civil
/// date by Howard Hinnant's algorithm).
fn utc(seconds: i64) -> String {
    let (days, time) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        time / 3600,
        time % 3600 / 60,
        time % 60
    )
}

/// The document as it is assembled: SPDX ids handed out once each, sources and files shared
/// by several instances described once.
struct SpdxDocument<'a> {
    plan: &'a Plan,
    ids: BTreeSet<String>,
    packages: Vec<Value>,
    files: Vec<Value>,
    relationships: Vec<Value>,
    /// Source packages by sha256, and SPDX files by path, so that each is described once.
    described: BTreeMap<String, String>,
    license_refs: BTreeSet<String>,
}

impl<'a> SpdxDocument<'a> {
    fn new(plan: &'a Plan) -> SpdxDocument<'a> {
        SpdxDocument {
            plan,
            ids: BTreeSet::new(),
            packages: Vec::new(),
            files: Vec::new(),
            relationships: Vec::new(),
            described: BTreeMap::new(),
            license_refs: BTreeSet::new(),
        }
    }

    /// The document describing `roots`, with everything of `selection` (their closure).
    fn describe(mut self, roots: &[usize], selection: &[usize], created: &str) -> Result<Value> {
        let mut package_ids = BTreeMap::new();
        for index in selection {
            let id = self.instance(&self.plan.instances[*index])?;
            package_ids.insert(*index, id);
        }
        for index in roots {
            self.relate("SPDXRef-DOCUMENT", "DESCRIBES", &package_ids[index]);
        }
        for index in selection {
            self.dependencies(*index, &package_ids);
        }
        let keys: Vec<&str> = selection
            .iter()
            .map(|index| self.plan.instances[*index].key.as_str())
            .collect();
        let digest = crate::digest::sha256(format!("{created} {}", keys.join(" ")).as_bytes());
        let spin = &self.plan.spin.name;
        let license_list = spdx::identifiers::VERSION
            .rsplit_once('.')
            .map_or(spdx::identifiers::VERSION, |(major_minor, _)| major_minor);
        let mut document = json!({
            "spdxVersion": "SPDX-2.3",
            "dataLicense": "CC0-1.0",
            "SPDXID": "SPDXRef-DOCUMENT",
            "name": format!("serpent spin {spin}"),
            "documentNamespace": format!("urn:serpent:sbom:{}:{digest}", id_part(spin)),
            "creationInfo": {
                "created": created,
                "creators": [format!("Tool: serpent-{}", env!("CARGO_PKG_VERSION"))],
                "licenseListVersion": license_list,
            },
            "packages": self.packages,
            "relationships": self.relationships,
        });
        if !self.files.is_empty() {
            document["files"] = Value::Array(self.files);
        }
        if !self.license_refs.is_empty() {
            document["hasExtractedLicensingInfos"] = self
                .license_refs
                .iter()
                .map(|license| json!({
                    "licenseId": license,
                    "extractedText": format!("{license}: a license outside the SPDX license list, named by the recipes that declare it; its text is not part of this document"),
                }))
                .collect();
        }
        Ok(document)
    }

    /// An SPDX id that no other element of the document has, made of `parts`.
    fn new_id(&mut self, parts: &str) -> String {
        let base = format!("SPDXRef-{}", id_part(parts));
        let mut id = base.clone();
        let mut next = 2;
        while !self.ids.insert(id.clone()) {
            id = format!("{base}-{next}");
            next += 1;
        }
        id
    }

    fn relate(&mut self, element: &str, kind: &str, related: &str) {
        self.relationships.push(json!({
            "spdxElementId": element,
            "relationshipType": kind,
            "relatedSpdxElement": related,
        }));
    }
}

/// Text as the characters an SPDX id may hold (letters, digits, `.` and `-`).
fn id_part(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

impl SpdxDocument<'_> {
    /// The package of one built instance, with its sources, patches and files; returns its id.
    fn instance(&mut self, instance: &Instance) -> Result<String> {
        let plan = self.plan;
        let recipe = plan.recipe_of(instance);
        let record = Record::read(&instance.layout.record()).ok_or_else(|| {
            Error::Usage(format!(
                "the record of {} at {} cannot be read: build it again",
                instance.id,
                instance.layout.record().display()
            ))
        })?;
        let id = self.new_id(&format!("Package-{}", instance.id));
        let target = &plan.targets[instance.target].name;
        let stage = &plan.stages[instance.stage].name;
        let mut origin: Vec<String> = recipe
            .sources
            .iter()
            .map(|source| source.url.clone())
            .collect();
        origin.extend(
            recipe
                .files
                .iter()
                .map(|file| format!("{} (the recipe's file)", file.name)),
        );
        let mut package = json!({
            "SPDXID": id,
            "name": recipe.name,
            "versionInfo": record.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": self.license(recipe.license.as_deref()),
            "copyrightText": "NOASSERTION",
            "sourceInfo": format!(
                "built by serpent for {target} in {stage} from {}{}",
                if origin.is_empty() { "its recipe alone".to_string() } else { origin.join(", ") },
                patches_applied(recipe),
            ),
            "comment": format!(
                "serpent instance {}, recipe {}, key {}, package files hash {}",
                instance.id,
                recipe.script.name,
                record.key,
                record.output.as_deref().unwrap_or("unrecorded"),
            ),
        });
        describe_text(&mut package, recipe);
        self.packages.push(package);
        for source in &recipe.sources {
            let source_id = self.source(source, recipe);
            self.relate(&id, "GENERATED_FROM", &source_id);
        }
        for patch in &recipe.patches {
            let patch_id = self.file(
                &patch.path,
                "Patch",
                format!("applied with -p{}", patch.strip),
            )?;
            self.relate(&patch_id, "PATCH_APPLIED", &id);
        }
        for file in &recipe.files {
            let file_id = self.file(
                &file.path,
                "File",
                format!("copied to {} in the source tree", file.name),
            )?;
            self.relate(&id, "GENERATED_FROM", &file_id);
        }
        Ok(id)
    }

    /// A recipe's license as the document gives it: NOASSERTION for none or an invalid one
    /// (`serpent check` warns about both); a LicenseRef- is described with the document.
    fn license(&mut self, license: Option<&str>) -> String {
        let Some(expression) = license.and_then(|text| spdx::Expression::parse(text).ok()) else {
            return "NOASSERTION".to_string();
        };
        for requirement in expression.requirements() {
            if let spdx::LicenseItem::Other(other) = &requirement.req.license {
                if other.doc_ref.is_some() {
                    return "NOASSERTION".to_string();
                }
                self.license_refs
                    .insert(format!("LicenseRef-{}", other.lic_ref));
            }
        }
        license.unwrap_or_default().to_string()
    }

    /// The package of a source tarball (once for every instance built from it): where it is
    /// downloaded and its sha256.
    fn source(&mut self, source: &crate::recipe::Source, recipe: &crate::recipe::Recipe) -> String {
        if let Some(id) = self.described.get(&source.sha256) {
            return id.clone();
        }
        let id = self.new_id(&format!(
            "Source-{}",
            &source.sha256[..16.min(source.sha256.len())]
        ));
        let license = self.license(recipe.license.as_deref());
        let location = download_location(&source.url);
        let mut package = json!({
            "SPDXID": id,
            "name": source.file_name(),
            "versionInfo": recipe.version,
            "downloadLocation": location.unwrap_or("NOASSERTION"),
            "checksums": [{ "algorithm": "SHA256", "checksumValue": source.sha256 }],
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": license,
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "SOURCE",
        });
        if location.is_none() {
            package["sourceInfo"] = Value::String(format!(
                "fetched from {}, which is no download location in SPDX's grammar (a host name with a top-level domain)",
                source.url
            ));
        }
        self.packages.push(package);
        self.described.insert(source.sha256.clone(), id.clone());
        id
    }

    /// An SPDX file for a patch or a file the recipe carries, named by its path in the
    /// project, with the SHA1 SPDX requires and a sha256.
    fn file(&mut self, path: &Path, kind: &str, comment: String) -> Result<String> {
        let name = path
            .strip_prefix(&self.plan.project.root)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned();
        if let Some(id) = self.described.get(&name) {
            return Ok(id.clone());
        }
        let bytes = std::fs::read(path).map_err(|error| Error::io("cannot read", path, error))?;
        let id = self.new_id(&format!("{kind}-{name}"));
        use sha1::Digest;
        let sha1 = crate::digest::hex(&sha1::Sha1::digest(&bytes));
        self.files.push(json!({
            "SPDXID": id,
            "fileName": format!("./{name}"),
            "checksums": [
                { "algorithm": "SHA1", "checksumValue": sha1 },
                { "algorithm": "SHA256", "checksumValue": crate::digest::sha256(&bytes) },
            ],
            "fileTypes": ["SOURCE"],
            "licenseConcluded": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "comment": comment,
        }));
        self.described.insert(name, id.clone());
        Ok(id)
    }

    /// DEPENDS as DEPENDS_ON; the previous stage's packages, which the instance's build runs
    /// on (its toolchain and root), as BUILD_DEPENDENCY_OF it.
    fn dependencies(&mut self, index: usize, package_ids: &BTreeMap<usize, String>) {
        let plan = self.plan;
        let instance = &plan.instances[index];
        let recipe = plan.recipe_of(instance);
        for dep in &instance.deps {
            let dependency = &plan.instances[*dep];
            let name = &plan.recipe_of(dependency).name;
            let qualified = format!("{}/{name}", plan.stages[dependency.stage].name);
            let declared = recipe.depends.iter().any(|wanted| {
                *wanted == qualified || (wanted == name && dependency.stage == instance.stage)
            });
            let (this, other) = (package_ids[&index].clone(), package_ids[dep].clone());
            if declared {
                self.relate(&this, "DEPENDS_ON", &other);
            } else {
                self.relate(&other, "BUILD_DEPENDENCY_OF", &this);
            }
        }
    }
}

/// `url` when SPDX takes it as a download location: an http(s), ftp, sftp, ssh, git or svn
/// URL whose host is a name with a top-level domain of 2 to 5 letters (the SPDX
/// specification's pattern), so no file:// URL, IP address or bare `localhost`.
fn download_location(url: &str) -> Option<&str> {
    let rest = ["git+", "hg+", "svn+", "bzr+"]
        .iter()
        .find_map(|vcs| url.strip_prefix(vcs))
        .unwrap_or(url);
    let (scheme, rest) = rest.split_once("://")?;
    if !["http", "https", "ftp", "sftp", "ssh", "git", "svn"].contains(&scheme) {
        return None;
    }
    let authority = rest.split('/').next().unwrap_or_default();
    let host_and_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = match host_and_port.split_once(':') {
        Some((host, port)) => {
            let digits = (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit());
            digits.then_some(host)?
        }
        None => host_and_port,
    };
    let (name, domain) = host.rsplit_once('.')?;
    let is_domain =
        (2..=5).contains(&domain.len()) && domain.bytes().all(|b| b.is_ascii_alphabetic());
    let is_name = !name.is_empty()
        && name
            .split(['.', '-'])
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()));
    (is_domain && is_name).then_some(url)
}

/// `; patches applied: a.patch, b.patch`, or nothing.
fn patches_applied(recipe: &crate::recipe::Recipe) -> String {
    let names: Vec<String> = recipe
        .patches
        .iter()
        .filter_map(|patch| patch.path.file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!("; patches applied: {}", names.join(", "))
    }
}

/// DESCRIPTION and HOMEPAGE, when the recipe declares them (a homepage only as a URL, which
/// is all SPDX takes there).
fn describe_text(package: &mut Value, recipe: &crate::recipe::Recipe) {
    let declared = |key: &str| {
        recipe
            .declarations
            .get(key)
            .map(|value| value.to_string())
            .filter(|text| !text.is_empty())
    };
    if let Some(description) = declared("description") {
        package["description"] = Value::String(description);
    }
    if let Some(homepage) =
        declared("homepage").filter(|url| url.starts_with("https://") || url.starts_with("http://"))
    {
        package["homepage"] = Value::String(homepage);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_spdx_wants_them() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_600_000_000), "2020-09-13T12:26:40Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(4_107_542_399), "2100-02-28T23:59:59Z");
    }

    #[test]
    fn download_locations_follow_spdx_grammar() {
        for good in [
            "https://zlib.net/zlib-1.3.1.tar.xz",
            "https://github.com/madler/zlib/releases/download/v1.3.2/zlib-1.3.2.tar.xz",
            "http://ftp.gnu.org:80/gnu/make/make-4.4.tar.gz",
            "git+https://git.savannah.gnu.org/git/make.git",
        ] {
            assert_eq!(download_location(good), Some(good));
        }
        for bad in [
            "file:///srv/make-4.4.tar.gz",
            "http://127.0.0.1:8080/make-4.4.tar.gz",
            "http://localhost/make-4.4.tar.gz",
            "https://example.invalid-tld/x.tar.gz",
            "https://host..org/x.tar.gz",
        ] {
            assert_eq!(download_location(bad), None, "{bad}");
        }
    }

    #[test]
    fn ids_hold_only_what_spdx_allows() {
        assert_eq!(id_part("x86_64/stage1/libc++"), "x86-64-stage1-libc--");
    }
}
