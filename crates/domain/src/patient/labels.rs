//! Ground-truth labels: clinicians' annotations of real events, against which models are evaluated.

use super::*;
use hg_platform::page::Keyed;
use serde_json::Value;
use sqlx::PgPool;

/// A ground-truth label: a real event a clinician marked, for evaluating models.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Label {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub event_type: String,
    pub onset: DateTime<Utc>,
    pub offset_at: DateTime<Utc>,
    pub annotated_by: Option<Uuid>,
    pub source: Option<String>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Keyed for Label {
    fn sort_key(&self, _: &str) -> Value {
        json!(self.onset)
    }
    fn key_id(&self) -> Uuid {
        self.id
    }
}

pub(super) const LABEL_COLUMNS: &str = "g.id, g.patient_id, g.event_type, g.onset, g.offset_at, g.annotated_by, g.source, g.note, g.created_at, g.updated_at";

/// Sortable fields of label lists.
pub const LABEL_SORTS: &[SortField] = &[SortField {
    name: "onset",
    column: "g.onset",
    ty: SqlType::Timestamp,
}];

/// A label's content.
pub struct LabelInput<'a> {
    pub event_type: &'a str,
    pub onset: DateTime<Utc>,
    pub offset_at: DateTime<Utc>,
    pub source: Option<&'a str>,
    pub note: Option<&'a str>,
}

pub(super) async fn check_label(
    conn: &mut PgConnection,
    l: &LabelInput<'_>,
) -> Result<(String, Option<String>, Option<String>), RecordError> {
    if l.offset_at <= l.onset {
        return Err(RecordError::invalid("offset_at", "must be after onset"));
    }
    if l.onset > Utc::now() {
        return Err(RecordError::invalid("onset", "must not be in the future"));
    }
    let event = catalog_code(conn, "event_types", "event_type", l.event_type).await?;
    Ok((
        event,
        optional_text("source", l.source, 80)?,
        optional_text("note", l.note, 2000)?,
    ))
}

/// Labels of a patient.
pub async fn labels(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
    page: &PageRequest,
) -> Result<Page<Label>, RecordError> {
    let p = visible(conn, caller, id).await?;
    read_audit(conn, caller, &p, "ground_truth").await?;
    let mut qb = QueryBuilder::new(format!(
        "select {LABEL_COLUMNS} from ground_truth_labels g where g.patient_id = "
    ));
    qb.push_bind(id);
    Ok(page.fetch(conn, qb, "g.id").await?)
}

pub(super) async fn label(
    conn: &mut PgConnection,
    patient: Uuid,
    id: Uuid,
) -> Result<Label, RecordError> {
    sqlx::query_as!(
        Label,
        "select g.id, g.patient_id, g.event_type, g.onset, g.offset_at, g.annotated_by,
             g.source, g.note, g.created_at, g.updated_at from ground_truth_labels g where g.id =
             $1 and g.patient_id = $2",
        id,
        patient,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(RecordError::NotFound("HG-LABEL-NOT-FOUND", "no such label"))
}

/// One label.
pub async fn get_label(
    conn: &mut PgConnection,
    caller: &Caller,
    id: PatientId,
    label_id: LabelId,
) -> Result<Label, RecordError> {
    let label_id: Uuid = label_id.into();
    let id: Uuid = id.into();
    let p = visible(conn, caller, id).await?;
    read_audit(conn, caller, &p, "ground_truth").await?;
    label(conn, id, label_id).await
}

/// Adds a label (care team and org_admins).
pub async fn add_label(
    db: &PgPool,
    caller: &Caller,
    id: Uuid,
    input: LabelInput<'_>,
) -> Result<Label, RecordError> {
    let mut tx = db.begin().await?;
    let p = writable(&mut tx, caller, id, Permission::GroundTruthManage).await?;
    let (event, source, note) = check_label(&mut tx, &input).await?;
    let l: Label = sqlx::query_as!(
        Label,
        "insert into ground_truth_labels as g
                (org_id, patient_id, event_type, onset, offset_at, annotated_by, source, note)
         values ($1, $2, $3, $4, $5, $6, $7, $8)
         returning g.id, g.patient_id, g.event_type, g.onset, g.offset_at, g.annotated_by, g.source,
                   g.note, g.created_at, g.updated_at",
        p.org_id,
        id,
        &event,
        input.onset,
        input.offset_at,
        caller.id(),
        source.as_deref(),
        note.as_deref()
    )
    .fetch_one(&mut *tx)
    .await?;
    caller
        .audit(Action::GroundTruthCreate)
        .entity("ground_truth_label", l.id)
        .org(p.org_id)
        .details(json!({"patient_id": id, "event_type": event}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(l)
}

/// Replaces a label's content.
pub async fn update_label(
    db: &PgPool,
    caller: &Caller,
    id: PatientId,
    label_id: LabelId,
    input: LabelInput<'_>,
) -> Result<Label, RecordError> {
    let label_id: Uuid = label_id.into();
    let id: Uuid = id.into();
    let mut tx = db.begin().await?;
    let p = writable(&mut tx, caller, id, Permission::GroundTruthManage).await?;
    label(&mut tx, id, label_id).await?;
    let (event, source, note) = check_label(&mut tx, &input).await?;
    let l: Label = sqlx::query_as!(
        Label,
        "update ground_truth_labels g
            set event_type = $2, onset = $3, offset_at = $4, source = $5, note = $6
          where g.id = $1
         returning g.id, g.patient_id, g.event_type, g.onset, g.offset_at, g.annotated_by, g.source,
                   g.note, g.created_at, g.updated_at",
        label_id,
        &event,
        input.onset,
        input.offset_at,
        source.as_deref(),
        note.as_deref()
    )
    .fetch_one(&mut *tx)
    .await?;
    caller
        .audit(Action::GroundTruthUpdate)
        .entity("ground_truth_label", label_id)
        .org(p.org_id)
        .details(json!({"patient_id": id, "event_type": event}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(l)
}

/// Deletes a label.
pub async fn delete_label(
    db: &PgPool,
    caller: &Caller,
    id: PatientId,
    label_id: LabelId,
) -> Result<(), RecordError> {
    let label_id: Uuid = label_id.into();
    let id: Uuid = id.into();
    let mut tx = db.begin().await?;
    let p = writable(&mut tx, caller, id, Permission::GroundTruthManage).await?;
    let l = label(&mut tx, id, label_id).await?;
    sqlx::query!("delete from ground_truth_labels where id = $1", label_id)
        .execute(&mut *tx)
        .await?;
    caller
        .audit(Action::GroundTruthDelete)
        .entity("ground_truth_label", label_id)
        .org(p.org_id)
        .details(json!({"patient_id": id, "event_type": l.event_type, "onset": l.onset}))
        .record(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
