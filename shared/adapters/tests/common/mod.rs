//! What the Stripe gateway tests share.

use domain::model::{Price, Prices, Product, ProviderPrices, WhenFull};

/// A product priced 1000 per seat per month and 10000 per year, without Stripe Prices yet.
pub fn product() -> Product {
    Product {
        id: "prod_ours".into(),
        organization_id: "org_1".into(),
        name: "Pro".into(),
        description: None,
        currency: "usd".into(),
        prices: Prices { month: Some(Price { unit_amount: 1000 }), year: Some(Price { unit_amount: 10000 }) },
        min_seats: 1,
        max_seats: 100,
        benefit_ids: vec![],
        created_at: chrono::Utc::now(),
        provider_prices: ProviderPrices::default(),
        when_full: WhenFull::Block,
        trial_days: None,
    }
}
