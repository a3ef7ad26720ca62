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
