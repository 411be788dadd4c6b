//! Where a connector resumes: persisted in `system_settings` under a per-organisation,
//! per-vendor key, written only after the records of the poll that produced it were
//! acknowledged (so a crash re-reads, and ingest de-duplicates, rather than skips).

use warroom_engine::OrgId;
use warroom_storage::Store;

/// The `system_settings` key of one connector's cursor.
pub fn key(org: &OrgId, vendor: &str) -> String {
    format!("connector_cursor:{org}:{vendor}")
}

/// The stored cursor.
pub async fn load(store: &dyn Store, org: &OrgId, vendor: &str) -> Result<Option<String>, String> {
    store
        .get_setting(&key(org, vendor))
        .await
        .map_err(|e| format!("reading the {vendor} cursor: {e}"))
}

/// Stores the cursor.
pub async fn save(
    store: &dyn Store,
    org: &OrgId,
    vendor: &str,
    cursor: &str,
) -> Result<(), String> {
    store
        .set_setting(&key(org, vendor), cursor)
        .await
        .map_err(|e| format!("storing the {vendor} cursor: {e}"))
}
