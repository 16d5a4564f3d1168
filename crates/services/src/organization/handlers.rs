//! Handlers of the organization component: parse input, call the domain, shape the answer.

use crate::common::Caller;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use hg_domain::ids::{CareTeamId, InvitationId, OrgId, PatientId, UserId};
use hg_domain::{care_team, organization as org};
use hg_http::list::PageResponse as _;
use hg_http::list::QueryParams;
use hg_http::{ApiError, ApiResponse, IdPath, Payload};
use hg_platform::Platform;
use http::StatusCode;
use uuid::Uuid;

use super::dto;
use crate::common::conn;

type Answer = Result<ApiResponse, ApiError>;

fn no_content() -> Result<Response, ApiError> {
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    get,
    path = "/organizations",
    tag = "organizations",
    summary = "The organizations the caller belongs to (all for superadmins)",
    params(hg_http::openapi::PageParams, ("q" = Option<String>, Query, description = "text in the code or name"), ("archived" = Option<bool>, Query, description = "archived organizations instead")),
    responses((status = 200, description = "OK", body = hg_http::openapi::Listed<org::Organization>))
)]
pub async fn list(State(p): State<Platform>, caller: Caller, mut q: QueryParams) -> Answer {
    let page = q.page(org::SORTS, false)?;
    let filters = org::Filters {
        q: q.text("q", 100)?,
        archived: q.boolean("archived")?.unwrap_or(false),
    };
    q.finish()?;
    Ok(org::list(&mut *conn(&p).await?, &caller, &filters, &page)
        .await?
        .into_response())
}

#[utoipa::path(
    post,
    path = "/organizations",
    tag = "organizations",
    summary = "Create an organization (superadmin)",
    request_body = dto::NewOrganization,
    responses((status = 201, description = "Created (Location names it)", body = hg_http::openapi::Envelope<org::Organization>))
)]
pub async fn create(
    State(p): State<Platform>,
    caller: Caller,
    Payload(b): Payload<dto::NewOrganization>,
) -> Answer {
    let created = org::create(
        &p.db,
        &caller,
        org::NewOrganization {
            code: &b.code,
            name: &b.name,
            allow_patient_registration: b.allow_patient_registration,
        },
    )
    .await?;
    Ok(ApiResponse::created(
        format!("/organizations/{}", created.id),
        created,
    ))
}

#[utoipa::path(
    get,
    path = "/organizations/{id}",
    tag = "organizations",
    summary = "One organization",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<org::Organization>))
)]
pub async fn get(State(p): State<Platform>, caller: Caller, IdPath(id): IdPath<Uuid>) -> Answer {
    Ok(ApiResponse::ok(
        org::get(&mut *conn(&p).await?, &caller, id).await?,
    ))
}

#[utoipa::path(
    patch,
    path = "/organizations/{id}",
    tag = "organizations",
    summary = "Edit an organization",
    params(("id" = Uuid, Path)),
    request_body = dto::OrganizationPatch,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<org::Organization>))
)]
pub async fn update(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<dto::OrganizationPatch>,
) -> Answer {
    let patch = org::OrganizationPatch {
        name: b.name.as_deref(),
        allow_patient_registration: b.allow_patient_registration,
        logo_url: b.logo_url.as_ref().map(|v| v.as_deref()),
    };
    Ok(ApiResponse::ok(
        org::update(&p.db, &caller, id, patch).await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/organizations/{id}",
    tag = "organizations",
    summary = "Archive an organization (superadmin)",
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "Done"))
)]
pub async fn archive(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
) -> Result<Response, ApiError> {
    org::archive(&p.db, &caller, id).await?;
    no_content()
}

#[utoipa::path(
    get,
    path = "/organizations/{id}/stats",
    tag = "organizations",
    summary = "Counts of members, patients, devices and open alerts",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<org::Stats>))
)]
pub async fn stats(State(p): State<Platform>, caller: Caller, IdPath(id): IdPath<Uuid>) -> Answer {
    Ok(ApiResponse::ok(
        org::stats(&mut *conn(&p).await?, &caller, id).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/organizations/{id}/members",
    tag = "organizations",
    summary = "Members of the organization",
    params(("id" = Uuid, Path), hg_http::openapi::PageParams, ("org_role" = Option<String>, Query, description = "org_admin, org_user or viewer"), ("q" = Option<String>, Query, description = "text in the name or e-mail")),
    responses((status = 200, description = "OK", body = hg_http::openapi::Listed<org::Member>))
)]
pub async fn members(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    mut q: QueryParams,
) -> Answer {
    let page = q.page(org::MEMBER_SORTS, false)?;
    let role = q.one_of("org_role", org::ORG_ROLES)?;
    let text = q.text("q", 100)?;
    q.finish()?;
    let page = org::members(
        &mut *conn(&p).await?,
        &caller,
        id,
        role,
        text.as_deref(),
        &page,
    )
    .await?;
    Ok(page.into_response())
}

#[utoipa::path(
    post,
    path = "/organizations/{id}/members",
    tag = "organizations",
    summary = "Ask someone to join: an invitation they accept (never an immediate membership)",
    description = "The person, given by e-mail or by the id of a user the caller can see, is sent an invitation; they become a member when they accept it. The answer is the same whether the e-mail has an account or not.",
    params(("id" = Uuid, Path)),
    request_body = dto::NewMember,
    responses((status = 202, description = "Invitation sent", body = hg_http::openapi::Envelope<org::Invitation>), (status = 409, description = "Already a member (HG-ALREADY-MEMBER)", body = hg_http::openapi::ErrorDocument))
)]
pub async fn add_member(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<dto::NewMember>,
) -> Answer {
    let invitation = org::add_member(
        &p.db,
        &caller,
        id,
        b.user_id,
        b.email.as_deref(),
        &b.org_role,
    )
    .await?;
    Ok(ApiResponse::with_status(
        http::StatusCode::ACCEPTED,
        invitation,
    ))
}

#[utoipa::path(
    patch,
    path = "/organizations/{id}/members/{user_id}",
    tag = "organizations",
    summary = "Change a member's role",
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    request_body = dto::MemberRole,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<org::Member>), (status = 409, description = "The organization would lose its last org_admin (HG-LAST-ORG-ADMIN)", body = hg_http::openapi::ErrorDocument))
)]
pub async fn set_member_role(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, user)): IdPath<(OrgId, UserId)>,
    Payload(b): Payload<dto::MemberRole>,
) -> Answer {
    Ok(ApiResponse::ok(
        org::set_member_role(&p.db, p.cache.as_ref(), &caller, id, user, &b.org_role).await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/organizations/{id}/members/{user_id}",
    tag = "organizations",
    summary = "Remove a member",
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 204, description = "Done"), (status = 409, description = "The organization would lose its last org_admin (HG-LAST-ORG-ADMIN)", body = hg_http::openapi::ErrorDocument))
)]
pub async fn remove_member(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, user)): IdPath<(OrgId, UserId)>,
) -> Result<Response, ApiError> {
    org::remove_member(&p.db, p.cache.as_ref(), &caller, id, user).await?;
    no_content()
}

#[utoipa::path(
    get,
    path = "/organizations/{id}/invitations",
    tag = "organizations",
    summary = "Invitations of the organization",
    params(("id" = Uuid, Path), hg_http::openapi::PageParams, ("status" = Option<String>, Query, description = "pending, used, expired or revoked")),
    responses((status = 200, description = "OK", body = hg_http::openapi::Listed<org::Invitation>))
)]
pub async fn invitations(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    mut q: QueryParams,
) -> Answer {
    let page = q.page(org::INVITATION_SORTS, true)?;
    let status = q.one_of("status", &["pending", "used", "expired", "revoked"])?;
    q.finish()?;
    Ok(
        org::invitations(&mut *conn(&p).await?, &caller, id, status, &page)
            .await?
            .into_response(),
    )
}

#[utoipa::path(
    post,
    path = "/organizations/{id}/invitations",
    tag = "organizations",
    summary = "Invite someone: the link goes only to the invited address",
    params(("id" = Uuid, Path)),
    request_body = dto::NewInvitation,
    responses((status = 201, description = "Created (Location names it)", body = hg_http::openapi::Envelope<org::Invitation>), (status = 409, description = "Already a member (HG-ALREADY-MEMBER)", body = hg_http::openapi::ErrorDocument))
)]
pub async fn invite(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<dto::NewInvitation>,
) -> Answer {
    let created = org::invite(&p.db, &caller, id, &b.email, &b.org_role, b.ttl_hours).await?;
    Ok(ApiResponse::created(
        format!("/organizations/{id}/invitations/{}", created.id),
        created,
    ))
}

#[utoipa::path(
    delete,
    path = "/organizations/{id}/invitations/{invitation_id}",
    tag = "organizations",
    summary = "Revoke an invitation",
    params(("id" = Uuid, Path), ("invitation_id" = Uuid, Path)),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<org::Invitation>))
)]
pub async fn revoke_invitation(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, invitation)): IdPath<(OrgId, InvitationId)>,
) -> Answer {
    Ok(ApiResponse::ok(
        org::revoke_invitation(&p.db, &caller, id, invitation).await?,
    ))
}

/// `POST …/revoke`, the form of [`revoke_invitation`] for clients that cannot send DELETE.
#[utoipa::path(
    post,
    path = "/organizations/{id}/invitations/{invitation_id}/revoke",
    tag = "organizations",
    summary = "Revoke an invitation (same as DELETE)",
    params(("id" = Uuid, Path), ("invitation_id" = Uuid, Path)),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<org::Invitation>))
)]
pub async fn revoke_invitation_post(
    state: State<Platform>,
    caller: Caller,
    ids: IdPath<(OrgId, InvitationId)>,
) -> Answer {
    revoke_invitation(state, caller, ids).await
}

#[utoipa::path(
    get,
    path = "/organizations/{id}/care-teams",
    tag = "care teams",
    summary = "Care teams of the organization",
    params(("id" = Uuid, Path), hg_http::openapi::PageParams, ("q" = Option<String>, Query, description = "text in the name")),
    responses((status = 200, description = "OK", body = hg_http::openapi::Listed<care_team::CareTeam>))
)]
pub async fn teams(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    mut q: QueryParams,
) -> Answer {
    let page = q.page(care_team::SORTS, false)?;
    let text = q.text("q", 100)?;
    q.finish()?;
    Ok(
        care_team::list(&mut *conn(&p).await?, &caller, id, text.as_deref(), &page)
            .await?
            .into_response(),
    )
}

#[utoipa::path(
    post,
    path = "/organizations/{id}/care-teams",
    tag = "care teams",
    summary = "Create a care team",
    params(("id" = Uuid, Path)),
    request_body = dto::TeamName,
    responses((status = 201, description = "Created (Location names it)", body = hg_http::openapi::Envelope<care_team::CareTeam>))
)]
pub async fn create_team(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<dto::TeamName>,
) -> Answer {
    let team = care_team::create(&p.db, &caller, id, &b.name).await?;
    Ok(ApiResponse::created(
        format!("/organizations/{id}/care-teams/{}", team.id),
        team,
    ))
}

#[utoipa::path(
    get,
    path = "/organizations/{id}/care-teams/{team_id}",
    tag = "care teams",
    summary = "One care team",
    params(("id" = Uuid, Path), ("team_id" = Uuid, Path)),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<care_team::CareTeam>))
)]
pub async fn team(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, team)): IdPath<(OrgId, CareTeamId)>,
) -> Answer {
    Ok(ApiResponse::ok(
        care_team::get(&mut *conn(&p).await?, &caller, id, team).await?,
    ))
}

#[utoipa::path(
    patch,
    path = "/organizations/{id}/care-teams/{team_id}",
    tag = "care teams",
    summary = "Rename a care team",
    params(("id" = Uuid, Path), ("team_id" = Uuid, Path)),
    request_body = dto::TeamName,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<care_team::CareTeam>))
)]
pub async fn rename_team(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, team)): IdPath<(OrgId, CareTeamId)>,
    Payload(b): Payload<dto::TeamName>,
) -> Answer {
    Ok(ApiResponse::ok(
        care_team::rename(&p.db, &caller, id, team, &b.name).await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/organizations/{id}/care-teams/{team_id}",
    tag = "care teams",
    summary = "Delete a care team",
    params(("id" = Uuid, Path), ("team_id" = Uuid, Path)),
    responses((status = 204, description = "Done"))
)]
pub async fn delete_team(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, team)): IdPath<(OrgId, CareTeamId)>,
) -> Result<Response, ApiError> {
    care_team::delete(&p.db, &caller, id, team).await?;
    no_content()
}

#[utoipa::path(
    get,
    path = "/organizations/{id}/care-teams/{team_id}/members",
    tag = "care teams",
    summary = "Members of a care team",
    params(("id" = Uuid, Path), ("team_id" = Uuid, Path)),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<Vec<care_team::TeamMember>>))
)]
pub async fn team_members(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, team)): IdPath<(OrgId, CareTeamId)>,
) -> Answer {
    Ok(ApiResponse::ok(
        care_team::members(&mut *conn(&p).await?, &caller, id, team).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/organizations/{id}/care-teams/{team_id}/members",
    tag = "care teams",
    summary = "Add a member to a care team",
    params(("id" = Uuid, Path), ("team_id" = Uuid, Path)),
    request_body = dto::NewTeamMember,
    responses((status = 201, description = "Created (Location names it)", body = hg_http::openapi::Envelope<care_team::TeamMember>))
)]
pub async fn add_team_member(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, team)): IdPath<(OrgId, CareTeamId)>,
    Payload(b): Payload<dto::NewTeamMember>,
) -> Answer {
    let m = care_team::add_member(&p.db, &caller, id, team, b.user_id, &b.role).await?;
    Ok(ApiResponse::created(
        format!(
            "/organizations/{id}/care-teams/{team}/members/{}",
            m.user_id
        ),
        m,
    ))
}

#[utoipa::path(
    patch,
    path = "/organizations/{id}/care-teams/{team_id}/members/{user_id}",
    tag = "care teams",
    summary = "Change a team member's role",
    params(("id" = Uuid, Path), ("team_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    request_body = dto::TeamRole,
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<care_team::TeamMember>))
)]
pub async fn set_team_member_role(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, team, user)): IdPath<(OrgId, CareTeamId, UserId)>,
    Payload(b): Payload<dto::TeamRole>,
) -> Answer {
    Ok(ApiResponse::ok(
        care_team::set_member_role(&p.db, &caller, id, team, user, &b.role).await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/organizations/{id}/care-teams/{team_id}/members/{user_id}",
    tag = "care teams",
    summary = "Remove a member from a care team",
    params(("id" = Uuid, Path), ("team_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 204, description = "Done"))
)]
pub async fn remove_team_member(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, team, user)): IdPath<(OrgId, CareTeamId, UserId)>,
) -> Result<Response, ApiError> {
    care_team::remove_member(&p.db, &caller, id, team, user).await?;
    no_content()
}

#[utoipa::path(
    get,
    path = "/organizations/{id}/care-teams/{team_id}/patients",
    tag = "care teams",
    summary = "Patients of a care team",
    params(("id" = Uuid, Path), ("team_id" = Uuid, Path)),
    responses((status = 200, description = "OK", body = hg_http::openapi::Envelope<Vec<care_team::TeamPatient>>))
)]
pub async fn team_patients(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, team)): IdPath<(OrgId, CareTeamId)>,
) -> Answer {
    Ok(ApiResponse::ok(
        care_team::patients(&mut *conn(&p).await?, &caller, id, team).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/organizations/{id}/care-teams/{team_id}/patients",
    tag = "care teams",
    summary = "Add a patient to a care team",
    params(("id" = Uuid, Path), ("team_id" = Uuid, Path)),
    request_body = dto::TeamPatient,
    responses((status = 201, description = "OK"))
)]
pub async fn add_team_patient(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, team)): IdPath<(OrgId, CareTeamId)>,
    Payload(b): Payload<dto::TeamPatient>,
) -> Result<Response, ApiError> {
    care_team::add_patient(&p.db, &caller, id, team, b.patient_id).await?;
    let linked = serde_json::json!({"patient_id": b.patient_id, "team_id": team});
    Ok(ApiResponse::with_status(StatusCode::CREATED, linked).into_response())
}

#[utoipa::path(
    delete,
    path = "/organizations/{id}/care-teams/{team_id}/patients/{patient_id}",
    tag = "care teams",
    summary = "Remove a patient from a care team",
    params(("id" = Uuid, Path), ("team_id" = Uuid, Path), ("patient_id" = Uuid, Path)),
    responses((status = 204, description = "Done"))
)]
pub async fn remove_team_patient(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, team, patient)): IdPath<(OrgId, CareTeamId, PatientId)>,
) -> Result<Response, ApiError> {
    care_team::remove_patient(&p.db, &caller, id, team, patient).await?;
    no_content()
}
