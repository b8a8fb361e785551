//! `POST|GET /v1/subscriptions/{id}/seats`, `POST …/seats/batch` (and its preview),
//! `POST …/seats/{seat_id}/resend` and `POST …/seats/{seat_id}/transfer`.

use domain::services::{batch, seats, App};
use http_kit::response::{created, ok};
use http_kit::router::Access::Bearer;
use http_kit::{serve, Route};
use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};

#[derive(Debug, Clone, Copy)]
enum R {
    Assign,
    List,
    Resend,
    Transfer,
    Batch,
    BatchPreview,
}

fn routes() -> [Route<R>; 6] {
    [
        Route::new(Method::POST, "/v1/subscriptions/{id}/seats/batch", R::Batch, Bearer, true),
        Route::new(
            Method::POST,
            "/v1/subscriptions/{id}/seats/batch/preview",
            R::BatchPreview,
            Bearer,
            false,
        ),
        Route::new(Method::POST, "/v1/subscriptions/{id}/seats", R::Assign, Bearer, true),
        Route::new(Method::GET, "/v1/subscriptions/{id}/seats", R::List, Bearer, false),
        Route::new(Method::POST, "/v1/subscriptions/{id}/seats/{seat_id}/resend", R::Resend, Bearer, false),
        Route::new(
            Method::POST,
            "/v1/subscriptions/{id}/seats/{seat_id}/transfer",
            R::Transfer,
            Bearer,
            true,
        ),
    ]
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    serve(app, req, &routes(), |route, ctx| async move {
        let who = &ctx.principal;
        match route {
            R::Assign => created(&seats::assign(app, who, ctx.param(0), ctx.json()?).await?),
            R::List => ok(&seats::list(
                app,
                who,
                ctx.param(0),
                ctx.query_param("status"),
                ctx.query_param("cursor"),
                ctx.query_param("limit"),
            )
            .await?),
            R::Resend => ok(&seats::resend(app, who, ctx.param(0), ctx.param(1)).await?),
            R::Batch => ok(&batch::assign(app, who, ctx.param(0), ctx.json()?).await?),
            R::BatchPreview => ok(&batch::preview(app, who, ctx.param(0), ctx.json()?).await?),
            R::Transfer => {
                created(&seats::transfer(app, who, ctx.param(0), ctx.param(1), ctx.json()?).await?)
            }
        }
    })
    .await
}
