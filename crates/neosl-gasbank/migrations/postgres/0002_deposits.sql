-- Deposit addresses (one per user, derived from the GasBank master key) and event stream cursors.
CREATE TABLE gasbank_deposit_addresses (
    user_id     TEXT   PRIMARY KEY,
    address     TEXT   NOT NULL UNIQUE,
    script_hash TEXT   NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE gasbank_stream_cursors (
    name       TEXT   PRIMARY KEY,
    next_block BIGINT NOT NULL,
    next_event BIGINT NOT NULL
);

ALTER TABLE gasbank_deposit_addresses ENABLE ROW LEVEL SECURITY;
ALTER TABLE gasbank_stream_cursors    ENABLE ROW LEVEL SECURITY;
CREATE POLICY gasbank_deposit_addresses_service_role ON gasbank_deposit_addresses FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY gasbank_stream_cursors_service_role    ON gasbank_stream_cursors    FOR ALL TO service_role USING (true) WITH CHECK (true);
GRANT ALL ON gasbank_deposit_addresses, gasbank_stream_cursors TO service_role;
