//! moto's server: DynamoDB, SQS, SES and S3 on one loopback port.

use crate::process::Supervised;
use crate::BoxError;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    pub endpoint: String,
    _process: Supervised,
}

impl Moto {
    /// Starts `.venv/bin/moto_server` on a free port and waits until it answers.
    pub async fn start() -> Result<Moto, BoxError> {
        Self::start_recording(None).await
    }

    /// As [`Moto::start`], recording every request it serves (headers and body, a JSON object
    /// per line: moto's recorder) into `recording` when given.
    pub async fn start_recording(recording: Option<&std::path::Path>) -> Result<Moto, BoxError> {
        let port = crate::free_port()?;
        let (python, args) = moto_command(port)?;
        let mut cmd = crate::process::guarded(python);
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        if let Some(path) = recording {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(path, "")?;
            cmd.env("MOTO_ENABLE_RECORDING", "True").env("MOTO_RECORDER_FILEPATH", path);
        }
        let process = Supervised::spawn("moto_server", cmd)?;
        let endpoint = format!("http://127.0.0.1:{port}");
        wait_until_up(&format!("{endpoint}/moto-api/"), Duration::from_secs(60)).await?;
        Ok(Moto { endpoint, _process: process })
    }
}

/// `.venv/bin/python infra/moto_server.py -H 127.0.0.1 -p PORT`: moto with DynamoDB requests
/// serialized (see that file for why).
fn moto_command(port: u16) -> Result<(std::path::PathBuf, Vec<std::ffi::OsString>), BoxError> {
    let root = crate::root();
    let python = root.join(".venv/bin/python");
    if !python.exists() {
        return Err(format!("{} is missing: run `make venv` first", python.display()).into());
    }
    let script = root.join("infra/moto_server.py").into_os_string();
    let args = [script, "-H".into(), "127.0.0.1".into(), "-p".into(), port.to_string().into()];
    Ok((python, args.to_vec()))
}

/// Polls `url` until it answers any HTTP status.
pub async fn wait_until_up(url: &str, limit: Duration) -> Result<(), BoxError> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + limit;
    loop {
        if http.get(url).send().await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{url} did not come up within {limit:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An email the emulator's SES accepted.
#[derive(Debug, Clone)]
pub struct SentEmail {
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

/// Every email the emulator's SES accepted, oldest first (`ses.Message` of moto's data).
pub async fn sent_emails(endpoint: &str) -> Result<Vec<SentEmail>, BoxError> {
    let data: serde_json::Value =
        reqwest::get(format!("{endpoint}/moto-api/data.json")).await?.json().await?;
    let mut out = Vec::new();
    let messages = data.pointer("/ses/Message").and_then(|m| m.as_array()).cloned().unwrap_or_default();
    for m in messages {
        let text = |k: &str| m.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let to = m
            .pointer("/destinations/ToAddresses")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        out.push(SentEmail { to, subject: text("subject"), body: text("body") });
    }
    Ok(out)
}

/// The value of `name=` in the first link of `body` that has it (claim tokens, sign-in codes).
pub fn link_param(body: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=");
    let start = body.find(&needle)? + needle.len();
    let rest = &body[start..];
    let end = rest.find(|c: char| c.is_whitespace() || c == '&' || c == '"').unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

/// One moto for a whole test process, started on first use and killed by the kernel when
/// the process exits (PR_SET_PDEATHSIG on a thread that lives as long as the process), so
/// no test run leaves a server behind even when it panics.
pub fn shared_for_tests() -> Result<&'static str, String> {
    static ENDPOINT: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    ENDPOINT
        .get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let started = (|| -> Result<(std::process::Child, String), String> {
                    let port = crate::free_port().map_err(|e| e.to_string())?;
                    let (python, args) = moto_command(port).map_err(|e| e.to_string())?;
                    let mut cmd = Command::new(python);
                    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
                    use std::os::unix::process::CommandExt;
                    // SAFETY: prctl is async-signal-safe; it only sets this child's death signal.
                    unsafe {
                        cmd.pre_exec(|| {
                            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                            Ok(())
                        });
                    }
                    let child = cmd.spawn().map_err(|e| format!("moto: {e} (run `make venv`)"))?;
                    let deadline = Instant::now() + Duration::from_secs(60);
                    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                        if Instant::now() > deadline {
                            return Err("moto did not start".into());
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    Ok((child, format!("http://127.0.0.1:{port}")))
                })();
                match started {
                    Ok((_child, endpoint)) => {
                        let _ = tx.send(Ok(endpoint));
                        loop {
                            std::thread::park();
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
            rx.recv().map_err(|e| e.to_string())?
        })
        .as_ref()
        .map(String::as_str)
        .map_err(Clone::clone)
}
