use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use crate::error::{Error, Result};

/// One serpent at a time per work dir: an exclusive lock on `<work>/.lock`, which also says
/// who holds it. The kernel drops the lock when the process dies, however it dies.
pub struct WorkLock {
    _lock: Flock<File>,
}

impl WorkLock {
    /// Takes the lock, waiting for the holder (and saying who that is) unless `no_wait`.
    pub fn acquire(work_dir: &Path, no_wait: bool, quiet: bool) -> Result<WorkLock> {
        std::fs::create_dir_all(work_dir)
            .map_err(|error| Error::io("cannot create", work_dir, error))?;
        let path = work_dir.join(".lock");
        let open = || {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|error| Error::io("cannot open", &path, error))
        };
        let mut lock = match Flock::lock(open()?, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((mut file, _)) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let holder = if holder.is_empty() {
                    "another serpent"
                } else {
                    holder
                };
                if no_wait {
                    return Err(Error::Busy(format!(
                        "the work dir {} is in use by {holder}; wait for it, or use another --work-dir",
                        work_dir.display()
                    )));
                }
                if !quiet {
                    eprintln!(
                        "waiting for the work dir {}, in use by {holder}",
                        work_dir.display()
                    );
                }
                Flock::lock(file, FlockArg::LockExclusive)
                    .map_err(|(_, errno)| Error::io("cannot lock", &path, errno.into()))?
            }
        };
        let args: Vec<String> = std::env::args().collect();
        let _ = lock.set_len(0);
        let _ = lock.seek(SeekFrom::Start(0));
        let _ = write!(lock, "pid {} ({})", std::process::id(), args.join(" "));
        let _ = lock.flush();
        Ok(WorkLock { _lock: lock })
    }
}
