//! The ledger's table after issue 14's re-keying (migration 0018: keyed by
//! manifest position, no document-id key) and the statistics a manifest
//! leaves behind.

use std::time::Duration;

use ferry_domain::manifest::{DocumentId, DocumentPath, ManifestRow, Sha256Hex};
use ferry_store::{DocumentFilter, DocumentStatus, ManifestOpen, Store};
use ferry_tests::{Mode, both_modes, database_before_migration, fresh_pg_database, migration_body};
use sqlx::Connection;

both_modes!(ledgers_from_before_0018_keep_their_rows);

const MIGRATION: &str = "0190a0b0-0000-7000-8000-000000000018";
const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// Rows written under the old key come through the rebuild unchanged, in
/// manifest order, and the reads that filter on status still find them.
async fn ledgers_from_before_0018_keep_their_rows(mode: Mode) {
    let dir = tempfile::tempdir().unwrap();
    let (url, mut conn) = database_before_migration(mode, dir.path(), 18).await;
    // The old table's foreign key wants a migration row; the ledger's rows
    // are what this test is about.
    let no_foreign_keys = match mode {
        Mode::Embedded => "PRAGMA foreign_keys = OFF",
        Mode::Production => "SET session_replication_role = replica",
    };
    sqlx::query(no_foreign_keys)
        .execute(&mut conn)
        .await
        .unwrap();
    // Inserted out of manifest order, with every status an outcome leaves.
    let rows = [
        (
            "d2",
            2,
            "documents/c.eml",
            Some(SHA_B),
            "missing",
            None,
            Some("not found"),
        ),
        (
            "d0",
            0,
            "documents/a.eml",
            Some(SHA_A),
            "uploaded",
            Some(SHA_A),
            None,
        ),
        ("d1", 1, "documents/b.eml", None, "pending", None, None),
    ];
    for (doc, seq, path, expected, status, actual, reason) in rows {
        sqlx::query(
            "INSERT INTO documents (migration_id, document_id, seq, path, size, expected_sha256, \
             status, reason, actual_sha256, bytes, attempts, job_id, updated_at) \
             VALUES ($1, $2, $3, $4, 4, $5, $6, $7, $8, 0, 1, NULL, '2026-12-07T00:00:00Z')",
        )
        .bind(MIGRATION)
        .bind(doc)
        .bind(seq as i64)
        .bind(path)
        .bind(expected)
        .bind(status)
        .bind(reason)
        .bind(actual)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    conn.close().await.unwrap();

    let store = Store::connect(&url, 2, Duration::from_secs(5))
        .await
        .unwrap();
    let ledger = store.ledger_page(MIGRATION, -1, 10).await.unwrap();
    let got: Vec<_> = ledger
        .iter()
        .map(|r| (r.seq, r.path.as_str(), r.sha256.as_deref(), r.status))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, "documents/a.eml", Some(SHA_A), DocumentStatus::Uploaded),
            (1, "documents/b.eml", None, DocumentStatus::Pending),
            (2, "documents/c.eml", Some(SHA_B), DocumentStatus::Missing),
        ]
    );
    let missing = store
        .list_documents(
            MIGRATION,
            &DocumentFilter {
                status: Some(DocumentStatus::Missing),
                after_seq: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(missing.items.len(), 1);
    assert_eq!(missing.items[0].document_id, "d2");
    assert_eq!(missing.items[0].reason.as_deref(), Some("not found"));
    assert!(store.has_retryable_documents(MIGRATION).await.unwrap());
}

/// PostgreSQL: when a large manifest's upload returns, the ledger's
/// statistics already describe it, so the job started next plans its reads
/// on them (the `ANALYZE` used to run in the background and race the start).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_manifest_returns_with_fresh_statistics() {
    const ROWS: usize = 10_000;
    let url = fresh_pg_database().await;
    let store = Store::connect(&url, 3, Duration::from_secs(5))
        .await
        .unwrap();
    let id = uuid::Uuid::now_v7().to_string();
    let input: ferry_domain::NewMigrationInput =
        serde_json::from_value(migration_body("stats")).unwrap();
    store
        .create_migration(
            &id,
            &input.validate().unwrap(),
            None,
            |_| (201, String::new()),
            |_| Vec::new(),
        )
        .await
        .unwrap();
    let ManifestOpen::Open(mut writer) = store.open_manifest(&id).await.unwrap() else {
        panic!("a draft's manifest can be replaced");
    };
    let rows: Vec<ManifestRow> = (0..ROWS)
        .map(|i| ManifestRow {
            line: i as u64 + 2,
            document_id: DocumentId::parse(&format!("d{i}")).unwrap(),
            path: DocumentPath::parse(&format!("documents/d{i}.eml")).unwrap(),
            size: 4096,
            sha256: Some(Sha256Hex::parse(SHA_A).unwrap()),
        })
        .collect();
    writer.insert(&rows).await.unwrap();
    writer.commit().await.unwrap();

    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let (tuples,): (f32,) =
        sqlx::query_as("SELECT reltuples FROM pg_class WHERE relname = 'documents'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        tuples, ROWS as f32,
        "the planner's row count of the ledger when the manifest is stored"
    );
}
