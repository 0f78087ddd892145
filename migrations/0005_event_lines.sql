-- Each stored event remembers the line (or position) it had in its delivery, and an order
-- holds at most one event per line: a delivery stored twice by racing imports fails here
-- instead of doubling the rows. Rows stored before this column existed keep NULL, which a
-- unique index does not compare.
ALTER TABLE access_events ADD COLUMN source_line BIGINT;
CREATE UNIQUE INDEX access_events_order_line ON access_events (order_id, source_line);
