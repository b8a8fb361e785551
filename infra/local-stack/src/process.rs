//! Child processes that die with their owner: each runs in its own process group, and the
//! whole group is stopped (TERM, then KILL) when the handle is dropped.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub struct Supervised {
    name: &'static str,
    child: Child,
}

impl Supervised {
    pub fn spawn(name: &'static str, mut cmd: Command) -> std::io::Result<Self> {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
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
        let pgid = self.child.id() as i32;
        // SAFETY: kill(2) with a negative pid signals the child's own process group, which
        // this handle created; no memory is touched.
        unsafe {
            libc::kill(-pgid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if !self.alive() {
                // The group may hold grandchildren (cargo → the function); end them too.
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("{} did not stop on SIGTERM; killing it", self.name);
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}
