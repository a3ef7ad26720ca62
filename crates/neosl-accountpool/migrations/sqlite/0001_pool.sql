-- AccountPool schema, SQLite. Append-only: never edit an applied migration, add a new one.
CREATE TABLE pool_accounts (
    id              TEXT    PRIMARY KEY,
    address         TEXT    NOT NULL UNIQUE,
    script_hash     TEXT    NOT NULL UNIQUE,
    public_key      TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retiring', 'retired')),
    lock_id         TEXT,
    locked_by       TEXT,
    lock_purpose    TEXT,
    locked_at       BIGINT,
    lock_expires_at BIGINT,
    last_used_at    BIGINT  NOT NULL DEFAULT 0,
    created_at      BIGINT  NOT NULL,
    retiring_at     BIGINT,
    retired_at      BIGINT,
    CHECK ((lock_id IS NULL AND locked_by IS NULL AND lock_expires_at IS NULL)
        OR (lock_id IS NOT NULL AND locked_by IS NOT NULL AND lock_expires_at IS NOT NULL)),
    CHECK (status = 'active' OR lock_id IS NULL)
);
CREATE INDEX pool_accounts_allocation ON pool_accounts (status, last_used_at, created_at);
CREATE INDEX pool_accounts_lock ON pool_accounts (lock_id);
CREATE INDEX pool_accounts_holder ON pool_accounts (locked_by);

CREATE TABLE pool_locks (
    lock_id       TEXT    PRIMARY KEY,
    service_id    TEXT    NOT NULL,
    purpose       TEXT    NOT NULL,
    account_count INTEGER NOT NULL CHECK (account_count > 0),
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL,
    released_at   BIGINT
);
CREATE INDEX pool_locks_service ON pool_locks (service_id);

CREATE TABLE pool_account_balances (
    account_id   TEXT    NOT NULL REFERENCES pool_accounts (id),
    token_type   TEXT    NOT NULL,
    script_hash  TEXT    NOT NULL,
    tracked      BIGINT  NOT NULL DEFAULT 0 CHECK (tracked >= 0),
    chain_amount TEXT,
    synced_at    BIGINT,
    updated_at   BIGINT  NOT NULL,
    PRIMARY KEY (account_id, script_hash)
);

CREATE TABLE pool_audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL CHECK (kind IN ('sign', 'transfer')),
    account_id TEXT    NOT NULL,
    service_id TEXT    NOT NULL,
    lock_id    TEXT,
    hash       TEXT    NOT NULL,
    detail     TEXT    NOT NULL DEFAULT '',
    created_at BIGINT  NOT NULL
);
CREATE INDEX pool_audit_account ON pool_audit (account_id, id);
CREATE INDEX pool_audit_service ON pool_audit (service_id, id);

CREATE TABLE pool_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
