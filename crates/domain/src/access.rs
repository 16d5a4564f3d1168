//! Authorization (spec/04 "Authorization and tenancy"): what a principal may see, as a [`Scope`] that
//! repositories put into their queries — never a load-then-check — and what it may do, from the
//! permissions its roles hold.
//!
//! * superadmin — everything;
//! * ops — organizations, services, audit; no patient data;
//! * org_admin and viewer — every row of their organizations (viewer read-only);
//! * org_user (clinician) — the patients of the care teams they belong to, and those patients'
//!   devices, streams and alerts;
//! * caregiver — the patients they are actively linked to;
//! * patient — themself; device — its own streams.
//!
//! A row outside the scope is reported as 404 by the callers, exactly like a missing one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use hg_platform::auth::{OrgRole, Principal, PrincipalKind, Role};

use crate::catalog::Permission;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

/// What a principal may read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scope {
    /// Superadmin: everything.
    pub all: bool,
    /// Ops: every organization record (not patient data).
    pub all_organizations: bool,
    /// Organizations whose every row is visible (org_admin, viewer).
    pub org_wide: Vec<Uuid>,
    /// Organizations where the user sees the patients of their care teams (org_user).
    pub team_orgs: Vec<Uuid>,
    /// Every organization the principal belongs to (any role).
    pub member_orgs: Vec<Uuid>,
    /// The user, for care-team and caregiver links.
    pub user: Option<Uuid>,
    /// The patient themself.
    pub patient: Option<Uuid>,
    /// The device itself.
    pub device: Option<Uuid>,
}

impl Scope {
    /// The scope of `p`, from its verified claims.
    pub fn of(p: &Principal) -> Self {
        let c = &p.claims;
        match c.typ {
            PrincipalKind::User => {
                let mut s = Scope {
                    all: c.roles.iter().any(|r| r == Role::Superadmin.code()),
                    all_organizations: c.roles.iter().any(|r| r == Role::Ops.code()),
                    user: Some(c.sub),
                    ..Scope::default()
                };
                for (org, role) in &c.orgs {
                    s.member_orgs.push(*org);
                    match OrgRole::parse(role) {
                        Some(OrgRole::OrgAdmin | OrgRole::Viewer) => s.org_wide.push(*org),
                        Some(OrgRole::OrgUser) => s.team_orgs.push(*org),
                        None => {}
                    }
                }
                s
            }
            PrincipalKind::Patient => Scope {
                patient: Some(c.sub),
                member_orgs: c.orgs.keys().copied().collect(),
                ..Scope::default()
            },
            PrincipalKind::Device => Scope {
                device: Some(c.sub),
                ..Scope::default()
            },
        }
    }

    /// Appends `AND (<patient row visible>)` for a patient row aliased `p` (column `p.id`).
    ///
    /// The visible ids are a union of index-driven sets (org-wide organizations, care-team links,
    /// caregiver links, self), so the planner looks up a clinician's hundred patients instead of
    /// testing every row of a large table.
    pub fn push_patient_filter(&self, qb: &mut QueryBuilder<Postgres>, p: &str) {
        if self.all {
            return;
        }
        let mut branches = 0;
        let mut branch = |qb: &mut QueryBuilder<Postgres>| {
            qb.push(if branches == 0 {
                format!(" and {p}.id in (")
            } else {
                " union all ".to_owned()
            });
            branches += 1;
        };
        if !self.org_wide.is_empty() {
            branch(qb);
            qb.push("select vo.id from patients vo where vo.org_id = any(")
                .push_bind(self.org_wide.clone())
                .push(")");
        }
        if let Some(user) = self.user {
            if !self.team_orgs.is_empty() {
                branch(qb);
                qb.push(
                    "select vt.patient_id from patient_care_team vt
                       join care_team_member vm on vm.team_id = vt.team_id
                      where vm.user_id = ",
                )
                .push_bind(user)
                // On the member row (the team's organization by its foreign key): PostgreSQL then
                // estimates the generic plan like a custom one and stops re-planning each call.
                .push(" and vm.org_id = any(")
                .push_bind(self.team_orgs.clone())
                .push(")");
            }
            branch(qb);
            qb.push("select vc.patient_id from caregiver_patient vc where vc.ended_at is null and vc.user_id = ")
                .push_bind(user);
        }
        if let Some(patient) = self.patient {
            branch(qb);
            qb.push("select ").push_bind(patient).push("::uuid");
        }
        if branches == 0 {
            qb.push(" and false");
        } else {
            qb.push(")");
        }
    }

    /// Whether the patients visible are bounded by the principal's own links (care teams,
    /// caregiving, self) — a few hundred at most — rather than whole organizations.
    pub fn patients_link_bounded(&self) -> bool {
        !self.all && self.org_wide.is_empty()
    }

    /// Appends `AND (<patient of an org-wide organization>)` for a patient row aliased `p`: the
    /// part of the scope an index on `(org_id, …)` serves (nothing for a superadmin).
    pub fn push_org_wide_patients(&self, qb: &mut QueryBuilder<Postgres>, p: &str) {
        if self.all {
            return;
        }
        // One organization (the usual org_admin) as an equality: the page then comes in order
        // from the `(org_id, person_name, id)` index, stopping after it.
        match self.org_wide.as_slice() {
            [org] => {
                qb.push(format_args!(" and {p}.org_id = ")).push_bind(*org);
            }
            orgs => {
                qb.push(format_args!(" and {p}.org_id = any("))
                    .push_bind(orgs.to_vec())
                    .push(")");
            }
        }
    }

    /// Appends `AND (<patient visible through the principal's links>)` — care teams, caregiving,
    /// self — leaving out the org-wide organizations' patients (counted by
    /// [`Scope::push_org_wide_patients`]). Returns false, appending nothing, when the principal
    /// has no such links beyond the org-wide part.
    pub fn push_linked_patients(&self, qb: &mut QueryBuilder<Postgres>, p: &str) -> bool {
        if self.all {
            return false;
        }
        let linked = Scope {
            org_wide: Vec::new(),
            ..self.clone()
        };
        if linked.user.is_none() && linked.patient.is_none() {
            return false;
        }
        linked.push_patient_filter(qb, p);
        if !self.org_wide.is_empty() {
            qb.push(format_args!(" and not ({p}.org_id = any("))
                .push_bind(self.org_wide.clone())
                .push("))");
        }
        true
    }

    /// Appends `AND (<organization row visible>)` for an organization row aliased `o`.
    pub fn push_organization_filter(&self, qb: &mut QueryBuilder<Postgres>, o: &str) {
        if self.all || self.all_organizations {
            return;
        }
        qb.push(format_args!(" and {o}.id = any("))
            .push_bind(self.member_orgs.clone())
            .push(")");
    }

    /// Appends `AND (<device row visible>)` for a device row aliased `d` (columns `d.id`,
    /// `d.org_id`, `d.owner_patient_id`): org-wide rows, the device itself, or devices owned by a
    /// visible patient.
    pub fn push_device_filter(&self, qb: &mut QueryBuilder<Postgres>, d: &str) {
        if self.all {
            return;
        }
        qb.push(" and (false");
        if !self.org_wide.is_empty() {
            qb.push(format_args!(" or {d}.org_id = any("))
                .push_bind(self.org_wide.clone())
                .push(")");
        }
        if let Some(device) = self.device {
            qb.push(format_args!(" or {d}.id = ")).push_bind(device);
        }
        if self.user.is_some() || self.patient.is_some() {
            qb.push(format_args!(
                " or exists (select 1 from patients vp where vp.id = {d}.owner_patient_id"
            ));
            let mut patient_scope = self.clone();
            patient_scope.org_wide.clear();
            patient_scope.push_patient_filter(qb, "vp");
            qb.push(")");
        }
        qb.push(")");
    }
}

/// Ids of the organizations `scope` can see (archived ones excluded).
pub async fn visible_organizations(
    conn: &mut PgConnection,
    scope: &Scope,
) -> Result<BTreeSet<Uuid>, sqlx::Error> {
    let mut qb = QueryBuilder::new("select o.id from organizations o where o.archived_at is null");
    scope.push_organization_filter(&mut qb, "o");
    Ok(qb
        .build_query_scalar()
        .fetch_all(conn)
        .await?
        .into_iter()
        .collect())
}

/// Ids of the patients `scope` can see (archived ones excluded).
pub async fn visible_patients(
    conn: &mut PgConnection,
    scope: &Scope,
) -> Result<BTreeSet<Uuid>, sqlx::Error> {
    let mut qb = QueryBuilder::new("select p.id from patients p where p.archived_at is null");
    scope.push_patient_filter(&mut qb, "p");
    Ok(qb
        .build_query_scalar()
        .fetch_all(conn)
        .await?
        .into_iter()
        .collect())
}

/// Ids of the devices `scope` can see (archived ones excluded).
pub async fn visible_devices(
    conn: &mut PgConnection,
    scope: &Scope,
) -> Result<BTreeSet<Uuid>, sqlx::Error> {
    let mut qb = QueryBuilder::new("select d.id from devices d where d.archived_at is null");
    scope.push_device_filter(&mut qb, "d");
    Ok(qb
        .build_query_scalar()
        .fetch_all(conn)
        .await?
        .into_iter()
        .collect())
}

/// Whether `scope` can see the patient `id` (a single-row check with the same predicate).
pub async fn can_see_patient(
    conn: &mut PgConnection,
    scope: &Scope,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let mut qb = QueryBuilder::new("select exists(select 1 from patients p where p.id = ");
    qb.push_bind(id);
    scope.push_patient_filter(&mut qb, "p");
    qb.push(")");
    qb.build_query_scalar().fetch_one(conn).await
}

/// The process's permission cache.
pub fn permissions() -> &'static Permissions {
    static PERMISSIONS: std::sync::OnceLock<Permissions> = std::sync::OnceLock::new();
    PERMISSIONS.get_or_init(Permissions::new)
}

/// The permissions of every global and organization role, cached for a minute (roles change rarely;
/// a change shows everywhere within that minute, and at once in the process that made it after
/// [`Permissions::invalidate`]).
#[derive(Clone)]
pub struct Permissions {
    inner: Arc<RwLock<Option<(Instant, Catalog)>>>,
}

#[derive(Clone, Default)]
struct Catalog {
    roles: HashMap<String, BTreeSet<String>>,
    org_roles: HashMap<String, BTreeSet<String>>,
}

const CATALOG_TTL: Duration = Duration::from_secs(60);

impl Default for Permissions {
    fn default() -> Self {
        Self::new()
    }
}

impl Permissions {
    /// An empty cache.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(RwLock::new(None)),
        }
    }

    /// Forgets the cached catalog.
    pub fn invalidate(&self) {
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    async fn catalog(&self, pool: &PgPool) -> Result<Catalog, sqlx::Error> {
        if let Some((at, c)) = self
            .inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            && at.elapsed() < CATALOG_TTL
        {
            return Ok(c.clone());
        }
        let mut c = Catalog::default();
        let rows = sqlx::query!(
            "select r.name as role, p.code from role_permission rp
               join roles r on r.id = rp.role_id join permissions p on p.id = rp.permission_id"
        )
        .fetch_all(pool)
        .await?;
        for row in rows {
            c.roles.entry(row.role).or_default().insert(row.code);
        }
        let rows = sqlx::query!(
            "select orp.org_role, p.code
               from org_role_permission orp join permissions p on p.id = orp.permission_id"
        )
        .fetch_all(pool)
        .await?;
        for row in rows {
            c.org_roles
                .entry(row.org_role)
                .or_default()
                .insert(row.code);
        }
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), c.clone()));
        Ok(c)
    }

    /// What `p` may do everywhere (global roles) and in each organization (org roles added).
    pub async fn of(&self, pool: &PgPool, p: &Principal) -> Result<Granted, sqlx::Error> {
        let catalog = self.catalog(pool).await?;
        let mut global = BTreeSet::new();
        if p.kind() == PrincipalKind::User {
            for role in &p.claims.roles {
                global.extend(catalog.roles.get(role).into_iter().flatten().cloned());
            }
        }
        let mut per_org = BTreeMap::new();
        for (org, role) in &p.claims.orgs {
            let perms: BTreeSet<String> = catalog
                .org_roles
                .get(role)
                .into_iter()
                .flatten()
                .cloned()
                .collect();
            per_org.insert(*org, perms);
        }
        Ok(Granted { global, per_org })
    }
}

/// A principal's permissions.
#[derive(Clone, Debug, Default, serde::Serialize, PartialEq)]
pub struct Granted {
    /// From global roles, valid in every organization within the principal's scope.
    pub global: BTreeSet<String>,
    /// From organization roles, per organization.
    pub per_org: BTreeMap<Uuid, BTreeSet<String>>,
}

impl Granted {
    /// Whether `permission` is held in `org` (or globally).
    pub fn allows(&self, permission: Permission, org: Option<Uuid>) -> bool {
        let code = permission.code();
        self.global.contains(code)
            || org.is_some_and(|o| self.per_org.get(&o).is_some_and(|p| p.contains(code)))
    }
}
