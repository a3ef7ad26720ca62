-- Reservations still held, oldest first: what the stale-reservation sweeper reads.
CREATE INDEX gasbank_reservations_open ON gasbank_reservations (created_at) WHERE state = 'reserved';
