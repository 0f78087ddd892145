-- When a session was last used, so that one left idle ends before its expiry.
ALTER TABLE sessions ADD COLUMN last_seen TEXT;
