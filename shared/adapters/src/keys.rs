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
//! | subscription | `SUB#{id}` | `META` | `CUSTOMER#{billing manager}` / `SUB#{id}` |
//! | provider link | `STRIPESUB#{stripe sub id}` | `LINK` | |
//! | audit event | `SUB#{id}` | `EVT#{evt id}` | |
//! | Stripe event seen | `STRIPEEVT#{id}` | `EVENT` (+ ttl) | |
//! | sign-in code / session | `SIGNIN#{sha256}` / `SESSION#{sha256}` | `SIGNIN` / `SESSION` (+ ttl) | |
//! | idempotency record | `IDEMP#{scope}#{key}` | `IDEMP` (+ ttl) | |

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const ENTITY: &str = "entity";
pub const TTL: &str = "ttl";

/// A primary key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

fn key(pk: String, sk: &str) -> Key {
    Key {
        pk,
        sk: sk.to_string(),
    }
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
        ];
        let unique: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(unique.len(), all.len());
    }
}
