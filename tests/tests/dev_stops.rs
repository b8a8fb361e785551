//! `make dev` stops cleanly, however it is stopped and whenever: ten runs in a row, stopped by
//! SIGTERM to its process group (as a harness or CI stops it), by SIGINT to its group (Ctrl-C),
//! or by its parent (`make`) being killed with SIGKILL; seven of them during start-up, three
//! once the stack is up. After each stop no process of the run is left (every process that
//! carries the run's own `LOCAL_STACK_STATE_DIR` in its environment is counted: moto, cargo
//! lambda watch, each function, the guardians) and the stack's ports are free again.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Processes whose environment carries `marker` (children inherit it, whoever their parent
/// is now: a process orphaned by a stop is still found).
fn processes_of(marker: &str) -> Vec<u32> {
    let needle = marker.as_bytes();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if pid == std::process::id() {
            continue;
        }
        if let Ok(env) = std::fs::read(entry.path().join("environ")) {
            if env.split(|b| *b == 0).any(|var| var == needle) {
                out.push(pid);
            }
        }
    }
    out
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) on a process (group) this test started; no memory is touched.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// `127.0.0.1:PORT` addresses the run printed (the API and the emulator, once up).
fn ports_in(log: &str) -> Vec<u16> {
    log.split("http://127.0.0.1:")
        .skip(1)
        .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .collect::<std::collections::BTreeSet<u16>>()
        .into_iter()
        .collect()
}

#[derive(Debug, Clone, Copy)]
enum Stop {
    TermToGroup,
    IntToGroup,
    ParentKilled,
}

#[test]
fn make_dev_stopped_ten_times_leaves_no_process_and_frees_its_ports() {
    let root = local_stack::root();
    let mut rows = Vec::new();
    let mut leftovers = Vec::new();
    for run in 0..10 {
        let stop = [Stop::TermToGroup, Stop::IntToGroup, Stop::ParentKilled][run % 3];
        let when_up = run >= 7;
        let dir = std::env::temp_dir().join(format!("seats-dev-{}-{run}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("state dir");
        let marker = format!("LOCAL_STACK_STATE_DIR={}", dir.display());
        let log_path = dir.join("make-dev.log");
        let log = std::fs::File::create(&log_path).expect("log");
        let mut cmd = Command::new("make");
        cmd.current_dir(&root)
            .args(["--no-print-directory", "dev"])
            .env("LOCAL_STACK_STATE_DIR", &dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        // As under `cargo test`, CARGO_* would make build scripts that watch them rebuild.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().to_string();
            if k.starts_with("CARGO_")
                && !matches!(k.as_str(), "CARGO_HOME" | "CARGO_TARGET_DIR" | "CARGO_INCREMENTAL")
            {
                cmd.env_remove(&k);
            }
        }
        // Its own session and process group, as a terminal or a harness gives it.
        // SAFETY: setsid(2) is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let mut make = cmd.spawn().expect("make dev");
        let pid = make.id() as i32;
        let started = Instant::now();
        if when_up {
            let deadline = Instant::now() + Duration::from_secs(300);
            while !std::fs::read_to_string(&log_path).unwrap_or_default().contains("The stack is up") {
                assert!(Instant::now() < deadline, "run {run}: not up in 5 minutes");
                assert!(matches!(make.try_wait(), Ok(None)), "run {run}: make dev ended on its own");
                std::thread::sleep(Duration::from_millis(200));
            }
        } else {
            // Somewhere in start-up: building, moto starting, resources, functions warming.
            std::thread::sleep(Duration::from_millis(1500 + 900 * run as u64));
        }
        let running = processes_of(&marker).len();
        let at = started.elapsed();
        match stop {
            Stop::TermToGroup => signal(-pid, libc::SIGTERM),
            Stop::IntToGroup => signal(-pid, libc::SIGINT),
            Stop::ParentKilled => signal(pid, libc::SIGKILL),
        }
        let stopping = Instant::now();
        let _ = make.wait();
        let mut left = processes_of(&marker);
        while !left.is_empty() && stopping.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(100));
            left = processes_of(&marker);
        }
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let ports = ports_in(&text);
        let busy: Vec<u16> = ports
            .iter()
            .copied()
            .filter(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_err())
            .collect();
        rows.push(format!(
            "| {run} | {stop:?} | {} at {:.1} s | {running} | {} | {:.1} s | {} free |",
            if when_up { "up" } else { "starting" },
            at.as_secs_f64(),
            left.len(),
            stopping.elapsed().as_secs_f64(),
            ports.len() - busy.len()
        ));
        if !left.is_empty() || !busy.is_empty() {
            // Clean up what a failure left, so later runs and tests are not disturbed.
            for p in &left {
                signal(*p as i32, libc::SIGKILL);
            }
            leftovers
                .push(format!("run {run} ({stop:?}): processes {left:?} left, ports {busy:?} busy\n{text}"));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!("\n| run | stopped by | when | processes running | left after | took | ports |");
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    assert!(leftovers.is_empty(), "{}", leftovers.join("\n"));
}
