-- Queue bloat: one event per transaction, each with a unique user_id.
SELECT rrr_write('bench_bloat', jsonb_build_object('user_id', nextval('bench_bloat_seq'), 'event', 'page_view', 'amount', 12.34, 'at', '2024-05-01T12:00:00Z'));
