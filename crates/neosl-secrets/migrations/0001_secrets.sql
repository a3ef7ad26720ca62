-- Users' secrets: each value sealed under its own data key, the data key sealed under a key
-- derived from the master key with the owner and the name; and the owner's audit log.
CREATE TABLE secrets_values (
    owner            TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    ciphertext       TEXT    NOT NULL,
    wrapped_key      TEXT    NOT NULL,
    master_id        TEXT    NOT NULL,
    allowed_services TEXT    NOT NULL,
    value_size       BIGINT  NOT NULL,
    version          BIGINT  NOT NULL,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    PRIMARY KEY (owner, name)
);
CREATE INDEX secrets_values_master ON secrets_values (master_id);
CREATE TABLE secrets_audit (
    id       TEXT    PRIMARY KEY,
    owner    TEXT    NOT NULL,
    name     TEXT    NOT NULL,
    actor    TEXT    NOT NULL,
    action   TEXT    NOT NULL,
    purpose  TEXT    NOT NULL,
    outcome  TEXT    NOT NULL,
    at       BIGINT  NOT NULL
);
CREATE INDEX secrets_audit_owner ON secrets_audit (owner, at);
