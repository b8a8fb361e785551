//! `POST /v1/checkouts` and `GET /v1/checkouts/{id}`.

use domain::services::{purchase, App};
use http_kit::response::{created, ok};
use http_kit::router::Access::Open;
use http_kit::{serve, Route};
use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};

#[derive(Debug, Clone, Copy)]
enum R {
    Create,
    Get,
}

fn routes() -> [Route<R>; 2] {
    [
        Route::new(Method::POST, "/v1/checkouts", R::Create, Open, true),
        Route::new(Method::GET, "/v1/checkouts/{id}", R::Get, Open, false),
    ]
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    serve(app, req, &routes(), |route, ctx| async move {
        match route {
            R::Create => created(&purchase::create_checkout(app, &ctx.principal, ctx.json()?).await?),
            R::Get => ok(&purchase::get_checkout(app, ctx.param(0)).await?),
        }
    })
    .await
}
