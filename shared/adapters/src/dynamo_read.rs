//! The plain reads and single writes of the table: get, put, delete, and the paged queries of a
//! partition or of GSI1 (transactions live in `dynamo_write.rs`).

use super::*;

impl DynamoStore {
    pub(super) async fn insert(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await
            .map_err(fault)?;
        Ok(())
    }

    /// Deletes an item whether or not it exists (an idempotent removal).
    pub(super) async fn remove(&self, key: &Key) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .send()
            .await
            .map_err(fault)?;
        Ok(())
    }

    pub(super) async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(fault)?;
        Ok(out.item)
    }

    pub(super) async fn get_as<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<T>, StoreError> {
        self.get(key).await?.map(parse).transpose()
    }

    /// Every item of a GSI1 partition whose sort key starts with `prefix`.
    pub(super) async fn query_index<T: DeserializeOwned>(
        &self,
        partition: &str,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        self.query_all(Some(keys::GSI1), "GSI1PK = :pk AND begins_with(GSI1SK, :prefix)", partition, prefix)
            .await
    }

    /// Every item of a table partition whose sort key starts with `prefix`, in order.
    pub(super) async fn query_partition<T: DeserializeOwned>(
        &self,
        pk: &str,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        self.query_all(None, "PK = :pk AND begins_with(SK, :prefix)", pk, prefix).await
    }

    /// At most `limit` items of a query from `start` on, over as many pages as that takes.
    pub(super) async fn query_after<T: DeserializeOwned>(
        &self,
        index: Option<&str>,
        key_condition: &str,
        pk: &str,
        prefix: &str,
        start: Option<Item>,
        limit: usize,
    ) -> Result<Vec<T>, StoreError> {
        self.query_items(index, key_condition, pk, prefix, start, limit)
            .await?
            .into_iter()
            .map(parse)
            .collect()
    }

    /// All pages of a query (GSI reads cannot be consistent; table reads are).
    pub(super) async fn query_all<T: DeserializeOwned>(
        &self,
        index: Option<&str>,
        key_condition: &str,
        pk: &str,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        self.query_all_items(index, key_condition, pk, prefix).await?.into_iter().map(parse).collect()
    }

    /// The items themselves (their keys included), at most `limit`, from `start` on.
    pub(super) async fn query_items(
        &self,
        index: Option<&str>,
        key_condition: &str,
        pk: &str,
        prefix: &str,
        mut start: Option<Item>,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        while out.len() < limit {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_string))
                .key_condition_expression(key_condition)
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":prefix", s(prefix))
                .consistent_read(index.is_none())
                .set_exclusive_start_key(start.take())
                .limit((limit - out.len()).min(1000) as i32)
                .send()
                .await
                .map_err(fault)?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }

    /// Every item of a query.
    pub(super) async fn query_all_items(
        &self,
        index: Option<&str>,
        key_condition: &str,
        pk: &str,
        prefix: &str,
    ) -> Result<Vec<Item>, StoreError> {
        self.query_items(index, key_condition, pk, prefix, None, usize::MAX).await
    }
}
