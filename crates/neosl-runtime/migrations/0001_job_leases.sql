-- Jobs that must run on one replica at a time (sweepers, syncs, rotation, watchers): who holds
-- each, until when, and how many rounds its holders have run.
CREATE TABLE platform_job_leases (
    name       TEXT   PRIMARY KEY,
    holder     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL,
    rounds     BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);
