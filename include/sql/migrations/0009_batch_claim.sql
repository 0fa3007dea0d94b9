-- One owner per drop: the run taking a batch in claims it until an expiry; another run that meets a live
-- claim leaves the drop alone, and a dead run's claim is taken over once it has expired.
ALTER TABLE batch ADD COLUMN claimed_by VARCHAR(250);
ALTER TABLE batch ADD COLUMN claim_expires TIMESTAMP;
