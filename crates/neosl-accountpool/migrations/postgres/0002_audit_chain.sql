-- The audit chain: one record per (batch, account), chained per (service, writing pool
-- instance) by digest and MAC, and each chain's head. `pool_audit` keeps the rows written before the chain existed.
CREATE TABLE pool_audit_records (
    id          BIGSERIAL PRIMARY KEY,
    chain_id    TEXT    NOT NULL,
    service_id  TEXT    NOT NULL,
    seq         BIGINT  NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('sign', 'transfer')),
    account_id  TEXT    NOT NULL,
    lock_id     TEXT,
    hashes      TEXT    NOT NULL,
    hash_count  BIGINT  NOT NULL,
    detail      TEXT    NOT NULL DEFAULT '',
    created_at  BIGINT  NOT NULL,
    prev_digest TEXT    NOT NULL,
    digest      TEXT    NOT NULL,
    mac         TEXT    NOT NULL,
    UNIQUE (chain_id, seq)
);
CREATE INDEX pool_audit_records_account ON pool_audit_records (account_id, id);
CREATE INDEX pool_audit_records_service ON pool_audit_records (service_id, id);
CREATE TABLE pool_audit_heads (
    chain_id   TEXT    PRIMARY KEY,
    service_id TEXT    NOT NULL,
    seq        BIGINT  NOT NULL,
    digest     TEXT    NOT NULL,
    mac        TEXT    NOT NULL
);
ALTER TABLE pool_audit_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE pool_audit_heads   ENABLE ROW LEVEL SECURITY;
CREATE POLICY pool_audit_records_service_role ON pool_audit_records FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY pool_audit_heads_service_role   ON pool_audit_heads   FOR ALL TO service_role USING (true) WITH CHECK (true);
