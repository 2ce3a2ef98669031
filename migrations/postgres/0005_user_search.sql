-- Lockstep with migrations/sqlite/0005 (the FTS5 trigram index for user search). PostgreSQL
-- already indexes users.search_text with pg_trgm (0001): nothing to do.
SELECT 1;
