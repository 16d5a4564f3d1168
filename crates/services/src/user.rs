//! The user component (5003): the user list, profiles, account status, global roles and memberships
//! (spec/03 "user"), including the `/users/count` compatibility routes. Handlers adapt
//! `hg_domain::user`.

use crate::common::Caller;
use axum::extract::State;
use hg_domain::user;
use hg_http::list::PageResponse as _;
use hg_http::list::QueryParams;
use hg_http::{ApiError, ApiResponse, IdPath, Payload};
use hg_platform::Platform;
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::api::Api;
use crate::common::{conn, double_option};

/// Every route of the user component, with its description.
/// The user component.
pub const DESCRIPTOR: crate::component::Descriptor =
    crate::component::Descriptor::api(hg_platform::Component::User, api);

pub fn api() -> Api {
    Api::new()
        .with(routes!(list))
        .with(routes!(count, count_post))
        .with(routes!(me, update_me))
        .with(routes!(get_one, update))
        .with(routes!(set_status))
        .with(routes!(set_roles))
        .with(routes!(memberships))
}

type Answer = Result<ApiResponse, ApiError>;

fn filters(q: &mut QueryParams) -> Result<user::Filters, ApiError> {
    Ok(user::Filters {
        org: q.uuid("org_id")?,
        status: q.one_of("status", user::STATUSES)?,
        role: q.one_of("role", user::ROLES)?,
        q: q.text("q", 100)?,
    })
}

#[utoipa::path(
    get,
    path = "/users",
    tag = "users",
    summary = "The users the caller can see",
    params(hg_http::openapi::PageParams, ("org_id" = Option<Uuid>, Query, description = "only members of this organization"), ("status" = Option<String>, Query, description = "active, pending or blocked"), ("role" = Option<String>, Query, description = "superadmin, ops, clinician or caregiver"), ("q" = Option<String>, Query, description = "text in the name or e-mail")),
    responses((status = 200, description = "OK", body = hg_http::openapi::Listed<user::User>))
)]
async fn list(State(p): State<Platform>, caller: Caller, mut q: QueryParams) -> Answer {
    let page = q.page(user::SORTS, false)?;
    let f = filters(&mut q)?;
    q.finish()?;
    Ok(user::list(&mut *conn(&p).await?, &caller, &f, &page)
        .await?
        .into_response())
}

#[utoipa::path(
    get,
    path = "/users/count",
    tag = "users",
    summary = "How many users the caller can see",
    params(("org_id" = Option<Uuid>, Query, description = "only members of this organization"), ("status" = Option<String>, Query, description = "active, pending or blocked"), ("role" = Option<String>, Query, description = "superadmin, ops, clinician or caregiver"), ("q" = Option<String>, Query, description = "text in the name or e-mail")),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<hg_http::openapi::Count>))
)]
async fn count(State(p): State<Platform>, caller: Caller, mut q: QueryParams) -> Answer {
    let f = filters(&mut q)?;
    q.finish()?;
    let n = user::count(&mut *conn(&p).await?, &caller, &f).await?;
    Ok(ApiResponse::ok(json!({ "count": n })))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[schema(as = UserCountFilters)]
struct CountFilters {
    #[serde(default)]
    org_id: Option<Uuid>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    q: Option<String>,
}

/// `POST /users/count`: the same count with the filters in the body (compatibility).
#[utoipa::path(
    post,
    path = "/users/count",
    tag = "users",
    summary = "How many users the caller can see (filters in the body)",
    request_body = CountFilters,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<hg_http::openapi::Count>))
)]
async fn count_post(
    State(p): State<Platform>,
    caller: Caller,
    Payload(b): Payload<CountFilters>,
) -> Answer {
    let mut q = QueryParams::from_pairs(
        [
            ("status", b.status.as_deref()),
            ("role", b.role.as_deref()),
            ("q", b.q.as_deref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v))),
    );
    let mut f = filters(&mut q)?;
    f.org = b.org_id;
    let n = user::count(&mut *conn(&p).await?, &caller, &f).await?;
    Ok(ApiResponse::ok(json!({ "count": n })))
}

#[utoipa::path(
    get,
    path = "/users/me",
    tag = "users",
    summary = "The caller's own profile",
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<user::User>))
)]
async fn me(State(p): State<Platform>, caller: Caller) -> Answer {
    Ok(ApiResponse::ok(
        user::get(&mut *conn(&p).await?, &caller, caller.id()).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ProfilePatch {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    locale: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    profile_photo_url: Option<Option<String>>,
}

impl ProfilePatch {
    fn domain(&self) -> user::ProfilePatch<'_> {
        user::ProfilePatch {
            name: self.name.as_deref(),
            locale: self.locale.as_ref().map(|v| v.as_deref()),
            profile_photo_url: self.profile_photo_url.as_ref().map(|v| v.as_deref()),
        }
    }
}

#[utoipa::path(
    patch,
    path = "/users/me",
    tag = "users",
    summary = "Edit the caller's own profile; null clears a field",
    request_body = ProfilePatch,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<user::User>))
)]
async fn update_me(
    State(p): State<Platform>,
    caller: Caller,
    Payload(b): Payload<ProfilePatch>,
) -> Answer {
    Ok(ApiResponse::ok(
        user::update_profile(&p.db, &caller, caller.id(), b.domain()).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/users/{id}",
    tag = "users",
    summary = "One user",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<user::User>))
)]
async fn get_one(State(p): State<Platform>, caller: Caller, IdPath(id): IdPath<Uuid>) -> Answer {
    Ok(ApiResponse::ok(
        user::get(&mut *conn(&p).await?, &caller, id).await?,
    ))
}

#[utoipa::path(
    patch,
    path = "/users/{id}",
    tag = "users",
    summary = "Edit a user's profile",
    params(("id" = Uuid, Path)),
    request_body = ProfilePatch,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<user::User>))
)]
async fn update(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<ProfilePatch>,
) -> Answer {
    Ok(ApiResponse::ok(
        user::update_profile(&p.db, &caller, id, b.domain()).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = UserStatus)]
struct Status {
    status: String,
}

#[utoipa::path(
    put,
    path = "/users/{id}/status",
    tag = "users",
    summary = "Set a user's status (superadmin)",
    params(("id" = Uuid, Path)),
    request_body = Status,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<user::User>))
)]
async fn set_status(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<Status>,
) -> Answer {
    Ok(ApiResponse::ok(
        user::set_status(&p.db, p.cache.as_ref(), &caller, id, &b.status).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = UserRoles)]
struct Roles {
    roles: Vec<String>,
}

#[utoipa::path(
    put,
    path = "/users/{id}/roles",
    tag = "users",
    summary = "Set a user's global roles (superadmin)",
    params(("id" = Uuid, Path)),
    request_body = Roles,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<user::User>))
)]
async fn set_roles(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<Roles>,
) -> Answer {
    Ok(ApiResponse::ok(
        user::set_roles(&p.db, p.cache.as_ref(), &caller, id, &b.roles).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/users/{id}/memberships",
    tag = "users",
    summary = "A user's organization memberships",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<Vec<hg_domain::identity::accounts::OrgMembership>>))
)]
async fn memberships(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
) -> Answer {
    Ok(ApiResponse::ok(
        user::memberships(&mut *conn(&p).await?, &caller, id).await?,
    ))
}
