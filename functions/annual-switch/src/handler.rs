//! `POST /v1/subscriptions/{id}/interval-change/preview`, `POST …/interval-change` and
//! `DELETE /v1/subscriptions/{id}/scheduled-change`.

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
    CancelScheduled,
}

fn routes() -> [Route<R>; 3] {
    [
        Route::new(Method::POST, "/v1/subscriptions/{id}/interval-change/preview", R::Preview, Bearer, false),
        Route::new(Method::POST, "/v1/subscriptions/{id}/interval-change", R::Apply, Bearer, true),
        Route::new(
            Method::DELETE,
            "/v1/subscriptions/{id}/scheduled-change",
            R::CancelScheduled,
            Bearer,
            false,
        ),
    ]
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    serve(app, req, &routes(), |route, ctx| async move {
        let who = &ctx.principal;
        match route {
            R::Preview => ok(&changes::preview_interval(app, who, ctx.param(0), ctx.json()?).await?),
            R::Apply => ok(&changes::apply_interval(app, who, ctx.param(0), ctx.json()?).await?),
            R::CancelScheduled => ok(&changes::cancel_scheduled(app, who, ctx.param(0)).await?),
        }
    })
    .await
}
