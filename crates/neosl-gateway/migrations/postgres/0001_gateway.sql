-- Gateway schema, PostgreSQL (Supabase-compatible). Append-only. Secrets (passwords, refresh tokens, API keys) are stored
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

ALTER TABLE gateway_users         ENABLE ROW LEVEL SECURITY;
ALTER TABLE gateway_sessions      ENABLE ROW LEVEL SECURITY;
ALTER TABLE gateway_api_keys      ENABLE ROW LEVEL SECURITY;
ALTER TABLE gateway_wallet_nonces ENABLE ROW LEVEL SECURITY;
DO $$
BEGIN
    CREATE ROLE service_role NOLOGIN BYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
CREATE POLICY gateway_users_service_role         ON gateway_users         FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY gateway_sessions_service_role      ON gateway_sessions      FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY gateway_api_keys_service_role      ON gateway_api_keys      FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY gateway_wallet_nonces_service_role ON gateway_wallet_nonces FOR ALL TO service_role USING (true) WITH CHECK (true);
GRANT ALL ON gateway_users, gateway_sessions, gateway_api_keys, gateway_wallet_nonces TO service_role;
