-- Withdrawals: one row per request, so a replayed request never sends twice.
CREATE TABLE gasbank_withdrawals (
    reference_id TEXT   PRIMARY KEY,
    user_id      TEXT   NOT NULL,
    to_address   TEXT   NOT NULL,
    amount       BIGINT NOT NULL CHECK (amount > 0),
    tx_hash      TEXT,
    state        TEXT   NOT NULL CHECK (state IN ('pending', 'submitted', 'confirmed', 'failed')),
    error        TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

ALTER TABLE gasbank_withdrawals ENABLE ROW LEVEL SECURITY;
CREATE POLICY gasbank_withdrawals_service_role ON gasbank_withdrawals FOR ALL TO service_role USING (true) WITH CHECK (true);
GRANT ALL ON gasbank_withdrawals TO service_role;
