-- Rate-limit buckets shared by every gateway replica (gateway.rate_limit_store = "database"):
-- one row per key, its tokens and when they were counted (Unix ms of the gateway's clock).
CREATE TABLE gateway_rate_buckets (
    key     TEXT             PRIMARY KEY,
    tokens  DOUBLE PRECISION NOT NULL,
    updated BIGINT           NOT NULL
);
CREATE INDEX gateway_rate_buckets_updated ON gateway_rate_buckets (updated);
