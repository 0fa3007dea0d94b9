#!/bin/sh
# Crosswalk's staging and audit database, beside Airflow's metadata database on the same server. Run once, when
# the cluster is made; the password comes from CROSSWALK_DB_PASSWORD (.env, written by `make compose-keys`).
set -eu
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "${POSTGRES_DB:-$POSTGRES_USER}" -v pw="$CROSSWALK_DB_PASSWORD" <<'SQL'
CREATE USER crosswalk WITH PASSWORD :'pw';
CREATE DATABASE crosswalk OWNER crosswalk;
SQL
