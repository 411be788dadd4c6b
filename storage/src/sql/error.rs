//! Store errors, split into "the database is unavailable, retry later" and "permanent".

use sqlx::migrate::MigrateError;

/// What went wrong in a store call.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or cannot take the work now (connection refused or
    /// lost, pool timeout, shutdown, out of disk, lock timeout). Keep the batch and retry.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The database rejected the operation for a reason a retry will not fix.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// A migration could not be applied.
    #[error("migration failed: {0}")]
    Migrate(#[source] MigrateError),
    /// A record the store cannot represent (out-of-range count, non-finite score…), or a
    /// stored row it cannot read back.
    #[error("invalid data: {0}")]
    Invalid(String),
    /// A paging cursor that this store did not produce.
    #[error("invalid cursor: {0:?}")]
    InvalidCursor(String),
    /// A store location that cannot be opened as given.
    #[error("invalid store location: {0}")]
    Location(String),
}

impl StoreError {
    /// Whether the database refused a row for a unique constraint (a taken address).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Database(e) | StoreError::Unavailable(e) => e
                .as_database_error()
                .is_some_and(|d| d.is_unique_violation()),
            _ => false,
        }
    }

    /// Whether retrying the same call later may succeed (the database was unavailable).
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Migrate(
                MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _),
            ) => is_transient(e),
            _ => false,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if is_transient(&e) {
            StoreError::Unavailable(e)
        } else {
            StoreError::Database(e)
        }
    }
}

impl From<MigrateError> for StoreError {
    fn from(e: MigrateError) -> Self {
        StoreError::Migrate(e)
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Invalid(format!("JSON: {e}"))
    }
}

/// Classifies a driver error: transport failures and the database's "cannot do it now"
/// codes are transient; constraint, syntax and type errors are not.
fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| transient_code(&code)),
        _ => false,
    }
}

/// Postgres reports a five-character SQLSTATE (which may be all digits, e.g. `08006`),
/// SQLite its numeric extended result code (at most four digits).
fn transient_code(code: &str) -> bool {
    let sqlite = code.len() < 5 && !code.is_empty();
    if let (true, Ok(extended)) = (sqlite, code.parse::<i64>()) {
        // SQLite primary codes (low byte): BUSY, LOCKED, NOMEM, IOERR, FULL, CANTOPEN.
        matches!(extended & 0xff, 5 | 6 | 7 | 10 | 13 | 14)
    } else {
        // 08: connection exception; 53: insufficient resources (disk full, out of memory,
        // too many connections); 57P01-57P03: shutdown / cannot connect now; 57014: query
        // cancelled (statement timeout); 40001 / 40P01: serialization failure / deadlock;
        // 55P03: lock not available.
        code.starts_with("08")
            || code.starts_with("53")
            || matches!(
                code,
                "57P01" | "57P02" | "57P03" | "57014" | "40001" | "40P01" | "55P03"
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_codes() {
        assert!(transient_code("08006"));
        assert!(transient_code("53100"));
        assert!(transient_code("57P01"));
        assert!(!transient_code("23505"), "unique violation is permanent");
        assert!(!transient_code("22021"), "bad encoding is permanent");
        assert!(transient_code("5"), "SQLITE_BUSY");
        assert!(transient_code("261"), "SQLITE_BUSY_RECOVERY");
        assert!(transient_code("13"), "SQLITE_FULL");
        assert!(!transient_code("2067"), "SQLITE_CONSTRAINT_UNIQUE");
        assert!(!transient_code("787"), "SQLITE_CONSTRAINT_FOREIGNKEY");
    }

    #[test]
    fn pool_timeout_is_transient() {
        assert!(StoreError::from(sqlx::Error::PoolTimedOut).is_transient());
        assert!(!StoreError::from(sqlx::Error::RowNotFound).is_transient());
        assert!(!StoreError::Invalid("x".into()).is_transient());
    }
}
