-- Crosswalk's staging and audit database, beside Airflow's metadata database on the same server.
CREATE USER crosswalk WITH PASSWORD 'crosswalk';
CREATE DATABASE crosswalk OWNER crosswalk;
