-- The Mixer: requests (each with the accounts it holds), the deposits seen for them, and the
-- planned transactions (legs) that move their GAS.
CREATE TABLE mixer_requests (
    id               TEXT    PRIMARY KEY,
    request_hash     TEXT    UNIQUE,
    request_bytes    TEXT,
    tee_signature    TEXT,
    user_hash        TEXT    NOT NULL,
    net              BIGINT  NOT NULL,
    fee              BIGINT  NOT NULL,
    total            BIGINT  NOT NULL,
    mix_option_ms    BIGINT  NOT NULL,
    window_ms        BIGINT  NOT NULL,
    state            TEXT    NOT NULL,
    reason           TEXT,
    lock_id          TEXT,
    released         BIGINT  NOT NULL DEFAULT 0,
    deposit_deadline BIGINT  NOT NULL,
    deadline         BIGINT  NOT NULL,
    funded_at        BIGINT,
    settled_at       BIGINT,
    outcome          TEXT,
    txids            TEXT,
    txids_hash       TEXT,
    proof_signature  TEXT,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);
CREATE INDEX mixer_requests_state ON mixer_requests (state, deposit_deadline);
CREATE INDEX mixer_requests_created ON mixer_requests (created_at);

CREATE TABLE mixer_accounts (
    request_id TEXT   NOT NULL,
    address    TEXT   NOT NULL,
    account_id TEXT   NOT NULL,
    public_key TEXT   NOT NULL,
    role       TEXT   NOT NULL,
    expected   BIGINT NOT NULL,
    received   BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (request_id, address)
);
CREATE INDEX mixer_accounts_address ON mixer_accounts (address, created_at);

CREATE TABLE mixer_deposits (
    tx_hash      TEXT   NOT NULL,
    notification BIGINT NOT NULL,
    request_id   TEXT   NOT NULL,
    address      TEXT   NOT NULL,
    sender       TEXT,
    amount       BIGINT NOT NULL,
    disposition  TEXT   NOT NULL,
    reason       TEXT,
    seen_at      BIGINT NOT NULL,
    PRIMARY KEY (tx_hash, notification)
);
CREATE INDEX mixer_deposits_request ON mixer_deposits (request_id);

CREATE TABLE mixer_legs (
    request_id   TEXT   NOT NULL,
    seq          BIGINT NOT NULL,
    stage        BIGINT NOT NULL,
    kind         TEXT   NOT NULL,
    from_address TEXT   NOT NULL,
    transfers    TEXT   NOT NULL,
    not_before   BIGINT NOT NULL,
    state        TEXT   NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    reason       TEXT,
    tx_hash      TEXT,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (request_id, seq)
);
CREATE INDEX mixer_legs_due ON mixer_legs (state, not_before);
