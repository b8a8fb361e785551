//! The catalogue side of the store: organizations (with their slug and API key guards, in one
//! transaction), benefits and products (listed per organization on GSI1).

use super::*;

impl DynamoStore {
    pub(super) async fn create_organization_in_table(
        &self,
        org: &Organization,
        api_key_hash: &str,
    ) -> Result<bool, StoreError> {
        let items = vec![
            self.put_new(row("organization", &keys::organization(&org.id), org)?)?,
            self.put_new(marker(
                "organization_slug",
                &keys::organization_slug(&org.slug),
                &[("organization_id", s(&org.id))],
            ))?,
            self.put_new(marker(
                "api_key",
                &keys::api_key(api_key_hash),
                &[("organization_id", s(&org.id)), ("created_at", date(org.created_at)?)],
            ))?,
        ];
        Ok(matches!(self.transact(items).await?, Txn::Committed))
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
