-- Freshness workload: a new row, stamped with its commit-side time.
INSERT INTO bench_fresh (changed_at, payload) VALUES (clock_timestamp(), 'inserted by pgbench');
