-- The reason class of a state interval's health (refused, timeout, http_status, slow, ...);
-- NULL while up, and for intervals written before this migration.
ALTER TABLE state_intervals ADD COLUMN reason TEXT;
