//! The in-memory license keys: records by the key's hash, activations counted under the
//! benefit's limit, as the table keeps them.

use super::State;
use crate::model::*;

impl State {
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
