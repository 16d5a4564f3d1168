//! Handlers of the organization component: parse input, call the domain, shape the answer.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use hg_domain::records::Caller;
use hg_domain::{care_team, organization as org};
use hg_platform::Platform;
use hg_platform::http::list::QueryParams;
use hg_platform::http::{ApiError, ApiResponse, IdPath, Payload};
use http::StatusCode;
use uuid::Uuid;

use super::dto;
use crate::common::conn;

type Answer = Result<ApiResponse, ApiError>;

fn no_content() -> Result<Response, ApiError> {
    Ok(StatusCode::NO_CONTENT.into_response())
}

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

pub async fn create(
    State(p): State<Platform>,
    caller: Caller,
    Payload(b): Payload<dto::NewOrganization>,
) -> Answer {
    let created = org::create(
        &p,
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

pub async fn get(State(p): State<Platform>, caller: Caller, IdPath(id): IdPath<Uuid>) -> Answer {
    Ok(ApiResponse::ok(
        org::get(&mut *conn(&p).await?, &caller, id).await?,
    ))
}

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
    Ok(ApiResponse::ok(org::update(&p, &caller, id, patch).await?))
}

pub async fn archive(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
) -> Result<Response, ApiError> {
    org::archive(&p, &caller, id).await?;
    no_content()
}

pub async fn stats(State(p): State<Platform>, caller: Caller, IdPath(id): IdPath<Uuid>) -> Answer {
    Ok(ApiResponse::ok(
        org::stats(&mut *conn(&p).await?, &caller, id).await?,
    ))
}

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

pub async fn add_member(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<dto::NewMember>,
) -> Answer {
    let m = org::add_member(&p, &caller, id, b.user_id, b.email.as_deref(), &b.org_role).await?;
    Ok(ApiResponse::created(
        format!("/organizations/{id}/members/{}", m.user_id),
        m,
    ))
}

pub async fn set_member_role(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, user)): IdPath<(Uuid, Uuid)>,
    Payload(b): Payload<dto::MemberRole>,
) -> Answer {
    Ok(ApiResponse::ok(
        org::set_member_role(&p, &caller, id, user, &b.org_role).await?,
    ))
}

pub async fn remove_member(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, user)): IdPath<(Uuid, Uuid)>,
) -> Result<Response, ApiError> {
    org::remove_member(&p, &caller, id, user).await?;
    no_content()
}

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

pub async fn invite(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<dto::NewInvitation>,
) -> Answer {
    let created = org::invite(&p, &caller, id, &b.email, &b.org_role, b.ttl_hours).await?;
    Ok(ApiResponse::created(
        format!("/organizations/{id}/invitations/{}", created.invitation.id),
        created,
    ))
}

pub async fn revoke_invitation(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, invitation)): IdPath<(Uuid, Uuid)>,
) -> Answer {
    Ok(ApiResponse::ok(
        org::revoke_invitation(&p, &caller, id, invitation).await?,
    ))
}

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

pub async fn create_team(
    State(p): State<Platform>,
    caller: Caller,
    IdPath(id): IdPath<Uuid>,
    Payload(b): Payload<dto::TeamName>,
) -> Answer {
    let team = care_team::create(&p, &caller, id, &b.name).await?;
    Ok(ApiResponse::created(
        format!("/organizations/{id}/care-teams/{}", team.id),
        team,
    ))
}

pub async fn team(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, team)): IdPath<(Uuid, Uuid)>,
) -> Answer {
    Ok(ApiResponse::ok(
        care_team::get(&mut *conn(&p).await?, &caller, id, team).await?,
    ))
}

pub async fn rename_team(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, team)): IdPath<(Uuid, Uuid)>,
    Payload(b): Payload<dto::TeamName>,
) -> Answer {
    Ok(ApiResponse::ok(
        care_team::rename(&p, &caller, id, team, &b.name).await?,
    ))
}

pub async fn delete_team(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, team)): IdPath<(Uuid, Uuid)>,
) -> Result<Response, ApiError> {
    care_team::delete(&p, &caller, id, team).await?;
    no_content()
}

pub async fn team_members(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, team)): IdPath<(Uuid, Uuid)>,
) -> Answer {
    Ok(ApiResponse::ok(
        care_team::members(&mut *conn(&p).await?, &caller, id, team).await?,
    ))
}

pub async fn add_team_member(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, team)): IdPath<(Uuid, Uuid)>,
    Payload(b): Payload<dto::NewTeamMember>,
) -> Answer {
    let m = care_team::add_member(&p, &caller, id, team, b.user_id, &b.role).await?;
    Ok(ApiResponse::created(
        format!(
            "/organizations/{id}/care-teams/{team}/members/{}",
            m.user_id
        ),
        m,
    ))
}

pub async fn set_team_member_role(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, team, user)): IdPath<(Uuid, Uuid, Uuid)>,
    Payload(b): Payload<dto::TeamRole>,
) -> Answer {
    Ok(ApiResponse::ok(
        care_team::set_member_role(&p, &caller, id, team, user, &b.role).await?,
    ))
}

pub async fn remove_team_member(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, team, user)): IdPath<(Uuid, Uuid, Uuid)>,
) -> Result<Response, ApiError> {
    care_team::remove_member(&p, &caller, id, team, user).await?;
    no_content()
}

pub async fn team_patients(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, team)): IdPath<(Uuid, Uuid)>,
) -> Answer {
    Ok(ApiResponse::ok(
        care_team::patients(&mut *conn(&p).await?, &caller, id, team).await?,
    ))
}

pub async fn add_team_patient(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, team)): IdPath<(Uuid, Uuid)>,
    Payload(b): Payload<dto::TeamPatient>,
) -> Result<Response, ApiError> {
    care_team::add_patient(&p, &caller, id, team, b.patient_id).await?;
    let linked = serde_json::json!({"patient_id": b.patient_id, "team_id": team});
    Ok(ApiResponse::with_status(StatusCode::CREATED, linked).into_response())
}

pub async fn remove_team_patient(
    State(p): State<Platform>,
    caller: Caller,
    IdPath((id, team, patient)): IdPath<(Uuid, Uuid, Uuid)>,
) -> Result<Response, ApiError> {
    care_team::remove_patient(&p, &caller, id, team, patient).await?;
    no_content()
}
