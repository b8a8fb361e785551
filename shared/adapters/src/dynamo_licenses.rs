//! License keys: a key's record under its hash (put with the grant, in the grant's
//! transaction) holds the grant's address and the activation counter; each activation is an
//! item in the same partition. Activating raises the counter under the limit's condition and
//! puts the activation in one transaction, so concurrent activations never pass the limit.

use super::*;

impl DynamoStore {
    pub(super) fn license_record_item(&self, r: &LicenseKeyRecord) -> Result<TransactWriteItem, StoreError> {
        self.put_new(row("license_key", &keys::license_key(&r.key_hash), r)?)
    }

    pub(super) async fn license_key_in_table(
        &self,
        key_hash: &str,
    ) -> Result<Option<LicenseKeyRecord>, StoreError> {
        self.get_as(&keys::license_key(key_hash)).await
    }

    pub(super) async fn grant_in_table(
        &self,
        customer_id: &str,
        seat_id: &str,
        benefit_id: &str,
    ) -> Result<Option<Grant>, StoreError> {
        self.get_as(&keys::grant(customer_id, seat_id, benefit_id)).await
    }

    pub(super) async fn license_activations_in_table(
        &self,
        key_hash: &str,
    ) -> Result<Vec<LicenseActivation>, StoreError> {
        self.query_partition(&keys::license_key(key_hash).pk, keys::ACTIVATION_PREFIX).await
    }

    pub(super) async fn activate_license_in_table(
        &self,
        a: &LicenseActivation,
        limit: Option<u32>,
    ) -> Result<bool, StoreError> {
        let (condition, mut values) = match limit {
            Some(l) => (
                "attribute_exists(PK) AND (attribute_not_exists(activations) OR activations < :limit)",
                vec![(":limit", n(i64::from(l)))],
            ),
            None => ("attribute_exists(PK)", vec![]),
        };
        values.extend([(":zero", n(0)), (":one", n(1))]);
        let items = vec![
            // 0: the counter, under the limit.
            self.update(
                &keys::license_key(&a.key_hash),
                "SET activations = if_not_exists(activations, :zero) + :one",
                Some(condition),
                &[],
                values,
            )?,
            self.put_new(row("license_activation", &keys::license_activation(&a.key_hash, &a.id), a)?)?,
        ];
        Ok(matches!(self.transact(items).await?, Txn::Committed))
    }

    pub(super) async fn deactivate_license_in_table(
        &self,
        key_hash: &str,
        activation_id: &str,
    ) -> Result<bool, StoreError> {
        let items = vec![
            self.delete(
                &keys::license_activation(key_hash, activation_id),
                Some("attribute_exists(PK)"),
                vec![],
            )?,
            self.update(
                &keys::license_key(key_hash),
                "SET activations = activations - :one",
                Some("activations > :zero"),
                &[],
                vec![(":zero", n(0)), (":one", n(1))],
            )?,
        ];
        Ok(matches!(self.transact(items).await?, Txn::Committed))
    }
}
