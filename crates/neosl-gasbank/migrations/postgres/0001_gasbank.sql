-- GasBank schema, PostgreSQL (Supabase-compatible). Append-only. The database itself enforces
-- the invariants: every balance equals the sum of its ledger, and 0 <= reserved <= balance.
DO $$
BEGIN
    CREATE ROLE service_role NOLOGIN BYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

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
    id            BIGSERIAL PRIMARY KEY,
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

CREATE FUNCTION gasbank_ledger_post() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    current BIGINT;
BEGIN
    SELECT balance INTO current FROM gasbank_accounts WHERE id = NEW.account_id FOR UPDATE;
    IF NEW.balance_after <> current + NEW.amount THEN
        RAISE EXCEPTION 'gasbank: balance_after must equal balance + amount';
    END IF;
    PERFORM set_config('gasbank.posting', NEW.account_id, true);
    UPDATE gasbank_accounts SET balance = NEW.balance_after, updated_at = NEW.created_at WHERE id = NEW.account_id;
    PERFORM set_config('gasbank.posting', '', true);
    RETURN NEW;
END
$$;
CREATE TRIGGER gasbank_ledger_post BEFORE INSERT ON gasbank_transactions
    FOR EACH ROW EXECUTE FUNCTION gasbank_ledger_post();

CREATE FUNCTION gasbank_ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'gasbank: the ledger is append-only';
END
$$;
CREATE TRIGGER gasbank_ledger_immutable BEFORE UPDATE OR DELETE ON gasbank_transactions
    FOR EACH ROW EXECUTE FUNCTION gasbank_ledger_immutable();

-- The balance changes only while a ledger row is being posted (the posting trigger marks the
-- account it posts to): balance = previous balance + the new row's amount = the ledger's sum.
CREATE FUNCTION gasbank_balance_is_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.balance <> OLD.balance AND current_setting('gasbank.posting', true) IS DISTINCT FROM NEW.id THEN
        RAISE EXCEPTION 'gasbank: balance must equal the sum of the ledger';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER gasbank_balance_is_ledger BEFORE UPDATE OF balance ON gasbank_accounts
    FOR EACH ROW EXECUTE FUNCTION gasbank_balance_is_ledger();

CREATE FUNCTION gasbank_accounts_start_empty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.balance <> 0 OR NEW.reserved <> 0 THEN
        RAISE EXCEPTION 'gasbank: accounts start empty';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER gasbank_accounts_start_empty BEFORE INSERT ON gasbank_accounts
    FOR EACH ROW EXECUTE FUNCTION gasbank_accounts_start_empty();

ALTER TABLE gasbank_accounts     ENABLE ROW LEVEL SECURITY;
ALTER TABLE gasbank_transactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE gasbank_reservations ENABLE ROW LEVEL SECURITY;
CREATE POLICY gasbank_accounts_service_role     ON gasbank_accounts     FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY gasbank_transactions_service_role ON gasbank_transactions FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY gasbank_reservations_service_role ON gasbank_reservations FOR ALL TO service_role USING (true) WITH CHECK (true);
GRANT ALL ON gasbank_accounts, gasbank_transactions, gasbank_reservations TO service_role;
GRANT USAGE ON SEQUENCE gasbank_transactions_id_seq TO service_role;
