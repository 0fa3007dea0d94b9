-- One owner per delivery, as per drop (0009): the run building and sending an extract claims it until an expiry.
ALTER TABLE delivery ADD COLUMN claimed_by VARCHAR(250);
ALTER TABLE delivery ADD COLUMN claim_expires TIMESTAMP;
