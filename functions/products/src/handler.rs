//! `POST /v1/organizations`, `PATCH /v1/organizations/{id}` (billing settings) and the dead-letter records of the outbox (operator), benefits and
//! products (merchant), and the public product page.

use domain::services::{catalogue, sweeper, App};
use domain::views::List;
use http_kit::response::{created, ok};
use http_kit::router::Access::{Bearer, Open};
use http_kit::{serve, Route};
use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};

#[derive(Debug, Clone, Copy)]
enum R {
    CreateOrganization,
    CreateBenefit,
    ListBenefits,
    CreateProduct,
    ListProducts,
    GetProduct,
    DeadJobs,
    RotateApiKey,
    ListApiKeys,
    UpdateOrganization,
}

fn routes() -> [Route<R>; 10] {
    [
        Route::new(Method::POST, "/v1/organizations", R::CreateOrganization, Bearer, true),
        Route::new(Method::POST, "/v1/benefits", R::CreateBenefit, Bearer, true),
        Route::new(Method::GET, "/v1/benefits", R::ListBenefits, Bearer, false),
        Route::new(Method::POST, "/v1/products", R::CreateProduct, Bearer, true),
        Route::new(Method::GET, "/v1/products", R::ListProducts, Bearer, false),
        Route::new(Method::GET, "/v1/products/{id}", R::GetProduct, Open, false),
        Route::new(Method::GET, "/v1/operator/dead-jobs", R::DeadJobs, Bearer, false),
        Route::new(Method::POST, "/v1/organizations/{id}/api-keys", R::RotateApiKey, Bearer, true),
        Route::new(Method::GET, "/v1/organizations/{id}/api-keys", R::ListApiKeys, Bearer, false),
        Route::new(Method::PATCH, "/v1/organizations/{id}", R::UpdateOrganization, Bearer, false),
    ]
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Error> {
    serve(app, req, &routes(), |route, ctx| async move {
        let who = &ctx.principal;
        match route {
            R::CreateOrganization => created(&catalogue::create_organization(app, who, ctx.json()?).await?),
            R::CreateBenefit => created(&catalogue::create_benefit(app, who, ctx.json()?).await?),
            R::ListBenefits => ok(&List::of(catalogue::list_benefits(app, who).await?)),
            R::CreateProduct => created(&catalogue::create_product(app, who, ctx.json()?).await?),
            R::ListProducts => ok(&List::of(catalogue::list_products(app, who).await?)),
            R::GetProduct => ok(&catalogue::public_product(app, ctx.param(0)).await?),
            R::DeadJobs => ok(&List::of(sweeper::dead_jobs(app, who, 100).await?)),
            R::RotateApiKey => {
                let input = ctx.json_or_default()?;
                created(&catalogue::rotate_api_key(app, who, ctx.param(0), input).await?)
            }
            R::ListApiKeys => ok(&List::of(catalogue::list_api_keys(app, who, ctx.param(0)).await?)),
            R::UpdateOrganization => {
                ok(&catalogue::update_organization(app, who, ctx.param(0), ctx.json()?).await?)
            }
        }
    })
    .await
}
