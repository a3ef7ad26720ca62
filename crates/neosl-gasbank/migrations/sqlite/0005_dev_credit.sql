-- A development credit is its own ledger entry type (`neosl gasbank dev-credit`, simulation
-- only): the ledger says which money never came from the chain. SQLite cannot change a CHECK,
-- so the ledger table is rebuilt with its rows, indexes and triggers.
DROP TRIGGER gasbank_balance_is_ledger;
DROP TRIGGER gasbank_ledger_balance_after;
DROP TRIGGER gasbank_ledger_post;
DROP TRIGGER gasbank_ledger_no_update;
DROP TRIGGER gasbank_ledger_no_delete;

CREATE TABLE gasbank_transactions_v5 (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    TEXT    NOT NULL REFERENCES gasbank_accounts (id),
    type          TEXT    NOT NULL CHECK (type IN ('deposit', 'withdraw', 'service_fee', 'refund', 'sponsor', 'sponsor_credit', 'dev_credit')),
    amount        BIGINT  NOT NULL,
    balance_after BIGINT  NOT NULL CHECK (balance_after >= 0),
    reference_id  TEXT    NOT NULL,
    counterparty  TEXT,
    created_at    BIGINT  NOT NULL,
    UNIQUE (account_id, type, reference_id),
    CHECK ((type IN ('deposit', 'refund', 'sponsor_credit', 'dev_credit') AND amount > 0)
        OR (type IN ('withdraw', 'service_fee', 'sponsor') AND amount < 0))
);
INSERT INTO gasbank_transactions_v5 SELECT id, account_id, type, amount, balance_after, reference_id, counterparty, created_at FROM gasbank_transactions;
DROP TABLE gasbank_transactions;
ALTER TABLE gasbank_transactions_v5 RENAME TO gasbank_transactions;
CREATE INDEX gasbank_transactions_account ON gasbank_transactions (account_id, id);
CREATE INDEX gasbank_transactions_reference ON gasbank_transactions (reference_id);

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
