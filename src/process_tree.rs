//! A program mlsysc runs and can stop with everything it started: it leads its own process group
//! (stopped with one `killpg`), mlsysc is a child subreaper (descendants that leave the group with
//! `setsid` and lose their parent become mlsysc's children, and are stopped and reaped after the
//! group), and a Ctrl-C or SIGTERM to mlsysc is passed on to the group, which the terminal no
//! longer reaches.

use std::io;
use std::process::{Child, Command, ExitStatus};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, WaitOptions};

/// Between SIGTERM and SIGKILL when a program is stopped.
const GRACE: Duration = Duration::from_secs(5);

/// How often a stop checks whether the processes are gone.
const POLL: Duration = Duration::from_millis(20);

/// The process groups of the programs running now, for passing a Ctrl-C on.
static RUNNING_GROUPS: Mutex<Vec<Pid>> = Mutex::new(Vec::new());

/// A running program, leader of its own process group. Dropping it stops what is left of it.
pub struct ProcessTree {
    child: Child,
    group: Pid,
    /// Once stopped, its group id may be reused: never signalled again.
    stopped: bool,
}

impl ProcessTree {
    /// Starts `command` in a new process group.
    pub fn spawn(command: &mut Command) -> io::Result<ProcessTree> {
        use std::os::unix::process::CommandExt;
        // Without it the tree is still stopped through its group; only escapees are missed.
        let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
        forward_interrupts();
        let child = command.process_group(0).spawn()?;
        let group = Pid::from_child(&child);
        running_groups().push(group);
        Ok(ProcessTree {
            child,
            group,
            stopped: false,
        })
    }

    /// The program's exit status if it has exited.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Stops the program and every process it started: SIGTERM to its group, SIGKILL to what is
    /// left after the grace period, then the same to descendants that left the group.
    pub fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        let _ = rustix::process::kill_process_group(self.group, Signal::TERM);
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline && rustix::process::test_kill_process_group(self.group).is_ok() {
            // Reaps the leader, so that a group of one exited leader reads as gone.
            let _ = self.child.try_wait();
            std::thread::sleep(POLL);
        }
        let _ = rustix::process::kill_process_group(self.group, Signal::KILL);
        let _ = self.child.wait();
        running_groups().retain(|group| *group != self.group);
        stop_orphans();
        // Only while a program runs: a process orphaned by anything else mlsysc starts (git)
        // goes to init as usual.
        if running_groups().is_empty() {
            let _ = rustix::process::set_child_subreaper(None);
        }
    }
}

impl Drop for ProcessTree {
    /// Also after a normal exit: nothing the program started outlives it.
    fn drop(&mut self) {
        self.stop();
    }
}

fn running_groups() -> std::sync::MutexGuard<'static, Vec<Pid>> {
    // A list of numbers: nothing a panicking holder could leave half-written.
    RUNNING_GROUPS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// SIGKILLs and reaps the processes re-parented to mlsysc, until none is left: killing one may
/// orphan its own children. mlsysc runs no other child while a program runs or is stopped.
fn stop_orphans() {
    let deadline = Instant::now() + GRACE;
    loop {
        let orphans = children_of_this_process();
        if orphans.is_empty() || Instant::now() >= deadline {
            return;
        }
        for orphan in &orphans {
            let _ = rustix::process::kill_process(*orphan, Signal::KILL);
        }
        for orphan in &orphans {
            let _ = rustix::process::waitpid(Some(*orphan), WaitOptions::empty());
        }
    }
}

/// The live children of mlsysc, read from `/proc` (no system call lists them; the kernel's
/// `/proc/PID/task/TID/children` list is not built everywhere). Zombies are left to be reaped.
fn children_of_this_process() -> Vec<Pid> {
    let this = rustix::process::getpid().as_raw_nonzero().get();
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (name) state ppid ...`; the name may hold spaces and parentheses.
        let mut fields = stat.rfind(')').map(|end| stat[end + 1..].split_whitespace());
        let state = fields.as_mut().and_then(Iterator::next);
        let parent = fields
            .as_mut()
            .and_then(Iterator::next)
            .and_then(|field| field.parse::<i32>().ok());
        if parent == Some(this)
            && state != Some("Z")
            && let Some(pid) = Pid::from_raw(pid)
        {
            children.push(pid);
        }
    }
    children
}

/// Once per process, in the async runtime it runs in: on ctrl-c or SIGTERM, sends SIGINT to the
/// running programs' groups (what the terminal would have done) and exits with status 130.
fn forward_interrupts() {
    static FORWARDING: OnceLock<()> = OnceLock::new();
    FORWARDING.get_or_init(|| {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async {
            let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            let terminated = async {
                match terminate.as_mut() {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Ok(()) = tokio::signal::ctrl_c() => {}
                Some(()) = terminated => {}
                else => return,
            }
            for group in running_groups().iter() {
                let _ = rustix::process::kill_process_group(*group, Signal::INT);
            }
            std::process::exit(130);
        });
    });
}
