//! Schemathesis against the running local stack with `docs/openapi.yaml`: generated requests
//! on every route, bounded in examples and time; no 5xx, and every response conforms to the
//! schema (status, content type, body). Real ids exist so that generation also reaches them.

use seats_tests::e2e::{buy, merchant, session, Ctx};
use std::process::Command;

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let c = Ctx::start("fuzz").await;
    let acme = merchant(&c, "acme").await;
    let (_sub, _) = buy(&c, &acme, 5, "boss@corp.example").await;
    let _boss = session(&c, "acme", "boss@corp.example").await;
    let root = local_stack::root();
    let schema = root.join("docs/openapi.yaml");
    // Schemathesis keeps a cache in its working directory: outside the workspace, so that no
    // file watcher ever sees it.
    let scratch = std::env::temp_dir().join(format!("seats-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let mut runs = Vec::new();
    // As the merchant (most routes) and anonymous (the public ones and every 401); the
    // coverage phase with positive and negative data, the fuzzing phase with positive data.
    // (Negative fuzzing also sends raw bytes that are not UTF-8 under a JSON content type:
    // cargo lambda watch itself answers those 500 before any function runs — API Gateway
    // passes them on base64-encoded, and the handlers' answer, 400, is `faults.rs`.)
    // And, as the merchant, the stateful phase: chains of calls along the spec's links (a
    // product made, then checked out; a seat assigned, then re-sent and revoked; a preview,
    // then its apply with the preview's proration_date).
    let plan = [
        (Some(acme.key.as_str()), "examples,coverage", "all"),
        (Some(acme.key.as_str()), "fuzzing", "positive"),
        (Some(acme.key.as_str()), "stateful", "positive"),
        (None, "examples,coverage", "all"),
        (None, "fuzzing", "positive"),
    ];
    for (token, phases, mode) in plan {
        {
            let mut cmd = Command::new(root.join(".venv/bin/st"));
            cmd.current_dir(&scratch)
                .env("NO_COLOR", "1")
                .arg("run")
                .arg(&schema)
                .args(["--url", &c.stack.api_url])
                .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"])
                .args(["--max-examples", if phases == "stateful" { "150" } else { "12" }, "--seed", "20261128", "--request-timeout", "60", "--workers", "1"])
                .args(["--phases", phases, "--mode", mode, "--no-color"]);
            if let Some(t) = token {
                cmd.args(["--header", &format!("Authorization: Bearer {t}")]);
            }
            let out = cmd.output().expect("schemathesis (make venv)");
            let text =
                format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            let summary: Vec<&str> = text
                .lines()
                .filter(|l| l.contains("generated") || l.contains(" in ") && l.contains("="))
                .collect();
            println!(
                "schemathesis {phases} ({mode}, {}): {}",
                if token.is_some() { "merchant" } else { "anonymous" },
                summary.join(" | ")
            );
            if std::env::var("SHOW_SCHEMATHESIS").is_ok() {
                println!("{text}");
            }
            runs.push((out.status.success(), text));
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    for (ok, text) in &runs {
        assert!(*ok, "schemathesis found problems:\n{text}");
    }
    c.assert_no_5xx_logged();
    c.assert_aws_requests_allowed();
}
