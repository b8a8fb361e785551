//! `GET /v1/claims/{token}` (no side effects) and `POST /v1/claims`.

use domain::services::{claims, App};
use http_kit::response::ok;
use http_kit::router::Access::Open;
use http_kit::{serve, Route};
use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};

#[derive(Debug, Clone, Copy)]
enum R {
    Preview,
    Claim,
}

fn routes() -> [Route<R>; 2] {
    [
        Route::new(Method::GET, "/v1/claims/{token}", R::Preview, Open, false),
        Route::new(Method::POST, "/v1/claims", R::Claim, Open, false),
    ]
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    serve(app, req, &routes(), |route, ctx| async move {
        match route {
            R::Preview => ok(&claims::preview(app, ctx.param(0)).await?),
            R::Claim => ok(&claims::claim(app, ctx.json()?).await?),
        }
    })
    .await
}
