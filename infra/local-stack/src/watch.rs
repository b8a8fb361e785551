//! `cargo lambda watch` serving every function at its API path (the router table is
//! `[workspace.metadata.lambda.watch.router]` in Cargo.toml), and the whole stack around it.

use crate::bridge::{Bridge, BridgeConfig};
use crate::moto::{wait_until_up, Moto};
use crate::process::Supervised;
use crate::resources::{self, Resources};
use crate::BoxError;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// A running stack: emulator, resources, and the API on a loopback port.
pub struct Stack {
    pub api_url: String,
    pub aws_endpoint: String,
    pub admin_token: String,
    pub webhook_secret: String,
    pub resources: Resources,
    /// The environment every function runs with.
    pub function_env: Vec<(String, String)>,
    pub env_file: PathBuf,
    /// Declared before `watch` so the bridges stop first.
    _bridge: Bridge,
    _webhook_bridge: Bridge,
    watch: Supervised,
    _moto: Moto,
}

pub struct Options {
    /// Resource name prefix.
    pub prefix: String,
    /// Where the functions' env file goes.
    pub state_dir: PathBuf,
    /// Where `cargo lambda watch` writes its output (None: inherit the terminal).
    pub log_file: Option<PathBuf>,
    /// Extra function environment (tests use it to inject faults or settings).
    pub extra_env: Vec<(String, String)>,
    /// Rebuild and restart functions when sources change (`make dev`); tests keep them
    /// running whatever files appear under the workspace.
    pub reload_on_change: bool,
    /// Where moto records every AWS request it serves (tests check them against the IAM
    /// policies); None records nothing (`make dev`).
    pub record_aws_requests: Option<PathBuf>,
}

/// Secrets given to the stack: put into Secrets Manager, never into a function's environment.
const SECRETS: [&str; 2] = ["STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"];

fn write_env_file(path: &Path, env: &[(String, String)]) -> std::io::Result<()> {
    let body: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(path, body)
}

impl Stack {
    pub async fn start(opts: Options) -> Result<Stack, BoxError> {
        std::fs::create_dir_all(&opts.state_dir)?;
        let moto = Moto::start_recording(opts.record_aws_requests.as_deref()).await?;
        let sdk = resources::sdk_config(&moto.endpoint).await;
        let resources = resources::provision(&sdk, &opts.prefix).await?;
        let port = crate::free_port()?;
        let api_url = format!("http://127.0.0.1:{port}");
        let admin_token = format!("adm_{}", crate::random_hex());
        // The secret in use: the caller's (e.g. what `stripe listen` printed), else a fresh one.
        let given = |name: &str| opts.extra_env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let webhook_secret =
            given("STRIPE_WEBHOOK_SECRET").unwrap_or_else(|| format!("whsec_{}", crate::random_hex()));
        // The functions read their secrets from the emulator's Secrets Manager, as deployed
        // ones do from AWS's: their environment names the secrets and holds neither.
        let api_key = given("STRIPE_SECRET_KEY").unwrap_or_else(|| "sk_test_none_offline".into());
        let api_key_id =
            resources::put_secret(&sdk, &format!("{}/stripe-api-key", opts.prefix), &api_key).await?;
        let webhook_secret_id =
            resources::put_secret(&sdk, &format!("{}/stripe-webhook-secret", opts.prefix), &webhook_secret)
                .await?;
        let mut function_env: Vec<(String, String)> = [
            ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
            ("AWS_REGION", resources::REGION),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("TABLE_NAME", resources.table.as_str()),
            ("QUEUE_URL", resources.queue_url.as_str()),
            ("WEBHOOK_QUEUE_URL", resources.webhook_queue_url.as_str()),
            // Receivers on this machine (the tests', a developer's) take plain http.
            ("WEBHOOK_ALLOW_LOOPBACK", "true"),
            ("FILES_BUCKET", resources.bucket.as_str()),
            ("MAIL_FROM", resources.mail_from.as_str()),
            ("S3_FORCE_PATH_STYLE", "true"),
            ("PAYMENT_GATEWAY", "offline"),
            ("PUBLIC_BASE_URL", api_url.as_str()),
            ("ADMIN_TOKEN", admin_token.as_str()),
            ("STRIPE_API_KEY_SECRET_ID", api_key_id.as_str()),
            ("STRIPE_WEBHOOK_SECRET_ID", webhook_secret_id.as_str()),
            ("RUST_LOG", "info"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in opts.extra_env.iter().filter(|(k, _)| !SECRETS.contains(&k.as_str())) {
            function_env.retain(|(x, _)| x != k);
            function_env.push((k.clone(), v.clone()));
        }
        let env_file = opts.state_dir.join(format!("{}.functions.env", opts.prefix));
        write_env_file(&env_file, &function_env)?;

        let root = crate::root();
        let venv_bin = root.join(".venv/bin");
        let path = format!("{}:{}", venv_bin.display(), std::env::var("PATH").unwrap_or_default());
        // cargo lambda watch watches its working directory, once per function (~20 of them,
        // each on every directory of the workspace: past Linux's default inotify limit, and a
        // function whose watcher fails answers 500). Tests run the functions as built, so
        // theirs runs in an empty directory of its own and finds the workspace by its manifest.
        let workdir = match opts.reload_on_change {
            true => root.clone(),
            false => {
                let dir = opts.state_dir.join(format!("{}.watch", opts.prefix));
                std::fs::create_dir_all(&dir)?;
                dir
            }
        };
        let mut cmd = crate::process::guarded("cargo");
        cmd.current_dir(&workdir)
            .env("PATH", path)
            .args(["lambda", "watch", "--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(port.to_string())
            .arg("--env-file")
            .arg(&env_file)
            .arg("--manifest-path")
            .arg(root.join("Cargo.toml"))
            .stdin(Stdio::null());
        // Nor does a test's stack restart a function when a file changes.
        if !opts.reload_on_change {
            cmd.arg("--ignore-changes");
        }
        // Under `cargo test` the process carries the test crate's CARGO_MANIFEST_DIR and
        // CARGO_PKG_*; build scripts that watch them (ring's) would rebuild for every run.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("CARGO_")
                && !matches!(
                    k.as_ref(),
                    "CARGO_HOME" | "CARGO_TARGET_DIR" | "CARGO_TERM_COLOR" | "CARGO_INCREMENTAL"
                )
            {
                cmd.env_remove(k.as_ref());
            }
        }
        for (k, v) in &function_env {
            cmd.env(k, v);
        }
        match &opts.log_file {
            Some(f) => {
                let log = std::fs::File::create(f)?;
                cmd.stdout(log.try_clone()?).stderr(log);
            }
            None => {
                cmd.stdout(Stdio::inherit()).stderr(Stdio::inherit());
            }
        }
        let watch = Supervised::spawn("cargo lambda watch", cmd)?;
        wait_until_up(&format!("{api_url}/"), Duration::from_secs(120)).await?;
        let bridge = Bridge::spawn(
            aws_sdk_sqs::Client::new(&sdk),
            BridgeConfig {
                queue_url: resources.queue_url.clone(),
                queue_arn: resources.queue_arn.clone(),
                invoke_url: format!("{api_url}/2015-03-31/functions/benefit-worker/invocations"),
                batch_size: 10,
            },
        );
        let webhook_bridge = Bridge::spawn(
            aws_sdk_sqs::Client::new(&sdk),
            BridgeConfig {
                queue_url: resources.webhook_queue_url.clone(),
                queue_arn: resources.webhook_queue_arn.clone(),
                invoke_url: format!("{api_url}/2015-03-31/functions/webhook-sender/invocations"),
                batch_size: 10,
            },
        );
        Ok(Stack {
            _bridge: bridge,
            _webhook_bridge: webhook_bridge,
            api_url,
            aws_endpoint: moto.endpoint.clone(),
            admin_token,
            webhook_secret,
            resources,
            function_env,
            env_file,
            watch,
            _moto: moto,
        })
    }

    /// cargo lambda's Invoke API for a function (what `cargo lambda invoke` calls).
    pub fn invoke_url(&self, function: &str) -> String {
        format!("{}/2015-03-31/functions/{function}/invocations", self.api_url)
    }

    pub fn watch_pid(&self) -> u32 {
        self.watch.pid()
    }

    /// Sends one request to each function so that cargo lambda builds and starts them all
    /// before anything is measured or raced.
    pub async fn warm_up(&self, probes: &[&str]) -> Result<(), BoxError> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(900)).build()?;
        for p in probes {
            let (method, path) = p.split_once(' ').unwrap_or(("GET", p));
            let req = match method {
                "POST" => http.post(format!("{}{path}", self.api_url)).body("{}"),
                "DELETE" => http.delete(format!("{}{path}", self.api_url)),
                "INVOKE" => {
                    let (function, payload) = path.split_once(' ').unwrap_or((path, "{}"));
                    http.post(self.invoke_url(function)).body(payload.to_string())
                }
                _ => http.get(format!("{}{path}", self.api_url)),
            };
            let status = req.send().await?.status();
            if status.is_server_error() {
                return Err(format!("warm-up {p} answered {status}").into());
            }
        }
        Ok(())
    }

    /// `.local/stack.env`, as the API contract's last section says.
    pub fn stack_env(&self, pid: u32) -> String {
        format!(
            "API_URL={}\nAWS_ENDPOINT_URL={}\nADMIN_TOKEN={}\nSTRIPE_WEBHOOK_SECRET={}\nPID={pid}\n\
             TABLE_NAME={}\nQUEUE_URL={}\nDLQ_URL={}\nWEBHOOK_QUEUE_URL={}\nFILES_BUCKET={}\nAWS_REGION={}\n\
             AWS_ACCESS_KEY_ID=test\nAWS_SECRET_ACCESS_KEY=test\n",
            self.api_url,
            self.aws_endpoint,
            self.admin_token,
            self.webhook_secret,
            self.resources.table,
            self.resources.queue_url,
            self.resources.dlq_url,
            self.resources.webhook_queue_url,
            self.resources.bucket,
            resources::REGION,
        )
    }
}

/// One probe per function: a cheap request each answers without a 5xx.
pub const WARM_UP_PROBES: &[&str] = &[
    "GET /v1/products/prod_0",
    "GET /v1/checkouts/chk_0",
    "POST /v1/webhooks/stripe",
    "GET /v1/portal/subscriptions",
    "GET /v1/claims/ct_0000000000",
    "POST /v1/license-keys/validate",
    "GET /v1/subscriptions/sub_0/seats",
    "DELETE /v1/subscriptions/sub_0/seats/seat_0",
    "GET /v1/subscriptions/sub_0/managers",
    "POST /v1/subscriptions/sub_0/seat-changes/preview",
    "POST /v1/subscriptions/sub_0/interval-change/preview",
    "POST /v1/subscriptions/sub_0/cancel/preview",
    "GET /v1/subscriptions/sub_0/invoices",
    "GET /portal",
    "GET /v1/webhook-endpoints",
    "INVOKE webhook-sender {\"Records\": []}",
    "INVOKE benefit-worker {\"Records\": []}",
    "INVOKE sweeper {}",
];
