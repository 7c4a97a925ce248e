/// One line of `serpent doctor`: what was checked, and what was found or how to fix a miss.
pub struct Check {
    pub name: String,
    pub outcome: Outcome,
}

pub enum Outcome {
    Ok(String),
    Missing { found: String, fix: String },
}

impl Check {
    pub fn ok(name: impl Into<String>, found: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            outcome: Outcome::Ok(found.into()),
        }
    }

    pub fn missing(
        name: impl Into<String>,
        found: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            name: name.into(),
            outcome: Outcome::Missing {
                found: found.into(),
                fix: fix.into(),
            },
        }
    }

    pub fn is_ok(&self) -> bool {
        matches!(self.outcome, Outcome::Ok(_))
    }

    /// `ok      NAME: FOUND` or `missing NAME: FOUND; fix: FIX`.
    pub fn line(&self) -> String {
        match &self.outcome {
            Outcome::Ok(found) => format!("ok      {}: {found}", self.name),
            Outcome::Missing { found, fix } => {
                format!("missing {}: {found}; fix: {fix}", self.name)
            }
        }
    }
}
