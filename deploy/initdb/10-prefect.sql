-- The Prefect server's own database, beside Homeward's (created by POSTGRES_DB).
CREATE DATABASE prefect;
