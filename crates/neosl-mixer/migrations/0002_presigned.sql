-- Deposits a user hands over signed but unsent, for the Mixer to broadcast at a random time
-- inside the deposit window (seed 004 §4.2.5 stage 1).
CREATE TABLE mixer_presigned (
    tx_hash    TEXT   PRIMARY KEY,
    request_id TEXT   NOT NULL,
    raw        TEXT   NOT NULL,
    send_at    BIGINT NOT NULL,
    state      TEXT   NOT NULL,
    reason     TEXT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX mixer_presigned_due ON mixer_presigned (state, send_at);
