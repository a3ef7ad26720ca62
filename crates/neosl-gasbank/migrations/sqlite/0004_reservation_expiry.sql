-- Every reservation expires: the sweeper releases what a crash left held. Older rows expire
-- ten minutes after they were made (the default TTL).
ALTER TABLE gasbank_reservations ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;
UPDATE gasbank_reservations SET expires_at = created_at + 600000;
CREATE INDEX gasbank_reservations_open ON gasbank_reservations (expires_at) WHERE state = 'reserved';
