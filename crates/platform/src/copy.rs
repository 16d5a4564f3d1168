//! Rows in PostgreSQL's binary `COPY` format (the "Binary Format" section of the `COPY` reference):
//! an 11-byte signature, flags and header-extension length, then per row a field count and each
//! field as a length-prefixed big-endian value, then a trailer. Written by hand because the format
//! is small and fixed, and the one crate for it (pgcopy 0.0.2) is an unmaintained pre-release; the
//! tests below check it against the server.
//!
//! Only the types the sample tables use are here: `uuid`, `timestamptz`, `real`, `smallint`,
//! `integer`, `bigint` and `bytea`, and NULL.

use chrono::{DateTime, Utc};
use uuid::Uuid;

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01T00:00:00Z).
const PG_EPOCH_OFFSET_US: i64 = 946_684_800_000_000;

/// A binary `COPY … FROM STDIN (FORMAT binary)` body being built, row by row.
pub struct BinaryCopy {
    buf: Vec<u8>,
    rows: usize,
}

impl BinaryCopy {
    /// An empty body with room for about `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity + 21);
        buf.extend_from_slice(SIGNATURE);
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags: no OIDs
        buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        Self { buf, rows: 0 }
    }

    /// Starts a row of `fields` fields.
    pub fn row(&mut self, fields: i16) -> &mut Self {
        self.buf.extend_from_slice(&fields.to_be_bytes());
        self.rows += 1;
        self
    }

    fn field(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf
            .extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        self.buf.extend_from_slice(bytes);
        self
    }

    pub fn uuid(&mut self, v: Uuid) -> &mut Self {
        self.field(v.as_bytes())
    }

    /// A `timestamptz`, at microsecond precision (PostgreSQL's).
    pub fn timestamptz(&mut self, v: DateTime<Utc>) -> &mut Self {
        self.field(&(v.timestamp_micros() - PG_EPOCH_OFFSET_US).to_be_bytes())
    }

    pub fn real(&mut self, v: f32) -> &mut Self {
        self.field(&v.to_be_bytes())
    }

    pub fn smallint(&mut self, v: i16) -> &mut Self {
        self.field(&v.to_be_bytes())
    }

    pub fn integer(&mut self, v: i32) -> &mut Self {
        self.field(&v.to_be_bytes())
    }

    pub fn bigint(&mut self, v: i64) -> &mut Self {
        self.field(&v.to_be_bytes())
    }

    pub fn bytea(&mut self, v: &[u8]) -> &mut Self {
        self.field(v)
    }

    pub fn null(&mut self) -> &mut Self {
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
        self
    }

    /// How many rows were started.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The finished body (with its trailer).
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.buf
    }

    /// Sends the body to `COPY <target> FROM STDIN (FORMAT binary)` on `conn`; returns the rows
    /// copied. `target` is a trusted table and column list, never client input.
    pub async fn send(
        self,
        conn: &mut sqlx::PgConnection,
        target: &'static str,
    ) -> Result<u64, sqlx::Error> {
        let mut copy = conn
            .copy_in_raw(&format!("copy {target} from stdin (format binary)"))
            .await?;
        if let Err(e) = copy.send(self.finish()).await {
            // Ends the COPY so the connection can be used (or rolled back) again.
            let _ = copy.abort("the copy could not be sent").await;
            return Err(e);
        }
        copy.finish().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_has_the_signature_rows_and_the_trailer() {
        let mut c = BinaryCopy::with_capacity(0);
        c.row(2).integer(7).null();
        let body = c.finish();
        assert_eq!(&body[..11], SIGNATURE);
        assert_eq!(&body[11..19], &[0; 8]);
        assert_eq!(&body[19..21], &2i16.to_be_bytes());
        assert_eq!(&body[21..25], &4i32.to_be_bytes());
        assert_eq!(&body[25..29], &7i32.to_be_bytes());
        assert_eq!(&body[29..33], &(-1i32).to_be_bytes());
        assert_eq!(&body[33..], &(-1i16).to_be_bytes());
    }

    #[test]
    fn timestamps_count_from_the_postgres_epoch() {
        let mut c = BinaryCopy::with_capacity(0);
        c.row(1)
            .timestamptz("2000-01-01T00:00:01Z".parse().unwrap());
        let body = c.finish();
        assert_eq!(&body[25..33], &1_000_000i64.to_be_bytes());
    }
}
