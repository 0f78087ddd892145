#!/usr/bin/env python3
"""DuckDB's side of the `analyze` benchmark (BENCHMARKS.md): the same rules as
`loggvakt analyze`, in SQL, over the files `examples/gen_extract.rs` writes.

    python3 -m venv /tmp/duckvenv && /tmp/duckvenv/bin/pip install duckdb
    /usr/bin/time -v /tmp/duckvenv/bin/python benches/analyze_duckdb.py /tmp/extract /tmp/duck-out
    # without the check-digit validation, DuckDB's best case:
    /tmp/duckvenv/bin/python benches/analyze_duckdb.py /tmp/extract /tmp/duck-out --no-check-digit

Reads DIR/extract.csv, staff.csv, protected.csv and watchlist.csv; writes OUT/flags.csv (one
row per flagged line: line, time, user_id, patient_id, codes, reasons) and OUT/users.csv
(distinct patients per user and the volume_spike verdict against the unit's median).
Both of gen_extract's profiles are covered: `--profile region` changes the data (shifts
around the clock, reads across units, about 45 % of the rows flagged), not the rules.

The SQL covers what the generated data needs and no more: the default hours (Mon–Fri
07:00–18:00, holidays off) and the night teams' `mon-sun 21:00-07:30 holidays`, unit ids
against unit names folded (å/ä → a, ö → o, space → -), surnames as the last word, row
validation (time, personnummer check digit, action). DuckDB gets every advantage: all
cores, no malformed-row reporting, no per-unit ancestry. Line numbers are
row_number() OVER () + 1, which follows the file order under DuckDB's default
preserve_insertion_order.
"""

import datetime as dt
import os
import sys
import time

import duckdb


def easter(year: int) -> dt.date:
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l) // 451
    month = (h + l - 7 * m + 114) // 31
    day = (h + l - 7 * m + 114) % 31 + 1
    return dt.date(year, month, day)


def holidays(year: int) -> list[dt.date]:
    """Public and de facto Swedish holidays, as core/calendar.rs has them (from 2005)."""
    e = easter(year)
    midsommardagen = next(dt.date(year, 6, d) for d in range(20, 27) if dt.date(year, 6, d).weekday() == 5)
    alla_helgon = next(
        d for d in (dt.date(year, 10, 31) + dt.timedelta(days=k) for k in range(7)) if d.weekday() == 5
    )
    return [
        dt.date(year, 1, 1), dt.date(year, 1, 6), e - dt.timedelta(days=2), e,
        e + dt.timedelta(days=1), dt.date(year, 5, 1), e + dt.timedelta(days=39),
        e + dt.timedelta(days=49), dt.date(year, 6, 6), midsommardagen,
        midsommardagen - dt.timedelta(days=1), alla_helgon, dt.date(year, 12, 24),
        dt.date(year, 12, 25), dt.date(year, 12, 26), dt.date(year, 12, 31),
    ]


def luhn_sql(p: str) -> str:
    """The check digit of a 12-digit personnummer column, as SQL."""
    terms = []
    for i in range(9):
        digit = f"(ascii(substr({p}, {i + 3}, 1)) - 48)"
        if i % 2 == 0:
            terms.append(f"((2 * {digit}) // 10 + (2 * {digit}) % 10)")
        else:
            terms.append(digit)
    return f"((10 - ({' + '.join(terms)}) % 10) % 10) = (ascii(substr({p}, 12, 1)) - 48)"


def fold(x: str) -> str:
    return (
        f"replace(replace(replace(replace(lower({x}), 'å', 'a'), 'ä', 'a'), 'ö', 'o'), ' ', '-')"
    )


def main() -> None:
    src, out = sys.argv[1], sys.argv[2]
    check_digit = "--no-check-digit" not in sys.argv[3:]
    os.makedirs(out, exist_ok=True)
    con = duckdb.connect()
    started = time.monotonic()
    days = [d for y in (2026, 2027, 2028) for d in holidays(y)]
    con.execute("CREATE TABLE holidays(d DATE PRIMARY KEY)")
    con.executemany("INSERT OR IGNORE INTO holidays VALUES (?)", [(d,) for d in days])
    con.execute(f"""
        CREATE TABLE staff AS
        SELECT id, name, unit, cosmic AS username, replace(personnummer, '-', '') AS pnr,
               coalesce(working_hours, '') AS working_hours,
               lower(regexp_extract(name, '(\\S+)$', 1)) AS surname
        FROM read_csv('{src}/staff.csv', header = true, all_varchar = true)
    """)
    con.execute(f"""CREATE TABLE protected AS SELECT DISTINCT replace(personnummer, '-', '') AS pnr
                    FROM read_csv('{src}/protected.csv', header = true, all_varchar = true)""")
    con.execute(f"""CREATE TABLE watchlist AS SELECT DISTINCT replace(personnummer, '-', '') AS pnr
                    FROM read_csv('{src}/watchlist.csv', header = true, all_varchar = true)""")
    extract = f"""read_csv('{src}/extract.csv', header = true, all_varchar = true,
                  columns = {{'time': 'VARCHAR', 'system': 'VARCHAR', 'user_id': 'VARCHAR',
                  'user_name': 'VARCHAR', 'patient_id': 'VARCHAR', 'patient_name': 'VARCHAR',
                  'care_unit': 'VARCHAR', 'action': 'VARCHAR', 'event_text': 'VARCHAR',
                  'system_part': 'VARCHAR'}})"""
    con.execute(f"""
        COPY (
          WITH raw AS (
            SELECT row_number() OVER () + 1 AS line, *,
                   try_strptime(time, '%Y-%m-%dT%H:%M:%S') AS t,
                   replace(patient_id, '-', '') AS pnr
            FROM {extract}
          ),
          ev AS (
            SELECT * FROM raw
            WHERE t IS NOT NULL AND regexp_full_match(pnr, '[0-9]{{12}}')
              AND {luhn_sql('pnr') if check_digit else 'true'}
              AND action IN ('read', 'write', 'create', 'sign', 'print', 'delete',
                             'emergency_open', 'other')
          ),
          checked AS (
            SELECT ev.line, ev.time, ev.user_id, ev.pnr, ev.t, ev.care_unit, s.unit, s.id AS staff,
              CASE WHEN s.working_hours = 'mon-sun 21:00-07:30 holidays'
                   THEN NOT (hour(ev.t) * 60 + minute(ev.t) >= 1260 OR hour(ev.t) * 60 + minute(ev.t) < 450)
                   ELSE isodow(ev.t) > 5 OR h.d IS NOT NULL
                        OR hour(ev.t) * 60 + minute(ev.t) < 420 OR hour(ev.t) * 60 + minute(ev.t) >= 1080
              END AS off_hours,
              coalesce(s.pnr = ev.pnr, false) AS self_access,
              coalesce(s.pnr <> ev.pnr AND s.surname = lower(regexp_extract(ev.patient_name, '(\\S+)$', 1)), false) AS same_surname,
              coworker.pnr IS NOT NULL AND coalesce(s.pnr, '') <> ev.pnr AS coworker,
              p.pnr IS NOT NULL AS protected_identity,
              w.pnr IS NOT NULL AS watchlist,
              s.id IS NOT NULL AND coalesce(ev.care_unit, '') NOT IN ('', 'Ej tillämplig på enhet')
                AND {fold('ev.care_unit')} <> s.unit AS no_care_relation
            FROM ev
            LEFT JOIN staff s ON ev.system = 'cosmic' AND s.username = ev.user_id
            LEFT JOIN holidays h ON h.d = CAST(ev.t AS DATE)
            LEFT JOIN staff coworker ON coworker.pnr = ev.pnr
            LEFT JOIN protected p ON p.pnr = ev.pnr
            LEFT JOIN watchlist w ON w.pnr = ev.pnr
          )
          SELECT line, time, user_id, pnr AS patient_id,
            concat_ws(';',
              CASE WHEN off_hours THEN 'off_hours' END,
              CASE WHEN self_access THEN 'self_access' END,
              CASE WHEN same_surname THEN 'same_surname' END,
              CASE WHEN coworker THEN 'coworker' END,
              CASE WHEN protected_identity THEN 'protected_identity' END,
              CASE WHEN watchlist THEN 'watchlist' END,
              CASE WHEN no_care_relation THEN 'no_care_relation' END) AS codes,
            concat_ws('; ',
              CASE WHEN off_hours THEN 'Öppnad ' || strftime(t, '%A %H:%M') || ', utanför arbetstiden' END,
              CASE WHEN self_access THEN 'Användaren har öppnat sin egen journal' END,
              CASE WHEN same_surname THEN 'Samma efternamn som användaren' END,
              CASE WHEN coworker THEN 'Patienten är anställd' END,
              CASE WHEN protected_identity THEN 'Patienten har skyddad identitet' END,
              CASE WHEN watchlist THEN 'Patienten finns på bevakningslistan' END,
              CASE WHEN no_care_relation THEN 'Vårdenheten ' || care_unit || ' hör inte till användarens enhet' END) AS reasons
          FROM checked
          WHERE off_hours OR self_access OR same_surname OR coworker OR protected_identity
                OR watchlist OR no_care_relation
          ORDER BY line
        ) TO '{out}/flags.csv' (HEADER)
    """)
    flagged_at = time.monotonic()
    con.execute(f"""
        COPY (
          WITH per_user AS (
            SELECT e.system, e.user_id, any_value(s.unit) AS unit, count(*) AS rows,
                   count(DISTINCT e.patient_id) AS distinct_patients
            FROM {extract} e
            LEFT JOIN staff s ON e.system = 'cosmic' AND s.username = e.user_id
            GROUP BY e.system, e.user_id
          ),
          unit_median AS (
            SELECT unit, median(distinct_patients) AS m, count(*) AS n FROM per_user GROUP BY unit
          ),
          all_median AS (SELECT median(distinct_patients) AS m FROM per_user)
          SELECT u.*, CASE WHEN um.n > 4 THEN um.m ELSE a.m END AS median,
                 u.distinct_patients >= 15
                   AND u.distinct_patients > 3 * CASE WHEN um.n > 4 THEN um.m ELSE a.m END AS volume_spike
          FROM per_user u LEFT JOIN unit_median um ON um.unit = u.unit CROSS JOIN all_median a
          ORDER BY u.system, u.user_id
        ) TO '{out}/users.csv' (HEADER)
    """)
    done = time.monotonic()
    print(
        f"duckdb {duckdb.__version__}: flags {flagged_at - started:.2f} s, "
        f"per-user {done - flagged_at:.2f} s, total {done - started:.2f} s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
