//! The user component (5003). Today: `GET /users/me`; the rest of spec/03's user endpoints arrive with
//! the clinical-records work.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use hg_domain::identity::accounts;
use hg_platform::Platform;
use hg_platform::auth::{Principal, PrincipalKind};
use hg_platform::db::DbError;
use hg_platform::http::{ApiError, ApiResponse};

/// Every route of the user component.
pub fn routes() -> Router<Platform> {
    Router::new().route("/users/me", get(me))
}

/// `GET /users/me`: the signed-in staff user's profile.
async fn me(State(p): State<Platform>, principal: Principal) -> Result<ApiResponse, ApiError> {
    if principal.kind() != PrincipalKind::User {
        return Err(ApiError::forbidden(
            "only staff accounts have a user profile",
        ));
    }
    let mut conn = p.db.acquire().await.map_err(DbError::from)?;
    let user = accounts::staff_view(&mut conn, principal.id())
        .await
        .map_err(DbError::from)?
        .ok_or_else(|| ApiError::not_found("HG-USER-NOT-FOUND", "no such user"))?;
    Ok(ApiResponse::ok(user))
}
