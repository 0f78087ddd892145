-- Coverage cycles (DESIGN.md §5): who in a draw's population was already checked in the
-- current cycle, as a JSON array of staff ids. Earlier draws had none.
ALTER TABLE draws ADD COLUMN checked TEXT NOT NULL DEFAULT '[]';
