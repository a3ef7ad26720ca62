-- Requests from contracts, as the on-chain worker follows them (one row per gateway and
-- request id; the chain is the source of truth for the final status).
CREATE TABLE onchain_requests (
    gateway     TEXT    NOT NULL,
    request_id  BIGINT  NOT NULL,
    service_id  TEXT    NOT NULL,
    requester   TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    callback    TEXT    NOT NULL,
    deadline    BIGINT  NOT NULL,
    request_tx  TEXT    NOT NULL,
    block_index BIGINT  NOT NULL,
    event       TEXT,
    status      TEXT    NOT NULL CHECK (status IN ('pending', 'waiting_for_balance', 'prepared', 'batched',
                                                 'fulfilled', 'callback_failed', 'expired', 'failed')),
    reason      TEXT,
    success     INTEGER,
    result      TEXT,
    signature   TEXT,
    skip_reason TEXT,
    batch       TEXT,
    fulfil_tx   TEXT,
    fee         BIGINT,
    claimed_by  TEXT,
    lease_until BIGINT  NOT NULL DEFAULT 0,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (gateway, request_id)
);
CREATE INDEX onchain_requests_status ON onchain_requests (status, request_id);
CREATE INDEX onchain_requests_requester ON onchain_requests (requester, request_id);
CREATE INDEX onchain_requests_batch ON onchain_requests (batch);

-- The pool accounts that send fulfilments (registered as TEE accounts on the gateway).
CREATE TABLE onchain_accounts (
    gateway    TEXT   NOT NULL,
    account_id TEXT   NOT NULL,
    lock_id    TEXT   NOT NULL,
    address    TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (gateway, account_id)
);
