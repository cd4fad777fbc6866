//! The store suite, run unchanged against SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ferry_domain::licensing::{Assignment, Assignments, RosterUserInput, SatelliteInput};
use ferry_domain::{Email, JobState, LifecycleEvent, MigrationState, NewMigrationInput, Role};
use ferry_store::{
    Dispatch, DispatchLimits, IdempotencyClaim, Idempotent, NewApiKey, StartRequest, Store,
    StoreError,
};
use ferry_tests::{Mode, both_modes, database_before_migration, fresh_pg_database, migration_body};
use sqlx::Connection;

struct TestStore {
    store: Store,
    url: String,
    _dir: tempfile::TempDir,
}

async fn store(mode: Mode) -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let url = match mode {
        Mode::Embedded => format!("sqlite://{}", dir.path().join("state.db").display()),
        Mode::Production => fresh_pg_database().await,
    };
    let store = Store::connect(&url, 5, Duration::from_secs(5))
        .await
        .unwrap();
    TestStore {
        store,
        url,
        _dir: dir,
    }
}

fn new_migration(tenant: &str) -> ferry_domain::NewMigration {
    serde_json::from_value::<NewMigrationInput>(migration_body(tenant))
        .unwrap()
        .validate()
        .unwrap()
}

async fn open(store: &Store, tenant: &str) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    match store
        .create_migration(
            &id,
            &new_migration(tenant),
            None,
            |_| (201, String::new()),
            |_| Vec::new(),
        )
        .await
        .unwrap()
    {
        IdempotencyClaim::Fresh(m) => m.id,
        IdempotencyClaim::Replay(_) => panic!("no key, no replay"),
    }
}

both_modes!(
    schema_migrations_are_rerunnable,
    tenants_are_unique_among_open_migrations,
    concurrent_transitions_have_one_winner,
    idempotency_records,
    bootstrap_key_only_once,
    job_records_are_at_most_once,
    large_rosters_and_drafts_read_back_exactly,
    snapshots_from_before_0010_get_their_positions,
    a_change_and_its_audit_record_commit_together,
    stored_values_come_back_typed_or_not_at_all,
    user_names_of_the_looser_rule_are_cleared_by_0015,
    a_split_job_succeeds_only_after_its_end_ran,
);

/// A split job's last successful batch is told its end (the delivery) is
/// due, with nothing recorded; only its second call finishes the job. Two
/// batches ending at once: one is counted, the other gets the end, and the
/// job a client polls stays `running` until that end is recorded (before,
/// the later of two concurrent ends finished the job before delivering).
async fn a_split_job_succeeds_only_after_its_end_ran(mode: Mode) {
    use ferry_domain::manifest::{DocumentId, DocumentPath, ManifestRow};
    use ferry_store::{BatchEnd, ManifestOpen};
    let s = store(mode).await;
    let id = open(&s.store, "split").await;
    let ManifestOpen::Open(mut writer) = s.store.open_manifest(&id).await.unwrap() else {
        panic!("a draft's manifest can be replaced");
    };
    let rows: Vec<ManifestRow> = (0..3)
        .map(|i| ManifestRow {
            line: i + 2,
            document_id: DocumentId::parse(&format!("d{i}")).unwrap(),
            path: DocumentPath::parse(&format!("documents/d{i}.bin")).unwrap(),
            size: 1,
            sha256: None,
        })
        .collect();
    writer.insert(&rows).await.unwrap();
    writer.commit().await.unwrap();
    s.store
        .transition(&id, LifecycleEvent::Commit, |_| Vec::new())
        .await
        .unwrap();
    let job_id = uuid::Uuid::now_v7().to_string();
    s.store
        .start_migration(start_request(&id, &job_id), |_| (202, String::new()))
        .await
        .unwrap();
    let parent = s.store.job_started(&job_id, "w", 1).await.unwrap().unwrap();
    let ids = s.store.split_into_batches(&parent, 1).await.unwrap();
    assert_eq!(ids.len(), 3);
    let mut batches = Vec::new();
    for b in &ids {
        s.store.job_started(b, "w", 1).await.unwrap().unwrap();
        batches.push(s.store.get_batch(b).await.unwrap().unwrap());
    }
    let ok = JobState::Succeeded;
    assert_eq!(
        s.store.batch_finished(&batches[0], ok, None).await.unwrap(),
        BatchEnd::More { done: 1, total: 3 }
    );
    let ends = futures_join(batches[1..].iter().cloned().map(|b| {
        let store = s.store.clone();
        tokio::spawn(async move { (b.clone(), store.batch_finished(&b, ok, None).await) })
    }))
    .await;
    let mut due = None;
    for (b, end) in ends {
        match end.unwrap() {
            BatchEnd::More { done: 2, total: 3 } => {}
            BatchEnd::EndDue => {
                assert!(due.replace(b).is_none(), "one batch ends the job");
            }
            other => panic!("{other:?}"),
        }
    }
    let last = due.expect("the later batch is told the end is due");
    let running = s.store.get_job(&job_id).await.unwrap().unwrap();
    assert_eq!(
        running.state,
        JobState::Running,
        "not succeeded before the end ran"
    );
    let batch = s.store.get_job(&last.job_id).await.unwrap().unwrap();
    assert_eq!(
        batch.state,
        JobState::Running,
        "its redelivery runs it again"
    );
    // A redelivery before the end ran is told the same.
    assert_eq!(
        s.store.batch_finished(&last, ok, None).await.unwrap(),
        BatchEnd::EndDue
    );
    assert_eq!(
        s.store.last_batch_finished(&last, ok, None).await.unwrap(),
        BatchEnd::Last { state: ok }
    );
    assert_eq!(
        s.store.get_job(&job_id).await.unwrap().unwrap().state,
        JobState::Succeeded
    );
    assert_eq!(
        s.store.get_migration(&id).await.unwrap().unwrap().state,
        MigrationState::Uploaded
    );
    assert_eq!(
        s.store.last_batch_finished(&last, ok, None).await.unwrap(),
        BatchEnd::AlreadyFinished
    );
}

/// Migration 0015 clears the stored user names the dot-atom rule refuses
/// (else their drafts could not be read) and keeps every other one. The
/// rows are written as a store from before the rule would have, then the
/// migration's own text is run again.
async fn user_names_of_the_looser_rule_are_cleared_by_0015(mode: Mode) {
    let t = store(mode).await;
    let id = open(&t.store, "dotatom").await;
    let users: Vec<RosterUserInput> = (0..12).map(roster_user).collect();
    let draft: Assignments = users
        .iter()
        .map(|u| {
            let a = Assignment {
                plan: Some("Engage".into()),
                addons: vec![],
                username: Some(Email::parse(&u.emails[0]).unwrap()),
            };
            (u.user_id.clone(), a)
        })
        .collect();
    t.store
        .replace_roster(&id, &users, &[], &draft, |_| Vec::new())
        .await
        .unwrap();
    let old_rule = [
        "\"ann\"@x.de",
        "a(b)@x.de",
        "a[1]@x.de",
        "a\\b@x.de",
        "a:b@x.de",
        ".a@x.de",
        "a.@x.de",
        "a..b@x.de",
        "an\u{200B}n@x.de",
        "\u{202E}a@x.de",
    ];
    let mut conn = sqlx::AnyConnection::connect(&t.url).await.unwrap();
    for (u, name) in users.iter().zip(old_rule) {
        sqlx::query(
            "UPDATE draft_assignments SET username = $1 WHERE migration_id = $2 AND user_id = $3",
        )
        .bind(name)
        .bind(&id)
        .bind(&u.user_id)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    assert!(
        matches!(t.store.load_draft(&id).await, Err(StoreError::Corrupt(_))),
        "the looser names cannot be read under the new rule"
    );
    let sql = include_str!("../../../crates/ferry-store/migrations/0015_dot_atom_usernames.sql");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .unwrap();
    let read = t.store.load_draft(&id).await.unwrap().assignments;
    for (i, u) in users.iter().enumerate() {
        let a = &read[&u.user_id];
        assert_eq!(a.plan.as_deref(), Some("Engage"), "the plan stays");
        let expected = (i >= old_rule.len()).then(|| u.emails[0].clone());
        assert_eq!(a.username.as_ref().map(|e| e.to_string()), expected, "{i}");
    }
}

/// Records leave the store as the domain's types, decoded by the domain's
/// own parsers: a value the rules refuse (written behind Ferry's back) is
/// reported as corrupt, never handed on as a string to parse again.
async fn stored_values_come_back_typed_or_not_at_all(mode: Mode) {
    let s = store(mode).await;
    let id = open(&s.store, "typed").await;
    let m = s.store.get_migration(&id).await.unwrap().unwrap();
    assert_eq!(m.tenant.as_str(), "typed");
    let expected = new_migration("typed");
    assert_eq!(m.migrator_email, expected.migrator_email);
    assert_eq!(m.source_version, expected.source_version);
    assert_eq!(m.archive_url, expected.archive_url);

    let mut conn = sqlx::AnyConnection::connect(&s.url).await.unwrap();
    sqlx::query("UPDATE migrations SET migrator_email = 'not an address' WHERE id = $1")
        .bind(&id)
        .execute(&mut conn)
        .await
        .unwrap();
    match s.store.get_migration(&id).await {
        Err(StoreError::Corrupt(what)) => assert!(what.contains("migrator_email"), "{what}"),
        other => panic!("a refused stored value must be corrupt, got {other:?}"),
    }
}

/// Every mutation appends its audit records in its own transaction: when
/// the append fails (here: the chain head is gone), the change is rolled
/// back with it, and when it succeeds both are there. A record appended in
/// a second transaction after the change would leave the change made.
async fn a_change_and_its_audit_record_commit_together(mode: Mode) {
    use ferry_domain::audit::AuditAction;
    use ferry_store::{AuditEvent, AuditFilter};
    let s = store(mode).await;
    let id = open(&s.store, "atomic").await;
    let event = |m: &ferry_store::MigrationRecord| {
        vec![AuditEvent::new(AuditAction::MigrationCancelled, Some("test")).migration(&m.id)]
    };
    let mut conn = sqlx::AnyConnection::connect(&s.url).await.unwrap();
    let head = sqlx::query_as::<_, (i64, String)>("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_head")
        .execute(&mut conn)
        .await
        .unwrap();
    let refused = s.store.transition(&id, LifecycleEvent::Cancel, event).await;
    assert!(refused.is_err(), "the append failed, so must the change");
    let m = s.store.get_migration(&id).await.unwrap().unwrap();
    assert_eq!(m.state, MigrationState::Draft, "the change was rolled back");
    assert_eq!(m.version, 1);
    // The same with a key: an insert whose record fails leaves no key.
    assert!(
        s.store
            .insert_first_key(&NewApiKey {
                id: uuid::Uuid::now_v7().to_string(),
                name: "k".into(),
                role: Role::Admin,
                tenant: None,
                key_hash: "h-atomic".into(),
            })
            .await
            .is_err(),
        "the first key's record fails with its insert"
    );
    assert!(s.store.find_active_key("h-atomic").await.unwrap().is_none());

    sqlx::query("INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2)")
        .bind(head.0)
        .bind(&head.1)
        .execute(&mut conn)
        .await
        .unwrap();
    let moved = s
        .store
        .transition(&id, LifecycleEvent::Cancel, event)
        .await
        .unwrap();
    assert_eq!(moved.state, MigrationState::Cancelled);
    let filter = AuditFilter {
        migration_id: Some(id.clone()),
        limit: 10,
        ..AuditFilter::default()
    };
    let trail = s.store.list_audit(&filter).await.unwrap().items;
    let actions: Vec<&str> = trail.iter().map(|e| e.fields.action.as_str()).collect();
    assert_eq!(actions, ["migration.cancelled"]);
}

async fn schema_migrations_are_rerunnable(mode: Mode) {
    let dir = tempfile::tempdir().unwrap();
    let url = match mode {
        Mode::Embedded => format!("sqlite://{}", dir.path().join("s.db").display()),
        Mode::Production => fresh_pg_database().await,
    };
    let first = Store::connect(&url, 2, Duration::from_secs(5))
        .await
        .unwrap();
    open(&first, "acme").await;
    first.close().await;
    let second = Store::connect(&url, 2, Duration::from_secs(5))
        .await
        .unwrap();
    let page = second
        .list_migrations(&ferry_store::MigrationFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1, "data survives a restart");
}

async fn tenants_are_unique_among_open_migrations(mode: Mode) {
    let s = store(mode).await;
    let id = open(&s.store, "acme").await;
    let dup = s
        .store
        .create_migration(
            &uuid::Uuid::now_v7().to_string(),
            &new_migration("acme"),
            None,
            |_| (201, String::new()),
            |_| Vec::new(),
        )
        .await;
    assert!(matches!(dup, Err(StoreError::TenantTaken(t)) if t == "acme"));
    s.store
        .transition(&id, LifecycleEvent::Commit, |_| Vec::new())
        .await
        .unwrap();
    s.store
        .transition(&id, LifecycleEvent::Cancel, |_| Vec::new())
        .await
        .unwrap();
    open(&s.store, "acme").await;
}

async fn concurrent_transitions_have_one_winner(mode: Mode) {
    let s = store(mode).await;
    let id = open(&s.store, "race").await;
    let attempts = (0..8).map(|_| {
        let store = s.store.clone();
        let id = id.clone();
        tokio::spawn(async move {
            store
                .transition(&id, LifecycleEvent::Commit, |_| Vec::new())
                .await
        })
    });
    let results = futures_join(attempts).await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{results:?}");
    for r in results.iter().filter(|r| r.is_err()) {
        assert!(
            matches!(
                r,
                Err(StoreError::Transition(_)) | Err(StoreError::VersionMismatch { .. })
            ),
            "{r:?}"
        );
    }
    let m = s.store.get_migration(&id).await.unwrap().unwrap();
    assert_eq!(m.state, MigrationState::Ready);
    assert_eq!(m.version, 2);
}

async fn futures_join<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

async fn idempotency_records(mode: Mode) {
    let s = store(mode).await;
    let idem = |hash: &'static str| Idempotent {
        api_key_id: "k1",
        operation: "create_migration",
        key: "abc",
        request_hash: hash,
    };
    let id = uuid::Uuid::now_v7().to_string();
    let first = s
        .store
        .create_migration(
            &id,
            &new_migration("acme"),
            Some(idem("h1")),
            |m| (201, format!("{{\"id\":\"{}\"}}", m.id)),
            |_| Vec::new(),
        )
        .await
        .unwrap();
    assert!(matches!(first, IdempotencyClaim::Fresh(_)));
    let again = s
        .store
        .create_migration(
            &uuid::Uuid::now_v7().to_string(),
            &new_migration("acme"),
            Some(idem("h1")),
            |_| (201, String::new()),
            |_| Vec::new(),
        )
        .await
        .unwrap();
    match again {
        IdempotencyClaim::Replay(r) => {
            assert_eq!(r.status, 201);
            assert_eq!(r.request_hash, "h1");
            assert_eq!(r.body, format!("{{\"id\":\"{id}\"}}"));
        }
        IdempotencyClaim::Fresh(_) => panic!("second call must replay"),
    }
    let page = s
        .store
        .list_migrations(&ferry_store::MigrationFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
}

async fn bootstrap_key_only_once(mode: Mode) {
    let s = store(mode).await;
    let key = |hash: &str| NewApiKey {
        id: uuid::Uuid::now_v7().to_string(),
        name: "boot".into(),
        role: Role::Admin,
        tenant: None,
        key_hash: hash.into(),
    };
    assert!(s.store.insert_first_key(&key("h-a")).await.unwrap());
    assert!(!s.store.insert_first_key(&key("h-b")).await.unwrap());
    let found = s.store.find_active_key("h-a").await.unwrap().unwrap();
    assert_eq!(found.role, Role::Admin);
    assert!(s.store.find_active_key("h-b").await.unwrap().is_none());
    assert!(s.store.revoke_key(&found.id, Vec::new()).await.unwrap());
    assert!(s.store.find_active_key("h-a").await.unwrap().is_none());
}

async fn job_records_are_at_most_once(mode: Mode) {
    let s = store(mode).await;
    let id = open(&s.store, "jobs").await;
    s.store
        .transition(&id, LifecycleEvent::Commit, |_| Vec::new())
        .await
        .unwrap();
    let job_id = uuid::Uuid::now_v7().to_string();
    let started = s
        .store
        .start_migration(start_request(&id, &job_id), |_| (202, String::new()))
        .await
        .unwrap();
    assert!(matches!(started, IdempotencyClaim::Fresh(_)));
    // The start wrote its dispatch record; one round pushes it, once.
    assert_eq!(s.store.undispatched().await.unwrap(), 1);
    let limits = |repush_before: String| DispatchLimits {
        batches_per_migration: 4,
        repush_before,
        max: 100,
    };
    let long_ago = "2000-01-01T00:00:00.000000Z".to_owned();
    let first = s
        .store
        .claim_dispatch(&limits(long_ago.clone()))
        .await
        .unwrap();
    assert_eq!(
        first,
        vec![Dispatch {
            job_id: job_id.clone(),
            push: 1
        }]
    );
    assert!(
        s.store
            .claim_dispatch(&limits(long_ago.clone()))
            .await
            .unwrap()
            .is_empty()
    );
    // Still queued past the age limit: the queue lost it, push it again.
    let later = "2999-01-01T00:00:00.000000Z".to_owned();
    let again = s
        .store
        .claim_dispatch(&limits(later.clone()))
        .await
        .unwrap();
    assert_eq!(
        again,
        vec![Dispatch {
            job_id: job_id.clone(),
            push: 2
        }]
    );
    assert!(
        s.store
            .job_started("no-such-job", "w1", 1)
            .await
            .unwrap()
            .is_none()
    );
    // Any push takes a queued job (here the first, delivered late).
    let running = s
        .store
        .job_started(&job_id, "w1", 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(running.state, JobState::Running);
    // One attempt, not failed: no killed write can have left staging files.
    assert!(!s.store.may_hold_staging(&id, "a-later-job").await.unwrap());
    // Running: never pushed again, whatever its age.
    assert!(
        s.store
            .claim_dispatch(&limits(later))
            .await
            .unwrap()
            .is_empty()
    );
    // The other push arriving now must not run it a second time at once...
    assert!(
        s.store
            .job_started(&job_id, "w2", 2)
            .await
            .unwrap()
            .is_none(),
        "a second push of a running job is not taken"
    );
    // ...but the push that took it coming back (its worker died) does.
    let retaken = s
        .store
        .job_started(&job_id, "w2", 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(retaken.attempts, 2);
    // Taken again (its first worker died): a later job sweeps; the job
    // itself knows from its own attempt count.
    assert!(s.store.may_hold_staging(&id, "a-later-job").await.unwrap());
    assert!(!s.store.may_hold_staging(&id, &job_id).await.unwrap());
    assert!(
        s.store
            .job_finished(&job_id, JobState::Succeeded, None)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        s.store
            .job_finished(&job_id, JobState::Failed, Some("late"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.store
            .job_started(&job_id, "w3", 1)
            .await
            .unwrap()
            .is_none(),
        "finished jobs never run again"
    );
    let m = s.store.get_migration(&id).await.unwrap().unwrap();
    assert_eq!(m.state, MigrationState::Uploaded);
    // A start that fails (a recovery with nothing to recover) commits
    // nothing: no job, no dispatch record, nothing a round could push.
    let job2 = uuid::Uuid::now_v7().to_string();
    let refused = s
        .store
        .start_migration(start_request(&id, &job2), |_| (202, String::new()))
        .await;
    assert!(
        matches!(refused, Err(StoreError::NothingToDo)),
        "{refused:?}"
    );
    assert!(s.store.get_job(&job2).await.unwrap().is_none());
    assert_eq!(s.store.undispatched().await.unwrap(), 0);
    assert!(
        s.store
            .claim_dispatch(&limits(long_ago))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.store.get_migration(&id).await.unwrap().unwrap().state,
        MigrationState::Uploaded
    );
}

fn start_request<'a>(migration_id: &'a str, job_id: &'a str) -> StartRequest<'a> {
    StartRequest {
        migration_id,
        job_id,
        started_by: None,
        idem: None,
        only: None,
    }
}

/// More users than one batch of every bulk path (snapshot chunks of 10,000
/// or, stored before migration 0010, 50,000; row batches and draft pages of
/// 50,000), so batch edges are crossed.
const LARGE: usize = 60_001;

fn roster_user(i: usize) -> RosterUserInput {
    RosterUserInput {
        user_id: format!("u{i:06}"),
        full_name: format!("Person \"{i}\", Ünïcode"),
        emails: (0..1 + i % 3)
            .map(|k| format!("p{i}.{k}@acme.example"))
            .collect(),
        group: format!("Group {}", i % 7),
        position: if i.is_multiple_of(5) {
            String::new()
        } else {
            "Rep".into()
        },
        is_admin: i.is_multiple_of(1000),
        old_license: (!i.is_multiple_of(4)).then(|| "Standard".to_owned()),
        old_addons: (0..i % 3).map(|k| format!("Addon{k}")).collect(),
        on_travel: i.is_multiple_of(11),
        active: i % 100 != 1,
        source_row: None,
    }
}

async fn large_rosters_and_drafts_read_back_exactly(mode: Mode) {
    let t = store(mode).await;
    let id = open(&t.store, "bulkrt").await;
    assert!(t.store.import_draft_is_empty(&id).await.unwrap());
    let users: Vec<RosterUserInput> = (0..LARGE).map(roster_user).collect();
    let sats = vec![SatelliteInput {
        name: "Branch".into(),
        active: true,
        source_row: None,
    }];
    let draft: Assignments = users
        .iter()
        .step_by(2)
        .enumerate()
        .map(|(k, u)| {
            let a = Assignment {
                plan: Some("Engage".into()),
                addons: (0..k % 2).map(|_| "Marketing".to_owned()).collect(),
                username: (!k.is_multiple_of(3)).then(|| Email::parse(&u.emails[0]).unwrap()),
            };
            (u.user_id.clone(), a)
        })
        .collect();
    t.store
        .replace_roster(&id, &users, &sats, &draft, |_| Vec::new())
        .await
        .unwrap();
    let (read, read_sats) = t.store.load_roster(&id).await.unwrap();
    assert_eq!(read.len(), LARGE);
    assert!(
        read == users,
        "the snapshot gives the roster back in upload order"
    );
    assert_eq!(read_sats, sats);
    assert_eq!(t.store.load_draft(&id).await.unwrap().assignments, draft);

    // The import's roster stretches: users in upload order with their
    // entries, or without them when asked not to look.
    assert!(!t.store.import_draft_is_empty(&id).await.unwrap());
    let stretch = |with: bool| {
        let store = t.store.clone();
        let id = id.clone();
        async move {
            let users = store.import_stretch(&id, 0, with).await.unwrap();
            users
                .into_iter()
                .map(|u| (u.pos, u.user.user_id().to_owned(), u.entry))
                .collect::<Vec<_>>()
        }
    };
    let first = stretch(true).await;
    assert!(
        !first.is_empty() && first.len() < LARGE,
        "one stretch, not all"
    );
    let expected: Vec<_> = users
        .iter()
        .enumerate()
        .take(first.len())
        .map(|(pos, u)| (pos, u.user_id.clone(), draft.get(&u.user_id).cloned()))
        .collect();
    assert!(
        first == expected,
        "a stretch reads the users with their entries"
    );
    let bare: Vec<_> = expected
        .iter()
        .map(|(pos, uid, _)| (*pos, uid.clone(), None))
        .collect();
    assert!(stretch(false).await == bare, "entries are left out");
    let whole: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(pos, u)| (pos, u.user_id.clone(), draft.get(&u.user_id).cloned()))
        .collect();
    assert!(
        walk(&t.store, &id).await == whole,
        "stretch after stretch, the whole roster in order"
    );

    // A snapshot stored before migration 0010, in chunks of 50,000, is
    // walked the same: each chunk says where it starts.
    let mut conn = sqlx::AnyConnection::connect(&t.url).await.unwrap();
    sqlx::query("DELETE FROM roster_snapshot WHERE migration_id = $1")
        .bind(&id)
        .execute(&mut conn)
        .await
        .unwrap();
    for (chunk, part) in users.chunks(50_000).enumerate() {
        sqlx::query(
            "INSERT INTO roster_snapshot (migration_id, chunk, first_seq, users) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(chunk as i64)
        .bind((chunk * 50_000) as i64)
        .bind(serde_json::to_string(part).unwrap())
        .execute(&mut conn)
        .await
        .unwrap();
    }
    assert!(walk(&t.store, &id).await == whole, "older chunks too");
    let holding = |at: usize| {
        let store = t.store.clone();
        let id = id.clone();
        async move {
            let users = store.import_stretch(&id, at, true).await.unwrap();
            let pos: Vec<usize> = users.iter().map(|u| u.pos).collect();
            let ids: Vec<String> = users.iter().map(|u| u.user.user_id().to_owned()).collect();
            (pos, ids)
        }
    };
    let chunk_of = |range: std::ops::Range<usize>| {
        let ids: Vec<String> = users[range.clone()]
            .iter()
            .map(|u| u.user_id.clone())
            .collect();
        (range.collect::<Vec<_>>(), ids)
    };
    assert!(
        holding(10_000).await == chunk_of(0..50_000),
        "a position inside an older chunk gets that chunk"
    );
    assert!(holding(50_005).await == chunk_of(50_000..LARGE));
    assert!(
        t.store
            .import_stretch(&id, LARGE, true)
            .await
            .unwrap()
            .is_empty(),
        "nothing past the end"
    );

    // A roster stored before snapshots existed is read from its rows.
    sqlx::query("DELETE FROM roster_snapshot WHERE migration_id = $1")
        .bind(&id)
        .execute(&mut conn)
        .await
        .unwrap();
    let (read, _) = t.store.load_roster(&id).await.unwrap();
    assert!(read == users, "the rows give the same roster back");
    assert!(
        walk(&t.store, &id).await == whole,
        "and so do the import's stretches"
    );
}

/// The roster as the import's cursor reads it: stretch after stretch from
/// position 0, as (position, user id, entry); every stretch read both with
/// its entries and bare with its entries attached from their own read (what
/// the cursor does with the next stretch's), which must agree.
async fn walk(store: &Store, id: &str) -> Vec<(usize, String, Option<Assignment>)> {
    let mut out = Vec::new();
    loop {
        let users = store.import_stretch(id, out.len(), true).await.unwrap();
        let mut bare = store.import_stretch(id, out.len(), false).await.unwrap();
        let entries = store.import_stretch_entries(id, out.len()).await.unwrap();
        ferry_store::attach_entries(&mut bare, entries);
        let key = |u: &ferry_domain::licensing::StoredUser| (u.pos, u.entry.clone());
        assert!(
            bare.iter().map(key).eq(users.iter().map(key)),
            "entries attached as read with the stretch"
        );
        if users.is_empty() {
            return out;
        }
        assert_eq!(users[0].pos, out.len(), "a stretch starts where one ended");
        out.extend(
            users
                .into_iter()
                .map(|u| (u.pos, u.user.user_id().to_owned(), u.entry)),
        );
    }
}

/// Migration 0010 gives the snapshot chunks stored before it (50,000 users
/// each, no `first_seq`) their first positions, and 0011 drops a column of
/// the draft rows beside them: a database at 0009 with such a snapshot and
/// a draft row, upgraded by connecting, is read stretch by stretch.
async fn snapshots_from_before_0010_get_their_positions(mode: Mode) {
    let dir = tempfile::tempdir().unwrap();
    let (url, mut conn) = database_before_migration(mode, dir.path(), 10).await;
    let users: Vec<RosterUserInput> = (0..LARGE).map(roster_user).collect();
    let id = "0190a0b0-0000-7000-8000-000000000010";
    for (chunk, part) in users.chunks(50_000).enumerate() {
        sqlx::query("INSERT INTO roster_snapshot (migration_id, chunk, users) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(chunk as i64)
            .bind(serde_json::to_string(part).unwrap())
            .execute(&mut conn)
            .await
            .unwrap();
    }
    sqlx::query(
        "INSERT INTO draft_assignments (migration_id, user_id, plan, addons, username, \
         username_key) VALUES ($1, 'u000001', 'Engage', '[]', NULL, NULL)",
    )
    .bind(id)
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let store = Store::connect(&url, 2, Duration::from_secs(5))
        .await
        .unwrap();
    let positions = |users: &[ferry_domain::licensing::StoredUser]| -> Vec<(usize, String)> {
        users
            .iter()
            .map(|u| (u.pos, u.user.user_id().to_owned()))
            .collect()
    };
    let expected = |range: std::ops::Range<usize>| -> Vec<(usize, String)> {
        range.map(|i| (i, users[i].user_id.clone())).collect()
    };
    let inside = store.import_stretch(id, 10_000, false).await.unwrap();
    assert_eq!(
        positions(&inside),
        expected(0..50_000),
        "the first old chunk"
    );
    let second = store.import_stretch(id, 50_000, false).await.unwrap();
    assert_eq!(
        positions(&second),
        expected(50_000..LARGE),
        "the second one"
    );
    assert!(
        store
            .import_stretch(id, LARGE, false)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.load_draft(id).await.unwrap().assignments.len(), 1);
}
