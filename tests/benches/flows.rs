//! `make bench`: what each flow makes and costs, against moto on this machine, in one run.
//!
//! 1. Requests per flow (DynamoDB, SQS, SES, counted by a meter on the SDK clients, retries
//!    included) beside the design's minimum, on a 10-seat and a 9,980-seat subscription
//!    (seeded with BatchWriteItem; under the 10,000-seat limit after 15 resizes): they must be
//!    equal.
//! 2. Each flow's median latency as a ratio to the bare SDK calls it makes (the same calls,
//!    timed by the meter from start to end in the same run): the ratio is the handler's
//!    overhead. moto's latency grows with the table, so only the ratio at the same size means
//!    anything.
//! 3. The 200-way contention run: 200 concurrent assigns on 10 seats.
//! 4. The cost table: request units (computed from item sizes, see `seats_tests::meter`), SQS
//!    and SES requests and the handler's duration, priced per million runs at the prices in
//!    `seats_tests::prices`, x86_64 and arm64, and a month of a 1,000-seat subscription.

use domain::services::seats::{self, AssignSeat};
use seats_tests::flows::{self, Sample, World, FLOWS};
use seats_tests::meter::Usage;
use seats_tests::prices::{self, Cost};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const RUNS: usize = 15;
const RUNS_BIG: usize = 5;
/// The sizes compared. The big one stays under the 10,000-seat limit after its resizes.
const SIZES: [i64; 2] = [10, 9_980];

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The least each flow can do, as the design has it.
fn minimum(flow: &str) -> &'static str {
    match flow {
        "purchase (checkout)" => "3 (product and organization reads, checkout put)",
        "webhook: checkout completed" => "5 (checkout, organization, product and buyer's email-guard reads, 1 transaction) + the sign-in link's job and the webhook dispatch to SQS",
        "sign-in (a customer's email)" | "sign-in (an unknown email)" => "2 (the per-email and per-organization limits' conditional updates) + the job to SQS, alike for every email",
        "worker: sign-in link" => "5 (the slug and email guards, the organization and customer reads, the code's put) + the mail",
        "assign" => "3 (key + subscription reads, 1 transaction) + the job and the webhook dispatch to SQS",
        "worker: invitation" => "2 (the job and the link in one read, 1 transaction) + the mail + the webhook dispatch",
        "claim" => "2 (the link read, 1 transaction) + the job and the webhook dispatch to SQS; 3 for a returning customer",
        "worker: grant" => "seat, subscription, product and each benefit read + 1 transaction per benefit + the job's delete + a webhook dispatch per grant",
        "benefits (holder's page)" => "2 (session read, the holder's grants query)",
        "list a page (25)" => "3 (key + subscription reads, 1 bounded query)",
        "resize (+1 seat, charged)" => "5 (key, subscription, product reads; the intent's and the settlement's transactions) + the settled subscription read back for the answer + the webhook dispatch",
        "annual switch" => "5 (key, subscription, product reads; the intent's and the settlement's transactions) + the settled subscription read back for the answer + the webhook dispatch",
        "revoke" => "4 (key + subscription + seat reads, 1 transaction) + the job and the webhook dispatch to SQS",
        "worker: revoke" => "the holder's grants query, the subscription read (its organization) + 1 transaction per grant + the job's delete + a webhook dispatch per grant",
        "webhook: renewal" => "3 (the Stripe link and subscription reads, 1 transaction with the event's marker) + the webhook dispatch",
        _ => "",
    }
}

fn money(d: f64) -> String {
    if d == 0.0 {
        "$0".into()
    } else if d >= 100.0 {
        format!("${d:.0}")
    } else if d >= 1.0 {
        format!("${d:.2}")
    } else if d >= 0.01 {
        format!("${d:.3}")
    } else {
        format!("${d:.6}")
    }
}

fn cost_of(flow: &str, u: &Usage, handler: Duration) -> Cost {
    prices::per_million(
        u.read_units,
        u.write_units,
        u.count("sqs") as f64,
        u.count("ses") as f64,
        handler.as_secs_f64() * 1e3,
        flows::from_queue(flow),
    )
}

#[tokio::main]
async fn main() {
    let moto = local_stack::moto::Moto::start().await.expect("moto");
    let sdk = local_stack::resources::sdk_config(&moto.endpoint).await;

    let mut results: Vec<(i64, BTreeMap<&'static str, Vec<Sample>>)> = Vec::new();
    for size in SIZES {
        let w = World::new(&sdk, &format!("bench{size}")).await;
        eprintln!("measuring a {size}-seat subscription…");
        let sub = flows::subscription(&w, size, true).await;
        let mut by_flow: BTreeMap<&'static str, Vec<Sample>> = BTreeMap::new();
        // moto copies every table for each transaction: at ~10,000 seats a run takes a minute.
        let runs = if size > 1000 { RUNS_BIG } else { RUNS };
        for _ in 0..runs {
            for (flow, sample) in flows::run_all(&w, &sub).await {
                by_flow.entry(flow).or_default().push(sample);
            }
        }
        results.push((size, by_flow));
    }

    println!("\n### Requests per flow ({}-seat vs {}-seat subscription)\n", SIZES[0], SIZES[1]);
    println!(
        "| flow | design minimum | DynamoDB, {} seats | DynamoDB, {} seats | which | SQS | SES |",
        SIZES[0], SIZES[1]
    );
    println!("|---|---|---|---|---|---|---|");
    for flow in FLOWS {
        let small = &results[0].1[flow];
        let big = &results[1].1[flow];
        for s in small.iter().chain(big) {
            assert_eq!(
                s.usage.requests, small[0].usage.requests,
                "{flow}: the requests differ between runs or sizes"
            );
        }
        let u = &small[0].usage;
        println!(
            "| {flow} | {} | {} | {} | {} | {} | {} |",
            minimum(flow),
            u.count("dynamodb"),
            big[0].usage.count("dynamodb"),
            u.which("dynamodb"),
            u.count("sqs"),
            u.count("ses"),
        );
    }

    println!(
        "\n### Latency: handler vs the bare SDK calls it makes (median of {RUNS} runs at {} seats, {RUNS_BIG} at {}; moto on 127.0.0.1)\n",
        SIZES[0], SIZES[1]
    );
    println!("| flow | seats | handler | bare SDK calls | ratio |");
    println!("|---|---|---|---|---|");
    for (size, by_flow) in &results {
        for flow in FLOWS {
            let samples = &by_flow[flow];
            let h = median(samples.iter().map(|s| s.handler).collect());
            let b = median(samples.iter().map(|s| s.sdk()).collect());
            println!(
                "| {flow} | {size} | {:.1} ms | {:.1} ms | {:.2} |",
                h.as_secs_f64() * 1e3,
                b.as_secs_f64() * 1e3,
                h.as_secs_f64() / b.as_secs_f64()
            );
        }
    }

    let w = World::new(&sdk, "contention").await;
    let sub = flows::subscription(&w, 10, false).await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let app = w.app.clone();
        let who = w.merchant.clone();
        let sub_id = sub.id.clone();
        tasks.push(tokio::spawn(async move {
            seats::assign(
                &app,
                &who,
                &sub_id,
                AssignSeat { email: format!("c{i}@corp.example"), metadata: None, ..Default::default() },
            )
            .await
        }));
    }
    let mut outcome: BTreeMap<String, u32> = BTreeMap::new();
    for t in tasks {
        let key = match t.await.expect("join") {
            Ok(_) => "201 created".to_string(),
            Err(e) => format!("{e:?}"),
        };
        *outcome.entry(key).or_default() += 1;
    }
    let wall = started.elapsed();
    let counter_now = w.app.store.subscription(&sub.id).await.expect("get").expect("sub").seats_assigned;
    println!("\n### Contention: 200 concurrent assigns on 10 seats\n");
    println!("| wall time | outcome | counter after |");
    println!("|---|---|---|");
    println!(
        "| {:.2} s | {} | {counter_now} |",
        wall.as_secs_f64(),
        outcome.iter().map(|(k, v)| format!("{v} × {k}")).collect::<Vec<_>>().join(", ")
    );
    assert_eq!(counter_now, 10);

    println!(
        "\n### What a flow costs on AWS ({}, on-demand, prices of {}; {} MB functions; per million runs)\n",
        prices::REGION,
        prices::PRICES_CHECKED,
        prices::LAMBDA_MEMORY_MB
    );
    println!("| flow | read units | write units | (moto reported) | SQS + SES requests | duration | DynamoDB | SQS + SES | requests | total x86_64 | total arm64 |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut costs: BTreeMap<&str, Cost> = BTreeMap::new();
    for flow in FLOWS {
        let samples = &results[0].1[flow];
        let u = &samples[0].usage;
        let h = median(samples.iter().map(|s| s.handler).collect());
        let c = cost_of(flow, u, h);
        costs.insert(flow, c);
        println!(
            "| {flow} | {} | {} | ({}) | {} + {} | {:.0} ms | {} | {} | {} | {} | {} |",
            u.read_units,
            u.write_units,
            u.reported_units,
            u.count("sqs"),
            u.count("ses"),
            (h.as_secs_f64() * 1e3).ceil(),
            money(c.dynamodb),
            money(c.queue_and_mail),
            money(c.requests),
            money(c.total_x86()),
            money(c.total_arm()),
        );
    }
    let (mut x86, mut arm) = (0.0, 0.0);
    for (flow, times) in prices::MONTH_OF_1000_SEATS {
        let c = costs[flow];
        x86 += c.total_x86() * times / 1e6;
        arm += c.total_arm() * times / 1e6;
    }
    println!(
        "| **a month of a 1,000-seat subscription** ({}) | | | | | | | | | **{}** ({} per seat) | **{}** ({} per seat) |",
        prices::MONTH_OF_1000_SEATS.iter().map(|(f, n)| format!("{n}× {f}")).collect::<Vec<_>>().join(", "),
        money(x86),
        money(x86 / 1000.0),
        money(arm),
        money(arm / 1000.0),
    );
}
