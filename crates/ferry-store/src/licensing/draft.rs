//! The catalogue, the draft and its commit: a draft write is checked
//! against the version its writer saw (`If-Match`); a commit moves the
//! migration to `ready` and copies the draft to the committed assignment in
//! one transaction.

use ferry_domain::licensing::{Assignments, Catalogue, CatalogueInput, Draft};
use sqlx::Row;

use super::{
    bump_draft_version, delete_users, draft_diff, ensure_row, from_json, insert_assignments, json,
    load_assignments, tally,
};
use crate::audit::{AuditEvent, append_all_in};
use crate::idempotency::{IdempotencyClaim, Idempotent, claim, finish_claim};
use crate::migrations::{MigrationRecord, transition_in};
use crate::{Result, Store, StoreError};

/// A draft to write: the new assignments, the version the writer saw
/// (`If-Match`) and, optionally, the draft as stored at that version, so
/// only the entries that differ are written.
#[derive(Debug, Clone, Copy)]
pub struct DraftWrite<'a> {
    pub expected: Option<i64>,
    pub base: Option<&'a Assignments>,
    pub assignments: &'a Assignments,
}

impl Store {
    /// The migration's catalogue as set (`None`: never set), checked by the
    /// catalogue's rules as it is read.
    pub async fn get_catalogue(&self, migration_id: &str) -> Result<Option<Catalogue>> {
        let row = sqlx::query("SELECT catalogue FROM licensing WHERE migration_id = $1")
            .bind(migration_id)
            .fetch_optional(&self.pool)
            .await?;
        match row
            .map(|r| r.try_get::<Option<String>, _>("catalogue"))
            .transpose()?
            .flatten()
        {
            Some(text) => {
                let input: CatalogueInput = from_json(&text, "catalogue")?;
                let catalogue = Catalogue::parse(&input)
                    .map_err(|_| StoreError::Corrupt("licensing.catalogue".into()))?;
                Ok(Some(catalogue))
            }
            None => Ok(None),
        }
    }

    pub async fn put_catalogue(
        &self,
        migration_id: &str,
        catalogue: &Catalogue,
        audit: Vec<AuditEvent>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        ensure_row(&mut tx, migration_id).await?;
        sqlx::query("UPDATE licensing SET catalogue = $1 WHERE migration_id = $2")
            .bind(json(&catalogue.to_input())?)
            .bind(migration_id)
            .execute(&mut *tx)
            .await?;
        append_all_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn load_draft(&self, migration_id: &str) -> Result<Draft> {
        let version = sqlx::query("SELECT draft_version FROM licensing WHERE migration_id = $1")
            .bind(migration_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get::<i64, _>("draft_version"))
            .transpose()?
            .unwrap_or(0);
        Ok(Draft {
            assignments: load_assignments(self, "draft_assignments", migration_id).await?,
            version,
        })
    }

    /// Replaces the draft if its version is still `expected` (`If-Match`);
    /// returns the new version. `audit` makes the edit's records from it.
    pub async fn save_draft(
        &self,
        migration_id: &str,
        expected: Option<i64>,
        assignments: &Assignments,
        audit: impl FnOnce(i64) -> Vec<AuditEvent> + Send,
    ) -> Result<i64> {
        let draft = DraftWrite {
            expected,
            base: None,
            assignments,
        };
        match self
            .save_draft_once(migration_id, draft, None, |_| (0, String::new()), audit)
            .await?
        {
            IdempotencyClaim::Fresh(version) => Ok(version),
            // Only a claimed key can be a replay.
            IdempotencyClaim::Replay(_) => Err(StoreError::Corrupt("replay without a key".into())),
        }
    }

    /// [`Store::save_draft`] under an `Idempotency-Key` (the CSV import):
    /// the key is claimed and the answer `render` makes from the new version
    /// stored in the draft's transaction, so a replay never disagrees with
    /// what was applied.
    ///
    /// With `base` — the draft as stored at version `expected`, which the
    /// version check proves is still what the table holds — only the users
    /// whose entry differs are written: a re-import after fixing a few rows
    /// rewrites those rows, not a million.
    pub async fn save_draft_once(
        &self,
        migration_id: &str,
        draft: DraftWrite<'_>,
        idem: Option<Idempotent<'_>>,
        render: impl FnOnce(i64) -> (u16, String),
        audit: impl FnOnce(i64) -> Vec<AuditEvent> + Send,
    ) -> Result<IdempotencyClaim<i64>> {
        let DraftWrite {
            expected,
            base,
            assignments,
        } = draft;
        let mut tx = self.begin().await?;
        if let Some(idem) = &idem
            && let Some(previous) = claim(&mut tx, idem).await?
        {
            return Ok(IdempotencyClaim::Replay(previous));
        }
        let version = bump_draft_version(&mut tx, migration_id, expected).await?;
        let bulk;
        match base.filter(|_| expected.is_some()) {
            Some(base) => {
                let (gone, written) = draft_diff(base, assignments);
                bulk = gone.len() + written.len();
                delete_users(&mut tx, self.backend, migration_id, &gone).await?;
                insert_assignments(
                    &mut tx,
                    self.backend,
                    "draft_assignments",
                    migration_id,
                    written,
                )
                .await?;
                tally::recount_draft(&mut tx, migration_id).await?;
            }
            None => {
                bulk = assignments.len();
                sqlx::query("DELETE FROM draft_assignments WHERE migration_id = $1")
                    .bind(migration_id)
                    .execute(&mut *tx)
                    .await?;
                insert_assignments(
                    &mut tx,
                    self.backend,
                    "draft_assignments",
                    migration_id,
                    assignments,
                )
                .await?;
                tally::recount_draft(&mut tx, migration_id).await?;
            }
        }
        if let Some(idem) = &idem {
            let (status, body) = render(version);
            finish_claim(&mut tx, idem, status, &body).await?;
        }
        append_all_in(&mut tx, audit(version)).await?;
        tx.commit().await?;
        self.analyze_soon("draft_assignments", bulk);
        Ok(IdempotencyClaim::Fresh(version))
    }

    pub async fn load_committed(&self, migration_id: &str) -> Result<Assignments> {
        load_assignments(self, "committed_assignments", migration_id).await
    }

    /// Commits the draft as it is at `draft_version`: the migration moves to
    /// `ready` and the draft becomes the committed assignment, atomically,
    /// with the records `audit` makes from the migration as committed.
    pub async fn commit_draft(
        &self,
        migration_id: &str,
        draft_version: i64,
        audit: impl FnOnce(&MigrationRecord) -> Vec<AuditEvent> + Send,
    ) -> Result<MigrationRecord> {
        let mut tx = self.begin().await?;
        let record = transition_in(
            &mut tx,
            migration_id,
            ferry_domain::LifecycleEvent::Commit,
            None,
        )
        .await?;
        ensure_row(&mut tx, migration_id).await?;
        // An UPDATE, not a SELECT: it checks the version and locks the row,
        // so a draft edit or import that commits meanwhile cannot slip in
        // between the check and the copy below.
        let locked = sqlx::query(
            "UPDATE licensing SET draft_version = draft_version \
             WHERE migration_id = $1 AND draft_version = $2",
        )
        .bind(migration_id)
        .bind(draft_version)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if locked != 1 {
            return Err(StoreError::VersionMismatch {
                expected: draft_version,
            });
        }
        sqlx::query("DELETE FROM committed_assignments WHERE migration_id = $1")
            .bind(migration_id)
            .execute(&mut *tx)
            .await?;
        let copied = sqlx::query(
            "INSERT INTO committed_assignments (migration_id, user_id, plan, addons, username) \
             SELECT migration_id, user_id, plan, addons, username FROM draft_assignments WHERE migration_id = $1",
        )
        .bind(migration_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        append_all_in(&mut tx, audit(&record)).await?;
        tx.commit().await?;
        self.analyze_soon(
            "committed_assignments",
            usize::try_from(copied).unwrap_or(usize::MAX),
        );
        Ok(record)
    }
}
