//! Portal sign-in and sessions, the reads of billing managers (and merchants), and the seat
//! holder's benefits (downloads, their license keys' activations).

use domain::services::{audit, benefits, license_keys, portal, App};
use domain::views::{Accepted, List};
use http_kit::response::{created, json, ok};
use http_kit::router::Access::{Bearer, Open};
use http_kit::{serve, Route};
use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};

#[derive(Debug, Clone, Copy)]
enum R {
    SignIn,
    CreateSession,
    SignOut,
    MySubscriptions,
    OrganizationSubscriptions,
    GetSubscription,
    AuditTrail,
    MyBenefits,
    Download,
    MyActivations,
    RemoveActivation,
}

fn routes() -> [Route<R>; 11] {
    [
        Route::new(Method::POST, "/v1/portal/sign-in", R::SignIn, Open, false),
        Route::new(Method::POST, "/v1/portal/sessions", R::CreateSession, Open, false),
        Route::new(Method::POST, "/v1/portal/sessions/current/revoke", R::SignOut, Bearer, false),
        Route::new(Method::GET, "/v1/portal/subscriptions", R::MySubscriptions, Bearer, false),
        Route::new(Method::GET, "/v1/subscriptions", R::OrganizationSubscriptions, Bearer, false),
        Route::new(Method::GET, "/v1/subscriptions/{id}", R::GetSubscription, Bearer, false),
        Route::new(Method::GET, "/v1/subscriptions/{id}/events", R::AuditTrail, Bearer, false),
        Route::new(Method::GET, "/v1/portal/benefits", R::MyBenefits, Bearer, false),
        Route::new(Method::GET, "/v1/portal/benefits/{grant_id}/download", R::Download, Bearer, false),
        Route::new(
            Method::GET,
            "/v1/portal/benefits/{grant_id}/activations",
            R::MyActivations,
            Bearer,
            false,
        ),
        Route::new(
            Method::DELETE,
            "/v1/portal/benefits/{grant_id}/activations/{activation_id}",
            R::RemoveActivation,
            Bearer,
            false,
        ),
    ]
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    serve(app, req, &routes(), |route, ctx| async move {
        let who = &ctx.principal;
        match route {
            R::SignIn => {
                portal::sign_in(app, ctx.json()?).await?;
                Ok(json(202, &Accepted { status: "accepted" }))
            }
            R::CreateSession => created(&portal::create_session(app, ctx.json()?).await?),
            R::SignOut => {
                portal::sign_out(app, who, ctx.bearer()?.unwrap_or_default()).await?;
                ok(&serde_json::json!({"revoked": true}))
            }
            R::MySubscriptions => ok(&List::of(portal::my_subscriptions(app, who).await?)),
            R::OrganizationSubscriptions => {
                let (cursor, limit) = (ctx.query_param("cursor"), ctx.query_param("limit"));
                ok(&portal::organization_subscriptions_page(app, who, cursor, limit).await?)
            }
            R::GetSubscription => ok(&portal::get_subscription(app, who, ctx.param(0)).await?),
            R::AuditTrail => {
                let (cursor, limit) = (ctx.query_param("cursor"), ctx.query_param("limit"));
                ok(&audit::trail_page(app, who, ctx.param(0), cursor, limit).await?)
            }
            R::MyBenefits => ok(&List::of(benefits::my_benefits(app, who).await?)),
            R::Download => ok(&benefits::download(app, who, ctx.param(0)).await?),
            R::MyActivations => ok(&List::of(license_keys::my_activations(app, who, ctx.param(0)).await?)),
            R::RemoveActivation => {
                ok(&license_keys::remove_my_activation(app, who, ctx.param(0), ctx.param(1)).await?)
            }
        }
    })
    .await
}
