use super::*;

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn params(r: Result<(), Vec<Violation>>) -> Vec<String> {
    r.err().unwrap_or_default().into_iter().map(|v| v.param).collect()
}

const SUB: &str = "/v1/subscriptions/sub_123";

fn valid_update() -> Vec<(&'static str, &'static str)> {
    vec![
        ("items[0][id]", "si_1"),
        ("items[0][quantity]", "3"),
        ("proration_behavior", "always_invoice"),
        ("proration_date", "1700000000"),
        ("payment_behavior", "pending_if_incomplete"),
        ("expand[0]", "latest_invoice"),
    ]
}

#[test]
fn spec_loads_and_is_pinned() {
    assert_eq!(api_version(), "2026-07-29.dahlia");
    assert!(SPEC_TEXT.len() < 400_000);
}

#[test]
fn valid_subscription_update_passes() {
    assert_eq!(check_request("POST", SUB, &form(&valid_update())), Ok(()));
}

#[test]
fn proration_behavior_outside_enum_fails() {
    let mut f = valid_update();
    f[2] = ("proration_behavior", "sometimes");
    let errs = check_request("POST", SUB, &form(&f)).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].param, "proration_behavior");
    assert!(errs[0].message.contains("sometimes"), "{errs:?}");
}

#[test]
fn misspelled_item_field_fails() {
    let r = check_request("POST", SUB, &form(&[("items[0][id]", "si_1"), ("items[0][quantiy]", "3")]));
    assert_eq!(params(r), vec!["items[0][quantiy]"]);
}

#[test]
fn non_integer_quantity_fails() {
    let r = check_request("POST", SUB, &form(&[("items[0][id]", "si_1"), ("items[0][quantity]", "three")]));
    assert_eq!(params(r), vec!["items[0][quantity]"]);
}

#[test]
fn unknown_top_level_parameter_fails() {
    let r = check_request("POST", SUB, &form(&[("prorate_behavior", "none")]));
    assert_eq!(params(r), vec!["prorate_behavior"]);
}

#[test]
fn update_payment_behavior_values_are_the_spec_enum() {
    for v in ["allow_incomplete", "default_incomplete", "error_if_incomplete", "pending_if_incomplete"] {
        assert_eq!(check_request("POST", SUB, &form(&[("payment_behavior", v)])), Ok(()), "{v}");
    }
    assert_eq!(
        params(check_request("POST", SUB, &form(&[("payment_behavior", "always")]))),
        vec!["payment_behavior"]
    );
}

/// The description allows `items[n][price_data]` on a subscription update whatever the
/// `payment_behavior`; that `pending_if_incomplete` only supports a subset of parameters is a
/// runtime rule of the API, not something the schema expresses. So the schema check passes.
#[test]
fn pending_if_incomplete_with_price_data_passes_the_schema() {
    let f = form(&[
        ("payment_behavior", "pending_if_incomplete"),
        ("items[0][price_data][unit_amount]", "5"),
        ("items[0][price_data][currency]", "usd"),
        ("items[0][price_data][product]", "prod_1"),
        ("items[0][price_data][recurring][interval]", "month"),
    ]);
    assert_eq!(check_request("POST", SUB, &f), Ok(()));
}

#[test]
fn update_billing_cycle_anchor_is_enum_only() {
    // On update the pinned spec allows only `now` / `unchanged` (no timestamp).
    assert_eq!(check_request("POST", SUB, &form(&[("billing_cycle_anchor", "now")])), Ok(()));
    assert_eq!(check_request("POST", SUB, &form(&[("billing_cycle_anchor", "unchanged")])), Ok(()));
}

#[test]
fn metadata_and_empty_string_unset() {
    let f = form(&[
        ("metadata[checkout_id]", "co_1"),
        ("metadata[other]", "x"),
        ("discounts", ""),
        ("cancel_at", ""),
    ]);
    assert_eq!(check_request("POST", SUB, &f), Ok(()));
    // `metadata` itself may be "" (the unset branch) but not another string.
    assert_eq!(check_request("POST", SUB, &form(&[("metadata", "")])), Ok(()));
    assert_eq!(params(check_request("POST", SUB, &form(&[("metadata", "x")]))), vec!["metadata"]);
}

#[test]
fn create_preview_with_subscription_details_passes() {
    let f = form(&[
        ("customer", "cus_1"),
        ("subscription", "sub_1"),
        ("subscription_details[items][0][id]", "si_1"),
        ("subscription_details[items][0][price]", "price_1"),
        ("subscription_details[items][0][quantity]", "4"),
        ("subscription_details[proration_date]", "1700000000"),
        ("subscription_details[proration_behavior]", "always_invoice"),
        ("subscription_details[billing_cycle_anchor]", "now"),
    ]);
    assert_eq!(check_request("POST", "/v1/invoices/create_preview", &f), Ok(()));
}

#[test]
fn create_preview_billing_cycle_anchor_is_enum_or_timestamp() {
    let ok = form(&[("subscription_details[billing_cycle_anchor]", "1700000000")]);
    assert_eq!(check_request("POST", "/v1/invoices/create_preview", &ok), Ok(()));
    let bad = form(&[("subscription_details[billing_cycle_anchor]", "later")]);
    let errs = check_request("POST", "/v1/invoices/create_preview", &bad).unwrap_err();
    assert_eq!(errs[0].param, "subscription_details[billing_cycle_anchor]");
    let top = form(&[("proration_date", "1700000000")]);
    assert_eq!(params(check_request("POST", "/v1/invoices/create_preview", &top)), vec!["proration_date"]);
}

fn schedule_update(phase1_extra: &[(&'static str, &'static str)]) -> Vec<(String, String)> {
    let mut f = vec![
        ("phases[0][start_date]", "1700000000"),
        ("phases[0][end_date]", "1702592000"),
        ("phases[0][items][0][price]", "price_old"),
        ("phases[0][items][0][quantity]", "5"),
        ("phases[1][items][0][price]", "price_new"),
        ("end_behavior", "release"),
        ("proration_behavior", "none"),
    ];
    f.extend_from_slice(phase1_extra);
    form(&f)
}

/// The pinned description has no `phases[n][iterations]` any more (it is gone, not merely
/// deprecated); a phase's length is `duration[interval]` + `duration[interval_count]` or an
/// `end_date`.
#[test]
fn schedule_update_iterations_is_unknown_duration_is_allowed() {
    let path = "/v1/subscription_schedules/sub_sched_1";
    let r = check_request("POST", path, &schedule_update(&[("phases[1][iterations]", "1")]));
    assert_eq!(params(r), vec!["phases[1][iterations]"]);
    let with_duration = schedule_update(&[
        ("phases[1][duration][interval]", "month"),
        ("phases[1][duration][interval_count]", "1"),
    ]);
    assert_eq!(check_request("POST", path, &with_duration), Ok(()));
}

#[test]
fn schedule_update_phase_dates_accept_now() {
    let path = "/v1/subscription_schedules/sub_sched_1";
    let f = form(&[
        ("phases[0][start_date]", "now"),
        ("phases[0][end_date]", "now"),
        ("phases[0][items][0][price]", "p"),
    ]);
    assert_eq!(check_request("POST", path, &f), Ok(()));
    let bad = form(&[("phases[0][start_date]", "tomorrow")]);
    assert_eq!(params(check_request("POST", path, &bad)), vec!["phases[0][start_date]"]);
    assert_eq!(params(check_request("POST", path, &form(&[("end_behavior", "stop")]))), vec!["end_behavior"]);
}

#[test]
fn schedule_release_and_cancel() {
    let ok = check_request(
        "POST",
        "/v1/subscription_schedules/sub_sched_1/release",
        &form(&[("preserve_cancel_date", "true")]),
    );
    assert_eq!(ok, Ok(()));
    let bad = check_request(
        "POST",
        "/v1/subscription_schedules/sub_sched_1/cancel",
        &form(&[("invoice_now", "yes")]),
    );
    assert_eq!(params(bad), vec!["invoice_now"]);
}

#[test]
fn checkout_session_passes() {
    let f = form(&[
        ("line_items[0][price]", "price_1"),
        ("line_items[0][quantity]", "3"),
        ("mode", "subscription"),
        ("subscription_data[metadata][checkout_id]", "co_1"),
        ("success_url", "https://example.test/ok"),
        ("metadata[checkout_id]", "co_1"),
    ]);
    assert_eq!(check_request("POST", "/v1/checkout/sessions", &f), Ok(()));
    let inline = form(&[
        ("line_items[0][price_data][currency]", "eur"),
        ("line_items[0][price_data][unit_amount]", "1200"),
        ("line_items[0][price_data][recurring][interval]", "month"),
        ("line_items[0][price_data][product_data][name]", "Seats"),
        ("line_items[0][quantity]", "2"),
        ("mode", "subscription"),
    ]);
    assert_eq!(check_request("POST", "/v1/checkout/sessions", &inline), Ok(()));
    let bad =
        form(&[("mode", "subscriptions"), ("line_items[0][price_data][recurring][interval]", "fortnight")]);
    assert_eq!(
        params(check_request("POST", "/v1/checkout/sessions", &bad)),
        vec!["mode", "line_items[0][price_data][recurring][interval]"]
    );
}

#[test]
fn get_subscription_with_expand() {
    let f = form(&[("expand[]", "latest_invoice")]);
    assert_eq!(check_request("GET", "/v1/subscriptions/sub_1", &f), Ok(()));
    assert_eq!(check_request("GET", "/v1/subscriptions/sub_1?expand%5B%5D=latest_invoice", &[]), Ok(()));
    assert_eq!(
        check_request("GET", "/v1/subscriptions/sub_1?expand[0]=latest_invoice&expand[1]=customer", &[]),
        Ok(())
    );
    let bad = check_request("GET", "/v1/subscriptions/sub_1?limit=3", &[]);
    assert_eq!(params(bad), vec!["limit"]);
    // `expand` is an array: a bare scalar is refused.
    assert_eq!(
        params(check_request("GET", "/v1/subscriptions/sub_1", &form(&[("expand", "x")]))),
        vec!["expand"]
    );
}

#[test]
fn delete_subscription() {
    let f = form(&[
        ("invoice_now", "true"),
        ("prorate", "false"),
        ("cancellation_details[feedback]", "too_expensive"),
    ]);
    assert_eq!(check_request("DELETE", "/v1/subscriptions/sub_1", &f), Ok(()));
    assert_eq!(
        params(check_request("DELETE", "/v1/subscriptions/sub_1", &form(&[("at_period_end", "true")]))),
        vec!["at_period_end"]
    );
}

#[test]
fn subscription_create() {
    let f = form(&[
        ("customer", "cus_1"),
        ("items[0][price]", "price_1"),
        ("items[0][quantity]", "2"),
        ("billing_cycle_anchor", "1700000000"),
        ("metadata[k]", "v"),
        ("trial_end", "now"),
    ]);
    assert_eq!(check_request("POST", "/v1/subscriptions", &f), Ok(()));
    // `items[n][id]` and `deleted` exist only on update.
    assert_eq!(
        params(check_request("POST", "/v1/subscriptions", &form(&[("items[0][id]", "si_1")]))),
        vec!["items[0][id]"]
    );
}

#[test]
fn unknown_operation_fails() {
    let errs = check_request("POST", "/v1/subscription_items/si_1/usage_records", &[]).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].param, "");
    let errs = check_request("PATCH", "/v1/subscriptions/sub_1", &[]).unwrap_err();
    assert_eq!(errs[0].param, "");
}

#[test]
fn literal_path_beats_placeholder() {
    // POST /v1/invoices/create_preview must not be read as POST /v1/invoices/{invoice}.
    assert_eq!(
        check_request("POST", "/v1/invoices/create_preview", &form(&[("preview_mode", "next")])),
        Ok(())
    );
    assert_eq!(check_request("GET", "/v1/invoices/in_1", &form(&[("expand[]", "subscription")])), Ok(()));
}

#[test]
fn max_length_is_checked() {
    let long = "x".repeat(201);
    let f = vec![("client_reference_id".to_string(), long)];
    assert_eq!(params(check_request("POST", "/v1/checkout/sessions", &f)), vec!["client_reference_id"]);
}

#[test]
fn malformed_key_fails() {
    assert_eq!(params(check_request("POST", SUB, &form(&[("items[0", "x")]))), vec!["items[0"]);
}

#[test]
fn not_transcribed_operations_are_known() {
    for (m, p) in [
        ("POST", "/v1/products"),
        ("POST", "/v1/prices"),
        ("GET", "/v1/prices/price_1"),
        ("POST", "/v1/customers"),
        ("GET", "/v1/customers/cus_1"),
        ("POST", "/v1/invoices/in_1/pay"),
    ] {
        assert_eq!(check_request(m, p, &form(&[("anything", "goes")])), Ok(()), "{m} {p}");
    }
}

#[test]
fn list_invoices_query() {
    let ok = "/v1/invoices?customer=cus_1&subscription=sub_1&status=open&limit=3&starting_after=in_1\
              &created[gte]=1700000000&collection_method=charge_automatically&expand[]=data.subscription";
    assert_eq!(check_request("GET", ok, &[]), Ok(()));
    assert_eq!(check_request("GET", "/v1/invoices?created=1700000000", &[]), Ok(()));
    assert_eq!(params(check_request("GET", "/v1/invoices?status=unpaid", &[])), vec!["status"]);
    assert_eq!(params(check_request("GET", "/v1/invoices?limit=ten", &[])), vec!["limit"]);
    assert_eq!(params(check_request("GET", "/v1/invoices?created[since]=1", &[])), vec!["created[since]"]);
    // Listing is GET only.
    assert_eq!(params(check_request("POST", "/v1/invoices", &[])), vec![""]);
}

#[test]
fn billing_portal_configuration_create_and_update() {
    let create = form(&[
        ("features[customer_update][enabled]", "true"),
        ("features[customer_update][allowed_updates][]", "email"),
        ("features[customer_update][allowed_updates][]", "tax_id"),
        ("features[invoice_history][enabled]", "true"),
        ("features[payment_method_update][enabled]", "true"),
        ("features[subscription_cancel][enabled]", "true"),
        ("features[subscription_cancel][mode]", "at_period_end"),
        ("features[subscription_cancel][cancellation_reason][enabled]", "true"),
        ("features[subscription_cancel][cancellation_reason][options][0]", "too_expensive"),
        ("features[subscription_update][enabled]", "true"),
        ("features[subscription_update][default_allowed_updates][]", "quantity"),
        ("features[subscription_update][products][0][product]", "prod_1"),
        ("features[subscription_update][products][0][prices][0]", "price_1"),
        ("features[subscription_update][proration_behavior]", "always_invoice"),
        ("business_profile[headline]", "Acme"),
        ("default_return_url", "https://example.test/account"),
        ("metadata[k]", "v"),
    ]);
    assert_eq!(check_request("POST", "/v1/billing_portal/configurations", &create), Ok(()));
    let bad = form(&[
        ("features[customer_update][allowed_updates][]", "birthday"),
        ("features[subscription_cancel][mode]", "later"),
        ("features[invoice_history][visible]", "true"),
    ]);
    assert_eq!(
        params(check_request("POST", "/v1/billing_portal/configurations", &bad)),
        vec![
            "features[customer_update][allowed_updates][]",
            "features[subscription_cancel][mode]",
            "features[invoice_history][visible]"
        ]
    );
    // `active` exists on update only; an empty value unsets there.
    assert_eq!(
        params(check_request("POST", "/v1/billing_portal/configurations", &form(&[("active", "false")]))),
        vec!["active"]
    );
    let update = form(&[("active", "false"), ("default_return_url", ""), ("metadata", ""), ("name", "")]);
    assert_eq!(check_request("POST", "/v1/billing_portal/configurations/bpc_1", &update), Ok(()));
    assert_eq!(check_request("GET", "/v1/billing_portal/configurations/bpc_1?expand[]=x", &[]), Ok(()));
}

#[test]
fn billing_portal_session_create() {
    let f = form(&[
        ("customer", "cus_1"),
        ("configuration", "bpc_1"),
        ("return_url", "https://example.test/back"),
        ("locale", "fr-CA"),
        ("flow_data[type]", "subscription_cancel"),
        ("flow_data[subscription_cancel][subscription]", "sub_1"),
        ("flow_data[after_completion][type]", "redirect"),
        ("flow_data[after_completion][redirect][return_url]", "https://example.test/done"),
    ]);
    assert_eq!(check_request("POST", "/v1/billing_portal/sessions", &f), Ok(()));
    let bad = form(&[("customer", "cus_1"), ("locale", "xx"), ("flow_data[type]", "upgrade")]);
    assert_eq!(
        params(check_request("POST", "/v1/billing_portal/sessions", &bad)),
        vec!["locale", "flow_data[type]"]
    );
    // Sessions cannot be retrieved.
    assert_eq!(params(check_request("GET", "/v1/billing_portal/sessions/bps_1", &[])), vec![""]);
}

#[test]
fn invoice_void_and_mark_uncollectible_take_only_expand() {
    for op in ["void", "mark_uncollectible"] {
        let path = format!("/v1/invoices/in_1/{op}");
        assert_eq!(check_request("POST", &path, &form(&[("expand[]", "subscription")])), Ok(()), "{op}");
        assert_eq!(
            params(check_request("POST", &path, &form(&[("forgive", "true")]))),
            vec!["forgive"],
            "{op}"
        );
    }
}

#[test]
fn price_update() {
    let path = "/v1/prices/price_1";
    let ok = form(&[
        ("active", "false"),
        ("nickname", "Seats (2024)"),
        ("lookup_key", "seats_monthly"),
        ("transfer_lookup_key", "true"),
        ("tax_behavior", "exclusive"),
        ("metadata[plan]", "team"),
        ("currency_options[eur][unit_amount]", "900"),
        ("currency_options[eur][tiers][0][up_to]", "inf"),
        ("expand[]", "product"),
    ]);
    assert_eq!(check_request("POST", path, &ok), Ok(()));
    assert_eq!(check_request("POST", path, &form(&[("metadata", "")])), Ok(()));
    let long = "k".repeat(201);
    let bad = vec![
        ("lookup_key".to_string(), long),
        ("tax_behavior".to_string(), "included".to_string()),
        ("active".to_string(), "maybe".to_string()),
        ("unit_amount".to_string(), "1200".to_string()),
        ("recurring[interval]".to_string(), "year".to_string()),
    ];
    assert_eq!(
        params(check_request("POST", path, &bad)),
        vec!["lookup_key", "tax_behavior", "active", "unit_amount", "recurring"]
    );
    // Retrieving stays as before (not transcribed).
    assert_eq!(check_request("GET", path, &form(&[("anything", "goes")])), Ok(()));
}
