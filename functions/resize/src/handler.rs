//! `POST /v1/subscriptions/{id}/seat-changes/preview` and `POST …/seat-changes`.

use domain::services::{changes, App};
use http_kit::response::ok;
use http_kit::router::Access::Bearer;
use http_kit::{serve, Route};
use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};

#[derive(Debug, Clone, Copy)]
enum R {
    Preview,
    Apply,
}

fn routes() -> [Route<R>; 2] {
    [
        Route::new(Method::POST, "/v1/subscriptions/{id}/seat-changes/preview", R::Preview, Bearer, false),
        Route::new(Method::POST, "/v1/subscriptions/{id}/seat-changes", R::Apply, Bearer, true),
    ]
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    serve(app, req, &routes(), |route, ctx| async move {
        let who = &ctx.principal;
        match route {
            R::Preview => ok(&changes::preview_seats(app, who, ctx.param(0), ctx.json()?).await?),
            R::Apply => ok(&changes::apply_seats(app, who, ctx.param(0), ctx.json()?).await?),
        }
    })
    .await
}
