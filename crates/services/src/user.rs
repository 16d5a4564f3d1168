//! The user component (5003): the user list, profiles, account status, global roles and memberships
//! (spec/03 "user"), including the `/users/count` compatibility routes. Handlers adapt
//! `hg_domain::user`.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use hg_domain::records::Caller;
use hg_domain::user;
use hg_platform::Platform;
use hg_platform::http::list::QueryParams;
use hg_platform::http::{ApiError, ApiResponse, IdPath, Payload};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::common::{conn, double_option};

/// Every route of the user component.
pub fn routes() -> Router<Platform> {
    Router::new()
        .route("/users", get(list))
        .route("/users/count", get(count).post(count_post))
        .route("/users/me", get(me).patch(update_me))
        .route("/users/{id}", get(get_one).patch(update))
        .route("/users/{id}/status", axum::routing::put(set_status))
        .route("/users/{id}/roles", axum::routing::put(set_roles))
        .route("/users/{id}/memberships", get(memberships))
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

async fn list(State(p): State<Platform>, caller: Caller, mut q: QueryParams) -> Answer {
    let page = q.page(user::SORTS, false)?;
    let f = filters(&mut q)?;
    q.finish()?;
    Ok(user::list(&mut *conn(&p).await?, &caller, &f, &page)
        .await?
        .into_response())
}

async fn count(State(p): State<Platform>, caller: Caller, mut q: QueryParams) -> Answer {
    let f = filters(&mut q)?;
    q.finish()?;
    let n = user::count(&mut *conn(&p).await?, &caller, &f).await?;
    Ok(ApiResponse::ok(json!({ "count": n })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
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

async fn me(State(p): State<Platform>, caller: Caller) -> Answer {
    Ok(ApiResponse::ok(
        user::get(&mut *conn(&p).await?, &caller, caller.id()).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
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

async fn update_me(
    State(p): State<Platform>,
    caller: Caller,
    Payload(b): Payload<ProfilePatch>,
) -> Answer {
    Ok(ApiResponse::ok(
        user::update_profile(&p, &caller, caller.id(), b.domain()).await?,
    ))
}

async fn get_one(State(p): State<Platform>, caller: Caller, IdPath(id): IdPath<Uuid>) -> Answer {
    Ok(ApiResponse::ok(
        user::get(&mut *conn(&p).await?, &caller, id).await?,
    ))
}

async fn update(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<ProfilePatch>,
) -> Answer {
    Ok(ApiResponse::ok(
        user::update_profile(&p, &caller, id, b.domain()).await?,
    ))
}

#[derive(Deserialize)]
struct Status {
    status: String,
}

async fn set_status(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<Status>,
) -> Answer {
    Ok(ApiResponse::ok(
        user::set_status(&p, &caller, id, &b.status).await?,
    ))
}

#[derive(Deserialize)]
struct Roles {
    roles: Vec<String>,
}

async fn set_roles(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<Roles>,
) -> Answer {
    Ok(ApiResponse::ok(
        user::set_roles(&p, &caller, id, &b.roles).await?,
    ))
}

async fn memberships(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
) -> Answer {
    Ok(ApiResponse::ok(
        user::memberships(&mut *conn(&p).await?, &caller, id).await?,
    ))
}
