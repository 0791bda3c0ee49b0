--
-- The standalone tools: argument errors, caught before any S3 or warehouse
-- request (the endpoint below refuses connections).
--
SET redtrack.s3_bucket = 'regress-bucket';
SET redtrack.s3_prefix = 'redtrack';
SET redtrack.s3_endpoint = 'http://127.0.0.1:1';
SET redtrack.aws_access_key_id = 'AKIDREGRESS';
SET redtrack.aws_secret_access_key = 'regress-secret';

-- rrr_export_query: required arguments, format
SELECT * FROM rrr_export_query(NULL, 'exports/x/');
SELECT * FROM rrr_export_query('SELECT 1', NULL);
SELECT * FROM rrr_export_query('SELECT 1', '');
SELECT * FROM rrr_export_query('SELECT 1', 'exports/x/', 'parquet');
SELECT * FROM rrr_export_query('SELECT 1', 'exports/x/', manifest => '');

-- destinations outside the bucket, or not plain keys
SELECT * FROM rrr_export_query('SELECT 1', 's3://another-bucket/exports/');
SELECT * FROM rrr_export_query('SELECT 1', 's3://regress-bucket-2/exports/');
SELECT * FROM rrr_export_query('SELECT 1', 'https://example.com/exports/');
SELECT * FROM rrr_export_query('SELECT 1', 's3://regress-bucket/');
SELECT * FROM rrr_export_query('SELECT 1', '/exports/');
SELECT * FROM rrr_export_query('SELECT 1', 'exports/../../etc/');
SELECT * FROM rrr_export_query('SELECT 1', 'exports/./x/');
SELECT * FROM rrr_export_query('SELECT 1', 'exports//x/');
SELECT * FROM rrr_export_query('SELECT 1', E'exports/\nx/');
SELECT * FROM rrr_export_query('SELECT 1', 'redtrack/mine/');
SELECT * FROM rrr_export_query('SELECT 1', 'exports/x/', manifest => 's3://another-bucket/m.json');
SELECT * FROM rrr_export_query('SELECT 1', 'exports/x/', manifest => '../m.json');
SELECT * FROM rrr_export_query('SELECT 1', 'exports/x/', manifest => 'sub/');
SELECT * FROM rrr_export_query('SELECT 1', 'exports/x/', manifest => 'files.json');
SELECT * FROM rrr_export_query('SELECT 1', 'exports/x/', manifest => 's3://regress-bucket/redtrack/m.json');

-- rrr_load: required arguments, names, format, keys without columns
SELECT rrr_load(NULL, 'exports/x/manifest.json');
SELECT rrr_load('t', NULL);
SELECT rrr_load('', 'exports/x/manifest.json');
SELECT rrr_load('a.b.c', 'exports/x/manifest.json');
SELECT rrr_load('"unterminated', 'exports/x/manifest.json');
SELECT rrr_load(repeat('x', 128), 'exports/x/manifest.json');
SELECT rrr_load('t', 'exports/x/manifest.json', 'xml');
SELECT rrr_load('t', 'exports/x/manifest.json', sortkey => 'a');
SELECT rrr_load('t', 'exports/x/manifest.json', distkey => 'a');
SELECT rrr_load('t', 's3://another-bucket/x/manifest.json');
SELECT rrr_load('t', 'exports/../x/');

-- nothing under redtrack.s3_prefix is a source; no table replication
-- writes is a target
SELECT rrr_load('t', 'redtrack/rv_5fsalaries/1/');
SELECT rrr_load('t', 's3://regress-bucket/redtrack/rv_5fsalaries/1/manifest');
SELECT rrr_load('redtrack.redtrack_loads', 'exports/x/manifest.json');
SELECT rrr_load('"REDTRACK".anything', 'exports/x/manifest.json');

-- an empty redtrack.s3_prefix turns both off
SET redtrack.s3_prefix = '';
SELECT * FROM rrr_export_query('SELECT 1', 'exports/x/');
SELECT rrr_load('t', 'exports/x/manifest.json');
SET redtrack.s3_prefix = 'redtrack';

-- who may call them
CREATE ROLE regress_tools_plain;
SET ROLE regress_tools_plain;
SELECT * FROM rrr_export_query('SELECT 1', 'exports/x/');
SELECT rrr_load('t', 'exports/x/manifest.json');
RESET ROLE;
DROP ROLE regress_tools_plain;

-- the export runs the caller's query with the caller's search_path, read
-- only; the load has the pinned search_path of every other function
SELECT proname, prosecdef, proconfig FROM pg_proc
 WHERE proname IN ('rrr_export_query', 'rrr_load') ORDER BY proname;
