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

/// `sh -c GUARDIAN guardian OWNER_PID PROGRAM ARGS…`. Polls the owner every 0.3 s; `wait` on a
/// background `sleep` lets a signal's trap run at once. Ending: TERM to every other process of
/// the session, a second for them to go, then KILL.
const GUARDIAN: &str = r#"owner=$1; shift
"$@" &
child=$!
others() { ps -o pid= -s $$ | awk -v me=$$ '$1 != me'; }
end() {
  trap '' TERM INT HUP
  kill -TERM $(others) 2>/dev/null
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    kill -0 $child 2>/dev/null || break
    sleep 0.1
  done
  sleep 0.2
  kill -KILL $(others) 2>/dev/null
  exit 0
}
trap end TERM INT HUP
while kill -0 "$owner" 2>/dev/null && kill -0 "$child" 2>/dev/null; do
  sleep 0.3 & wait $!
done
end
"#;

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
