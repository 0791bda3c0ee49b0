-- Freshness workload: an existing row changed, stamped with its commit-side time.
\set id random(1, 100000)
UPDATE bench_fresh SET changed_at = clock_timestamp(), version = version + 1 WHERE id = :id;
