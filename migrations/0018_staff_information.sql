-- The yearly information to staff that loggkontroll is done (seed 002: the närmaste chef
-- informs the staff at hiring and every year): one row per unit and year, made when the year
-- begins, confirmed by the chef with the day they informed and how.
CREATE TABLE staff_information (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    unit_id      TEXT   NOT NULL,
    year         BIGINT NOT NULL,
    created_at   TEXT   NOT NULL,
    informed_on  TEXT,
    how          TEXT,
    confirmed_at TEXT,
    confirmed_by TEXT,
    UNIQUE (unit_id, year)
);
