//! Shared fixtures of the integration and end-to-end tests.

pub mod api;
pub mod e2e;

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
