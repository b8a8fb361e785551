//! `POST /v1/subscriptions/{id}/cancel/preview`, `POST …/cancel` and `POST …/resume`.

use domain::services::{changes, App};
use http_kit::response::ok;
use http_kit::router::Access::Bearer;
use http_kit::{serve, Route};
use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};

#[derive(Debug, Clone, Copy)]
enum R {
    Preview,
    Cancel,
    Resume,
}

fn routes() -> [Route<R>; 3] {
    [
        Route::new(Method::POST, "/v1/subscriptions/{id}/cancel/preview", R::Preview, Bearer, false),
        Route::new(Method::POST, "/v1/subscriptions/{id}/cancel", R::Cancel, Bearer, true),
        Route::new(Method::POST, "/v1/subscriptions/{id}/resume", R::Resume, Bearer, true),
    ]
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    serve(app, req, &routes(), |route, ctx| async move {
        let who = &ctx.principal;
        match route {
            R::Preview => ok(&changes::preview_cancel(app, who, ctx.param(0), ctx.json_or_default()?).await?),
            R::Cancel => ok(&changes::cancel(app, who, ctx.param(0), ctx.json_or_default()?).await?),
            R::Resume => {
                let _: changes::cancel::ResumeRequest = ctx.json_or_default()?;
                ok(&changes::resume(app, who, ctx.param(0)).await?)
            }
        }
    })
    .await
}
