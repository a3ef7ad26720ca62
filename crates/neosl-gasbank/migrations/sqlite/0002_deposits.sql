-- Deposit addresses (one per user, derived from the GasBank master key) and event stream cursors.
CREATE TABLE gasbank_deposit_addresses (
    user_id     TEXT   PRIMARY KEY,
    address     TEXT   NOT NULL UNIQUE,
    script_hash TEXT   NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE gasbank_stream_cursors (
    name       TEXT   PRIMARY KEY,
    next_block BIGINT NOT NULL,
    next_event BIGINT NOT NULL
);
