//! Work in the database that belongs to a unit or a system: what a configuration that drops
//! (or renames) the unit or system would leave behind.

use std::fmt::Write;

/// Whose work it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Owner {
    Unit,
    System,
}

impl Owner {
    pub fn as_str(self) -> &'static str {
        match self {
            Owner::Unit => "unit",
            Owner::System => "system",
        }
    }

    pub fn label_sv(self) -> &'static str {
        match self {
            Owner::Unit => "Enheten",
            Owner::System => "Systemet",
        }
    }
}

/// Counts of one unit's or system's open work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenWork {
    pub owner: Owner,
    pub id: String,
    /// Draws planned or running, not yet run.
    pub draws: i64,
    /// Orders not yet delivered.
    pub orders: i64,
    /// Review tasks still open.
    pub tasks: i64,
}

impl OpenWork {
    /// The work in words: `2 draw(s) not yet run, 1 open task(s)`.
    pub fn describe(&self) -> String {
        self.words([
            "draw(s) not yet run",
            "order(s) not delivered",
            "open task(s)",
        ])
    }

    /// The same in Swedish, for the admin page.
    pub fn describe_sv(&self) -> String {
        self.words([
            "dragning(ar) som inte har körts",
            "beställning(ar) som inte har levererats",
            "öppen/öppna granskning(ar)",
        ])
    }

    fn words(&self, names: [&str; 3]) -> String {
        let mut out = String::new();
        for (n, name) in [self.draws, self.orders, self.tasks].into_iter().zip(names) {
            if n > 0 {
                if !out.is_empty() {
                    out.push_str(", ");
                }
                let _ = write!(out, "{n} {name}");
            }
        }
        out
    }
}
