-- Staff from the directory and reconciliation (issue 13): the latest comparison of each
-- system's exported user list with the staff register. The register itself is the
-- configuration's staff CSV; leavers stay in it with their last day.
CREATE TABLE staff_reconciliations (
    system      TEXT   NOT NULL PRIMARY KEY,
    file_name   TEXT   NOT NULL,
    listed      BIGINT NOT NULL,
    unknown     TEXT   NOT NULL,                -- JSON array of usernames
    stale       TEXT   NOT NULL,                -- JSON array of [staff_id, username]
    made_by     TEXT   NOT NULL,
    made_at     TEXT   NOT NULL
);
