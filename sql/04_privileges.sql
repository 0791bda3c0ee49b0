--
-- Only superusers and members of redtrack_admin may use redtrack.
--
CREATE ROLE regress_plain;
CREATE ROLE regress_admin IN ROLE redtrack_admin;
CREATE TABLE secrets_table (id int PRIMARY KEY, updated_at timestamptz NOT NULL);
CREATE TABLE shared_table (id int PRIMARY KEY, updated_at timestamptz NOT NULL);
GRANT SELECT ON shared_table TO regress_plain, regress_admin;

SET ROLE regress_plain;
SELECT rrr_register('shared_table', 'timed');
SELECT rrr_unregister('shared_table');
SELECT * FROM redtrack.replicables;
SELECT * FROM redtrack.replications;
SELECT * FROM redtrack.deleted_records;
SELECT * FROM redtrack.status;
SHOW redtrack.aws_secret_access_key;
SHOW redtrack.redshift_conninfo;
SELECT count(*) FROM pg_settings WHERE name = 'redtrack.aws_secret_access_key' AND setting IS NOT NULL;
RESET ROLE;

SET ROLE regress_admin;
-- an admin may not export a table it cannot read, nor put triggers on it
SELECT rrr_register('secrets_table', 'timed');
SELECT rrr_register('shared_table', 'timed', track_deletes => true);
SELECT rrr_register('shared_table', 'timed');
SELECT source, registered_by FROM redtrack.replicables WHERE source = 'shared_table'::regclass;
-- admins read state but do not write it directly
UPDATE redtrack.replicables SET strategy = 'full';
DELETE FROM redtrack.replications;
SHOW redtrack.aws_secret_access_key;
SELECT rrr_unregister('shared_table');
RESET ROLE;

DROP TABLE secrets_table, shared_table;
DROP ROLE regress_plain, regress_admin;
