"""The embedded demo: two local SFTP servers, synthetic partner data, and a real Airflow run."""
