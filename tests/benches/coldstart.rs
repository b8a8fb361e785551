//! `make release && cargo bench --bench coldstart`: each function's init time and size.
//!
//! Init time is measured the way Lambda sees it: from exec of the release `bootstrap` to its
//! first `GET /2018-06-01/runtime/invocation/next` on a local Runtime API (config read, SDK
//! clients built, secrets read from Secrets Manager, runtime started), against moto on
//! 127.0.0.1 (the offline gateway runs only against a local emulator). Size is the stripped
//! release binary's.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 7;

fn init_time(bootstrap: &std::path::Path, aws: &Aws) -> Option<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0").ok()?;
    let addr = listener.local_addr().ok()?;
    let started = Instant::now();
    let mut child = Command::new(bootstrap)
        .env_clear()
        .envs([
            ("AWS_LAMBDA_RUNTIME_API", addr.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", "coldstart".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "1".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("TABLE_NAME", "seats".into()),
            ("QUEUE_URL", "http://127.0.0.1:1/000000000000/jobs".into()),
            ("WEBHOOK_QUEUE_URL", "http://127.0.0.1:1/000000000000/webhooks".into()),
            ("FILES_BUCKET", "files".into()),
            ("MAIL_FROM", "billing@seats.example.com".into()),
            ("PUBLIC_BASE_URL", "https://billing.example.com".into()),
            ("PAYMENT_GATEWAY", "offline".into()),
            ("ADMIN_TOKEN_SHA256", "0".repeat(64)),
            ("AWS_ENDPOINT_URL", aws.endpoint.clone()),
            ("STRIPE_API_KEY_SECRET_ID", aws.api_key_id.clone()),
            ("STRIPE_WEBHOOK_SECRET_ID", aws.webhook_secret_id.clone()),
            ("RUST_LOG", "warn".into()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    listener.set_nonblocking(false).ok()?;
    let (stream, _) = listener.accept().ok()?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).ok()?;
    let took = started.elapsed();
    let _ = (&stream).write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n");
    let _ = child.kill();
    let _ = child.wait();
    line.contains("/runtime/invocation/next").then_some(took)
}

/// The emulator and the secrets the functions read at init.
struct Aws {
    endpoint: String,
    api_key_id: String,
    webhook_secret_id: String,
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let moto = runtime.block_on(local_stack::moto::Moto::start()).expect("moto");
    let aws = runtime.block_on(async {
        let sdk = local_stack::resources::sdk_config(&moto.endpoint).await;
        let put =
            |name: &'static str, value: &'static str| local_stack::resources::put_secret(&sdk, name, value);
        Aws {
            endpoint: moto.endpoint.clone(),
            api_key_id: put("coldstart/stripe-api-key", "sk_test_coldstart").await.expect("secret"),
            webhook_secret_id: put("coldstart/stripe-webhook-secret", "whsec_coldstart")
                .await
                .expect("secret"),
        }
    });
    let root = local_stack::root();
    let mut rows = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(root.join("target/lambda"))
        .expect("target/lambda: run `make release` first")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for dir in dirs {
        let bootstrap = dir.join("bootstrap");
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if !bootstrap.exists() || name == "local-stack" {
            continue;
        }
        let size = std::fs::metadata(&bootstrap).map(|m| m.len()).unwrap_or(0);
        let mut times: Vec<Duration> = (0..RUNS).filter_map(|_| init_time(&bootstrap, &aws)).collect();
        times.sort();
        let median = times.get(times.len() / 2).copied().unwrap_or_default();
        rows.push((name, size, median, times.len()));
    }
    println!("\n| function | stripped size | init time (median of {RUNS}) |");
    println!("|---|---|---|");
    for (name, size, median, n) in rows {
        println!(
            "| {name} | {:.1} MiB | {:.1} ms{} |",
            size as f64 / 1048576.0,
            median.as_secs_f64() * 1e3,
            if n < RUNS { " (some runs failed)" } else { "" }
        );
    }
}
