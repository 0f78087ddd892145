-- A case's loggavvikelse (seed 003): what was seen, which accesses, the employee's
-- explanation and the chief's assessment. Every save is kept; the case shows the latest.
CREATE TABLE case_deviations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id     BIGINT NOT NULL REFERENCES cases (id),
    seen        TEXT   NOT NULL,
    accesses    TEXT   NOT NULL,
    explanation TEXT   NOT NULL,
    assessment  TEXT   NOT NULL,
    at          TEXT   NOT NULL,
    by_actor    TEXT   NOT NULL
);
CREATE INDEX case_deviations_case ON case_deviations (case_id, id);
