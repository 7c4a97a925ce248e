use serde::Deserialize;

/// Where a recipe's commands run: on the host, or in its stage's rootless chroot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    #[default]
    Host,
    Chroot,
}

impl Isolation {
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Host => "host",
            Isolation::Chroot => "chroot",
        }
    }
}
