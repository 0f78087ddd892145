-- Two indexes of access_events that no query uses, each costing a streamed import an index
-- write per row (on PostgreSQL the (draw_id, user_id) one alone doubled the time of a bulk
-- insert): `access_events_order` (order_id) is covered by the unique index on
-- (order_id, source_line), whose first column serves every lookup by order; and every
-- reader finds a draw's events through its orders (`orders.draw_id`), never by the event's
-- own copy of the draw id.
DROP INDEX access_events_order;
DROP INDEX access_events_draw;
