-- GasBank schema, SQLite. Append-only. The database itself enforces the invariants:
-- every balance equals the sum of its ledger, and 0 <= reserved <= balance.
CREATE TABLE gasbank_accounts (
    id         TEXT    PRIMARY KEY,
    owner_kind TEXT    NOT NULL CHECK (owner_kind IN ('user', 'contract')),
    owner_id   TEXT    NOT NULL,
    balance    BIGINT  NOT NULL DEFAULT 0,
    reserved   BIGINT  NOT NULL DEFAULT 0,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL,
    UNIQUE (owner_kind, owner_id),
    CHECK (reserved >= 0 AND reserved <= balance)
);

CREATE TABLE gasbank_transactions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    TEXT    NOT NULL REFERENCES gasbank_accounts (id),
    type          TEXT    NOT NULL CHECK (type IN ('deposit', 'withdraw', 'service_fee', 'refund', 'sponsor', 'sponsor_credit')),
    amount        BIGINT  NOT NULL,
    balance_after BIGINT  NOT NULL CHECK (balance_after >= 0),
    reference_id  TEXT    NOT NULL,
    counterparty  TEXT,
    created_at    BIGINT  NOT NULL,
    UNIQUE (account_id, type, reference_id),
    CHECK ((type IN ('deposit', 'refund', 'sponsor_credit') AND amount > 0)
        OR (type IN ('withdraw', 'service_fee', 'sponsor') AND amount < 0))
);
CREATE INDEX gasbank_transactions_account ON gasbank_transactions (account_id, id);
CREATE INDEX gasbank_transactions_reference ON gasbank_transactions (reference_id);

CREATE TABLE gasbank_reservations (
    reference_id    TEXT   PRIMARY KEY,
    account_id      TEXT   NOT NULL REFERENCES gasbank_accounts (id),
    amount          BIGINT NOT NULL CHECK (amount > 0),
    service         TEXT   NOT NULL,
    state           TEXT   NOT NULL CHECK (state IN ('reserved', 'consumed', 'released')),
    consumed_amount BIGINT,
    created_at      BIGINT NOT NULL,
    settled_at      BIGINT
);

CREATE TRIGGER gasbank_ledger_balance_after BEFORE INSERT ON gasbank_transactions
WHEN NEW.balance_after <> (SELECT balance FROM gasbank_accounts WHERE id = NEW.account_id) + NEW.amount
BEGIN
    SELECT RAISE(ABORT, 'gasbank: balance_after must equal balance + amount');
END;

CREATE TRIGGER gasbank_ledger_post AFTER INSERT ON gasbank_transactions
BEGIN
    UPDATE gasbank_accounts SET balance = NEW.balance_after, updated_at = NEW.created_at WHERE id = NEW.account_id;
END;

CREATE TRIGGER gasbank_ledger_no_update BEFORE UPDATE ON gasbank_transactions
BEGIN
    SELECT RAISE(ABORT, 'gasbank: the ledger is append-only');
END;

CREATE TRIGGER gasbank_ledger_no_delete BEFORE DELETE ON gasbank_transactions
BEGIN
    SELECT RAISE(ABORT, 'gasbank: the ledger is append-only');
END;

CREATE TRIGGER gasbank_balance_is_ledger BEFORE UPDATE OF balance ON gasbank_accounts
WHEN NEW.balance <> (SELECT COALESCE(SUM(amount), 0) FROM gasbank_transactions WHERE account_id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'gasbank: balance must equal the sum of the ledger');
END;

CREATE TRIGGER gasbank_balance_starts_at_zero BEFORE INSERT ON gasbank_accounts
WHEN NEW.balance <> 0 OR NEW.reserved <> 0
BEGIN
    SELECT RAISE(ABORT, 'gasbank: accounts start empty');
END;
