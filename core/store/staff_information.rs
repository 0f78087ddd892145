//! The yearly staff information per unit: made once per unit and year, confirmed once.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Result, Store, StoreError, WriteTx, opt_ts, parse_date, parse_ts, ts};
use crate::ident::UnitId;
use crate::model::staff_information::{Confirmation, StaffInformation};

const COLUMNS: &str = "id, unit_id, year, created_at, informed_on, how, confirmed_at, confirmed_by";

fn from_row(row: &AnyRow) -> Result<StaffInformation> {
    let id: i64 = row.try_get("id")?;
    let unit: String = row.try_get("unit_id")?;
    let year: i64 = row.try_get("year")?;
    let informed: Option<String> = row.try_get("informed_on")?;
    let confirmation = match (informed, opt_ts(row, "confirmed_at")?) {
        (Some(on), Some(at)) => Some(Confirmation {
            informed_on: parse_date(&on)?,
            how: row.try_get::<Option<String>, _>("how")?.unwrap_or_default(),
            confirmed_at: at,
            confirmed_by: row
                .try_get::<Option<String>, _>("confirmed_by")?
                .unwrap_or_default(),
        }),
        _ => None,
    };
    Ok(StaffInformation {
        id,
        unit: UnitId::new(&unit)
            .map_err(|e| StoreError::Corrupt(format!("staff information {id}: {e}")))?,
        year: i32::try_from(year)
            .map_err(|e| StoreError::Corrupt(format!("staff information {id}: {e}")))?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        confirmation,
    })
}

impl WriteTx {
    /// Makes a unit's record for `year`; false when it is there already.
    pub async fn insert_staff_information(&mut self, unit: &str, year: i32) -> Result<bool> {
        let id = self
            .insert_id(
                sqlx::query(
                    "INSERT INTO staff_information (unit_id, year, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT DO NOTHING RETURNING id",
                )
                .bind(unit)
                .bind(i64::from(year))
                .bind(ts(self.at)),
            )
            .await?;
        Ok(id.is_some())
    }

    /// Confirms a record; false when it was confirmed already.
    pub async fn confirm_staff_information(
        &mut self,
        id: i64,
        informed_on: NaiveDate,
        how: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        self.exec_one(
            sqlx::query(
                "UPDATE staff_information SET informed_on = $1, how = $2, confirmed_at = $3, \
                 confirmed_by = $4 WHERE id = $5 AND confirmed_at IS NULL",
            )
            .bind(informed_on.to_string())
            .bind(how)
            .bind(ts(at))
            .bind(self.actor.clone())
            .bind(id),
        )
        .await
    }
}

impl Store {
    /// How many units have their record for `year` (to skip the yearly pass when done).
    pub async fn staff_information_count(&self, year: i32) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM staff_information WHERE year = $1")
            .bind(i64::from(year))
            .fetch_one(self.pool())
            .await?;
        Ok(n)
    }

    /// The records of `year`, by unit.
    pub async fn staff_information(&self, year: i32) -> Result<Vec<StaffInformation>> {
        let sql =
            format!("SELECT {COLUMNS} FROM staff_information WHERE year = $1 ORDER BY unit_id");
        self.fetch_vec(
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(i64::from(year)),
            from_row,
        )
        .await
    }

    pub async fn staff_information_by_id(&self, id: i64) -> Result<Option<StaffInformation>> {
        self.fetch_by_id("staff_information", COLUMNS, id, from_row)
            .await
    }

    /// The day a unit's staff were last informed, any year.
    pub async fn last_informed(&self, unit: &str) -> Result<Option<NaiveDate>> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT MAX(informed_on) FROM staff_information WHERE unit_id = $1")
                .bind(unit)
                .fetch_optional(self.pool())
                .await?;
        row.and_then(|(d,)| d)
            .as_deref()
            .map(parse_date)
            .transpose()
    }
}
