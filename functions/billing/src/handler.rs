//! `GET /v1/subscriptions/{id}/invoices` and `POST /v1/portal/billing-session`.

use domain::services::invoices::{self, InvoiceQuery};
use domain::services::{billing_details, App};
use http_kit::response::{created, ok};
use http_kit::router::Access::Bearer;
use http_kit::{serve, Route};
use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};

#[derive(Debug, Clone, Copy)]
enum R {
    Invoices,
    BillingSession,
}

fn routes() -> [Route<R>; 2] {
    [
        Route::new(Method::GET, "/v1/subscriptions/{id}/invoices", R::Invoices, Bearer, false),
        Route::new(Method::POST, "/v1/portal/billing-session", R::BillingSession, Bearer, false),
    ]
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    serve(app, req, &routes(), |route, ctx| async move {
        let who = &ctx.principal;
        match route {
            R::Invoices => {
                let q = InvoiceQuery {
                    limit: ctx.query_param("limit").map(str::to_string),
                    cursor: ctx.query_param("cursor").map(str::to_string),
                };
                ok(&invoices::list(app, who, ctx.param(0), q).await?)
            }
            R::BillingSession => created(&billing_details::session(app, who, ctx.json()?).await?),
        }
    })
    .await
}
