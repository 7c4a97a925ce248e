//! A ninja build that grows into job slots as they come free.
//!
//! ninja takes no part in a jobserver: its `-j` is fixed when it starts. serpent gives it the
//! slots free at that moment, so an LLVM build that starts while a small package holds a slot
//! would otherwise run on fewer cores for hours after that package is done. While ninja runs,
//! a helper thread waits for one more slot; when it gets one, ninja is interrupted through its
//! keeper, and the caller starts it again with one job more. ninja picks up where it stopped:
//! only the commands cut short run again.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jobserver::{Acquired, Client, HelperThread};
use nix::sys::signal::kill;
use nix::unistd::Pid;

/// A wait for one more slot while a command runs.
pub struct Widening {
    helper: HelperThread,
    shared: Arc<Shared>,
}

struct Shared {
    /// The keeper running the command, 0 before it starts and after it ends.
    running: Arc<AtomicU32>,
    slot: Mutex<Option<Acquired>>,
    interrupted: AtomicBool,
    ended: AtomicBool,
}

impl Widening {
    /// Starts waiting on `client` for a slot; when one comes while the command whose keeper
    /// `running` holds is running, interrupts it.
    pub fn start(client: &Client, running: Arc<AtomicU32>) -> std::io::Result<Widening> {
        let shared = Arc::new(Shared {
            running,
            slot: Mutex::new(None),
            interrupted: AtomicBool::new(false),
            ended: AtomicBool::new(false),
        });
        let waiting = shared.clone();
        let helper = client.clone().into_helper_thread(move |slot| {
            if let Ok(slot) = slot {
                *waiting.slot.lock().unwrap() = Some(slot);
                waiting.interrupt_when_running();
            }
        })?;
        helper.request_token();
        Ok(Widening { helper, shared })
    }

    /// Once the command has ended: the new slot if the command was interrupted for it (start
    /// it again with one job more), or `None` if it ended by itself (its result stands).
    pub fn end(self) -> Option<Acquired> {
        self.shared.ended.store(true, Ordering::SeqCst);
        drop(self.helper);
        let slot = self.shared.slot.lock().unwrap().take();
        slot.filter(|_| self.shared.interrupted.load(Ordering::SeqCst))
    }
}

impl Shared {
    /// The slot came before the command's keeper was known, or just as it started: wait
    /// for it, unless the command ends first.
    fn interrupt_when_running(&self) {
        while !self.ended.load(Ordering::SeqCst) {
            let keeper = self.running.load(Ordering::SeqCst);
            if keeper != 0 {
                self.interrupted.store(true, Ordering::SeqCst);
                let _ = kill(Pid::from_raw(keeper as i32), crate::keeper::INTERRUPT);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Takes up to `wanted` of the job slots lying free in the pool right now. The pool is a plain
/// pipe, on which the jobserver crate cannot try a read without blocking; so count the slots
/// in it and take that many. Should another build take one first, acquire waits for the next
/// one to be returned.
pub fn free_slots(client: &Client, wanted: usize) -> Vec<Acquired> {
    let free = client.available().unwrap_or(0).min(wanted);
    let mut slots = Vec::new();
    for _ in 0..free {
        match client.acquire() {
            Ok(slot) => slots.push(slot),
            Err(_) => break,
        }
    }
    slots
}
