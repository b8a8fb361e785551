//! `local-stack`: the local stack's command-line tool.
//!
//!   local-stack dev                         start everything, write .local/stack.env, serve until Ctrl-C/SIGTERM
//!   local-stack stripe-event TYPE ARGS…     send a signed Stripe-format event to the running stack
//!   local-stack emails                      print the emails the emulator's SES accepted
//!   local-stack seed                        a merchant and a product to click through the pages with
//!   local-stack demo                        the whole story over the API, step by step

use local_stack::watch::{Options, Stack, WARM_UP_PROBES};
use local_stack::{stripe_events, BoxError};
use std::collections::HashMap;

const USAGE: &str = "usage:
  local-stack dev
  local-stack stripe-event checkout.session.completed CHECKOUT_ID [STRIPE_SUBSCRIPTION_ID]
  local-stack stripe-event customer.subscription.updated STRIPE_SUBSCRIPTION_ID STATUS PERIOD_START PERIOD_END [QUANTITY]
  local-stack stripe-event customer.subscription.deleted STRIPE_SUBSCRIPTION_ID
  local-stack stripe-event invoice.paid|invoice.payment_failed STRIPE_SUBSCRIPTION_ID
  local-stack emails
  local-stack seed                        a merchant and a product, and the pages' addresses
  local-stack demo                        walk the whole story against the running stack";

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dev") => dev().await,
        Some("stripe-event") => stripe_event(&args[1..]).await,
        Some("emails") => emails().await,
        Some("seed") => match stack_env() {
            Ok(env) => local_stack::demo::seed(&env).await,
            Err(e) => Err(e),
        },
        Some("demo") => match stack_env() {
            Ok(env) => local_stack::demo::run(&env).await,
            Err(e) => Err(e),
        },
        _ => Err(USAGE.into()),
    };
    if let Err(e) = result {
        eprintln!("{e}");
        std::process::exit(2);
    }
}

/// `.local` in the workspace, or `LOCAL_STACK_STATE_DIR` (a test's own, beside a developer's).
fn state_dir() -> std::path::PathBuf {
    std::env::var_os("LOCAL_STACK_STATE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| local_stack::root().join(".local"))
}

/// What `make dev` takes from its environment (API.md, the local stack's contract): the
/// gateway, and Stripe's address and keys, so a Stripe stand-in on 127.0.0.1 (or Stripe's
/// test mode) can play Stripe.
const PASSED_THROUGH: [&str; 5] = [
    "PAYMENT_GATEWAY",
    "STRIPE_API_BASE",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "OFFLINE_PAYMENT_OUTCOME",
];

fn passed_through() -> Vec<(String, String)> {
    PASSED_THROUGH
        .iter()
        .filter_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()).map(|v| (k.to_string(), v)))
        .collect()
}

/// Serves until Ctrl-C, SIGTERM or SIGHUP, or until the process that started it (make, a
/// shell, a test) is gone. The signals are handled from the first instant: a stop during
/// start-up drops what was started so far, and every child ends with its session.
async fn dev() -> Result<(), BoxError> {
    // SAFETY: prctl(2) sets this process's own parent-death signal; getppid(2) reads a number.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
        if libc::getppid() == 1 {
            return Err("the process that started `local-stack dev` is gone".into());
        }
    }
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut hup) = (signal(SignalKind::terminate())?, signal(SignalKind::hangup())?);
    let env_path = state_dir().join("stack.env");
    let outcome = tokio::select! {
        served = serve() => served,
        _ = tokio::signal::ctrl_c() => Ok(()),
        _ = term.recv() => Ok(()),
        _ = hup.recv() => Ok(()),
    };
    // Whatever `serve` had started was dropped with it, and stopped.
    println!("Stopped.");
    let _ = std::fs::remove_file(&env_path);
    outcome
}

/// Starts the stack and serves forever (it returns only on an error).
async fn serve() -> Result<(), BoxError> {
    let dir = state_dir();
    println!("Starting moto and creating the table, queues, bucket and sender identity…");
    let stack = Stack::start(Options {
        prefix: "dev".into(),
        state_dir: dir.clone(),
        log_file: None,
        extra_env: passed_through(),
        reload_on_change: true,
        record_aws_requests: None,
    })
    .await?;
    let env_path = dir.join("stack.env");
    std::fs::write(&env_path, stack.stack_env(std::process::id()))?;
    println!("Building and starting every function (first time: a few minutes)…");
    stack.warm_up(WARM_UP_PROBES).await?;
    println!(
        "\nThe stack is up.\n  API:          {}/v1/…\n  Pages:        {}/portal, {}/dashboard (`make seed` creates a product to buy)\n  AWS emulator: {}\n  stack env:    {}\n\
         Load it with:  set -a; . {}; set +a\nStop with Ctrl-C (or kill $PID).",
        stack.api_url,
        stack.api_url,
        stack.api_url,
        stack.aws_endpoint,
        env_path.display(),
        env_path.display()
    );
    std::future::pending::<()>().await;
    drop(stack);
    Ok(())
}

fn stack_env() -> Result<HashMap<String, String>, BoxError> {
    let path = state_dir().join("stack.env");
    let text = std::fs::read_to_string(&path)
        .map_err(|_| format!("{} not found: is `make dev` running?", path.display()))?;
    Ok(text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

fn num(s: Option<&String>, what: &str) -> Result<i64, BoxError> {
    s.ok_or(format!("{what} is required\n{USAGE}"))?
        .parse()
        .map_err(|_| format!("{what} must be an integer").into())
}

async fn stripe_event(args: &[String]) -> Result<(), BoxError> {
    let env = stack_env()?;
    let api = env.get("API_URL").ok_or("API_URL missing in stack.env")?;
    let secret = env.get("STRIPE_WEBHOOK_SECRET").ok_or("STRIPE_WEBHOOK_SECRET missing in stack.env")?;
    let now = chrono::Utc::now().timestamp();
    let arg = |i: usize| args.get(i).ok_or_else(|| BoxError::from(USAGE));
    let event = match args.first().map(String::as_str) {
        Some("checkout.session.completed") => {
            let stripe_sub = args
                .get(2)
                .cloned()
                .unwrap_or_else(|| format!("sub_test_{}", &uuid::Uuid::new_v4().simple().to_string()[..14]));
            stripe_events::checkout_completed(arg(1)?, &stripe_sub, now)
        }
        Some("customer.subscription.updated") => stripe_events::subscription_updated(
            arg(1)?,
            arg(2)?,
            (num(args.get(3), "PERIOD_START")?, num(args.get(4), "PERIOD_END")?),
            stripe_events::Item {
                quantity: args.get(5).map(|q| q.parse().unwrap_or(1)).unwrap_or(1),
                interval: args.get(6).map(String::as_str).unwrap_or("month"),
            },
            now,
        ),
        Some("customer.subscription.pending_update_expired") => {
            stripe_events::pending_update_expired(arg(1)?, now)
        }
        Some("customer.subscription.deleted") => stripe_events::subscription_deleted(arg(1)?, now),
        Some(t @ ("invoice.paid" | "invoice.payment_failed")) => stripe_events::invoice(t, arg(1)?, now),
        _ => return Err(USAGE.into()),
    };
    let (status, body) = stripe_events::post_signed(api, secret, &event, now).await?;
    println!("{}", serde_json::to_string_pretty(&event)?);
    println!("→ HTTP {status} {body}");
    if status >= 300 {
        return Err("the webhook did not accept the event".into());
    }
    Ok(())
}

async fn emails() -> Result<(), BoxError> {
    let env = stack_env()?;
    let endpoint = env.get("AWS_ENDPOINT_URL").ok_or("AWS_ENDPOINT_URL missing")?;
    for m in local_stack::moto::sent_emails(endpoint).await? {
        println!("To: {}\nSubject: {}\n\n{}\n----", m.to.join(", "), m.subject, m.body);
    }
    Ok(())
}
