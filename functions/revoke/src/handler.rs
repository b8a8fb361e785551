//! `DELETE /v1/subscriptions/{id}/seats/{seat_id}`: idempotent.

use domain::services::{seats, App};
use http_kit::response::ok;
use http_kit::router::Access::Bearer;
use http_kit::{serve, Route};
use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    let routes = [Route::new(Method::DELETE, "/v1/subscriptions/{id}/seats/{seat_id}", (), Bearer, false)];
    serve(app, req, &routes, |_, ctx| async move {
        ok(&seats::revoke(app, &ctx.principal, ctx.param(0), ctx.param(1)).await?)
    })
    .await
}
