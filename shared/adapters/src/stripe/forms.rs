//! The form-encoded requests the gateway sends, as pure functions of the port's requests, so
//! each one can be checked against Stripe's published OpenAPI description without a server.

use domain::model::Interval;
use domain::model::Product;
use domain::ports::{
    BillingPortalConfiguration, CancelRequest, ChargeRequest, CheckoutSessionRequest, RenewalSchedule,
};

fn next_end(current_end: i64, interval: Interval) -> i64 {
    let end = chrono::DateTime::from_timestamp(current_end, 0).unwrap_or_default();
    domain::period::add_interval_anchored(end, 1, interval).timestamp()
}

/// Form fields in order, as Stripe's bracketed form encoding wants them.
pub type Form = Vec<(String, String)>;

pub fn f(k: &str, v: impl ToString) -> (String, String) {
    (k.to_string(), v.to_string())
}

/// The Stripe Product of one of our products.
pub fn product_form(p: &Product) -> Form {
    vec![f("name", &p.name), f("metadata[product_id]", &p.id)]
}

/// One Price per interval: the per-seat amount, recurring.
pub fn price_form(stripe_product_id: &str, p: &Product, interval: Interval, unit_amount: i64) -> Form {
    vec![
        f("product", stripe_product_id),
        f("currency", &p.currency),
        f("unit_amount", unit_amount),
        f("recurring[interval]", interval.as_str()),
        // Prices are before tax: Stripe Tax adds it on top where it applies.
        f("tax_behavior", "exclusive"),
        f("metadata[product_id]", &p.id),
    ]
}

/// The Checkout Session for a seat purchase: subscription mode, one line of the interval's
/// Price whose quantity is the seat count. Our checkout's id rides in the subscription's
/// metadata, which tells our subscriptions' events from other integrations'.
pub fn checkout_session_form(req: &CheckoutSessionRequest) -> Form {
    let mut form = vec![
        f("mode", "subscription"),
        f("client_reference_id", &req.checkout_id),
        f("customer_email", &req.customer_email),
        f("success_url", &req.success_url),
        f("cancel_url", &req.cancel_url),
        f("line_items[0][price]", &req.price_id),
        f("line_items[0][quantity]", req.seats),
        f("metadata[checkout_id]", &req.checkout_id),
        f("subscription_data[metadata][checkout_id]", &req.checkout_id),
    ];
    if req.automatic_tax {
        // Stripe Tax: the address (and a business's tax id) are asked for on the payment page,
        // the tax added to every invoice of the subscription.
        form.push(f("automatic_tax[enabled]", true));
        form.push(f("tax_id_collection[enabled]", true));
        form.push(f("billing_address_collection", "required"));
    }
    if let Some(days) = req.trial_days {
        // A free trial: the subscription starts `trialing`, its first invoice at the trial's end.
        form.push(f("subscription_data[trial_period_days]", days));
    }
    form
}

/// A change that charges now, paid first: the item moves to the quantity and Price,
/// prorated at `proration_date`, invoiced at once, applied by Stripe only once paid
/// (`pending_if_incomplete` takes only these item fields: no `price_data`).
pub fn charge_form(item_id: &str, c: &ChargeRequest) -> Form {
    let mut form = vec![
        f("items[0][id]", item_id),
        f("items[0][price]", &c.price_id),
        f("items[0][quantity]", c.quantity),
        f("proration_behavior", "always_invoice"),
        f("proration_date", c.proration_date),
        f("payment_behavior", "pending_if_incomplete"),
    ];
    if c.reset_billing_cycle {
        // Monthly → annual: a new (annual) period starts at the change.
        form.push(f("billing_cycle_anchor", "now"));
    }
    form.push(f("expand[0]", "latest_invoice"));
    form
}

/// The invoice the same change would make: the same item, Price, quantity, instant, behaviour
/// and anchor as [`charge_form`], so that the invoice Stripe then creates equals it.
pub fn preview_form(subscription_id: &str, item_id: &str, c: &ChargeRequest) -> Form {
    let mut form = vec![
        f("subscription", subscription_id),
        f("subscription_details[items][0][id]", item_id),
        f("subscription_details[items][0][price]", &c.price_id),
        f("subscription_details[items][0][quantity]", c.quantity),
        f("subscription_details[proration_behavior]", "always_invoice"),
        f("subscription_details[proration_date]", c.proration_date),
    ];
    if c.reset_billing_cycle {
        form.push(f("subscription_details[billing_cycle_anchor]", "now"));
    }
    if c.automatic_tax {
        // The change's own invoice is taxed as the subscription is (set at Checkout; an update
        // paid first takes no `automatic_tax`): the preview says so, to show the same tax.
        form.push(f("automatic_tax[enabled]", true));
    }
    form
}

/// The schedule's phases: the current one exactly as Stripe has it (its start cannot change),
/// billing the seats paid for now, then one period of the next terms (bounded by `end_date`,
/// which every API version takes: `iterations` is gone from current ones); then it releases.
pub fn schedule_phases_form(s: &RenewalSchedule, current_start: i64, current_end: i64) -> Form {
    vec![
        f("end_behavior", "release"),
        f("proration_behavior", "none"),
        f("phases[0][items][0][price]", &s.current_price_id),
        f("phases[0][items][0][quantity]", s.current_quantity),
        f("phases[0][start_date]", current_start),
        f("phases[0][end_date]", current_end),
        f("phases[1][items][0][price]", &s.next_price_id),
        f("phases[1][items][0][quantity]", s.next_quantity),
        f("phases[1][end_date]", next_end(current_end, s.next_interval)),
    ]
}

/// The end at the period's end, set or withdrawn; the reason rides in Stripe's own
/// `cancellation_details` (its feedback values are ours).
pub fn cancel_form(c: &CancelRequest) -> Form {
    let mut form = vec![f("cancel_at_period_end", c.cancel)];
    if c.cancel {
        if let Some(reason) = c.reason {
            form.push(f("cancellation_details[feedback]", reason.as_str()));
        }
        if let Some(comment) = &c.comment {
            form.push(f("cancellation_details[comment]", comment));
        }
    }
    form
}

/// A page of a subscription's invoices (`GET /v1/invoices`), after Stripe's cursor.
pub fn invoices_query(provider_subscription_id: &str, limit: u32, starting_after: Option<&str>) -> Form {
    let mut query = vec![f("subscription", provider_subscription_id), f("limit", limit)];
    if let Some(after) = starting_after {
        query.push(f("starting_after", after));
    }
    query
}

/// The billing portal a billing manager gets: their card, their invoices, their address and
/// tax ids; never the quantity or a cancellation (this system does those, with its previews).
pub fn billing_portal_configuration_form(c: &BillingPortalConfiguration) -> Form {
    vec![
        f("business_profile[headline]", format!("{}: billing details", c.business_name)),
        f("default_return_url", &c.default_return_url),
        f("features[payment_method_update][enabled]", true),
        f("features[invoice_history][enabled]", true),
        f("features[customer_update][enabled]", true),
        f("features[customer_update][allowed_updates][0]", "address"),
        f("features[customer_update][allowed_updates][1]", "tax_id"),
        f("features[subscription_cancel][enabled]", false),
        f("features[subscription_update][enabled]", false),
        f("metadata[organization_id]", &c.organization_id),
    ]
}

/// A billing portal session of one customer under that configuration.
pub fn billing_portal_session_form(customer: &str, configuration: &str, return_url: &str) -> Form {
    vec![f("customer", customer), f("configuration", configuration), f("return_url", return_url)]
}
