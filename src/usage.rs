//! What the commands of a build cost: CPU time and the peak memory of the largest process.
//!
//! Every command serpent runs for a build is waited for with `wait4`, which reports the
//! resources of the child and of every descendant it waited for (make's compilers, the
//! sandbox helper's command). A build's phases run on one thread, so the tally is kept per
//! thread: [`take`] at the start of a build empties it, [`take`] at the end reads it.

use std::cell::Cell;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};

use nix::libc;
use serde::{Deserialize, Serialize};

/// Resources used by a set of processes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// User and system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// The largest resident set of any one process, in KiB.
    pub peak_kib: u64,
}

impl Usage {
    /// Both usages together: CPU times add up, peaks do not.
    pub fn and(self, other: Usage) -> Usage {
        Usage {
            cpu_seconds: self.cpu_seconds + other.cpu_seconds,
            peak_kib: self.peak_kib.max(other.peak_kib),
        }
    }
}

thread_local! {
    static TALLY: Cell<Usage> = const { Cell::new(Usage { cpu_seconds: 0.0, peak_kib: 0 }) };
}

/// The usage tallied on this thread since the last call, which empties it.
pub fn take() -> Usage {
    TALLY.with(|tally| tally.replace(Usage::default()))
}

/// Waits for `child` like [`Child::wait`] and adds what it used to this thread's tally.
pub fn wait(child: &mut Child) -> std::io::Result<ExitStatus> {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data the kernel fills in; the pid is our own unreaped child.
    let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: as above; status and rusage outlive the call.
        let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut rusage) };
        if waited == pid {
            break;
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
    let seconds = |time: libc::timeval| time.tv_sec as f64 + time.tv_usec as f64 / 1e6;
    let used = Usage {
        cpu_seconds: seconds(rusage.ru_utime) + seconds(rusage.ru_stime),
        peak_kib: rusage.ru_maxrss.max(0) as u64,
    };
    TALLY.with(|tally| tally.set(tally.get().and(used)));
    Ok(ExitStatus::from_raw(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_that_computes_and_allocates_is_counted() {
        take();
        // About 64 MiB touched and a busy loop, in a grandchild the shell waits for.
        let mut child = std::process::Command::new("sh")
            .args([
                "-c",
                "python3 -c 'b = bytearray(64 << 20); n = 0\nwhile n < 3_000_000: n += 1'",
            ])
            .spawn()
            .unwrap();
        let status = wait(&mut child).unwrap();
        assert!(status.success());
        let used = take();
        assert!(used.peak_kib > 64 * 1024, "{used:?}");
        assert!(used.cpu_seconds > 0.05, "{used:?}");
        assert_eq!(take(), Usage::default());
    }
}
