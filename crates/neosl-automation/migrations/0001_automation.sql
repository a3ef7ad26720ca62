-- Automation: triggers, each firing (claimed once by its (trigger, firing key)), the positions
-- the evaluators have read up to.
CREATE TABLE automation_triggers (
    id             TEXT   PRIMARY KEY,
    owner          TEXT   NOT NULL,
    name           TEXT   NOT NULL,
    kind           TEXT   NOT NULL,
    spec           TEXT   NOT NULL,
    state          TEXT   NOT NULL,
    state_reason   TEXT,
    next_fire_at   BIGINT,
    pair           TEXT,
    direction      TEXT,
    threshold      BIGINT,
    rearm          BIGINT NOT NULL DEFAULT 0,
    cross_state    TEXT,
    crossings      BIGINT NOT NULL DEFAULT 0,
    event_contract TEXT,
    event_name     TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX automation_triggers_cron ON automation_triggers (kind, next_fire_at);
CREATE INDEX automation_triggers_price ON automation_triggers (pair, direction, threshold);
CREATE INDEX automation_triggers_event ON automation_triggers (event_contract, event_name);
CREATE INDEX automation_triggers_owner ON automation_triggers (owner, created_at);

CREATE TABLE automation_firings (
    id          TEXT   PRIMARY KEY,
    trigger_id  TEXT   NOT NULL,
    owner       TEXT   NOT NULL,
    firing_key  TEXT   NOT NULL,
    due_at      BIGINT NOT NULL,
    state       TEXT   NOT NULL,
    reason      TEXT,
    input       TEXT,
    claimed_by  TEXT,
    claim_until BIGINT,
    tx_hash     TEXT,
    gas_used    BIGINT,
    fee         BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (trigger_id, firing_key)
);
CREATE INDEX automation_firings_due ON automation_firings (state, due_at);
CREATE INDEX automation_firings_trigger ON automation_firings (trigger_id, due_at);
CREATE INDEX automation_firings_owner ON automation_firings (owner, updated_at);

CREATE TABLE automation_positions (
    name  TEXT   PRIMARY KEY,
    value BIGINT NOT NULL
);
