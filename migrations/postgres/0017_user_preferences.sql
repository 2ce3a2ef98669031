-- A person's console preferences (table layouts: columns, order, widths, page size, sort), kept
-- on the server so that they follow the person from browser to browser. One JSON document per
-- user, read back through its parser (`domain::Preferences`).
CREATE TABLE user_preferences (
    user_id     TEXT PRIMARY KEY REFERENCES users(id),
    preferences TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
