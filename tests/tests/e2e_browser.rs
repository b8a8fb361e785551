//! The story through the pages, in headless Chromium against the local stack: a company buys
//! 3 seats on the checkout page and pays on the test payment page; its billing manager signs in
//! with the mailed code, invites two people; one claims a seat in a second browser, copies the
//! license key and downloads the file; the billing manager revokes the other, previews and
//! applies a seat increase, previews the switch to annual billing; the merchant's dashboard
//! lists it all, creates a benefit (with its file) and a product, and adds a webhook endpoint
//! whose test event reaches a receiver, signed. Every step asserts what the page shows and
//! saves a screenshot under `target/screenshots/`.

use seats_tests::browser::Driver;
use seats_tests::e2e::{merchant, Ctx, FILE_BYTES};
use serde_json::{json, Value};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn the_story_through_the_pages_in_a_real_browser() {
    let c = Ctx::start("browser").await;
    let web = c.stack.api_url.clone();
    let acme = merchant(&c, "acme").await;
    let driver = Driver::start("story").await;
    let boss = driver.session("billing-manager", &web).await;
    let clock = std::time::Instant::now();
    let step = |name: &str| println!("[{:>6.1}s] browser: {name}", clock.elapsed().as_secs_f64());

    step("the checkout page: product, interval, seats, live total; a bad email is refused in words");
    boss.goto(&format!("{web}/checkout/{}", acme.product_id)).await;
    boss.wait_text("#product-name", "Acme Pro").await;
    assert!(boss.text("#month-label").await.contains("$10.00 per seat per month"));
    assert!(boss.text("#year-label").await.contains("$100.00 per seat per year"));
    assert_eq!(boss.wait_text("#total", "per month").await, "$10.00 per month", "1 seat, the minimum");
    boss.click("#more").await;
    boss.click("#more").await;
    assert_eq!(boss.value("#seats").await, "3");
    assert_eq!(boss.wait_text("#total", "$30.00").await, "$30.00 per month");
    boss.click("#year-option input").await;
    assert_eq!(boss.wait_text("#total", "year").await, "$300.00 per year");
    boss.click("#month-option input").await;
    boss.wait_text("#total", "$30.00 per month").await;
    boss.fill("#email", "boss-at-corp").await;
    boss.click("#pay").await;
    let err = boss.wait_text("#email-error", "mail").await;
    assert_eq!(boss.find("#email").await.attr("aria-invalid").await.ok().flatten().as_deref(), Some("true"));
    assert_eq!(boss.value("#email").await, "boss-at-corp", "the form keeps its input");
    assert_eq!(boss.value("#seats").await, "3");
    println!("    the API's words next to the field: {err:?}");
    boss.shot("01-checkout-error").await;
    boss.fill("#email", "boss@corp.example").await;
    boss.shot("02-checkout").await;
    boss.click("#pay").await;

    step("the test payment page completes the checkout with a signed event");
    boss.wait_path("/checkout/test-payment").await;
    boss.wait_text("#pay", "Pay $30.00").await;
    assert_eq!(boss.text("#seats").await, "3");
    assert_eq!(boss.text("#email").await, "boss@corp.example");
    boss.shot("03-test-payment").await;
    boss.click("#pay").await;
    boss.wait_path("/checkout/complete").await;
    boss.wait_text("#headline", "Thank you").await;
    assert!(boss.text("#detail").await.contains("boss@corp.example"));
    boss.shot("04-payment-complete").await;
    let subs = c.api.get("/v1/subscriptions", Some(&acme.key)).await;
    assert_eq!(subs.body["data"][0]["seats"], json!(3), "{:?}", subs.body);
    let sub_id = subs.str("/data/0/id");

    step("the billing manager signs in with the mailed code");
    let code = c.sign_in_code_for("boss@corp.example").await;
    boss.goto(&format!("{web}/portal/sign-in?code={code}")).await;
    assert_eq!(boss.value("#code").await, code, "the link fills the code in; signing in takes a click");
    boss.click("#code-form button[type=submit]").await;
    boss.wait_text("#subscriptions tbody", "Acme Pro").await;
    let row = boss.text("#subscriptions tbody tr").await;
    assert!(row.contains("0 of 3") && row.contains("Monthly") && row.contains("active"), "{row}");
    assert_eq!(boss.text("#who").await, "boss@corp.example");
    boss.shot("05-portal-subscriptions").await;
    boss.click("#subscriptions a").await;

    step("the subscription: seats used and available; invite two people");
    boss.wait_path("/portal/subscription").await;
    boss.wait_text("#total", "3").await;
    assert_eq!((boss.text("#used").await, boss.text("#available").await), ("0".into(), "3".into()));
    assert!(boss.text("#plan").await.contains("$10.00 per seat per month"));
    boss.fill("#invite-email", "ann@corp.example").await;
    boss.click("#invite").await;
    boss.wait_text("#invite-form .status", "Invitation sent to ann@corp.example").await;
    // The keyboard is enough: Enter in the field sends the second invitation.
    boss.fill("#invite-email", "bob@corp.example\u{E007}").await;
    boss.wait_text("#invite-form .status", "Invitation sent to bob@corp.example").await;
    boss.wait_text("#used", "2").await;
    assert_eq!(boss.text("#available").await, "1");
    let table = boss.wait_text("#seats tbody", "bob@corp.example").await;
    assert!(table.contains("ann@corp.example") && table.matches("Invited").count() == 2, "{table}");
    // Inviting ann again is refused, in words, next to the field; the field keeps the address.
    boss.fill("#invite-email", "ann@corp.example").await;
    boss.click("#invite").await;
    boss.wait_text("#invite-email-error", "seat").await;
    assert_eq!(boss.value("#invite-email").await, "ann@corp.example");
    boss.shot("06-seats-invited").await;

    step("ann opens her invitation in another browser: it names who and what; opening claims nothing");
    let ann = driver.session("seat-holder", &web).await;
    let token = c.invitation_token("ann@corp.example").await;
    ann.goto(&format!("{web}/portal/claim?token={token}")).await;
    let invitation = ann.wait_text("#invitation", "invited").await;
    assert_eq!(invitation, "Acme Inc invited ann@corp.example to a seat of Acme Pro.");
    let seats = c.api.get(&format!("/v1/subscriptions/{sub_id}/seats?status=claimed"), Some(&acme.key)).await;
    assert_eq!(seats.body["seats"], json!([]), "a GET never claims");
    ann.shot("07-claim-invitation").await;
    ann.click("#claim").await;

    step("ann's benefits: the license key to copy, the file to download");
    ann.wait_path("/portal/benefits").await;
    ann.find("[data-type=file_download]").await;
    ann.wait_hidden("#preparing").await;
    let key_field = ann.find("input.license-key").await;
    let shown_key = key_field.prop("value").await.ok().flatten().unwrap_or_default();
    assert!(shown_key.starts_with("ACME-"), "{shown_key}");
    let holder: Value = ann.js("return JSON.parse(sessionStorage.getItem('seats.session'))").await;
    let holder_token = holder["token"].as_str().unwrap_or_default().to_string();
    let grants = c.api.get("/v1/portal/benefits", Some(&holder_token)).await;
    let api_key = grants.body["data"]
        .as_array()
        .expect("grants")
        .iter()
        .find_map(|g| g["license_key"].as_str())
        .expect("a license key")
        .to_string();
    assert_eq!(shown_key, api_key, "the page shows the key the API granted");
    ann.click("button.copy").await;
    ann.wait_text("[data-type=license_key] .status", "Copied").await;
    assert_eq!(ann.clipboard().await, api_key, "the clipboard holds the key");
    ann.wait_text("[data-type=license_key] .activations", "Not activated anywhere yet").await;

    step("ann's key activated on a machine by the merchant's software; ann removes it");
    let sub_view = c.api.get(&format!("/v1/subscriptions/{sub_id}"), Some(&acme.key)).await;
    let org_id = sub_view.str("/organization_id");
    let act = c
        .api
        .post(
            "/v1/license-keys/activate",
            None,
            json!({"organization_id": org_id, "key": api_key, "label": "ann-laptop"}),
        )
        .await;
    assert_eq!(act.status, 201, "{:?}", act.body);
    ann.goto(&format!("{web}/portal/benefits")).await;
    ann.wait_text("[data-type=license_key] .activations", "ann-laptop").await;
    ann.shot_at("08-benefits", "#grants").await;
    ann.click("button.remove-activation").await;
    ann.wait_text("[data-type=license_key] .activation-status", "ann-laptop removed").await;
    ann.wait_text("[data-type=license_key] .activations", "Not activated anywhere yet").await;
    let check = json!({"organization_id": org_id, "key": api_key, "activation_id": act.str("/id")});
    let gone = c.api.post("/v1/license-keys/validate", None, check).await;
    assert_eq!(gone.status, 404, "the removed activation is gone for the merchant's software too");
    ann.click("button.download").await;
    let link = ann.find("a.download-link").await.attr("href").await.ok().flatten().unwrap_or_default();
    assert!(link.starts_with(&c.stack.aws_endpoint), "a presigned URL of the bucket: {link}");
    assert_eq!(ann.downloaded().await, FILE_BYTES, "the downloaded file is the merchant's upload");
    // The link was spent: opening it again shows why, in words.
    ann.goto(&format!("{web}/portal/claim?token={token}")).await;
    ann.wait_text("#page-error", "no longer works").await;
    ann.shot("09-claim-link-used").await;

    step("the billing manager sees the claim, filters, and revokes bob after confirming");
    boss.goto(&format!("{web}/portal/subscription?id={sub_id}")).await;
    boss.wait_text("tr[data-email='ann@corp.example']", "Claimed").await;
    boss.find("#status-filter").await.select_by_value("claimed").await.expect("filter");
    let claimed_only = boss.wait_text_gone("#seats tbody", "bob@corp.example").await;
    assert!(claimed_only.contains("ann@corp.example"), "the filter shows claimed seats only: {claimed_only}");
    boss.find("#status-filter").await.select_by_value("").await.expect("filter");
    boss.wait_text("#seats tbody", "bob@corp.example").await;
    let bobs_first_link = c.invitation_token("bob@corp.example").await;
    boss.click("tr[data-email='bob@corp.example'] button[data-action=resend]").await;
    boss.wait_text("#seat-action-status", "Invitation sent again to bob@corp.example").await;
    let old = c.api.get(&format!("/v1/claims/{bobs_first_link}"), None).await;
    assert_eq!(old.status, 404, "the resent invitation replaced the old link");
    c.invitation_token_after("bob@corp.example", &bobs_first_link).await;
    // Escape closes the confirmation and keeps the seat.
    boss.click("tr[data-email='bob@corp.example'] button[data-action=revoke]").await;
    boss.wait_text("#revoke-text", "bob@corp.example").await;
    boss.find("#keep-seat").await.send_keys("\u{E00C}").await.expect("escape");
    boss.wait_hidden("#revoke-dialog").await;
    assert!(boss.text("tr[data-email='bob@corp.example']").await.contains("Invited"), "still invited");
    boss.click("tr[data-email='bob@corp.example'] button[data-action=revoke]").await;
    boss.wait_text("#revoke-text", "bob@corp.example").await;
    boss.shot("10-revoke-confirm").await;
    boss.click("#confirm-revoke").await;
    boss.wait_text("#seat-action-status", "The seat of bob@corp.example is revoked").await;
    boss.wait_text("tr[data-email='bob@corp.example']", "Revoked").await;
    boss.wait_text("#available", "2").await;
    assert_eq!(boss.text("#used").await, "1");
    boss.shot_at("11-seat-revoked", "#seats").await;

    step("more seats: the preview's lines and amount first, then the charge of exactly that amount");
    boss.fill("#new-seats", "5").await;
    boss.click("#preview-resize").await;
    let preview = boss.wait_text("#resize-preview", "Due now").await;
    assert!(preview.contains("Takes effect now."), "{preview}");
    assert_eq!(boss.all("#resize-preview table.lines tbody tr").await.len(), 2, "credit and charge lines");
    let due = boss.text("#resize-preview .amount-due").await;
    assert!(due.starts_with('$') && due != "$0.00", "{due}");
    assert_eq!(boss.text("#resize-preview .next-renewal").await, "$50.00");
    assert_eq!(boss.text("#total").await, "3", "a preview changes nothing");
    boss.shot_at("12-seat-increase-preview", "#resize-preview").await;
    let confirm = boss.text("#resize-preview button.confirm").await;
    assert_eq!(confirm, format!("Confirm and pay {due}"));
    boss.click("#resize-preview button.confirm").await;
    boss.wait_text("#total", "5").await;
    assert_eq!(boss.text("#available").await, "4");
    let history = boss.wait_text("#trail", "Seats increased from 3 to 5").await;
    assert!(history.contains(&format!("Seats increased from 3 to 5 — {due} charged")), "{history}");
    boss.shot_at("13-seat-increase-applied", "#trail").await;

    step("the invoices: the purchase and the increase, newest first; card and tax details are Stripe's (offline: none)");
    let invoices = boss.wait_text("#invoices tbody", "Change").await;
    assert!(invoices.contains("Purchase") && invoices.contains(&due), "{invoices}");
    let rows = boss.all("#invoices tbody tr").await;
    assert_eq!(rows.len(), 2, "{invoices}");
    assert_eq!(
        boss.text("#invoices tbody tr:first-child [data-status], #invoices tbody tr:first-child .badge")
            .await,
        "Paid"
    );
    boss.click("#billing-details").await;
    let offline = boss.wait_text("#billing-details-error", "offline").await;
    assert!(offline.contains("billing portal"), "{offline}");
    boss.shot_at("13b-invoices", "#invoices-section").await;

    step("the switch to annual billing: the preview with its lines and amount before any confirm");
    boss.click("#preview-interval").await;
    let preview = boss.wait_text("#interval-preview", "Due now").await;
    assert!(preview.contains("5 × Acme Pro (yearly)") && preview.contains("$500.00"), "{preview}");
    let credit_and_charge = boss.all("#interval-preview table.lines tbody tr").await.len();
    assert_eq!(credit_and_charge, 2, "{preview}");
    let due_now = boss.text("#interval-preview .amount-due").await;
    assert_eq!(
        boss.text("#interval-preview button.confirm").await,
        format!("Switch to annual and pay {due_now}")
    );
    boss.shot_at("14-annual-switch-preview", "#interval-preview").await;
    let sub = c.api.get(&format!("/v1/subscriptions/{sub_id}"), Some(&acme.key)).await;
    assert_eq!((sub.body["interval"].clone(), sub.body["seats"].clone()), (json!("month"), json!(5)));

    step("a scheduled decrease shows with its cancel button");
    boss.fill("#new-seats", "4").await;
    boss.click("#preview-resize").await;
    boss.wait_text("#resize-preview", "at the renewal").await;
    assert_eq!(boss.text("#resize-preview .amount-due").await, "$0.00");
    boss.click("#resize-preview button.confirm").await;
    boss.wait_text("#scheduled-text", "Scheduled: 4 seats").await;
    boss.shot_at("15-scheduled-decrease", "#scheduled").await;
    boss.click("#cancel-scheduled").await;
    boss.wait_text("#trail", "Scheduled change canceled").await;
    boss.wait_hidden("#scheduled").await;

    step("cancel at the period's end: what ends and when first, then the banner; resume before the end");
    boss.click("#cancel-open").await;
    boss.wait_text("#cancel-preview .cancel-at", "ends on").await;
    let seats_stop = boss.text("#cancel-preview .seats-stop").await;
    assert!(seats_stop.starts_with("5 seats"), "{seats_stop}");
    let benefits = boss.text("#cancel-preview .benefits-stop").await;
    assert!(benefits.contains("Installer") && benefits.contains("License"), "{benefits}");
    let sub = c.api.get(&format!("/v1/subscriptions/{sub_id}"), Some(&acme.key)).await;
    assert_eq!(sub.body["cancel_at_period_end"], json!(false), "a preview changes nothing");
    boss.js("document.querySelector('#cancel-reason').value = 'too_expensive'; return null").await;
    boss.fill("#cancel-comment", "Budget cut for next quarter").await;
    boss.shot_at("15b-cancel-preview", "#cancel-section").await;
    boss.click("#cancel-confirm").await;
    let banner = boss.wait_text("#cancel-banner", "set to cancel on").await;
    assert!(banner.contains("Seats and benefits work until then"), "{banner}");
    boss.wait_hidden("#cancel-section").await;
    let sub = c.api.get(&format!("/v1/subscriptions/{sub_id}"), Some(&acme.key)).await;
    assert_eq!(
        (sub.body["cancel_at_period_end"].clone(), sub.body["cancellation_details"]["reason"].clone()),
        (json!(true), json!("too_expensive"))
    );
    assert_eq!(sub.body["cancel_at"], sub.body["current_period_end"]);
    boss.js("window.scrollTo(0, 0); return null").await;
    boss.shot("15c-cancel-banner").await;
    boss.click("#resume").await;
    boss.wait_hidden("#cancel-banner").await;
    let sub = c.api.get(&format!("/v1/subscriptions/{sub_id}"), Some(&acme.key)).await;
    assert_eq!(sub.body["cancel_at_period_end"], json!(false));

    step("at phone width the page still fits");
    boss.client.set_window_size(390, 844).await.expect("resize");
    boss.goto(&format!("{web}/portal/subscription?id={sub_id}")).await;
    boss.wait_text("#total", "5").await;
    let too_wide = boss.too_wide().await;
    assert!(too_wide.is_empty(), "no sideways scrolling at 390 px: {too_wide:?}");
    boss.shot("16-phone-width").await;
    boss.client.set_window_size(1280, 1000).await.expect("resize");

    step("a full subscription of a product that grows: the price of one more seat, then bought and invited");
    let team = c
        .api
        .post(
            "/v1/products",
            Some(&acme.key),
            json!({"name": "Acme Crew", "currency": "usd", "prices": {"month": {"unit_amount": 1000}}, "when_full": "grow"}),
        )
        .await;
    assert_eq!(team.status, 201, "{:?}", team.body);
    let growing = seats_tests::e2e::Merchant { product_id: team.str("/id"), ..acme.clone() };
    let (team_sub, _) = seats_tests::e2e::buy(&c, &growing, 1, "boss@corp.example").await;
    let filled = c
        .api
        .post(
            &format!("/v1/subscriptions/{team_sub}/seats"),
            Some(&acme.key),
            json!({"email": "first@corp.example"}),
        )
        .await;
    assert_eq!(filled.status, 201, "{:?}", filled.body);
    boss.goto(&format!("{web}/portal/subscription?id={team_sub}")).await;
    boss.wait_text("#total", "1").await;
    boss.fill("#invite-email", "grown@corp.example").await;
    boss.click("#invite").await;
    let offer = boss.wait_text("#grow-preview", "Every seat is taken").await;
    assert!(offer.contains("Due now"), "the price first: {offer}");
    assert_eq!(boss.text("#total").await, "1", "nothing bought yet");
    boss.shot_at("grow-preview", "#grow-preview").await;
    boss.click("#grow-confirm").await;
    boss.wait_text("#invite-form .status", "Invitation sent to grown@corp.example").await;
    boss.wait_text("#total", "2").await;
    boss.wait_text("#seats tbody", "grown@corp.example").await;

    step("the merchant's dashboard: a wrong key in words, then products and subscriptions; new benefit and product");
    boss.goto(&format!("{web}/dashboard")).await;
    boss.fill("#api-key", "sk_wrong").await;
    boss.click("#key-form button[type=submit]").await;
    boss.wait_text("#api-key-error", "not valid").await;
    boss.fill("#api-key", &acme.key).await;
    boss.click("#key-form button[type=submit]").await;
    boss.wait_text("#products tbody", "Acme Pro").await;
    let sub_row = boss.wait_text(&format!("tr[data-subscription='{sub_id}']"), "active").await;
    assert!(sub_row.contains("1 of 5") && sub_row.contains("Monthly"), "{sub_row}");
    let stored = !boss.js("return sessionStorage.getItem('seats.merchant_key')").await.is_null();
    assert!(stored, "the key lives in session storage");
    boss.shot("17-dashboard").await;
    boss.find("#benefit-type").await.select_by_value("file_download").await.expect("type");
    boss.fill("#benefit-name", "Handbook").await;
    let upload = driver.workdir_file("handbook.txt", b"The Acme handbook\n");
    boss.find("#benefit-file").await.send_keys(&upload.display().to_string()).await.expect("choose file");
    boss.click("#benefit-form button[type=submit]").await;
    boss.wait_text("#benefit-form .status", "Created Handbook and uploaded the file").await;
    boss.wait_text("#benefits", "Handbook (file)").await;
    boss.fill("#product-name", "Acme Team").await;
    boss.fill("#price-month", "12.50").await;
    boss.fill("#price-year", "125").await;
    boss.fill("#max-seats", "20").await;
    boss.js("document.querySelector('#product-when-full').value = 'grow'").await;
    let handbook = boss.find("#benefit-choices label:last-of-type input").await;
    handbook.click().await.expect("choose the benefit");
    boss.click("#product-form button[type=submit]").await;
    boss.wait_text("#product-form .status", "Created Acme Team").await;
    let row = boss.wait_text("#products tbody", "Acme Team").await;
    assert!(row.contains("$12.50 / month · $125.00 / year") && row.contains("Handbook"), "{row}");
    // The form was emptied for the next product; a price with too many decimals is refused.
    assert_eq!(boss.value("#product-name").await, "");
    boss.fill("#product-name", "Acme Odd").await;
    boss.fill("#price-month", "12.505").await;
    boss.click("#product-form button[type=submit]").await;
    boss.wait_text("#price-month-error", "monthly price").await;
    assert_eq!(boss.value("#price-month").await, "12.505", "the form keeps its input");
    boss.shot_at("18-dashboard-new-product", "#product-form").await;
    let products = c.api.get("/v1/products", Some(&acme.key)).await;
    let team = products.body["data"]
        .as_array()
        .expect("list")
        .iter()
        .find(|p| p["name"] == json!("Acme Team"))
        .cloned();
    let team = team.expect("the dashboard created the product");
    assert_eq!(team["prices"]["month"]["unit_amount"], json!(1250), "12.50 → 1250 minor units exactly");
    assert_eq!((team["min_seats"].clone(), team["max_seats"].clone()), (json!(1), json!(20)));
    assert_eq!(team["when_full"], json!("grow"), "the form's When full choice");

    step("webhooks on the dashboard: a new endpoint's secret shown once; its test event delivered, signed");
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&receiver).await;
    let hook_url = format!("{}/hooks", receiver.uri());
    boss.fill("#endpoint-url", &hook_url).await;
    boss.click("#endpoint-form button[type=submit]").await;
    boss.wait_text("#secret-box", "shown once").await;
    let secret = boss.value("#secret-value").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let row = format!("#endpoints tr[data-url='{hook_url}']");
    let listed = boss.wait_text(&row, "active").await;
    assert!(listed.contains("All events"), "{listed}");
    boss.click(&format!("{row} button[data-action=test]")).await;
    boss.wait_text("#endpoint-action-status", "Test event sent").await;
    boss.click(&format!("{row} button[data-action=deliveries]")).await;
    // Delivered through the queue and the sender, moments later: the panel looks again meanwhile.
    boss.find("#deliveries tr[data-event-type='webhook_endpoint.test'][data-status=succeeded]").await;
    boss.shot_at("19-dashboard-webhooks", "#webhooks").await;
    let got = receiver.received_requests().await.unwrap_or_default();
    let hook = got.iter().find(|r| r.method.as_str() == "POST").expect("the receiver got the test event");
    let signature = hook.headers.get("webhook-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(signature.starts_with("v1,"), "signed: {signature:?}");
    let sent: Value = serde_json::from_slice(&hook.body).unwrap_or(Value::Null);
    assert_eq!(sent["type"], json!("webhook_endpoint.test"), "{sent}");

    step("a renewal's payment fails: the banner with what is due, the page to pay and the last day; paid, it goes");
    let items = seats_tests::scan(&c.db, &c.stack.resources.table).await;
    let stripe_sub = items
        .iter()
        .filter(|i| i.get("subscription_id").and_then(|v| v.as_s().ok()) == Some(&sub_id))
        .find_map(|i| i.get("PK")?.as_s().ok()?.strip_prefix("STRIPESUB#").map(str::to_string))
        .expect("the Stripe subscription of the story's purchase");
    let now = chrono::Utc::now().timestamp();
    let pay_page = "https://invoice.stripe.example/i/acct_1/in_renewal";
    // Its invoice, failed and then paid: the dunning ends with its own invoice paid.
    let failed = local_stack::stripe_events::renewal_invoice(
        "invoice.payment_failed",
        &stripe_sub,
        "in_renewal_1",
        now,
        5000,
        pay_page,
    );
    assert_eq!(c.event(&failed).await.status, 200);
    boss.goto(&format!("{web}/portal/subscription?id={sub_id}")).await;
    let banner = boss.wait_text("#payment-failed-banner", "Payment failed").await;
    assert!(banner.contains("$50.00"), "{banner}");
    let href = boss.js("return document.querySelector('#pay-invoice').getAttribute('href')").await;
    assert_eq!(href, json!(pay_page));
    boss.js("window.scrollTo(0, 0); return null").await;
    boss.shot("19b-payment-failed").await;
    let paid = local_stack::stripe_events::renewal_invoice(
        "invoice.paid",
        &stripe_sub,
        "in_renewal_1",
        now + 1,
        5000,
        pay_page,
    );
    assert_eq!(c.event(&paid).await.status, 200);
    boss.goto(&format!("{web}/portal/subscription?id={sub_id}")).await;
    boss.wait_text("#total", "5").await;
    boss.wait_hidden("#payment-failed-banner").await;

    step(
        "a lapse suspends the seats: the banner, then Reactivate buys the plan again and everyone comes back",
    );
    let gone = local_stack::stripe_events::subscription_deleted(&stripe_sub, chrono::Utc::now().timestamp());
    assert_eq!(c.event(&gone).await.status, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let live =
            c.api.get(&format!("/v1/subscriptions/{sub_id}/seats?status=claimed"), Some(&acme.key)).await;
        if live.body["seats"].as_array().is_some_and(|s| s.is_empty()) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the seats were not suspended");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    boss.goto(&format!("{web}/portal/subscription?id={sub_id}")).await;
    let banner = boss.wait_text("#suspension-banner", "suspended until").await;
    assert!(banner.contains("lapsed"), "{banner}");
    // Nothing can be assigned or bought on it: those sections are gone, no seat shows free.
    boss.wait_hidden("section[aria-labelledby=invite-h]").await;
    boss.wait_hidden("section[aria-labelledby=resize-h]").await;
    assert_eq!(boss.text("#available").await, "0");
    let table = boss.wait_text("#seats tbody", "Suspended").await;
    assert!(table.contains("ann@corp.example"), "{table}");
    boss.js("window.scrollTo(0, 0); return null").await;
    boss.shot("20-suspended").await;
    boss.click("#reactivate").await;
    boss.wait_path("/checkout/test-payment").await;
    boss.click("#pay").await;
    // Back on the lapsed subscription, which looks again until the purchase moved the seats.
    boss.wait_path("/portal/subscription").await;
    boss.wait_text("#restored-into", "restored into").await;
    boss.wait_hidden("#suspension-banner").await;
    boss.click("#restored-into a").await;
    boss.wait_text("#restored-from", "Restored from").await;
    let table = boss.wait_text("#seats tbody", "ann@corp.example").await;
    assert!(table.contains("Claimed"), "ann has her seat again: {table}");
    boss.shot("21-restored").await;

    ann.close().await;
    boss.close().await;
    drop(driver);
    c.assert_no_5xx_logged();
    c.assert_aws_requests_allowed();
    let shots = std::fs::read_dir(local_stack::root().join("target/screenshots"))
        .expect("screenshots")
        .filter_map(Result::ok)
        .filter(|f| f.file_name().to_string_lossy().starts_with(|ch: char| ch.is_ascii_digit()))
        .count();
    assert_eq!(shots, 25, "a screenshot per step");
}

/// Pay first, through the pages: the offline gateway told to decline (as Stripe's declining
/// test card does), a seat increase answers "Payment needed" with the payment page, the pending
/// change shows with its amount and no seat appears; once the payment is reported, it applies.
#[tokio::test]
async fn a_declined_change_shows_payment_needed_and_no_seats_before_the_payment() {
    let decline = vec![("OFFLINE_PAYMENT_OUTCOME".to_string(), "decline".to_string())];
    let c = Ctx::start_with("browser-402", decline).await;
    let web = c.stack.api_url.clone();
    let acme = merchant(&c, "acme").await;
    let (sub_id, stripe_sub) = seats_tests::e2e::buy(&c, &acme, 3, "boss@corp.example").await;
    let driver = Driver::start("payment-needed").await;
    let boss = driver.session("billing-manager", &web).await;
    let code = c.sign_in_code_for("boss@corp.example").await;
    boss.goto(&format!("{web}/portal/sign-in?code={code}")).await;
    boss.click("#code-form button[type=submit]").await;
    boss.wait_text("#subscriptions tbody", "Acme Pro").await;
    boss.goto(&format!("{web}/portal/subscription?id={sub_id}")).await;
    boss.wait_text("#total", "3").await;

    boss.fill("#new-seats", "5").await;
    boss.click("#preview-resize").await;
    let due = {
        boss.wait_text("#resize-preview", "Due now").await;
        boss.text("#resize-preview .amount-due").await
    };
    boss.click("#resize-preview button.confirm").await;
    let box_text = boss.wait_text("#resize-preview", "Payment needed").await;
    assert!(box_text.contains(&due), "the amount due is shown: {box_text}");
    let href = boss.js("return document.querySelector('#resize-preview a.button').href").await;
    let sub = c.api.get(&format!("/v1/subscriptions/{sub_id}"), Some(&acme.key)).await;
    let payment_url = sub.str("/pending_change/payment_url");
    assert_eq!(href, json!(payment_url), "the button goes to the invoice's payment page");
    let pending = boss.wait_text("#pending-text", "5 seats").await;
    assert!(pending.contains(&due) && pending.contains("you keep 3 seats"), "{pending}");
    assert_eq!(boss.text("#total").await, "3", "nothing claims the seats are there before they are");
    let history = boss.wait_text("#trail", "Payment needed for 5 seats").await;
    assert!(!history.contains("charged"), "nothing was charged: {history}");
    boss.shot_at("payment-needed", "#resize-preview").await;
    boss.shot_at("payment-needed-pending", "section[aria-labelledby=summary-h]").await;

    // Stripe reports the invoice paid: the item carries the new quantity, nothing pending.
    let period = (ts(&sub.str("/current_period_start")), ts(&sub.str("/current_period_end")));
    let item = local_stack::stripe_events::Item { quantity: 5, interval: "month" };
    let paid = local_stack::stripe_events::subscription_updated(
        &stripe_sub,
        "active",
        period,
        item,
        chrono::Utc::now().timestamp(),
    );
    assert_eq!(c.event(&paid).await.status, 200);
    boss.goto(&format!("{web}/portal/subscription?id={sub_id}")).await;
    boss.wait_text("#total", "5").await;
    boss.wait_hidden("#pending").await;

    // "Assign me": the billing manager takes a seat at once, claimed, no invitation.
    boss.click("#assign-me").await;
    boss.wait_text("#assign-me-form .status", "You have a seat").await;
    boss.wait_text("#used", "1").await;
    let table = boss.wait_text("#seats tbody", "boss@corp.example").await;
    assert!(table.contains("Claimed"), "{table}");

    // A pasted list: checked first (who will be invited, who is refused and why), then invited.
    boss.fill("#batch-emails", "cy@corp.example\nnot-an-email\nCY@corp.example, di@corp.example").await;
    boss.click("#batch-preview").await;
    let checked = boss.wait_text("#batch-result", "2 will be invited, 2 are refused").await;
    assert!(checked.contains("Row 2, not-an-email") && checked.contains("Row 3"), "{checked}");
    assert_eq!(boss.text("#used").await, "1", "a check writes nothing");
    boss.click("#batch-confirm").await;
    boss.wait_text("#batch-result", "2 invited, 2 refused").await;
    boss.wait_text("#used", "3").await;
    boss.wait_text("#seats tbody", "di@corp.example").await;
    boss.shot_at("batch-invite", "#batch-form").await;

    // A co-manager added from the page; they are mailed a sign-in link.
    boss.fill("#manager-email", "cfo@corp.example").await;
    boss.click("#manager-add").await;
    boss.wait_text("#manager-form", "Added cfo@corp.example").await;
    boss.wait_text("#managers-list", "cfo@corp.example").await;
    c.sign_in_code_for("cfo@corp.example").await;
    boss.shot_at("billing-managers", "#managers-section").await;
    boss.close().await;
    drop(driver);
    c.assert_no_5xx_logged();
    c.assert_aws_requests_allowed();
}

fn ts(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339).expect("time").timestamp()
}
