//! Opaque, prefixed, time-ordered identifiers (`sub_…`, `seat_…`), as the API promises.

use uuid::Uuid;

pub const ORG: &str = "org";
pub const PRODUCT: &str = "prod";
pub const BENEFIT: &str = "ben";
pub const CHECKOUT: &str = "chk";
pub const CUSTOMER: &str = "cus";
pub const SUBSCRIPTION: &str = "sub";
pub const SEAT: &str = "seat";
pub const GRANT: &str = "grant";
pub const ACTIVATION: &str = "act";
pub const EVENT: &str = "evt";
pub const API_KEY: &str = "key";
/// A money change (its intent, then its settlement).
pub const CHANGE: &str = "chg";
pub const RESERVATION: &str = "rsv";

/// A new id: the prefix, `_`, and a UUIDv7 in simple hex (sortable by creation time).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::now_v7().simple())
}

/// Whether `id` looks like an id of this kind. Ids from the outside are checked before they
/// reach the store so that junk never becomes a key.
pub fn is_valid(prefix: &str, id: &str) -> bool {
    match id.strip_prefix(prefix).and_then(|r| r.strip_prefix('_')) {
        Some(rest) => rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_and_checked() {
        let id = new_id(SEAT);
        assert!(id.starts_with("seat_"));
        assert!(is_valid(SEAT, &id));
        assert!(!is_valid(SUBSCRIPTION, &id));
        assert!(!is_valid(SEAT, "seat_"));
        assert!(!is_valid(SEAT, "seat_../../etc"));
    }

    #[test]
    fn ids_sort_by_creation() {
        let a = new_id(EVENT);
        let b = new_id(EVENT);
        assert!(a < b);
    }
}
