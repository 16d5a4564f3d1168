//! Typed ids (spec/02: every key is a UUID): an `OrgId` cannot be passed where a `PatientId` is
//! expected, so swapped arguments do not compile. They serialize, deserialize (path parameters,
//! bodies) and bind to SQL exactly as the UUID they wrap.

use uuid::Uuid;

macro_rules! id_types {
    ($($(#[$meta:meta])* $name:ident;)*) => {$(
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, sqlx::Type, utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(pub Uuid);

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_types! {
    /// An organization.
    OrgId;
    /// A staff user.
    UserId;
    /// A patient.
    PatientId;
    /// A care team.
    CareTeamId;
    /// A device.
    DeviceId;
    /// A signal stream.
    StreamId;
    /// A timeseries binding of a stream.
    BindingId;
    /// An invitation.
    InvitationId;
    /// A caregiver link.
    CaregiverLinkId;
    /// A ground-truth label.
    LabelId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_travel_as_their_uuid() {
        let id = Uuid::now_v7();
        let org = OrgId(id);
        assert_eq!(serde_json::to_value(org).unwrap(), serde_json::json!(id));
        let back: OrgId = serde_json::from_value(serde_json::json!(id.to_string())).unwrap();
        assert_eq!(back, org);
        assert_eq!(org.to_string(), id.to_string());
    }
}
