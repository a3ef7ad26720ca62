-- Gateway schema, SQLite. Append-only. Secrets (passwords, refresh tokens, API keys) are stored
-- only as hashes.
CREATE TABLE gateway_users (
    id            TEXT   PRIMARY KEY,
    email         TEXT   UNIQUE,
    password_hash TEXT,
    neo_address   TEXT   UNIQUE,
    created_at    BIGINT NOT NULL,
    CHECK (email IS NOT NULL OR neo_address IS NOT NULL),
    CHECK ((email IS NULL) = (password_hash IS NULL))
);

CREATE TABLE gateway_sessions (
    id           TEXT   PRIMARY KEY,
    user_id      TEXT   NOT NULL REFERENCES gateway_users (id),
    refresh_hash TEXT   NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX gateway_sessions_user ON gateway_sessions (user_id);

CREATE TABLE gateway_api_keys (
    id           TEXT   PRIMARY KEY,
    user_id      TEXT   NOT NULL REFERENCES gateway_users (id),
    name         TEXT   NOT NULL,
    key_hash     TEXT   NOT NULL UNIQUE,
    prefix       TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX gateway_api_keys_user ON gateway_api_keys (user_id);

CREATE TABLE gateway_wallet_nonces (
    nonce      TEXT   PRIMARY KEY,
    address    TEXT   NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
