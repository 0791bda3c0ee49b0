--
-- The upgrade chain: the first version, updated step by step to the
-- default version, keeps registrations and delete tracking working; and
-- DROP EXTENSION leaves user tables intact.
--
CREATE TABLE upgrade_probe (id int PRIMARY KEY, updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO upgrade_probe (id) SELECT generate_series(1, 10);

DROP EXTENSION redtrack;
SELECT count(*) AS registrations_gone FROM pg_tables WHERE schemaname = 'redtrack';

CREATE EXTENSION redtrack VERSION '0.1';
SELECT rrr_register('upgrade_probe', 'timed', track_deletes => true);
DELETE FROM upgrade_probe WHERE id = 1;

-- walk the chain one version at a time
DO $$
DECLARE
	v text;
BEGIN
	FOR v IN
		SELECT version FROM pg_available_extension_versions
		WHERE name = 'redtrack' AND version <> '0.1'
		ORDER BY string_to_array(version, '.')::int[]
	LOOP
		EXECUTE format('ALTER EXTENSION redtrack UPDATE TO %L', v);
	END LOOP;
END
$$;
SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'redtrack')
	AS at_default_version
FROM pg_extension WHERE extname = 'redtrack';

-- what was registered before still works after
DELETE FROM upgrade_probe WHERE id = 2;
SELECT kind, key FROM redtrack.pending_deletes ORDER BY record_id;
SELECT source, strategy, key_columns FROM redtrack.replicables;

-- DROP EXTENSION removes redtrack's triggers, never the tables
DROP EXTENSION redtrack;
SELECT count(*) AS rows_kept FROM upgrade_probe;
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgrelid = 'upgrade_probe'::regclass;
DELETE FROM upgrade_probe WHERE id = 3;
CREATE EXTENSION redtrack;
DROP TABLE upgrade_probe;
