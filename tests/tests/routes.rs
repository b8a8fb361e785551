//! The route table is written three times — the SAM template's HTTP API, the `cargo lambda
//! watch` router in Cargo.toml, and the OpenAPI file — and a fourth time by each function's
//! own router. This keeps the three files the same set (the OpenAPI file describes the `/v1`
//! API; the web pages' routes are checked against the pages function's own table), and lints
//! the template.

use std::collections::BTreeSet;

type Routes = BTreeSet<(String, String)>;

fn read(path: &str) -> String {
    std::fs::read_to_string(local_stack::root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn quoted(s: &str) -> Vec<String> {
    s.split('"').skip(1).step_by(2).map(str::to_string).collect()
}

/// `"/v1/x" = [{ method = "POST", function = "f" }, …]` lines of the watch router.
fn cargo_router() -> Routes {
    let toml = read("Cargo.toml");
    let section = toml.split("[workspace.metadata.lambda.watch.router]").nth(1).expect("router section");
    let mut out = Routes::new();
    for line in section.lines().take_while(|l| !l.starts_with('[')) {
        let q = quoted(line);
        if q.is_empty() {
            continue;
        }
        let path = q[0].clone();
        // method = "X", function = "f" → the quoted values come in pairs: X, f
        for pair in q[1..].chunks(2) {
            out.insert((pair[0].clone(), path.clone()));
        }
    }
    out
}

/// `Type: HttpApi` events of the SAM template (Method and Path follow in its Properties).
fn template_routes() -> Routes {
    let yaml = read("infra/template.yaml");
    let mut out = Routes::new();
    let mut method = None;
    for line in yaml.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("Method: ") {
            method = Some(m.to_string());
        } else if let (Some(p), Some(m)) = (line.strip_prefix("Path: "), method.take()) {
            out.insert((m, p.to_string()));
        }
    }
    out
}

/// `paths:` of the OpenAPI file: two-space keys are paths, four-space keys their methods.
fn openapi_routes() -> Routes {
    let yaml = read("docs/openapi.yaml");
    let paths = yaml.split("\npaths:\n").nth(1).expect("paths").split("\ncomponents:").next().expect("paths");
    let mut out = Routes::new();
    let mut current = String::new();
    for line in paths.lines() {
        if let Some(p) = line.strip_prefix("  /") {
            current = format!("/{}", p.trim_end_matches(':'));
        } else if let Some(m) = line.strip_prefix("    ").filter(|m| !m.starts_with(' ')) {
            let m = m.trim_end_matches(':');
            if ["get", "post", "put", "patch", "delete"].contains(&m) {
                out.insert((m.to_uppercase(), current.clone()));
            }
        }
    }
    out
}

#[test]
fn template_router_and_openapi_serve_the_same_routes() {
    let cargo = cargo_router();
    assert!(cargo.len() >= 28 + portal_web::handler::ROUTES.len(), "the router lists every route: {cargo:?}");
    assert_eq!(template_routes(), cargo, "infra/template.yaml vs Cargo.toml");
    let (api, pages): (Routes, Routes) = cargo.into_iter().partition(|(_, p)| p.starts_with("/v1/"));
    assert_eq!(openapi_routes(), api, "docs/openapi.yaml vs Cargo.toml");
    let web: Routes =
        portal_web::handler::ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(web, pages, "portal-web's ROUTES vs Cargo.toml");
}

#[test]
fn the_template_passes_cfn_lint() {
    let root = local_stack::root();
    let out = std::process::Command::new(root.join(".venv/bin/cfn-lint"))
        .arg(root.join("infra/template.yaml"))
        .output()
        .expect("cfn-lint (make venv)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success() && text.trim().is_empty(),
        "cfn-lint: zero errors and zero warnings expected:\n{text}"
    );
}

#[test]
fn only_the_functions_that_use_a_secret_can_read_it_and_none_has_one_in_its_environment() {
    let yaml = read("infra/template.yaml");
    // No secret is resolved into an environment (CloudFormation's dynamic references put the
    // value in the function's configuration, readable by anyone who can read that).
    assert!(!yaml.contains("resolve:secretsmanager") && !yaml.contains("STRIPE_SECRET_KEY:"));
    let root = local_stack::root();
    let mut functions: Vec<String> = std::fs::read_dir(root.join("functions"))
        .expect("functions")
        .filter_map(|e| e.ok().and_then(|e| e.file_name().to_str().map(str::to_string)))
        .collect();
    functions.sort();
    let mut readers = Vec::new();
    for f in &functions {
        let main = read(&format!("functions/{f}/src/main.rs"));
        let block = seats_tests::template::function_block(&yaml, f);
        let calls_stripe = main.contains("Stripe::Api");
        let reads_key = block.contains("STRIPE_API_KEY_SECRET_ID: !Ref StripeApiKeySecret")
            && block.contains("secret:${StripeApiKeySecret}-??????");
        assert_eq!(calls_stripe, reads_key, "{f}: calls Stripe = may read the key");
        assert_eq!(calls_stripe, block.contains("StripeApiKeySecret"), "{f}");
        let verifies = main.contains("STRIPE_WEBHOOK_SECRET_ID");
        assert_eq!(verifies, block.contains("StripeWebhookSecret"), "{f}: the webhook secret");
        assert_eq!(verifies, f == "stripe-webhook", "{f}: only the webhook verifies Stripe's signature");
        if calls_stripe {
            readers.push(f.as_str());
        }
    }
    assert_eq!(
        readers,
        [
            "annual-switch",
            "assign",
            "billing",
            "cancel",
            "products",
            "purchase",
            "resize",
            "stripe-webhook",
            "sweeper"
        ]
    );
}
