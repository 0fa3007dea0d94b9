-- Bulk staging by COPY (crosswalk.staging.store.stage_file). The partner's validated CSV streams
-- into the staging table as it is; the batch id and the row number come from column defaults that
-- read settings the load sets for its own transaction (SET LOCAL), and a sequence per table that
-- the load holds an advisory lock on, so a batch's rows are numbered 1..n in file order.
-- The foreign key from staged rows to the batch ledger goes: its per-row check halved COPY's
-- throughput (bench/staging.py). stage_file writes rows only for a batch it finds (and locks) in the
-- ledger inside the same transaction, which is the guarantee the key gave.
CREATE SEQUENCE stg_social_care_client_row_seq;
ALTER TABLE stg_social_care_client ALTER COLUMN batch_id SET DEFAULT current_setting('crosswalk.batch_id');
ALTER TABLE stg_social_care_client ALTER COLUMN row_number
    SET DEFAULT nextval('stg_social_care_client_row_seq') - current_setting('crosswalk.row_base')::bigint;
ALTER TABLE stg_social_care_client DROP CONSTRAINT stg_social_care_client_batch_id_fkey;
CREATE SEQUENCE stg_health_board_index_row_seq;
ALTER TABLE stg_health_board_index ALTER COLUMN batch_id SET DEFAULT current_setting('crosswalk.batch_id');
ALTER TABLE stg_health_board_index ALTER COLUMN row_number
    SET DEFAULT nextval('stg_health_board_index_row_seq') - current_setting('crosswalk.row_base')::bigint;
ALTER TABLE stg_health_board_index DROP CONSTRAINT stg_health_board_index_batch_id_fkey;
