-- Event-stream positions, one row per named stream: every event before
-- (next_block, next_event) has been handled.
CREATE TABLE chain_cursors (
    name       TEXT   PRIMARY KEY,
    next_block BIGINT NOT NULL,
    next_event BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The outbox: chain work that must finish. An item moves planned -> submitted -> confirmed |
-- failed; a replica works on an item only while it holds the claim (claimed_by, lease_until).
CREATE TABLE chain_work (
    id                TEXT   PRIMARY KEY,
    kind              TEXT   NOT NULL,
    reference         TEXT   NOT NULL,
    payload           TEXT   NOT NULL,
    state             TEXT   NOT NULL CHECK (state IN ('planned', 'submitted', 'confirmed', 'failed')),
    tx_hash           TEXT,
    tx_bytes          TEXT,
    valid_until_block BIGINT,
    attempts          BIGINT NOT NULL DEFAULT 0,
    last_error        TEXT,
    outcome           TEXT,
    claimed_by        TEXT,
    lease_until       BIGINT NOT NULL DEFAULT 0,
    not_before        BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    UNIQUE (kind, reference)
);
CREATE INDEX chain_work_open ON chain_work (kind, created_at) WHERE state IN ('planned', 'submitted');
CREATE INDEX chain_work_tx ON chain_work (tx_hash);
