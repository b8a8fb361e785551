//! Every DynamoDB key format of the single table, in one place.
//!
//! | item | PK | SK | GSI1PK / GSI1SK |
//! |---|---|---|---|
//! | organization | `ORG#{id}` | `ORG` | |
//! | slug guard | `ORGSLUG#{slug}` | `ORGSLUG` | |
//! | API key | `APIKEY#{sha256}` | `APIKEY` | |
//! | product / benefit | `PRODUCT#{id}` / `BENEFIT#{id}` | `META` | `ORG#{org}` / `PRODUCT#{id}`, `BENEFIT#{id}` |
//! | checkout | `CHECKOUT#{id}` | `META` | |
//! | customer / email guard | `CUSTOMER#{id}` / `ORG#{org}#EMAIL#{email}` | `META` / `CUSTOMER` | |
//! | subscription | `SUB#{id}` | `META` | `CUSTOMER#{billing manager}` / `SUB#{id}`; GSI2: `ORG#{org}` / `SUB#{id}` |
//! | provider link | `STRIPESUB#{stripe sub id}` | `LINK` | |
//! | audit event | `SUB#{id}` | `EVT#{evt id}` | |
//! | Stripe event seen | `STRIPEEVT#{id}` | `EVENT` (+ ttl) | |
//! | sign-in code / session | `SIGNIN#{sha256}` / `SESSION#{sha256}` | `SIGNIN` / `SESSION` (+ ttl) | |
//! | idempotency record | `IDEMP#{scope}#{key}` | `IDEMP` (+ ttl) | |
//! | rate-limit counter (one per limit, caller hash and window) | `RATE#{limit}#{hash}#{window}` | `RATE` (+ ttl) | |
//! | seat | `SUB#{id}` | `SEAT#{seat id}` | `CUSTOMER#{holder}` / `SEAT#{seat id}` (once claimed) |
//! | one live seat per email | `SUB#{id}` | `SEATEMAIL#{email}` | |
//! | claim token | `CLAIM#{sha256}` | `CLAIM` (+ ttl) | `INVITEEXP#{shard}` / `{expires:012}#{sha256}` (the sweeper's expiry list) |
//! | co-manager / their counter | `SUB#{id}` | `MANAGER#{customer}` / `MANAGERS` | `CUSTOMER#{customer}` / `MANAGES#{sub}` |
//! | ownership offer (one per subscription) | `SUB#{id}` | `OWNEROFFER` | `CUSTOMER#{offered}` / `OWNEROFFER#{sub}` |
//! | seats just bought by auto-grow, until written (no other change begins meanwhile) | `SUB#{id}` | `GROWHOLD` | |
//! | a lapsed subscription's suspension (its seats wait for a reactivation) | `SUB#{id}` | `SUSPENSION` | `SUSPENDED#{shard}` / `{until:012}#{sub}` (the sweeper's list) |
//! | an invoice of the ledger (a provider that keeps none: offline) | `SUB#{id}` | `INVOICE#{invoice id}` | |
//! | an unpaid renewal's grace days, until paid or lapsed | `SUB#{id}` | `DUNNINGDUE` | `DUNNINGDUE#{shard}` / `{access_until:012}#{sub}` (the sweeper's list) |
//! | a subscription set to end at its period's end, until dealt with | `SUB#{id}` | `CANCELDUE` | `CANCELDUE#{shard}` / `{cancel_at:012}#{sub}` (the sweeper's list) |
//! | seats reserved by a batch, until given back | `SUB#{id}` | `RESERVATION#{id}` | `SEATRESERVATION` / `{created:012}#{id}` |
//! | grant | `CUSTOMER#{holder}` | `GRANT#{seat id}#{benefit id}` | |
//! | license key record (who holds it, activation counter) | `LICENSE#{sha256}` | `LICENSE` | |
//! | license key activation | `LICENSE#{sha256}` | `ACTIVATION#{id}` | |
//! | outbox entry (job not yet done) | `OUTBOX#{shard 0..3}` | `JOB#{kind}#{seat id}` | |
//! | money change in flight (sweeper's list) | `CHANGEINTENT` | `SUB#{id}` | |
//! | webhook endpoint (counter: `webhook_endpoints` on the organization) | `ORG#{org}` | `WEBHOOK#{id}` | |
//! | webhook delivery (+ ttl) | `WEBHOOK#{endpoint}` | `DELIVERY#{id}` | `WEBHOOKDUE#{shard}` / `{next attempt:012}#{id}` (while pending) |
//! | audit event announcing webhook events, until dispatched | (the audit event) | | `WEBHOOKOUT#{shard}` / `{created:012}#{evt id}` |

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
/// The second index: a merchant's subscriptions (sparse, only subscriptions carry it).
pub const GSI2: &str = "GSI2";
pub const GSI2PK: &str = "GSI2PK";
pub const GSI2SK: &str = "GSI2SK";
pub const ENTITY: &str = "entity";
pub const TTL: &str = "ttl";

/// A primary key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

fn key(pk: String, sk: &str) -> Key {
    Key { pk, sk: sk.to_string() }
}

pub fn organization(id: &str) -> Key {
    key(format!("ORG#{id}"), "ORG")
}
pub fn organization_slug(slug: &str) -> Key {
    key(format!("ORGSLUG#{slug}"), "ORGSLUG")
}
pub fn api_key(hash: &str) -> Key {
    key(format!("APIKEY#{hash}"), "APIKEY")
}
pub const API_KEY_PREFIX: &str = "APIKEY#";
pub fn api_key_index_sk(id: &str) -> String {
    format!("{API_KEY_PREFIX}{id}")
}
pub fn product(id: &str) -> Key {
    key(format!("PRODUCT#{id}"), "META")
}
pub fn benefit(id: &str) -> Key {
    key(format!("BENEFIT#{id}"), "META")
}
/// GSI1 partition of everything an organization owns.
pub fn organization_index(org: &str) -> String {
    format!("ORG#{org}")
}
pub const PRODUCT_PREFIX: &str = "PRODUCT#";
pub const BENEFIT_PREFIX: &str = "BENEFIT#";
pub fn checkout(id: &str) -> Key {
    key(format!("CHECKOUT#{id}"), "META")
}
pub fn customer(id: &str) -> Key {
    key(format!("CUSTOMER#{id}"), "META")
}
pub fn customer_email(org: &str, email: &str) -> Key {
    key(format!("ORG#{org}#EMAIL#{email}"), "CUSTOMER")
}
/// GSI1 partition of what a customer manages or holds.
pub fn customer_index(customer: &str) -> String {
    format!("CUSTOMER#{customer}")
}
pub fn subscription(id: &str) -> Key {
    key(format!("SUB#{id}"), "META")
}
pub const SUBSCRIPTION_PREFIX: &str = "SUB#";
pub fn subscription_index_sk(id: &str) -> String {
    format!("SUB#{id}")
}
pub fn provider_subscription(provider_id: &str) -> Key {
    key(format!("STRIPESUB#{provider_id}"), "LINK")
}
pub fn audit_event(sub: &str, event_id: &str) -> Key {
    key(format!("SUB#{sub}"), &format!("EVT#{event_id}"))
}
pub const AUDIT_PREFIX: &str = "EVT#";
pub fn stripe_event(id: &str) -> Key {
    key(format!("STRIPEEVT#{id}"), "EVENT")
}
pub fn sign_in_code(hash: &str) -> Key {
    key(format!("SIGNIN#{hash}"), "SIGNIN")
}
pub fn session(hash: &str) -> Key {
    key(format!("SESSION#{hash}"), "SESSION")
}
pub fn idempotency(scope: &str) -> Key {
    key(format!("IDEMP#{scope}"), "IDEMP")
}

pub fn seat(sub: &str, seat: &str) -> Key {
    key(format!("SUB#{sub}"), &format!("SEAT#{seat}"))
}
pub const SEAT_PREFIX: &str = "SEAT#";
pub fn seat_index_sk(seat: &str) -> String {
    format!("SEAT#{seat}")
}
pub fn seat_email(sub: &str, email: &str) -> Key {
    key(format!("SUB#{sub}"), &format!("SEATEMAIL#{email}"))
}
pub fn claim_token(hash: &str) -> Key {
    key(format!("CLAIM#{hash}"), "CLAIM")
}
pub fn grant(customer: &str, seat: &str, benefit: &str) -> Key {
    key(format!("CUSTOMER#{customer}"), &format!("GRANT#{seat}#{benefit}"))
}
pub const GRANT_PREFIX: &str = "GRANT#";
/// By the key's hash: the table never holds a key in a key attribute.
pub fn license_key(key_hash: &str) -> Key {
    key(format!("LICENSE#{key_hash}"), "LICENSE")
}
pub fn license_activation(key_hash: &str, activation_id: &str) -> Key {
    key(format!("LICENSE#{key_hash}"), &format!("ACTIVATION#{activation_id}"))
}
pub const ACTIVATION_PREFIX: &str = "ACTIVATION#";
/// The partition of changes in flight: few at any time (one per subscription at most, for
/// seconds), so one partition serves the sweeper's query.
pub const CHANGE_INTENTS: &str = "CHANGEINTENT";

pub fn change_intent(sub: &str) -> Key {
    key(CHANGE_INTENTS.to_string(), &format!("SUB#{sub}"))
}

/// Outbox entries spread over a few partitions so that no single one is hot.
pub const OUTBOX_SHARDS: u32 = 4;
pub fn outbox_partition(shard: u32) -> String {
    format!("OUTBOX#{shard}")
}
pub fn outbox(kind: &str, seat: &str) -> Key {
    let shard = seat.bytes().map(u32::from).sum::<u32>() % OUTBOX_SHARDS;
    key(outbox_partition(shard), &format!("JOB#{kind}#{seat}"))
}

pub fn webhook_endpoint(org: &str, id: &str) -> Key {
    key(format!("ORG#{org}"), &format!("WEBHOOK#{id}"))
}
pub const WEBHOOK_ENDPOINT_PREFIX: &str = "WEBHOOK#";
pub fn webhook_delivery(endpoint: &str, id: &str) -> Key {
    key(format!("WEBHOOK#{endpoint}"), &format!("DELIVERY#{id}"))
}
pub const DELIVERY_PREFIX: &str = "DELIVERY#";
/// The sparse lists the sweeper reads (GSI1), spread like the outbox.
pub const WEBHOOK_SHARDS: u32 = 4;
fn shard_of(id: &str) -> u32 {
    id.bytes().map(u32::from).sum::<u32>() % WEBHOOK_SHARDS
}
pub fn webhook_due_partition(shard: u32) -> String {
    format!("WEBHOOKDUE#{shard}")
}
pub fn webhook_due(delivery_id: &str, next_attempt_at: i64) -> (String, String) {
    (webhook_due_partition(shard_of(delivery_id)), format!("{next_attempt_at:012}#{delivery_id}"))
}
pub fn undispatched_partition(shard: u32) -> String {
    format!("WEBHOOKOUT#{shard}")
}
pub fn undispatched(audit_id: &str, created: i64) -> (String, String) {
    (undispatched_partition(shard_of(audit_id)), format!("{created:012}#{audit_id}"))
}
/// The sweeper's list of claim links by expiry, spread like the outbox.
pub fn invitation_expiry_partition(shard: u32) -> String {
    format!("INVITEEXP#{shard}")
}
pub fn invitation_expiry(token_hash: &str, expires_at: i64) -> (String, String) {
    (invitation_expiry_partition(shard_of(token_hash)), format!("{expires_at:012}#{token_hash}"))
}
pub fn suspension(sub: &str) -> Key {
    key(format!("SUB#{sub}"), "SUSPENSION")
}
pub fn suspension_due_partition(shard: u32) -> String {
    format!("SUSPENDED#{shard}")
}
pub fn suspension_due(sub: &str, until: i64) -> (String, String) {
    (suspension_due_partition(shard_of(sub)), format!("{until:012}#{sub}"))
}
pub fn ledger_invoice(sub: &str, invoice: &str) -> Key {
    key(format!("SUB#{sub}"), &format!("{LEDGER_INVOICE_PREFIX}{invoice}"))
}
pub const LEDGER_INVOICE_PREFIX: &str = "INVOICE#";
pub fn dunning_due(sub: &str) -> Key {
    key(format!("SUB#{sub}"), "DUNNINGDUE")
}
pub fn dunning_due_partition(shard: u32) -> String {
    format!("DUNNINGDUE#{shard}")
}
pub fn dunning_due_entry(sub: &str, access_until: i64) -> (String, String) {
    (dunning_due_partition(shard_of(sub)), format!("{access_until:012}#{sub}"))
}
pub fn cancellation_due(sub: &str) -> Key {
    key(format!("SUB#{sub}"), "CANCELDUE")
}
pub fn cancellation_due_partition(shard: u32) -> String {
    format!("CANCELDUE#{shard}")
}
pub fn cancellation_due_entry(sub: &str, cancel_at: i64) -> (String, String) {
    (cancellation_due_partition(shard_of(sub)), format!("{cancel_at:012}#{sub}"))
}
pub fn manager(sub: &str, customer: &str) -> Key {
    key(format!("SUB#{sub}"), &format!("MANAGER#{customer}"))
}
pub const MANAGER_PREFIX: &str = "MANAGER#";
pub fn managers_counter(sub: &str) -> Key {
    key(format!("SUB#{sub}"), "MANAGERS")
}
/// GSI1 sort keys under a customer's partition: the subscriptions they co-manage, the offers.
pub const MANAGES_PREFIX: &str = "MANAGES#";
pub fn manages_index_sk(sub: &str) -> String {
    format!("{MANAGES_PREFIX}{sub}")
}
pub fn ownership_offer(sub: &str) -> Key {
    key(format!("SUB#{sub}"), "OWNEROFFER")
}
pub const OFFER_PREFIX: &str = "OWNEROFFER#";
pub fn offer_index_sk(sub: &str) -> String {
    format!("{OFFER_PREFIX}{sub}")
}
/// Seats just bought by auto-grow, until they are written: begin_change checks its absence.
pub fn grow_hold(sub: &str) -> Key {
    key(format!("SUB#{sub}"), "GROWHOLD")
}
pub fn seat_reservation(sub: &str, id: &str) -> Key {
    key(format!("SUB#{sub}"), &format!("RESERVATION#{id}"))
}
/// Open reservations are few (one per batch running, for seconds): one partition serves.
pub const RESERVATIONS: &str = "SEATRESERVATION";
pub fn reservation_index(id: &str, created: i64) -> (String, String) {
    (RESERVATIONS.to_string(), format!("{created:012}#{id}"))
}

/// The sort key just past every entry of second `t` (`$` follows `#`).
pub fn time_bound(t: i64) -> String {
    format!("{t:012}$")
}

/// A fixed-window rate counter (its key names the limit, the subject's hash and the window).
pub fn rate_counter(key: &str) -> Key {
    self::key(format!("RATE#{key}"), "RATE")
}

/// Jobs given up after their re-sends, kept for an operator (oldest first).
pub const DEAD_JOBS: &str = "DEADJOB";
pub fn dead_job(dead_at: &str, kind: &str, seat: &str) -> Key {
    key(DEAD_JOBS.into(), &format!("{dead_at}#{kind}#{seat}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_per_entity() {
        let all = [
            organization("x").pk,
            organization_slug("x").pk,
            api_key("x").pk,
            product("x").pk,
            benefit("x").pk,
            checkout("x").pk,
            customer("x").pk,
            subscription("x").pk,
            provider_subscription("x").pk,
            stripe_event("x").pk,
            sign_in_code("x").pk,
            session("x").pk,
            idempotency("x").pk,
            claim_token("x").pk,
            license_key("x").pk,
            outbox("grant", "x").pk,
            webhook_delivery("x", "y").pk,
            webhook_due("x", 1).0,
            undispatched("x", 1).0,
            invitation_expiry("x", 1).0,
            reservation_index("x", 1).0,
        ];
        let unique: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(unique.len(), all.len());
    }
}
