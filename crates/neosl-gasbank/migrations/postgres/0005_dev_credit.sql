-- A development credit is its own ledger entry type (`neosl gasbank dev-credit`, simulation
-- only): the ledger says which money never came from the chain.
DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint
             WHERE conrelid = 'gasbank_transactions'::regclass AND contype = 'c' LOOP
        EXECUTE format('ALTER TABLE gasbank_transactions DROP CONSTRAINT %I', c.conname);
    END LOOP;
END
$$;
ALTER TABLE gasbank_transactions ADD CONSTRAINT gasbank_transactions_type
    CHECK (type IN ('deposit', 'withdraw', 'service_fee', 'refund', 'sponsor', 'sponsor_credit', 'dev_credit'));
ALTER TABLE gasbank_transactions ADD CONSTRAINT gasbank_transactions_balance_after
    CHECK (balance_after >= 0);
ALTER TABLE gasbank_transactions ADD CONSTRAINT gasbank_transactions_sign
    CHECK ((type IN ('deposit', 'refund', 'sponsor_credit', 'dev_credit') AND amount > 0)
        OR (type IN ('withdraw', 'service_fee', 'sponsor') AND amount < 0));
