//! How [`crate::keeper::INTERRUPT`] crosses a sandbox's walls to its command.
//!
//! serpent interrupts a sandboxed ninja the way it interrupts one on the host (see
//! [`crate::widening`]): it sends INTERRUPT to the process it started, here the sandbox's
//! helper. The helper relays it to pid 1 of the build's pid namespace, and pid 1 sends SIGINT
//! to the command alone, which is what the keeper does on the host. A namespace's pid 1 gets
//! only the signals it has a handler for, so each relay is a handler.
//!
//! INTERRUPT stays blocked from the moment the helper is forked until a process knows where
//! to relay it, so an early one waits instead of ending the helper (its default action).

use std::sync::atomic::{AtomicI32, Ordering};

use nix::libc;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
use nix::unistd::Pid;

use crate::keeper::INTERRUPT;

/// The process a relayed INTERRUPT goes to, 0 before there is one.
static RELAY_TO: AtomicI32 = AtomicI32::new(0);
/// The signal it goes as.
static RELAY_AS: AtomicI32 = AtomicI32::new(0);

/// INTERRUPT alone, for sigprocmask.
pub fn interrupt_set() -> SigSet {
    let mut set = SigSet::empty();
    set.add(INTERRUPT);
    set
}

/// Blocks INTERRUPT in this process. Async-signal-safe: for `pre_exec`.
pub fn block_interrupt(set: &SigSet) -> std::io::Result<()> {
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(set), None)
        .map_err(std::io::Error::from)
}

/// From now on, INTERRUPT sent to this process goes on to `to` as `signal`; one that came
/// while it was blocked goes now.
pub fn relay_interrupt(to: Pid, signal: Signal) -> nix::Result<()> {
    RELAY_TO.store(to.as_raw(), Ordering::SeqCst);
    RELAY_AS.store(signal as i32, Ordering::SeqCst);
    let action = SigAction::new(
        SigHandler::Handler(relay),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only loads atomics and calls kill, which is async-signal-safe, and
    // keeps errno as it found it.
    unsafe { sigaction(INTERRUPT, &action) }?;
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&interrupt_set()), None)
}

extern "C" fn relay(_: libc::c_int) {
    let to = RELAY_TO.load(Ordering::SeqCst);
    if to > 0 {
        // SAFETY: errno is this thread's; kill is async-signal-safe.
        unsafe {
            let errno = *libc::__errno_location();
            libc::kill(to, RELAY_AS.load(Ordering::SeqCst));
            *libc::__errno_location() = errno;
        }
    }
}
