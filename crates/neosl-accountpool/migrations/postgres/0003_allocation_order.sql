-- Allocation takes the least recently used account in (last_used_at, created_at, id) order:
-- with `id` in the index the first free row is read in order, instead of sorting every active
-- account that shares the oldest (last_used_at, created_at) — all of a fresh batch fill.
CREATE INDEX pool_accounts_allocation_order ON pool_accounts (status, last_used_at, created_at, id);
DROP INDEX pool_accounts_allocation;
