//! The build lock: one `mlsysc build` at a time writes a project's stores. An exclusive advisory
//! lock on `.mlsys/build.lock` (released by the operating system when the process ends, however it
//! ends), holding the pid of the process that has it and what it runs (`mlsysc build`, a
//! retraining, `deploy`'s feature refresh), so a second build can say which one runs.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another build is running ({holder}, pid {pid}); it holds {}", path.display())]
    Held { pid: String, holder: String, path: PathBuf },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What `deploy`'s feature refresh holds the lock as.
pub const REFRESH: &str = "mlsysc deploy's feature refresh";

/// How long a build or a retraining waits for a feature refresh to finish.
pub const REFRESH_WAIT: Duration = Duration::from_secs(600);

/// [`acquire`], waiting up to [`REFRESH_WAIT`] while `deploy`'s feature refresh holds the lock (a
/// run is short, and it comes back at every boundary of its cadence: failing then would make a
/// scheduled build fail now and then for nothing); another build or a retraining is not waited
/// for. `waiting` hears once that it waits, and for what.
pub fn acquire_after_refresh(
    state_directory: &Path,
    holder: &str,
    waiting: &mut dyn FnMut(&LockError),
) -> Result<BuildLock, LockError> {
    let deadline = Instant::now() + REFRESH_WAIT;
    let mut told = false;
    loop {
        match acquire(state_directory, holder) {
            Err(error @ LockError::Held { .. }) if error.held_by(REFRESH) && Instant::now() < deadline => {
                if !told {
                    waiting(&error);
                    told = true;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            outcome => return outcome,
        }
    }
}

impl LockError {
    fn held_by(&self, what: &str) -> bool {
        matches!(self, LockError::Held { holder, .. } if holder == what)
    }
}

/// The lock, held until dropped.
pub struct BuildLock {
    _file: File,
    /// When it was taken: a file written before then by a build is one a killed build left.
    pub acquired: SystemTime,
}

/// Takes the lock of the project whose state directory is `state_directory` (`.mlsys/`) for
/// `holder` (what the process runs: `mlsysc build`), or says which process holds it.
pub fn acquire(state_directory: &Path, holder: &str) -> Result<BuildLock, LockError> {
    let path = state_directory.join("build.lock");
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(state_directory).map_err(io)?;
    // Not truncated on open: the holder's pid stays readable until the lock is ours.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let mut lines = text.lines().map(str::trim);
            let mut field = |default: &str| match lines.next() {
                Some(value) if !value.is_empty() => value.to_string(),
                _ => default.to_string(),
            };
            let (pid, holder) = (field("unknown"), field("mlsysc build"));
            return Err(LockError::Held { pid, holder, path });
        }
        Err(TryLockError::Error(source)) => return Err(io(source)),
    }
    let acquired = SystemTime::now();
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "{}\n{holder}", std::process::id()).map_err(io)?;
    file.flush().map_err(io)?;
    Ok(BuildLock { _file: file, acquired })
}
