//! The in-memory grants and license keys: a grant only for a seat its holder still holds, one
//! per (seat, benefit); a key's record by its hash, activations counted under the benefit's
//! limit, as the table keeps them.

use super::State;
use crate::model::*;
use crate::ports::GrantOutcome;

impl State {
    pub(super) fn put_grant(
        &mut self,
        g: &Grant,
        license: Option<&LicenseKeyRecord>,
        audit: &AuditEvent,
    ) -> GrantOutcome {
        let held = self.seats.get(&(g.subscription_id.clone(), g.seat_id.clone())).is_some_and(|x| {
            x.status == SeatStatus::Claimed && x.customer_id.as_deref() == Some(g.customer_id.as_str())
        });
        if !held {
            return GrantOutcome::SeatNotClaimed;
        }
        let key = (g.customer_id.clone(), g.seat_id.clone(), g.benefit_id.clone());
        if self.grants.contains_key(&key) {
            return GrantOutcome::Exists;
        }
        if let Some(r) = license {
            if self.license_keys.contains_key(&r.key_hash) {
                return GrantOutcome::KeyTaken;
            }
            self.license_keys.insert(r.key_hash.clone(), r.clone());
        }
        self.grants.insert(key, g.clone());
        self.audit.push(audit.clone());
        GrantOutcome::Granted
    }

    pub(super) fn activate_license(&mut self, a: &LicenseActivation, limit: Option<u32>) -> bool {
        let Some(record) = self.license_keys.get_mut(&a.key_hash) else { return false };
        if limit.is_some_and(|l| record.activations >= l) {
            return false;
        }
        record.activations += 1;
        self.activations.insert((a.key_hash.clone(), a.id.clone()), a.clone());
        true
    }

    pub(super) fn deactivate_license(&mut self, key_hash: &str, activation_id: &str) -> bool {
        if self.activations.remove(&(key_hash.to_string(), activation_id.to_string())).is_none() {
            return false;
        }
        if let Some(r) = self.license_keys.get_mut(key_hash) {
            r.activations = r.activations.saturating_sub(1);
        }
        true
    }

    pub(super) fn license_activations(&self, key_hash: &str) -> Vec<LicenseActivation> {
        let mut v: Vec<LicenseActivation> =
            self.activations.values().filter(|a| a.key_hash == key_hash).cloned().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }
}
