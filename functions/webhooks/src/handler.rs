//! `/v1/webhook-endpoints…` (merchant key): the endpoints, their signing secrets (shown at
//! creation and rotation only), their deliveries, a retry, a test event.

use domain::services::{webhooks, App};
use http_kit::response::{created, ok};
use http_kit::router::Access::Bearer;
use http_kit::{serve, Route};
use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};

#[derive(Debug, Clone, Copy)]
enum R {
    Create,
    List,
    Get,
    Update,
    Delete,
    RotateSecret,
    Deliveries,
    Retry,
    Test,
}

fn routes() -> [Route<R>; 9] {
    const ONE: &str = "/v1/webhook-endpoints/{id}";
    [
        Route::new(Method::POST, "/v1/webhook-endpoints", R::Create, Bearer, true),
        Route::new(Method::GET, "/v1/webhook-endpoints", R::List, Bearer, false),
        Route::new(Method::GET, ONE, R::Get, Bearer, false),
        Route::new(Method::PATCH, ONE, R::Update, Bearer, false),
        Route::new(Method::DELETE, ONE, R::Delete, Bearer, false),
        Route::new(Method::POST, "/v1/webhook-endpoints/{id}/rotate-secret", R::RotateSecret, Bearer, true),
        Route::new(Method::GET, "/v1/webhook-endpoints/{id}/deliveries", R::Deliveries, Bearer, false),
        Route::new(
            Method::POST,
            "/v1/webhook-endpoints/{id}/deliveries/{delivery_id}/retry",
            R::Retry,
            Bearer,
            false,
        ),
        Route::new(Method::POST, "/v1/webhook-endpoints/{id}/test", R::Test, Bearer, false),
    ]
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    serve(app, req, &routes(), |route, ctx| async move {
        let who = &ctx.principal;
        match route {
            R::Create => created(&webhooks::create(app, who, ctx.json()?).await?),
            R::List => ok(&webhooks::list(app, who).await?),
            R::Get => ok(&webhooks::get(app, who, ctx.param(0)).await?),
            R::Update => ok(&webhooks::update(app, who, ctx.param(0), ctx.json()?).await?),
            R::Delete => {
                webhooks::delete(app, who, ctx.param(0)).await?;
                ok(&serde_json::json!({"id": ctx.param(0), "deleted": true}))
            }
            R::RotateSecret => ok(&webhooks::rotate_secret(app, who, ctx.param(0)).await?),
            R::Deliveries => ok(&webhooks::deliveries(
                app,
                who,
                ctx.param(0),
                ctx.query_param("status"),
                ctx.query_param("limit"),
            )
            .await?),
            R::Retry => ok(&webhooks::retry(app, who, ctx.param(0), ctx.param(1)).await?),
            R::Test => created(&webhooks::send_test(app, who, ctx.param(0)).await?),
        }
    })
    .await
}
