//! `GET|POST /v1/subscriptions/{id}/managers`, `DELETE …/managers/{customer_id}`,
//! `POST …/owner` (offer ownership), `POST …/owner/accept` and `GET /v1/portal/ownership-offers`.

use domain::services::{managers, App};
use http_kit::response::{created, ok};
use http_kit::router::Access::Bearer;
use http_kit::{serve, Route};
use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};

#[derive(Debug, Clone, Copy)]
enum R {
    List,
    Add,
    Remove,
    Offer,
    Accept,
    MyOffers,
}

fn routes() -> [Route<R>; 6] {
    [
        Route::new(Method::GET, "/v1/subscriptions/{id}/managers", R::List, Bearer, false),
        Route::new(Method::POST, "/v1/subscriptions/{id}/managers", R::Add, Bearer, true),
        Route::new(Method::DELETE, "/v1/subscriptions/{id}/managers/{customer_id}", R::Remove, Bearer, false),
        Route::new(Method::POST, "/v1/subscriptions/{id}/owner", R::Offer, Bearer, true),
        Route::new(Method::POST, "/v1/subscriptions/{id}/owner/accept", R::Accept, Bearer, false),
        Route::new(Method::GET, "/v1/portal/ownership-offers", R::MyOffers, Bearer, false),
    ]
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    serve(app, req, &routes(), |route, ctx| async move {
        let who = &ctx.principal;
        match route {
            R::List => ok(&managers::list(app, who, ctx.param(0)).await?),
            R::Add => created(&managers::add(app, who, ctx.param(0), ctx.json()?).await?),
            R::Remove => ok(&managers::remove(app, who, ctx.param(0), ctx.param(1)).await?),
            R::Offer => created(&managers::offer(app, who, ctx.param(0), ctx.json()?).await?),
            R::Accept => ok(&managers::accept(app, who, ctx.param(0)).await?),
            R::MyOffers => ok(&serde_json::json!({"data": managers::my_offers(app, who).await?})),
        }
    })
    .await
}
