//! The job queue: apalis-sqlite in embedded mode (its own SQLite file, since
//! apalis runs its own migrations), apalis-redis in production. The message is
//! only a job id; the job's state lives in the state database (ferry-store).

use std::str::FromStr;
use std::time::Duration;

use apalis_core::backend::{TaskSink, Vacuum};
use apalis_redis::RedisStorage;
use apalis_sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteStorage};
use serde::{Deserialize, Serialize};

/// What travels through the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    pub job_id: String,
    /// Which push of the job's dispatch record this is (see
    /// `ferry_store::outbox`); messages written before the outbox have none
    /// and read as 0.
    #[serde(default)]
    pub push: i64,
}

/// Timings that decide how fast a dead worker's jobs come back.
#[derive(Debug, Clone, Copy)]
pub struct QueueTuning {
    /// How often a worker tells the queue it is alive.
    pub heartbeat: Duration,
    /// After this many missed heartbeats its jobs are re-enqueued
    /// (orphan window = heartbeat × missed).
    pub missed_heartbeats: usize,
    /// Bound on a single queue round trip, so a dead Redis fails fast.
    pub timeout: Duration,
}

impl Default for QueueTuning {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(5),
            missed_heartbeats: 3,
            timeout: Duration::from_secs(3),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("unsupported queue URL '{0}': use sqlite:// or redis://")]
    UnsupportedUrl(String),
    #[error("queue database error: {0}")]
    Sqlite(#[from] apalis_sqlite::SqlxError),
    #[error("queue setup failed: {0}")]
    Setup(String),
    #[error("redis error: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("enqueue failed: {0}")]
    Push(String),
    #[error("queue did not answer within {0:?}")]
    Timeout(Duration),
}

/// A connected queue; cheap to clone.
#[derive(Clone)]
pub enum Queue {
    Sqlite(SqliteStorage<JobMessage>),
    Redis(RedisStorage<JobMessage>),
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Queue::Sqlite(_) => "Queue::Sqlite",
            Queue::Redis(_) => "Queue::Redis",
        })
    }
}

impl Queue {
    /// Connects to the queue at `url`; `namespace` keeps several deployments
    /// (or tests) apart on one Redis.
    pub async fn connect(
        url: &str,
        namespace: &str,
        tuning: QueueTuning,
    ) -> Result<Queue, QueueError> {
        let queue_name = format!("{namespace}:jobs");
        if url.starts_with("sqlite:") {
            // WAL with `synchronous = NORMAL` on every connection (apalis
            // sets it on one): a push no longer waits for an fsync, which
            // held the embedded queue near 300 pushes/s. A power cut may
            // lose the last messages; the job outbox in the state database
            // (which keeps its own full sync) pushes those again.
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10));
            let pool: SqlitePool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(opts)
                .await?;
            SqliteStorage::setup(&pool)
                .await
                .map_err(|e| QueueError::Setup(e.to_string()))?;
            let config = apalis_sqlite::Config::default()
                .queue(&queue_name)
                .heartbeat_interval(tuning.heartbeat)
                .missed_heartbeats(tuning.missed_heartbeats);
            Ok(Queue::Sqlite(SqliteStorage::new(&pool).with_config(config)))
        } else if url.starts_with("redis://") || url.starts_with("rediss://") {
            let client = redis::Client::open(url)?;
            // The connection manager reconnects by itself, so a Redis restart
            // heals without restarting Ferry; the timeouts keep callers from
            // hanging while it is down.
            let cm_config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(tuning.timeout))
                .set_response_timeout(Some(tuning.timeout))
                .set_number_of_retries(2);
            let conn = tokio::time::timeout(
                tuning.timeout * 2,
                redis::aio::ConnectionManager::new_with_config(client, cm_config),
            )
            .await
            .map_err(|_| QueueError::Timeout(tuning.timeout * 2))??;
            let config = apalis_redis::Config::default()
                .queue(&queue_name)
                .heartbeat_interval(tuning.heartbeat)
                .missed_heartbeats(tuning.missed_heartbeats);
            Ok(Queue::Redis(RedisStorage::new(conn).with_config(config)))
        } else {
            Err(QueueError::UnsupportedUrl(
                url.split('@').next_back().unwrap_or(url).to_owned(),
            ))
        }
    }

    /// Enqueues one job message.
    pub async fn push(&self, message: JobMessage) -> Result<(), QueueError> {
        match self.clone() {
            Queue::Sqlite(mut s) => s
                .push(message)
                .await
                .map_err(|e| QueueError::Push(e.to_string())),
            Queue::Redis(mut s) => s
                .push(message)
                .await
                .map_err(|e| QueueError::Push(e.to_string())),
        }
    }

    /// One round trip, for `/readyz`.
    pub async fn ping(&self, timeout: Duration) -> Result<(), QueueError> {
        let check = async {
            match self.clone() {
                Queue::Sqlite(s) => {
                    sqlx::query("SELECT 1").execute(s.pool()).await?;
                }
                Queue::Redis(mut s) => {
                    let _: String = redis::cmd("PING").query_async(s.get_connection()).await?;
                }
            }
            Ok(())
        };
        tokio::time::timeout(timeout, check)
            .await
            .map_err(|_| QueueError::Timeout(timeout))?
    }

    /// Deletes finished jobs' payloads from the queue (apalis keeps them
    /// otherwise). Job history lives in the state database, not here.
    pub async fn vacuum(&self) -> Result<usize, QueueError> {
        match self.clone() {
            Queue::Sqlite(mut s) => s
                .vacuum()
                .await
                .map_err(|e| QueueError::Push(e.to_string())),
            Queue::Redis(mut s) => s
                .vacuum()
                .await
                .map_err(|e| QueueError::Push(e.to_string())),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Queue::Sqlite(_) => "sqlite",
            Queue::Redis(_) => "redis",
        }
    }
}
