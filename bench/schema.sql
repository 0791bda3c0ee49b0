-- The benchmark's row shape: about 150 bytes of CSV per row, mixed types
-- (bigint, integer, text, numeric, double, boolean, timestamptz, NULLs,
-- quotes and commas that CSV must escape).  Deterministic: row g is always
-- the same, so every run and every tool reads the same data.
--
--   psql -v tbl=bench_1000000 -f bench/schema.sql    creates the empty table
--   INSERT INTO bench_1000000 SELECT * FROM bench_rows(1, 1000000);

CREATE OR REPLACE FUNCTION bench_rows(lo bigint, hi bigint)
RETURNS TABLE (id bigint, account_id integer, email text, name text,
               amount numeric(12,2), score double precision, active boolean,
               status text, created_at timestamptz, updated_at timestamptz,
               note text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT g,
       ((g * 7919) % 100000)::integer,
       'user' || g || '@mail' || (g % 97) || '.com',
       initcap(substr(md5(g::text), 1, 8)) || ' ' || initcap(substr(md5(g::text), 9, 6)),
       ((g * 37) % 1000000) / 100.0,
       (g % 10007) / 7.0,
       g % 3 <> 0,
       (ARRAY['active', 'pending', 'closed', 'suspended'])[g % 4 + 1],
       timestamptz '2020-01-01 00:00:00+00' + g * interval '17 seconds',
       timestamptz '2023-01-01 00:00:00+00' + g * interval '3 seconds',
       CASE WHEN g % 10 = 0 THEN NULL
            ELSE 'note "' || substr(md5((g * 3)::text), 1, 8) || '", ln ' || g % 1000 END
FROM generate_series(lo, hi) AS g
$$;

-- No indexes yet: bench/gen_table.sh adds them after the bulk load.
DROP TABLE IF EXISTS :"tbl";
CREATE TABLE :"tbl" (
    id bigint NOT NULL,
    account_id integer NOT NULL,
    email text NOT NULL,
    name text,
    amount numeric(12,2),
    score double precision,
    active boolean,
    status text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    note text
);
