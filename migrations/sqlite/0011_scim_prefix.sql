-- Twin of migrations/postgres/0011 (a "C"-collated prefix index for `userName sw`). SQLite
-- answers `sw` from the FTS5 trigram index of 0010: nothing to add.
SELECT 1;
