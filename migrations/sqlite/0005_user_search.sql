-- Substring search on users (name or email) indexed on SQLite too: an FTS5 trigram index over
-- users.search_text (external content), kept in step by triggers. PostgreSQL has pg_trgm (0001).
CREATE VIRTUAL TABLE users_search USING fts5(search_text, content = 'users', content_rowid = 'rowid', tokenize = 'trigram');
INSERT INTO users_search (rowid, search_text) SELECT rowid, search_text FROM users;

CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_search (rowid, search_text) VALUES (new.rowid, new.search_text);
END;

CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN
    INSERT INTO users_search (users_search, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
END;

CREATE TRIGGER users_search_update AFTER UPDATE OF search_text ON users BEGIN
    INSERT INTO users_search (users_search, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
    INSERT INTO users_search (rowid, search_text) VALUES (new.rowid, new.search_text);
END;
