//! Child processes that die with their owner, however it ends.
//!
//! Each runs under a guardian (`sh`, see [`GUARDIAN`]) that leads a session of its own: the
//! program and everything it starts (cargo lambda watch → cargo → each function) are in that
//! session. The guardian ends the whole session when it is told to (TERM, INT, HUP), when the
//! program exits, or when the owner (this process) is gone — also when the owner was killed
//! with SIGKILL and could clean nothing up. Dropping the handle stops it.

use std::ffi::OsStr;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// `infra/guarded.sh`, the one guardian (the Makefile's build step runs it too).
const GUARDIAN: &str = include_str!("../../guarded.sh");

/// A command that runs `program` under a guardian owned by this process. Add its arguments,
/// environment and stdio as to any command, then [`Supervised::spawn`] it.
pub fn guarded(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(GUARDIAN).arg("guardian").arg(std::process::id().to_string()).arg(program);
    cmd
}

pub struct Supervised {
    name: &'static str,
    child: Child,
}

impl Supervised {
    /// Spawns `cmd` (made by [`guarded`]) as the leader of a new session.
    pub fn spawn(name: &'static str, mut cmd: Command) -> std::io::Result<Self> {
        use std::os::unix::process::CommandExt;
        // SAFETY: setsid(2) is async-signal-safe and only detaches the child from this
        // process's session and terminal (Ctrl-C reaches the owner, which stops the child).
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        Ok(Supervised { name, child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn stop(&mut self) {
        if !self.alive() {
            return;
        }
        let sid = self.child.id() as i32;
        // SAFETY: kill(2) on the guardian this handle spawned; no memory is touched.
        unsafe {
            libc::kill(sid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if !self.alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("{} did not stop on SIGTERM; killing it", self.name);
        // The guardian leads its process group: the group's members go with it.
        unsafe {
            libc::kill(-sid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}
