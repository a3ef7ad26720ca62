-- DataFeeds: each pair's rounds (signed prices), its state, and each source's health.
CREATE TABLE datafeeds_rounds (
    pair            TEXT    NOT NULL,
    round_id        BIGINT  NOT NULL CHECK (round_id >= 1),
    price           BIGINT  NOT NULL CHECK (price > 0),
    decimals        BIGINT  NOT NULL,
    timestamp_ms    BIGINT  NOT NULL,
    heartbeat_secs  BIGINT  NOT NULL,
    deviation_bps   BIGINT  NOT NULL,
    reason          TEXT    NOT NULL,
    sources_used    TEXT    NOT NULL,
    sources_dropped TEXT    NOT NULL,
    network         BIGINT  NOT NULL,
    contract        TEXT,
    signature       TEXT    NOT NULL,
    on_chain_at     BIGINT,
    PRIMARY KEY (pair, round_id)
);

CREATE TABLE datafeeds_pairs (
    pair         TEXT   PRIMARY KEY,
    state        TEXT   NOT NULL,
    reason       TEXT,
    since        BIGINT NOT NULL,
    checked_at   BIGINT NOT NULL,
    on_chain_round BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE datafeeds_sources (
    source          TEXT   NOT NULL,
    pair            TEXT   NOT NULL,
    symbol          TEXT   NOT NULL,
    last_success_at BIGINT,
    last_error_at   BIGINT,
    last_error      TEXT,
    latency_ms      BIGINT,
    last_price      BIGINT,
    PRIMARY KEY (source, pair)
);
