//! The schedule's tick: send outbox entries again (see `domain::services::sweeper`).

use domain::services::{sweeper, App};
use lambda_runtime::Error;
use serde_json::{json, Value};

pub async fn handle(app: &App, stale_after_s: i64) -> Result<Value, Error> {
    let done = sweeper::sweep(app, stale_after_s).await?;
    tracing::info!(
        resent = done.resent,
        given_up = done.given_up,
        changes_settled = done.changes_settled,
        webhooks_dispatched = done.webhooks_dispatched,
        webhook_deliveries_resent = done.webhook_deliveries_resent,
        "sweep"
    );
    Ok(json!({
        "resent": done.resent,
        "given_up": done.given_up,
        "changes_settled": done.changes_settled,
        "webhooks_dispatched": done.webhooks_dispatched,
        "webhook_deliveries_resent": done.webhook_deliveries_resent,
    }))
}
