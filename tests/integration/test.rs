use std::path::{Path, PathBuf};
use std::process::Command;

pub const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// A stage2 (`recipes/stage2/stage.rhai`) that builds on the host, on stage1's packages, with
/// the host's tools.
pub const HOST_STAGE2: &str = r#"
const PREVIOUS = "stage1";
const ISOLATION = "host";
fn toolchain(target, roots) {
    #{ cc: "cc", cxx: "c++", ar: "ar", ranlib: "ranlib", nm: "nm", strip: "strip", ld: "ld" }
}
"#;

/// A recipe that holds a job slot for three seconds.
pub const SLOW: &str = r#"const NAME = "slow";
const VERSION = "1";
fn install(ctx) {
    ctx.shell("sleep 3");
    ctx.write(`${ctx.destdir}/share/slow`, "done");
}
"#;

/// A throw-away project (the repository's stdlib, targets and stage1/stage.rhai, plus the files
/// a test adds), its own source store and work dir, and the `serpent` command line to run.
pub struct Test {
    pub dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    expected_status: i32,
    expected: Vec<Expectation>,
}

/// A check on one run's output, made after its exit status.
enum Expectation {
    StdoutContains(String),
    StdoutLacks(String),
    StderrContains(String),
    StderrLacks(String),
    StderrEmpty,
}

/// What one run printed.
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub root: PathBuf,
}

impl Test {
    pub fn new() -> Test {
        let dir = tempfile::Builder::new()
            .prefix("serpent-test")
            .tempdir()
            .unwrap();
        let root = dir.path().join("project");
        for part in ["stdlib", "recipes/targets"] {
            copy_dir(&Path::new(REPO).join(part), &root.join(part));
        }
        std::fs::create_dir_all(root.join("recipes/stage1")).unwrap();
        std::fs::copy(
            Path::new(REPO).join("recipes/stage1/stage.rhai"),
            root.join("recipes/stage1/stage.rhai"),
        )
        .unwrap();
        Test {
            dir,
            args: Vec::new(),
            env: Vec::new(),
            expected_status: 0,
            expected: Vec::new(),
        }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    pub fn store(&self) -> PathBuf {
        self.dir.path().join("cache/serpent/sources")
    }

    pub fn work(&self) -> PathBuf {
        self.root().join("build")
    }

    /// Adds a file to the project, relative to its root.
    pub fn file(self, path: &str, content: impl AsRef<[u8]>) -> Test {
        let path = self.root().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
        self
    }

    /// Adds a script written as indented text in the test: the first line's indentation is
    /// removed from every line, and a leading newline is dropped.
    pub fn script(self, path: &str, text: &str) -> Test {
        self.file(path, dedent(text))
    }

    /// The next run's stdout must contain `text`.
    pub fn stdout_contains(mut self, text: impl Into<String>) -> Test {
        self.expected.push(Expectation::StdoutContains(text.into()));
        self
    }

    /// The next run's stdout must not contain `text`.
    pub fn stdout_lacks(mut self, text: impl Into<String>) -> Test {
        self.expected.push(Expectation::StdoutLacks(text.into()));
        self
    }

    /// The next run's stderr must contain `text`.
    pub fn stderr_contains(mut self, text: impl Into<String>) -> Test {
        self.expected.push(Expectation::StderrContains(text.into()));
        self
    }

    /// The next run's stderr must not contain `text`.
    pub fn stderr_lacks(mut self, text: impl Into<String>) -> Test {
        self.expected.push(Expectation::StderrLacks(text.into()));
        self
    }

    /// The next run's stderr must be empty.
    pub fn stderr_empty(mut self) -> Test {
        self.expected.push(Expectation::StderrEmpty);
        self
    }

    /// Sets an environment variable for this and every later run, over the one `command` sets.
    pub fn env(mut self, name: &str, value: &str) -> Test {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Test {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn status(mut self, status: i32) -> Test {
        self.expected_status = status;
        self
    }

    /// Runs serpent in the project root and checks its exit status. The builder can be reused
    /// for another run on the same project.
    pub fn run(&mut self) -> Output {
        let output = self
            .command(env!("CARGO_BIN_EXE_serpent"))
            .args(&self.args)
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(
            output.status.code(),
            Some(self.expected_status),
            "serpent {:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            self.args
        );
        for expectation in std::mem::take(&mut self.expected) {
            let (holds, what) = match &expectation {
                Expectation::StdoutContains(text) => {
                    (stdout.contains(text), format!("stdout lacks {text:?}"))
                }
                Expectation::StdoutLacks(text) => {
                    (!stdout.contains(text), format!("stdout has {text:?}"))
                }
                Expectation::StderrContains(text) => {
                    (stderr.contains(text), format!("stderr lacks {text:?}"))
                }
                Expectation::StderrLacks(text) => {
                    (!stderr.contains(text), format!("stderr has {text:?}"))
                }
                Expectation::StderrEmpty => (stderr.is_empty(), "stderr is not empty".to_string()),
            };
            assert!(
                holds,
                "serpent {:?}: {what}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
                self.args
            );
        }
        self.args.clear();
        self.expected_status = 0;
        Output {
            stdout,
            stderr,
            root: self.root(),
        }
    }
}

impl Test {
    /// `program` run in the project root with the environment serpent gets in `run`.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(self.root())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .env("HOME", self.dir.path())
            .env("XDG_CACHE_HOME", self.dir.path().join("cache"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("NO_COLOR", "1");
        command
    }
}

impl Output {
    /// stderr with the temporary project path replaced, for snapshots.
    pub fn stderr_filtered(&self) -> String {
        let root = self.root.to_string_lossy();
        let temp = self.root.parent().unwrap().to_string_lossy().into_owned();
        let text = self
            .stderr
            .replace(&*root, "[PROJECT]")
            .replace(&temp, "[TEMP]");
        text.lines()
            .map(hide_duration)
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    }
}

/// `...: built in 12.3s` becomes `...: built in [TIME]`, so snapshots do not depend on speed.
fn hide_duration(line: &str) -> String {
    match line.rsplit_once(" in ") {
        Some((head, tail))
            if tail.ends_with('s')
                && tail[..tail.len() - 1]
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '.') =>
        {
            format!("{head} in [TIME]")
        }
        _ => line.to_string(),
    }
}

/// `text` without the indentation of its first non-empty line, without a leading newline and
/// without the indentation of the closing quote, so that it ends in one newline.
pub fn dedent(text: &str) -> String {
    let text = text.strip_prefix('\n').unwrap_or(text);
    let text = text.trim_end_matches([' ', '\t']);
    let indent = text
        .lines()
        .find(|line| !line.trim().is_empty())
        .map_or(0, |line| line.len() - line.trim_start().len());
    text.lines()
        .map(|line| line.get(indent..).unwrap_or(line.trim_start()))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A recipe that unpacks one source and copies the whole tree into its package.
pub fn copying_recipe(name: &str, url: &str, sha256: &str, extra: &str) -> String {
    format!(
        r#"const NAME = "{name}";
const VERSION = "1.0";
const SOURCES = [#{{ url: "{url}", sha256: "{sha256}" }}];
{extra}
fn install(ctx) {{
    ctx.copy(ctx.srcdir, `${{ctx.destdir}}/share/{name}`);
}}
"#
    )
}

/// Steps a probe recorded as "START END" lines (seconds), and the most that ran at once.
pub fn most_steps_at_once(times: &str) -> (usize, usize) {
    let steps: Vec<(f64, f64)> = times
        .lines()
        .map(|line| {
            let (start, end) = line.split_once(' ').unwrap();
            (start.parse().unwrap(), end.parse().unwrap())
        })
        .collect();
    let most = steps
        .iter()
        .map(|(at, _)| {
            let running = |(start, end): &&(f64, f64)| start <= at && at < end;
            steps.iter().filter(running).count()
        })
        .max()
        .unwrap_or(0);
    (steps.len(), most)
}
