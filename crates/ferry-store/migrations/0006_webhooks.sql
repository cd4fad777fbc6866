-- Signed webhooks (issue 6). A subscription names a URL, the events it wants
-- and the secret its deliveries are signed with; a tenant-limited one hears
-- only its tenant (NULL: every tenant).
--
-- The outbox: an event is written in the same transaction as the change it
-- announces (a lifecycle transition, a job's end, a progress flush), as one
-- `webhook_events` row (the exact JSON body that is signed and sent) plus one
-- `webhook_deliveries` row per matching subscription. Workers claim due
-- deliveries with a conditional UPDATE (`claim`, `next_attempt_at` moved to a
-- lease), so several workers never send one delivery at once, and a worker
-- that dies mid-attempt leaves it due again when the lease ends.
CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    tenant      TEXT,
    url         TEXT NOT NULL,
    events      TEXT NOT NULL,
    secret      TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX webhooks_tenant ON webhooks (tenant);

CREATE TABLE webhook_events (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    webhook_id       TEXT NOT NULL,
    event_id         TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  TEXT,
    claim            TEXT,
    last_status_code BIGINT,
    last_error       TEXT,
    redelivery_of    TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    delivered_at     TEXT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
