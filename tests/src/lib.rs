//! Shared fixtures of the integration and end-to-end tests.

pub mod api;
pub mod browser;
pub mod e2e;
pub mod flows;
pub mod iam;
pub mod meter;
pub mod prices;
pub mod template;

use adapters::dynamo::DynamoStore;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// A fresh table on the process's shared moto, deleted by `drop_table`.
pub struct TestTable {
    pub store: DynamoStore,
    pub client: aws_sdk_dynamodb::Client,
    pub name: String,
}

impl TestTable {
    pub async fn new(suite: &str) -> TestTable {
        let endpoint = local_stack::moto::shared_for_tests().expect("moto for tests");
        let sdk = local_stack::resources::sdk_config(endpoint).await;
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        let name = local_stack::resources::unique_prefix(suite);
        local_stack::resources::create_table(&client, &name).await.expect("create table");
        TestTable { store: DynamoStore::new(client.clone(), &name), client, name }
    }

    /// Every item of the table (tests only: a scan).
    pub async fn scan(&self) -> Vec<HashMap<String, AttributeValue>> {
        scan(&self.client, &self.name).await
    }

    pub async fn drop_table(self) {
        let _ = self.client.delete_table().table_name(&self.name).send().await;
    }
}

pub async fn scan(client: &aws_sdk_dynamodb::Client, table: &str) -> Vec<HashMap<String, AttributeValue>> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = client.scan().table_name(table).set_exclusive_start_key(start).send().await.expect("scan");
        out.extend(page.items.unwrap_or_default());
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => break,
        }
    }
    out
}

/// The whole table as one string, to search for secrets that must not be there.
pub fn dump(items: &[HashMap<String, AttributeValue>]) -> String {
    format!("{items:?}")
}

/// Writes `count` seats of `sub` straight into the table with BatchWriteItem (seat items and
/// their email guards) and moves the counter: a big subscription without thousands of
/// transactions. `claimed` seats get a made-up holder.
pub async fn seed_seats(
    db: &aws_sdk_dynamodb::Client,
    table: &str,
    subscription_id: &str,
    organization_id: &str,
    count: usize,
    claimed: bool,
) {
    use adapters::dynamo::{marker, row};
    use adapters::keys;
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    use domain::model::{Seat, SeatStatus};
    let now = chrono::Utc::now();
    let mut requests = Vec::new();
    for i in 0..count {
        let seat = Seat {
            id: domain::ids::new_id("seat"),
            subscription_id: subscription_id.to_string(),
            organization_id: organization_id.to_string(),
            status: if claimed { SeatStatus::Claimed } else { SeatStatus::Pending },
            email: format!("seeded{i}@corp.example"),
            customer_id: claimed.then(|| domain::ids::new_id("cus")),
            metadata: Default::default(),
            invited_at: now,
            invitation_expires_at: (!claimed).then_some(now + chrono::Duration::days(3)),
            claimed_at: claimed.then_some(now),
            revoked_at: None,
            claim_token_hash: (!claimed).then(|| domain::secrets::hash(&format!("seeded-{}", seat_token(i)))),
            reinvitations: 0,
            suspended_at: None,
            suspended_from: None,
            restorations: 0,
        };
        let item = row("seat", &keys::seat(subscription_id, &seat.id), &seat).expect("row");
        let guard = marker(
            "seat_email",
            &keys::seat_email(subscription_id, &seat.email),
            &[("seat_id", AttributeValue::S(seat.id.clone()))],
        );
        for it in [item, guard] {
            requests.push(
                WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(it)).build().expect("put"))
                    .build(),
            );
        }
    }
    for chunk in requests.chunks(25) {
        let mut pending = chunk.to_vec();
        while !pending.is_empty() {
            let out = db
                .batch_write_item()
                .request_items(table, pending.clone())
                .send()
                .await
                .expect("batch write");
            pending = out.unprocessed_items.and_then(|mut u| u.remove(table)).unwrap_or_default();
        }
    }
    let key = keys::subscription(subscription_id);
    db.update_item()
        .table_name(table)
        .key("PK", AttributeValue::S(key.pk))
        .key("SK", AttributeValue::S(key.sk))
        .update_expression("SET seats_assigned = seats_assigned + :n")
        .expression_attribute_values(":n", AttributeValue::N(count.to_string()))
        .send()
        .await
        .expect("counter");
}

fn seat_token(i: usize) -> String {
    format!("{i:08}")
}
