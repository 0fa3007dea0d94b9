-- The person list stages by COPY as every staging table does (0005): batch id and row number from defaults.
CREATE SEQUENCE stg_person_list_row_seq;
ALTER TABLE stg_person_list ALTER COLUMN batch_id SET DEFAULT current_setting('crosswalk.batch_id');
ALTER TABLE stg_person_list ALTER COLUMN row_number
    SET DEFAULT nextval('stg_person_list_row_seq') - current_setting('crosswalk.row_base')::bigint;
