-- Write API: the same event through rrr_write (validated against the stream).
\set u random(1, 1000000)
SELECT rrr_write('bench_events', '{"user_id": :u, "event": "page_view", "amount": 12.34, "at": "2024-05-01T12:00:00Z"}');
