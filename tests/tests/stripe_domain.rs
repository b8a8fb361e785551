//! The use cases over the real Stripe gateway and the stateful Stripe simulator (in-memory
//! store): a function that dies after Stripe answered and before the table write leaves the
//! change's intent, and the sweeper settles it from Stripe's own state — applied once, one
//! invoice, never charged again; and the Stripe calls each change makes, at 10 and 10,000 seats.

use adapters::stripe::StripeGateway;
use async_trait::async_trait;
use domain::error::{DomainError, PortError};
use domain::events::{PaymentEvent, PaymentEventKind};
use domain::memory::{fixtures, Fakes};
use domain::model::{Product, ProviderPrices};
use domain::ports::*;
use domain::services::changes::{self, SeatChangeRequest};
use domain::services::{billing_events, purchase, sweeper, App, Principal};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use stripe_sim::StripeSim;

/// The real gateway, whose answer to a charge can be lost after Stripe processed it.
struct Dying {
    stripe: StripeGateway,
    lose_answer: AtomicBool,
}

#[async_trait]
impl PaymentGateway for Dying {
    async fn create_prices(&self, p: &Product) -> Result<ProviderPrices, PortError> {
        self.stripe.create_prices(p).await
    }
    async fn create_checkout_session(
        &self,
        r: &CheckoutSessionRequest,
    ) -> Result<CheckoutSession, PortError> {
        self.stripe.create_checkout_session(r).await
    }
    async fn subscription(&self, id: &str) -> Result<Option<ProviderSubscription>, PortError> {
        self.stripe.subscription(id).await
    }
    async fn preview_charge(&self, c: &ChargeRequest) -> Result<Option<ProviderInvoice>, PortError> {
        self.stripe.preview_charge(c).await
    }
    async fn charge(&self, c: &ChargeRequest) -> Result<ChargeOutcome, PortError> {
        let answer = self.stripe.charge(c).await;
        if self.lose_answer.load(Ordering::SeqCst) {
            // Stripe did it; the function died before it could read the answer.
            return Err(PortError::Unavailable("stripe", "the function died".into()));
        }
        answer
    }
    async fn schedule_renewal(&self, s: &RenewalSchedule) -> Result<ScheduledRenewal, PortError> {
        self.stripe.schedule_renewal(s).await
    }
    async fn release_schedule(&self, id: &str, key: &str) -> Result<(), PortError> {
        self.stripe.release_schedule(id, key).await
    }
    async fn cancel_at_period_end(&self, c: &CancelRequest) -> Result<(), PortError> {
        self.stripe.cancel_at_period_end(c).await
    }
    async fn make_price_tax_exclusive(&self, id: &str) -> Result<(), PortError> {
        self.stripe.make_price_tax_exclusive(id).await
    }
    async fn void_invoice(&self, id: &str, key: &str) -> Result<VoidOutcome, PortError> {
        self.stripe.void_invoice(id, key).await
    }
    async fn cancel_now(&self, id: &str, key: &str) -> Result<(), PortError> {
        self.stripe.cancel_now(id, key).await
    }
    async fn create_billing_portal_configuration(
        &self,
        c: &BillingPortalConfiguration,
    ) -> Result<Option<String>, PortError> {
        self.stripe.create_billing_portal_configuration(c).await
    }
    async fn billing_portal_session(
        &self,
        customer: &str,
        configuration: &str,
        return_url: &str,
    ) -> Result<String, PortError> {
        self.stripe.billing_portal_session(customer, configuration, return_url).await
    }
    async fn invoices(
        &self,
        id: &str,
        limit: u32,
        after: Option<&str>,
    ) -> Result<Option<domain::model::InvoicePage>, PortError> {
        self.stripe.invoices(id, limit, after).await
    }
}

struct World {
    sim: StripeSim,
    app: App,
    fakes: Fakes,
    dying: Arc<Dying>,
    merchant: Principal,
    sub_id: String,
    stripe_sub: String,
}

/// A 5-seat subscription bought through the simulator's Checkout, known to the store.
async fn world() -> World {
    world_of(5, fixtures::Plan::default()).await
}

/// `seats` bought on a product priced as `plan` says.
async fn world_of(seats: i64, plan: fixtures::Plan) -> World {
    let sim = StripeSim::start().await;
    let fakes = Fakes::at(chrono::DateTime::from_timestamp(sim.now(), 0).expect("now"));
    let dying = Arc::new(Dying {
        stripe: StripeGateway::new(&sim.base_url(), StripeSim::SECRET_KEY).expect("client"),
        lose_answer: AtomicBool::new(false),
    });
    let app = App { payments: dying.clone(), ..fakes.app.clone() };
    let (merchant, _) = fixtures::merchant(&app, "acme").await.expect("merchant");
    let product = fixtures::product(&app, &merchant, &plan).await.expect("product");
    let chk = purchase::create_checkout(
        &app,
        &Principal::Public,
        purchase::NewCheckout {
            product_id: product.id.clone(),
            interval: domain::model::Interval::Month,
            seats,
            customer_email: "boss@corp.example".into(),
            success_url: "https://corp.example/ok".into(),
            cancel_url: "https://corp.example/no".into(),
        },
    )
    .await
    .expect("checkout");
    let cs = chk.payment_url.rsplit('/').next().expect("session").to_string();
    let stripe_sub = sim.complete_checkout(&cs, "pm_card_visa").await.expect("paid");
    let done = PaymentEvent {
        id: "evt_done".into(),
        created: sim.now(),
        kind: PaymentEventKind::CheckoutCompleted {
            checkout_id: chk.id,
            provider_subscription_id: stripe_sub.clone(),
            provider_customer_id: None,
        },
    };
    billing_events::handle(&app, &done).await.expect("completed");
    let sub = app.store.subscription_by_provider_id(&stripe_sub).await.expect("store").expect("sub");
    assert!(sub.period_confirmed && sub.provider_item_id.is_some(), "period and item read from Stripe");
    World { sim, app, fakes, dying, merchant, sub_id: sub.id, stripe_sub }
}

fn updates_sent(w: &World) -> usize {
    let path = format!("/v1/subscriptions/{}", w.stripe_sub);
    w.sim.requests().iter().filter(|r| r.method == "POST" && r.path == path).count()
}

#[tokio::test]
async fn a_paid_change_whose_answer_was_lost_is_applied_once_by_the_sweeper() {
    let w = world().await;
    w.dying.lose_answer.store(true, Ordering::SeqCst);
    let more = || SeatChangeRequest { seats: 8, proration_date: None };
    let r = changes::apply_seats(&w.app, &w.merchant, &w.sub_id, more()).await;
    assert_eq!(r.err(), Some(DomainError::Unavailable));
    w.dying.lose_answer.store(false, Ordering::SeqCst);
    let sub = w.app.store.subscription(&w.sub_id).await.expect("store").expect("sub");
    assert_eq!((sub.seats, sub.change_intent.is_some()), (5, true), "Stripe has 8; the table waits");
    // A retry is told to wait; Stripe is not asked again.
    let r = changes::apply_seats(&w.app, &w.merchant, &w.sub_id, more()).await;
    assert!(matches!(r, Err(DomainError::Conflict(_))), "{r:?}");
    assert_eq!(updates_sent(&w), 1);
    w.fakes.clock.advance(chrono::Duration::seconds(changes::settle::INTENT_STALE_S + 1));
    assert_eq!(sweeper::settle_stale_changes(&w.app).await, Ok(1));
    let sub = w.app.store.subscription(&w.sub_id).await.expect("store").expect("sub");
    assert_eq!((sub.seats, sub.assign_cap, sub.change_intent.is_none()), (8, 8, true));
    assert_eq!(updates_sent(&w), 1, "healed from Stripe's state, never charged again");
    let invoices = w.sim.invoices_of(&w.stripe_sub);
    assert_eq!(invoices.len(), 2, "the purchase's and the change's, one each");
    let audit = w.app.store.audit_events(&w.sub_id).await.expect("audit");
    let done: Vec<_> = audit.iter().filter(|e| e.kind == "subscription.seats_increased").collect();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].data["invoice_id"], invoices[1]["id"]);
    // Nothing left for the sweeper.
    assert_eq!(sweeper::settle_stale_changes(&w.app).await, Ok(0));
}

#[tokio::test]
async fn a_declined_change_whose_answer_was_lost_becomes_pending_with_its_payment_page() {
    let w = world().await;
    let customer = w.sim.subscription(&w.stripe_sub).and_then(|s| s["customer"].as_str().map(str::to_string));
    w.sim.set_payment_method(&customer.expect("customer"), "pm_card_chargeDeclined");
    w.dying.lose_answer.store(true, Ordering::SeqCst);
    let r = changes::apply_seats(
        &w.app,
        &w.merchant,
        &w.sub_id,
        SeatChangeRequest { seats: 9, proration_date: None },
    )
    .await;
    assert_eq!(r.err(), Some(DomainError::Unavailable));
    w.fakes.clock.advance(chrono::Duration::seconds(changes::settle::INTENT_STALE_S + 1));
    assert_eq!(sweeper::settle_stale_changes(&w.app).await, Ok(1));
    let sub = w.app.store.subscription(&w.sub_id).await.expect("store").expect("sub");
    let pending = sub.pending_change.expect("pending");
    assert_eq!((sub.seats, pending.intent.seats), (5, 9));
    assert!(pending.payment_url.starts_with(&w.sim.base_url()), "{}", pending.payment_url);
    assert_eq!(updates_sent(&w), 1);
}

/// How many Stripe calls each change makes on a subscription of `seats` − 1 seats going to
/// `seats` (and then to `seats` − 2); nothing depends on the seat count.
async fn calls_per_change(seats: i64) -> Vec<(&'static str, usize)> {
    let plan = fixtures::Plan { year: Some(10000), max_seats: Some(10_000), ..Default::default() };
    let w = world_of(seats - 1, plan).await;
    let (app, who, id) = (&w.app, &w.merchant, w.sub_id.as_str());
    let mut out = Vec::new();
    let mut last = w.sim.requests().len();
    let mut count = |name, sim: &StripeSim| {
        let now = sim.requests().len();
        out.push((name, now - last));
        last = now;
    };
    let more = || SeatChangeRequest { seats, proration_date: None };
    changes::preview_seats(app, who, id, more()).await.expect("preview");
    count("preview more seats", &w.sim);
    changes::apply_seats(app, who, id, more()).await.expect("apply");
    count("apply more seats", &w.sim);
    let fewer = || SeatChangeRequest { seats: seats - 2, proration_date: None };
    changes::preview_seats(app, who, id, fewer()).await.expect("preview");
    count("preview fewer seats", &w.sim);
    changes::apply_seats(app, who, id, fewer()).await.expect("apply");
    count("apply fewer seats (schedule)", &w.sim);
    changes::cancel_scheduled(app, who, id).await.expect("cancel");
    count("cancel the scheduled change", &w.sim);
    let annual =
        || changes::IntervalChangeRequest { interval: domain::model::Interval::Year, proration_date: None };
    changes::preview_interval(app, who, id, annual()).await.expect("preview");
    count("preview monthly → annual", &w.sim);
    changes::apply_interval(app, who, id, annual()).await.expect("apply");
    count("apply monthly → annual", &w.sim);
    out
}

#[tokio::test]
async fn stripe_calls_per_change_are_the_same_at_10_and_10000_seats() {
    let small = calls_per_change(10).await;
    let big = calls_per_change(10_000).await;
    println!("| change | Stripe calls at 10 seats | at 10,000 seats |\n|---|---|---|");
    for ((name, a), (_, b)) in small.iter().zip(&big) {
        println!("| {name} | {a} | {b} |");
    }
    assert_eq!(small, big);
    let at = |name: &str| small.iter().find(|(n, _)| *n == name).map(|(_, c)| *c);
    assert_eq!(at("preview more seats"), Some(1), "create_preview only: the item id is stored");
    assert_eq!(at("apply more seats"), Some(1), "one update, paid first");
    assert_eq!(at("preview fewer seats"), Some(0), "nothing is due now: no call");
}
