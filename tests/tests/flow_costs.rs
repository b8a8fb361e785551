//! What each flow makes, checked: the request and unit counts of the bench's cost table
//! (`make bench`), so a change that adds a request or grows an item past a unit fails here,
//! not only in the bench. And the claim's two refusals, which the table does not show.

use domain::error::DomainError;
use domain::model::SubscriptionStatus;
use domain::services::claims::{self, ClaimRequest};
use domain::services::seats::{self, AssignSeat};
use seats_tests::flows::{self, World, FLOWS};
use std::collections::{BTreeMap, BTreeSet};

/// flow → (DynamoDB requests, read units, write units, SQS requests, emails).
const EXPECTED: [(&str, &str, f64, f64, u32, u32); 16] = [
    ("purchase (checkout)", "2×GetItem + 1×PutItem", 2.0, 1.0, 0, 0),
    ("webhook: checkout completed", "4×GetItem + 1×TransactWriteItems", 4.0, 20.0, 2, 0),
    ("sign-in (a customer's email)", "2×UpdateItem", 0.0, 2.0, 1, 0),
    ("sign-in (an unknown email)", "2×UpdateItem", 0.0, 2.0, 1, 0),
    ("worker: sign-in link", "4×GetItem + 1×PutItem", 4.0, 1.0, 0, 1),
    ("assign", "2×GetItem + 1×TransactWriteItems", 2.0, 18.0, 2, 0),
    ("worker: invitation", "1×TransactGetItems + 1×TransactWriteItems", 4.0, 5.0, 1, 1),
    ("claim", "1×GetItem + 1×TransactWriteItems", 3.0, 17.0, 2, 0),
    ("worker: grant", "1×DeleteItem + 4×GetItem + 1×TransactWriteItems", 6.0, 11.0, 1, 0),
    ("benefits (holder's page)", "1×GetItem + 1×Query", 2.0, 0.0, 0, 0),
    ("list a page (25)", "2×GetItem + 1×Query", 4.0, 0.0, 0, 0),
    ("resize (+1 seat, charged)", "4×GetItem + 2×TransactWriteItems", 6.0, 18.0, 1, 0),
    ("annual switch", "4×GetItem + 2×TransactWriteItems", 6.0, 18.0, 1, 0),
    ("revoke", "3×GetItem + 1×TransactWriteItems", 3.0, 17.0, 2, 0),
    ("worker: revoke", "1×DeleteItem + 1×GetItem + 1×Query + 1×TransactWriteItems", 4.0, 9.0, 1, 0),
    ("webhook: renewal", "2×GetItem + 1×TransactWriteItems", 2.0, 12.0, 1, 0),
];

async fn world(name: &str) -> (local_stack::moto::Moto, World) {
    let moto = local_stack::moto::Moto::start().await.expect("moto");
    let sdk = local_stack::resources::sdk_config(&moto.endpoint).await;
    let w = World::new(&sdk, name).await;
    (moto, w)
}

#[tokio::test]
async fn every_flow_makes_the_requests_and_units_of_the_cost_table() {
    let (_moto, w) = world("costs").await;
    let sub = flows::subscription(&w, 10, true).await;
    let seen: BTreeMap<&str, _> = flows::run_all(&w, &sub)
        .await
        .into_iter()
        .map(|(flow, s)| {
            let u = s.usage;
            if std::env::var("SHOW_CALLS").is_ok() {
                let took: Vec<String> = u
                    .calls
                    .iter()
                    .map(|c| format!("{} {:.1} ms", c.key, c.took.as_secs_f64() * 1e3))
                    .collect();
                println!("{flow}: handler {:?}, SDK {:?}: {}", s.handler, u.sdk_time, took.join(", "));
            }
            (flow, (u.which("dynamodb"), u.read_units, u.write_units, u.count("sqs"), u.count("ses")))
        })
        .collect();
    assert_eq!(seen.len(), FLOWS.len());
    // Every difference at once, in the table's own form.
    let differ: Vec<String> = EXPECTED
        .iter()
        .filter(|(flow, which, read, write, sqs, ses)| {
            seen[flow] != (which.to_string(), *read, *write, *sqs, *ses)
        })
        .map(|(flow, ..)| {
            let (which, read, write, sqs, ses) = &seen[flow];
            format!("(\"{flow}\", \"{which}\", {read:?}, {write:?}, {sqs}, {ses}),")
        })
        .collect();
    assert!(differ.is_empty(), "flows that differ from the table, as measured:\n{}", differ.join("\n"));
}

/// Assigns a seat to `email` and returns the link the worker would mail.
async fn link_for(w: &World, sub: &str, email: &str) -> String {
    seats::assign(
        &w.app,
        &w.merchant,
        sub,
        AssignSeat { email: email.into(), metadata: None, ..Default::default() },
    )
    .await
    .expect("assign");
    let jobs = w.queue.sent.lock().expect("jobs").clone();
    jobs.iter().rev().find_map(|j| j.claim_token.clone()).expect("the invitation's link")
}

#[tokio::test]
async fn a_returning_customer_claims_in_three_requests_and_dead_links_write_nothing() {
    let (_moto, w) = world("claims").await;
    let sub = flows::subscription(&w, 5, false).await;

    // The buyer is a customer already: the first transaction's refusal names them.
    let token = link_for(&w, &sub.id, "boss@corp.example").await;
    w.meter.take();
    let claimed = claims::claim(&w.app, ClaimRequest { token: token.clone() }).await.expect("claim");
    let u = w.meter.take();
    assert_eq!(u.which("dynamodb"), "1×GetItem + 2×TransactWriteItems");
    assert_eq!(claimed.seat.customer_id.as_deref(), Some(sub.customer_id.as_str()));

    // A used link: one read, nothing written.
    let before = seats_tests::scan(&w.db, &w.res.table).await;
    w.meter.take();
    let again = claims::claim(&w.app, ClaimRequest { token }).await;
    assert_eq!(again.err(), Some(DomainError::NotFound("claim")));
    assert_eq!(w.meter.take().which("dynamodb"), "1×GetItem");

    // A live link of a subscription that lapsed meanwhile: the transaction's reasons say so.
    let token = link_for(&w, &sub.id, "ann@corp.example").await;
    let key = adapters::keys::subscription(&sub.id);
    w.db.update_item()
        .table_name(&w.res.table)
        .key("PK", aws_sdk_dynamodb::types::AttributeValue::S(key.pk))
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S(key.sk))
        .update_expression("SET #s = :s")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":s", aws_sdk_dynamodb::types::AttributeValue::S("canceled".into()))
        .send()
        .await
        .expect("lapse");
    let before_lapsed = seats_tests::scan(&w.db, &w.res.table).await;
    w.meter.take();
    let refused = claims::claim(&w.app, ClaimRequest { token }).await;
    assert_eq!(refused.err(), Some(DomainError::NotFound("claim")));
    assert_eq!(w.meter.take().which("dynamodb"), "1×GetItem + 1×TransactWriteItems");
    let after = seats_tests::scan(&w.db, &w.res.table).await;
    assert_eq!(after.len(), before_lapsed.len(), "a refused claim writes nothing");
    assert!(before.len() < before_lapsed.len());
    let status = w.app.store.subscription(&sub.id).await.expect("s").expect("sub").status;
    assert_eq!(status, SubscriptionStatus::Canceled);
}

#[test]
fn the_priced_memory_is_the_templates() {
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/template.yaml"))
        .expect("template");
    let globals = template.split("Resources:").next().expect("globals");
    assert!(
        globals.contains(&format!("MemorySize: {}", seats_tests::prices::LAMBDA_MEMORY_MB as u32)),
        "the cost table prices the functions' configured memory"
    );
}

/// The function (its binary) that runs each flow in production.
fn function_of(flow: &str) -> &'static str {
    match flow {
        "purchase (checkout)" => "purchase",
        f if f.starts_with("webhook:") => "stripe-webhook",
        f if f.starts_with("sign-in") || f == "benefits (holder's page)" => "portal",
        f if f.starts_with("worker:") => "benefit-worker",
        "assign" | "list a page (25)" => "assign",
        "claim" => "claim",
        f if f.starts_with("resize") => "resize",
        "annual switch" => "annual-switch",
        "revoke" => "revoke",
        other => panic!("no function for the flow {other}"),
    }
}

/// Each flow's AWS requests, as measured, against what the template lets its function do: a
/// store call added to a function without its IAM action fails here, not in production
/// (moto does not check IAM). The worker's receive and delete are its event source mapping's.
#[tokio::test]
async fn every_flow_calls_only_what_its_functions_policy_allows() {
    let (_moto, w) = world("iam").await;
    let sub = flows::subscription(&w, 10, true).await;
    let yaml = seats_tests::template::read();
    let mut denied = Vec::new();
    let mut checked = 0;
    for (flow, sample) in flows::run_all(&w, &sub).await {
        let function = function_of(flow);
        let allowed =
            seats_tests::template::allowed_actions(&seats_tests::template::function_block(&yaml, function));
        let actions: BTreeSet<String> =
            sample.usage.calls.iter().flat_map(|c| seats_tests::iam::actions(&c.key, &c.body)).collect();
        for action in actions {
            checked += 1;
            if !allowed.contains(&action) {
                denied.push(format!("{flow} ({function}): {action}"));
            }
        }
    }
    assert!(checked > 30, "the flows made {checked} kinds of requests");
    assert!(denied.is_empty(), "requests the template does not allow:\n{}", denied.join("\n"));
}
