-- VRF requests and their results (the proof lets anyone re-verify them later).
CREATE TABLE vrf_requests (
    id         TEXT    PRIMARY KEY,
    user_id    TEXT    NOT NULL,
    seed       TEXT    NOT NULL,
    num_words  INTEGER NOT NULL CHECK (num_words BETWEEN 1 AND 256),
    proof      TEXT    NOT NULL,
    beta       TEXT    NOT NULL,
    public_key TEXT    NOT NULL,
    created_at BIGINT  NOT NULL
);
CREATE INDEX vrf_requests_user ON vrf_requests (user_id, created_at);

DO $$
BEGIN
    CREATE ROLE service_role NOLOGIN BYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
ALTER TABLE vrf_requests ENABLE ROW LEVEL SECURITY;
CREATE POLICY vrf_requests_service_role ON vrf_requests FOR ALL TO service_role USING (true) WITH CHECK (true);
GRANT ALL ON vrf_requests TO service_role;
