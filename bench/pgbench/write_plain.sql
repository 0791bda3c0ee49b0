-- Write API baseline: one event as a plain INSERT into an equivalent table.
\set u random(1, 1000000)
INSERT INTO bench_plain_events (user_id, event, amount, at) VALUES (:u, 'page_view', 12.34, '2024-05-01T12:00:00Z');
