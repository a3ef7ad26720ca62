-- Confidential compute: jobs (each a row with a state, claimed under a lease while it runs) and
-- code uploaded for contracts to run by its hash.
CREATE TABLE confidential_jobs (
    id             TEXT    PRIMARY KEY,
    owner          TEXT    NOT NULL,
    origin         TEXT    NOT NULL,
    engine         TEXT    NOT NULL,
    code_hash      TEXT    NOT NULL,
    code           TEXT    NOT NULL,
    input          TEXT    NOT NULL,
    input_hash     TEXT    NOT NULL,
    secrets        TEXT    NOT NULL,
    limits         TEXT    NOT NULL,
    state          TEXT    NOT NULL,
    claimed_by     TEXT,
    claim_until    BIGINT,
    attempts       BIGINT  NOT NULL DEFAULT 0,
    reservation    TEXT,
    fee_reserved   BIGINT  NOT NULL,
    fee_charged    BIGINT,
    output         TEXT,
    output_hash    TEXT,
    signature      TEXT,
    fuel_used      BIGINT,
    error_code     TEXT,
    error_message  TEXT,
    log            TEXT,
    created_at     BIGINT  NOT NULL,
    started_at     BIGINT,
    finished_at    BIGINT
);
CREATE INDEX confidential_jobs_owner ON confidential_jobs (owner, created_at);
CREATE INDEX confidential_jobs_state ON confidential_jobs (state, claim_until);
CREATE TABLE confidential_code (
    upload_id         TEXT    NOT NULL UNIQUE,
    owner             TEXT    NOT NULL,
    code_hash         TEXT    NOT NULL,
    engine            TEXT    NOT NULL,
    code              TEXT    NOT NULL,
    secrets           TEXT    NOT NULL,
    allowed_contracts TEXT    NOT NULL,
    limits            TEXT    NOT NULL,
    created_at        BIGINT  NOT NULL,
    PRIMARY KEY (owner, code_hash)
);
