//! Every `HG-…` error id the platform answers with, its status and what it means: the one table
//! clients, docs/api.md and tests read. A test scans the sources for ids that are not listed here
//! and checks that docs/api.md documents every one.

/// One error id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorId {
    /// The stable id, e.g. `HG-PATIENT-NOT-FOUND`.
    pub id: &'static str,
    /// Its HTTP status.
    pub status: u16,
    /// When it is answered.
    pub meaning: &'static str,
}

const fn e(id: &'static str, status: u16, meaning: &'static str) -> ErrorId {
    ErrorId {
        id,
        status,
        meaning,
    }
}

/// Every error id, by status.
pub const ERROR_IDS: &[ErrorId] = &[
    e(
        "HG-BAD-PAYLOAD",
        400,
        "empty body, JSON/XML syntax error, trailing data, a JSON array where an object is expected, DTD in XML",
    ),
    e(
        "HG-BODY-UNREADABLE",
        400,
        "the client stopped sending a body half-way",
    ),
    e(
        "HG-BODY-TIMEOUT",
        400,
        "the body did not arrive within HTTP_BODY_TIMEOUT_SECS",
    ),
    e(
        "HG-VALIDATION",
        400,
        "a wrong, missing or unknown field or query parameter (details.fields names them)",
    ),
    e(
        "HG-REQUEST-ERROR",
        400,
        "another client error raised outside the handlers",
    ),
    e(
        "HG-UNAUTHENTICATED",
        401,
        "no access token (with WWW-Authenticate)",
    ),
    e(
        "HG-TOKEN-INVALID",
        401,
        "a token with a wrong signature, algorithm, issuer or audience",
    ),
    e("HG-TOKEN-EXPIRED", 401, "an expired access token"),
    e(
        "HG-TOKEN-REVOKED",
        401,
        "a token revoked by logout, refresh-token reuse, a password reset or blocking",
    ),
    e(
        "HG-API-KEY-MISSING",
        401,
        "a gateway request without X-Internal-API-Key",
    ),
    e(
        "HG-INVALID-CREDENTIALS",
        401,
        "unknown e-mail or wrong password, indistinguishably",
    ),
    e(
        "HG-TOTP-REQUIRED",
        401,
        "the login needs a two-factor code (details.totp_required)",
    ),
    e(
        "HG-TOTP-INVALID",
        401,
        "a wrong or replayed two-factor code",
    ),
    e(
        "HG-REFRESH-INVALID",
        401,
        "an unknown or expired refresh token",
    ),
    e(
        "HG-REFRESH-REUSED",
        401,
        "a rotated refresh token came back: the whole session is revoked",
    ),
    e(
        "HG-FORBIDDEN",
        403,
        "authenticated, but the action is not allowed",
    ),
    e("HG-API-KEY-INVALID", 403, "a wrong X-Internal-API-Key"),
    e(
        "HG-ACCOUNT-BLOCKED",
        403,
        "the account is blocked (answered only with the right password)",
    ),
    e(
        "HG-ACCOUNT-PENDING",
        403,
        "the account's e-mail is not verified yet (only with the right password)",
    ),
    e(
        "HG-SIGNUP-DISABLED",
        403,
        "staff self-registration is off (ALLOW_STAFF_SIGNUP)",
    ),
    e(
        "HG-REGISTRATION-CLOSED",
        403,
        "the organization does not take patient self-registrations",
    ),
    e(
        "HG-NOT-FOUND",
        404,
        "unknown or malformed id, or a row of another organization",
    ),
    e("HG-ROUTE-NOT-FOUND", 404, "no route for the path"),
    e(
        "HG-GATEWAY-ROUTE",
        404,
        "the gateway knows no service for the path's first segment",
    ),
    e(
        "HG-ORG-NOT-FOUND",
        404,
        "no such organization (or not the caller's)",
    ),
    e(
        "HG-USER-NOT-FOUND",
        404,
        "no such user (or not visible to the caller)",
    ),
    e(
        "HG-PATIENT-NOT-FOUND",
        404,
        "no such patient (or not in the caller's scope)",
    ),
    e("HG-TEAM-NOT-FOUND", 404, "no such care team"),
    e(
        "HG-MEMBER-NOT-FOUND",
        404,
        "no such member of the organization or team",
    ),
    e("HG-CAREGIVER-NOT-FOUND", 404, "no such caregiver link"),
    e("HG-LABEL-NOT-FOUND", 404, "no such ground-truth label"),
    e("HG-DEVICE-NOT-FOUND", 404, "no such device"),
    e("HG-STREAM-NOT-FOUND", 404, "no such stream"),
    e("HG-BINDING-NOT-FOUND", 404, "no such timeseries binding"),
    e("HG-TAG-NOT-FOUND", 404, "no such tag on the binding"),
    e(
        "HG-ALERT-NOT-FOUND",
        404,
        "no such alert (or not in the caller's scope)",
    ),
    e(
        "HG-MEDIA-NOT-FOUND",
        404,
        "no such photo (or not one the caller may see)",
    ),
    e(
        "HG-MEDIA-TOO-LARGE",
        413,
        "the uploaded file is over MEDIA_MAX_FILE_SIZE_MB; nothing was stored",
    ),
    e(
        "HG-MEDIA-TYPE",
        415,
        "the uploaded bytes are not a PNG, JPEG or WebP image",
    ),
    e(
        "HG-MEDIA-FORM",
        415,
        "an upload that is not multipart/form-data",
    ),
    e(
        "HG-MEDIA-IMAGE",
        422,
        "the image is damaged or larger than 8192 pixels a side",
    ),
    e(
        "HG-PUSH-DEVICE-NOT-FOUND",
        404,
        "no such push device among the caller's",
    ),
    e(
        "HG-RULE-NOT-FOUND",
        404,
        "no such alert rule (or not in the caller's scope)",
    ),
    e("HG-MODEL-NOT-FOUND", 404, "no such model"),
    e(
        "HG-INVITATION-NOT-FOUND",
        404,
        "no such invitation (or not its token)",
    ),
    e(
        "HG-LINK-NOT-FOUND",
        404,
        "no such one-time link (reset, verification)",
    ),
    e(
        "HG-METHOD-NOT-ALLOWED",
        405,
        "the path exists with other methods",
    ),
    e(
        "HG-NOT-ACCEPTABLE",
        406,
        "Accept allows neither JSON nor XML",
    ),
    e(
        "HG-CONFLICT",
        409,
        "a unique value already taken, without a more specific id",
    ),
    e(
        "HG-EMAIL-TAKEN",
        409,
        "the e-mail is taken within the caller's own organization, or by the link holder's other account",
    ),
    e(
        "HG-ORG-CODE-TAKEN",
        409,
        "an organization with this code exists",
    ),
    e(
        "HG-TEAM-NAME-TAKEN",
        409,
        "the organization has a care team with this name",
    ),
    e(
        "HG-SERIAL-TAKEN",
        409,
        "a device with this serial number exists",
    ),
    e(
        "HG-ALREADY-MEMBER",
        409,
        "already a member of the organization or team",
    ),
    e(
        "HG-ALREADY-LINKED",
        409,
        "the patient is already in the team",
    ),
    e(
        "HG-CAREGIVER-LINKED",
        409,
        "this caregiver is already linked to the patient",
    ),
    e(
        "HG-PRIMARY-CAREGIVER-EXISTS",
        409,
        "the patient already has an active primary caregiver",
    ),
    e(
        "HG-MODEL-VERSION-EXISTS",
        409,
        "this model already has this version",
    ),
    e(
        "HG-STREAM-OPEN",
        409,
        "the device already has an open stream of this signal type",
    ),
    e(
        "HG-BINDING-EXISTS",
        409,
        "the stream already has a binding for this bucket and measurement",
    ),
    e("HG-TAG-EXISTS", 409, "the binding already has this tag"),
    e(
        "HG-LAST-ORG-ADMIN",
        409,
        "the organization would lose its last org_admin",
    ),
    e(
        "HG-LAST-SUPERADMIN",
        409,
        "the installation would lose its last active superadmin",
    ),
    e("HG-LINK-USED", 409, "the one-time link was used already"),
    e(
        "HG-INVITATION-USED",
        409,
        "the invitation was accepted already",
    ),
    e(
        "HG-EMAIL-ALREADY-VERIFIED",
        409,
        "the address is verified already",
    ),
    e(
        "HG-PAYLOAD-TOO-LARGE",
        413,
        "the body is over the route's limit (1 MiB by default, telemetry 8 MiB)",
    ),
    e(
        "HG-UNSUPPORTED-MEDIA-TYPE",
        415,
        "a body neither JSON nor XML",
    ),
    e(
        "HG-REFERENCE",
        422,
        "a referenced record does not exist in this organization or is in use",
    ),
    e("HG-LINK-EXPIRED", 422, "the one-time link has expired"),
    e("HG-INVITATION-EXPIRED", 422, "the invitation has expired"),
    e("HG-INVITATION-REVOKED", 422, "the invitation was revoked"),
    e(
        "HG-TOTP-NOT-SET-UP",
        422,
        "two-factor confirmation without a setup",
    ),
    e("HG-ORG-ARCHIVED", 422, "the organization is archived"),
    e("HG-PATIENT-ARCHIVED", 422, "the patient is archived"),
    e("HG-CAREGIVER-ENDED", 422, "the caregiver link has ended"),
    e(
        "HG-DEVICE-INACTIVE",
        422,
        "the device is inactive or archived",
    ),
    e("HG-STREAM-CLOSED", 422, "the stream is closed already"),
    e(
        "HG-ALERT-TRANSITION",
        422,
        "the alert's status does not allow this (spec/05 lifecycle)",
    ),
    e(
        "HG-TOO-MANY-POINTS",
        422,
        "a raw telemetry query would answer more than 200 000 samples: ask for a resolution",
    ),
    e(
        "HG-IDEMPOTENCY-MISMATCH",
        422,
        "the Idempotency-Key was used before for a different telemetry batch",
    ),
    e(
        "HG-RATE-LIMITED",
        429,
        "over the client's rate (with Retry-After)",
    ),
    e(
        "HG-ACCOUNT-LOCKED",
        429,
        "repeated failures locked the e-mail, whether it has an account or not (with Retry-After)",
    ),
    e(
        "HG-API-KEY-BLOCKED",
        429,
        "the address sent too many wrong API keys and is blocked (with Retry-After)",
    ),
    e(
        "HG-INTERNAL",
        500,
        "a bug; the body says nothing more, the log has the cause",
    ),
    e(
        "HG-GATEWAY-BAD-UPSTREAM",
        502,
        "the service broke off its answer",
    ),
    e(
        "HG-INGEST-BUSY",
        503,
        "the timeseries component is storing TELEMETRY_INGEST_CONCURRENCY batches already (with Retry-After)",
    ),
    e(
        "HG-UNAVAILABLE",
        503,
        "a dependency is down (with Retry-After)",
    ),
    e(
        "HG-NOT-READY",
        503,
        "readiness: details.failed names what is down",
    ),
    e(
        "HG-GATEWAY-UNAVAILABLE",
        503,
        "the service behind the gateway (or the gateway behind the admin edge) is unreachable",
    ),
    e(
        "HG-TOO-MANY-CONNECTIONS",
        503,
        "the listener has HTTP_MAX_CONNECTIONS open; the connection is closed",
    ),
    e(
        "HG-GATEWAY-TIMEOUT",
        504,
        "the service did not answer within its timeout",
    ),
    e("HG-TIMEOUT", 504, "the request took too long"),
];

/// The entry of `id`, if it is registered.
pub fn lookup(id: &str) -> Option<&'static ErrorId> {
    ERROR_IDS.iter().find(|e| e.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        for (i, e) in ERROR_IDS.iter().enumerate() {
            assert!(
                e.id.starts_with("HG-") && e.id == e.id.to_uppercase(),
                "{}",
                e.id
            );
            assert!((400..600).contains(&e.status), "{}", e.id);
            assert!(
                ERROR_IDS[i + 1..].iter().all(|o| o.id != e.id),
                "{} twice",
                e.id
            );
        }
    }
}
