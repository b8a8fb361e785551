//! The catalogue side of the store: organizations (with their slug and API key guards, in one
//! transaction), benefits and products (listed per organization on GSI1).

use super::*;

impl DynamoStore {
    /// The settings given, of an organization that exists: nothing else of it is written.
    pub(super) async fn set_organization_settings_in_table(
        &self,
        organization_id: &str,
        grace_days: Option<u32>,
        automatic_tax: Option<bool>,
    ) -> Result<bool, StoreError> {
        let mut set = Vec::new();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(super::key_map(&keys::organization(organization_id))))
            .condition_expression("attribute_exists(PK)");
        if let Some(days) = grace_days {
            set.push("grace_days = :d");
            request = request.expression_attribute_values(":d", n(i64::from(days)));
        }
        if let Some(tax) = automatic_tax {
            set.push("automatic_tax = :t");
            request = request.expression_attribute_values(":t", AttributeValue::Bool(tax));
        }
        let update = request.update_expression(format!("SET {}", set.join(", "))).send().await;
        match update {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Ok(false)
            }
            Err(e) => Err(fault(e)),
        }
    }

    /// Only the first configuration stays: a second session racing the first keeps its.
    pub(super) async fn set_billing_portal_configuration_in_table(
        &self,
        organization_id: &str,
        configuration_id: &str,
    ) -> Result<bool, StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(super::key_map(&keys::organization(organization_id))))
            .update_expression("SET billing_portal_configuration_id = :c")
            .condition_expression(
                "attribute_exists(PK) AND attribute_not_exists(billing_portal_configuration_id)",
            )
            .expression_attribute_values(":c", s(configuration_id))
            .send()
            .await;
        match update {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Ok(false)
            }
            Err(e) => Err(fault(e)),
        }
    }

    pub(super) async fn create_organization_in_table(
        &self,
        org: &Organization,
        key: &ApiKey,
        key_hash: &str,
    ) -> Result<bool, StoreError> {
        let items = vec![
            self.put_new(row("organization", &keys::organization(&org.id), org)?)?,
            self.put_new(marker(
                "organization_slug",
                &keys::organization_slug(&org.slug),
                &[("organization_id", s(&org.id))],
            ))?,
            self.put_new(self.api_key_row(key, key_hash)?)?,
        ];
        Ok(matches!(self.transact(items).await?, Txn::Committed))
    }

    /// An API key under its hash, listed on GSI1 under its organization (by id).
    fn api_key_row(&self, key: &ApiKey, key_hash: &str) -> Result<Item, StoreError> {
        let item = row("api_key", &keys::api_key(key_hash), key)?;
        let mut item =
            with_gsi(item, keys::organization_index(&key.organization_id), keys::api_key_index_sk(&key.id));
        if let Some(at) = key.expires_at {
            // Gone from the table a week after it stopped working.
            item.insert(keys::TTL.into(), n((at + Duration::days(7)).timestamp()));
        }
        Ok(item)
    }

    pub(super) async fn adopt_api_key_in_table(
        &self,
        key_hash: &str,
        key: &ApiKey,
    ) -> Result<(), StoreError> {
        let item = self.update(
            &keys::api_key(key_hash),
            "SET id = :id, last4 = :last4, GSI1PK = :gpk, GSI1SK = :gsk",
            Some("attribute_exists(PK) AND attribute_not_exists(id)"),
            &[],
            vec![
                (":id", s(&key.id)),
                (":last4", s(&key.last4)),
                (":gpk", s(keys::organization_index(&key.organization_id))),
                (":gsk", s(keys::api_key_index_sk(&key.id))),
            ],
        )?;
        // Adopted meanwhile by another request: nothing to do.
        self.transact(vec![item]).await?;
        Ok(())
    }

    pub(super) async fn rotate_api_key_in_table(
        &self,
        key: &ApiKey,
        key_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let org = &key.organization_id;
        let condition = "GSI1PK = :pk AND begins_with(GSI1SK, :prefix)";
        let existing = self
            .query_all_items(
                Some(keys::GSI1),
                condition,
                &keys::organization_index(org),
                keys::API_KEY_PREFIX,
            )
            .await?;
        let mut items = vec![self.put_new(self.api_key_row(key, key_hash)?)?];
        for old in existing {
            let Some(pk) = old.get(keys::PK).and_then(|v| v.as_s().ok()) else { continue };
            let current: ApiKey = parse(old.clone())?;
            let expires = current.expires_at.map_or(at, |e| e.min(at));
            items.push(self.update(
                &Key { pk: pk.clone(), sk: "APIKEY".into() },
                "SET expires_at = :at, #ttl = :ttl",
                Some("attribute_exists(PK)"),
                &[("#ttl", keys::TTL)],
                vec![(":at", date(expires)?), (":ttl", n((expires + Duration::days(7)).timestamp()))],
            )?);
        }
        match self.transact(items).await? {
            Txn::Committed => Ok(()),
            Txn::ConditionFailed(_) => {
                Err(StoreError::Unavailable("the keys changed meanwhile; try again".into()))
            }
        }
    }

    pub(super) async fn organization_by_slug_in_table(
        &self,
        slug: &str,
    ) -> Result<Option<Organization>, StoreError> {
        let Some(guard) = self.get(&keys::organization_slug(slug)).await? else {
            return Ok(None);
        };
        match guard.get("organization_id") {
            Some(AttributeValue::S(id)) => self.organization(id).await,
            _ => Ok(None),
        }
    }

    pub(super) async fn put_benefit_in_table(&self, b: &Benefit) -> Result<(), StoreError> {
        let item = with_gsi(
            row("benefit", &keys::benefit(&b.id), b)?,
            keys::organization_index(&b.organization_id),
            format!("{}{}", keys::BENEFIT_PREFIX, b.id),
        );
        self.insert(item).await
    }

    pub(super) async fn put_product_in_table(&self, p: &Product) -> Result<(), StoreError> {
        let item = with_gsi(
            row("product", &keys::product(&p.id), p)?,
            keys::organization_index(&p.organization_id),
            format!("{}{}", keys::PRODUCT_PREFIX, p.id),
        );
        self.insert(item).await
    }
}
