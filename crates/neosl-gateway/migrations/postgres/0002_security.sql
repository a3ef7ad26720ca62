-- Security hardening, PostgreSQL. Append-only.
-- API keys carry scopes (comma-separated: "*", an area, either with ":read").
ALTER TABLE gateway_api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT '*';

-- Refresh tokens that were rotated away: presenting one again means it was stolen (or leaked),
-- and the whole session is revoked.
CREATE TABLE gateway_rotated_refresh (
    refresh_hash TEXT   PRIMARY KEY,
    session_id   TEXT   NOT NULL REFERENCES gateway_sessions (id),
    rotated_at   BIGINT NOT NULL
);
CREATE INDEX gateway_rotated_refresh_session ON gateway_rotated_refresh (session_id);

ALTER TABLE gateway_rotated_refresh ENABLE ROW LEVEL SECURITY;
CREATE POLICY gateway_rotated_refresh_service_role ON gateway_rotated_refresh FOR ALL TO service_role USING (true) WITH CHECK (true);
GRANT ALL ON gateway_rotated_refresh TO service_role;
