-- How many transactions a firing has needed: one that never landed is tried again, a few times.
ALTER TABLE automation_firings ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
