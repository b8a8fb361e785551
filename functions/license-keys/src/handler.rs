//! `POST /v1/license-keys/validate|activate|deactivate`: public (the key is the credential),
//! limited per address like every route that takes no credentials.

use domain::services::{license_keys, App};
use http_kit::response::{created, ok};
use http_kit::router::Access::Open;
use http_kit::{serve, Route};
use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};

#[derive(Debug, Clone, Copy)]
enum R {
    Validate,
    Activate,
    Deactivate,
}

fn routes() -> [Route<R>; 3] {
    [
        Route::new(Method::POST, "/v1/license-keys/validate", R::Validate, Open, false),
        Route::new(Method::POST, "/v1/license-keys/activate", R::Activate, Open, false),
        Route::new(Method::POST, "/v1/license-keys/deactivate", R::Deactivate, Open, false),
    ]
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    serve(app, req, &routes(), |route, ctx| async move {
        match route {
            R::Validate => ok(&license_keys::validate(app, ctx.json()?).await?),
            R::Activate => created(&license_keys::activate(app, ctx.json()?).await?),
            R::Deactivate => ok(&license_keys::deactivate(app, ctx.json()?).await?),
        }
    })
    .await
}
