//! `serpent doctor`: whether this host has what the spin needs to build, one line per check,
//! each miss with how to fix it. The checks do what a build does (a sandbox is really set up),
//! so a host that passes them can build.

mod check;
mod space;
mod toolchain;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

pub use check::{Check, Outcome};

use crate::error::Result;
use crate::project::Project;
use crate::sandbox::{Emulator, Invocation, Sandbox, SandboxError};
use crate::scripts::Scripts;
use crate::session::Session;
use crate::spin::Spin;
use crate::target::Target;

/// A program no root holds: the probe sandbox is set up completely and only the exec fails.
const PROBE_PROGRAM: &str = "/serpent-doctor-probe";

const USERNS_FIX: &str = "allow unprivileged user namespaces: `sysctl user.max_user_namespaces` \
    above 0, and kernel.unprivileged_userns_clone=1 (older Debian kernels) or \
    kernel.apparmor_restrict_unprivileged_userns=0 (Ubuntu)";

/// `serpent doctor`: exit status 0 when every check passes, 1 otherwise.
pub fn doctor(session: &Session, min_free: u64) -> Result<i32> {
    let spin = session.spin()?;
    let project = session.project(&spin);
    let work_dir = &session.config.work_dir;
    let namespaces = user_namespaces(work_dir);
    let sandbox_works = namespaces.is_ok();
    let mut checks = vec![namespaces];
    for name in target_names(session, &spin) {
        let emulation = emulation(&session.scripts, &project, &name, work_dir, sandbox_works);
        checks.extend(emulation);
    }
    checks.extend(toolchain::quick_toolchain(&session.scripts, &project));
    checks.push(space::free_space(
        "work dir",
        "--work-dir",
        work_dir,
        min_free,
    ));
    checks.push(space::free_space(
        "store",
        "--store",
        &session.config.store_dir,
        min_free,
    ));
    for check in &checks {
        println!("{}", check.line());
    }
    Ok(if checks.iter().all(Check::is_ok) {
        0
    } else {
        1
    })
}

fn target_names(session: &Session, spin: &Spin) -> Vec<String> {
    match &session.cli.target {
        Some(target) => vec![target.clone()],
        None => spin.targets.clone(),
    }
}

/// Sets up a sandbox exactly as builds do, in an empty root under the work dir.
fn probe(work_dir: &Path, emulator: Option<Emulator>) -> std::result::Result<(), String> {
    std::fs::create_dir_all(work_dir)
        .map_err(|error| format!("cannot create {}: {error}", work_dir.display()))?;
    let root = tempfile::Builder::new()
        .prefix("doctor-")
        .tempdir_in(work_dir)
        .map_err(|error| format!("cannot create a folder in {}: {error}", work_dir.display()))?;
    let sandbox = Sandbox {
        root: root.path().to_path_buf(),
        read_only_root: false,
        binds: Vec::new(),
        emulator,
    };
    let invocation = Invocation {
        argv: vec![PROBE_PROGRAM.to_string()],
        env: BTreeMap::new(),
        cwd: PathBuf::from("/"),
    };
    match sandbox.run(&invocation, Stdio::null(), Stdio::null(), Stdio::null()) {
        Ok(_) | Err(SandboxError::Exec { .. }) => Ok(()),
        // The step and its error; the hints after them are the check's fix.
        Err(SandboxError::Setup { step, message }) => Err(format!(
            "cannot {step}: {}",
            message.split(';').next().unwrap_or("")
        )),
        Err(error) => Err(error.to_string()),
    }
}

fn user_namespaces(work_dir: &Path) -> Check {
    match probe(work_dir, None) {
        Ok(()) => Check::ok("user namespaces", "a sandbox was set up as builds do"),
        Err(message) => Check::missing("user namespaces", message, USERNS_FIX),
    }
}

/// For a target of another architecture: its qemu-user emulator, and binfmt_misc to run it.
fn emulation(
    scripts: &Scripts,
    project: &Project,
    name: &str,
    work_dir: &Path,
    sandbox_works: bool,
) -> Vec<Check> {
    let target = match Target::load(scripts, project, name) {
        Ok(target) => target,
        Err(error) => {
            let fix = "name a target in recipes/targets/ or fix its script";
            return vec![Check::missing(
                format!("target {name}"),
                error.to_string(),
                fix,
            )];
        }
    };
    let qemu = target.text("qemu");
    let emulator = match crate::build::emulator_for(&target) {
        Ok(Some(emulator)) => emulator,
        Ok(None) => return Vec::new(),
        Err(_) if !qemu.is_empty() => {
            let found = format!("not on PATH; target {name} runs its programs through it");
            let fix = format!(
                "install qemu-user-static, which has {qemu} (apt-get install qemu-user-static)"
            );
            return vec![Check::missing(qemu, found, fix)];
        }
        Err(error) => {
            let fix = "give the target script qemu, binfmt_magic and binfmt_mask";
            return vec![Check::missing(
                format!("target {name}"),
                error.to_string(),
                fix,
            )];
        }
    };
    let registration = format!("binfmt_misc for {}", emulator.name);
    let host_registered = crate::sandbox::host_registration_enabled(&emulator.name);
    let interpreter = emulator.interpreter.display().to_string();
    if !sandbox_works {
        let found = "not checked: no sandbox can be set up without user namespaces";
        let binfmt = Check::missing(registration, found, "allow user namespaces first");
        return vec![Check::ok(qemu, interpreter), binfmt];
    }
    let binfmt = match probe(work_dir, Some(emulator.clone())) {
        Ok(()) if host_registered => Check::ok(registration, "the host's registration is enabled"),
        Ok(()) => Check::ok(registration, "a private binfmt_misc in the sandbox (Linux 6.7+)"),
        Err(message) => Check::missing(
            registration,
            message,
            format!("use Linux 6.7+, or as root `apt-get install binfmt-support` and `update-binfmts --enable {}`", emulator.name),
        ),
    };
    vec![Check::ok(qemu, interpreter), binfmt]
}
