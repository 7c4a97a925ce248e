//! The one way scripts declare things: recipes, stages and spins by upper-case top-level
//! constants, targets by the fields of the map they end with. Each kind of script has a
//! schema; reading checks every name and value against it, reports all problems at once with
//! a guess for a misspelt name, and deserializes the values into the script's typed struct.

use rhai::{Array, Dynamic, Map};
use serde::de::DeserializeOwned;

use crate::problems::Problems;
use crate::suggest::closest;

/// What a declaration's value must be.
#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Text,
    Texts,
    List,
    Table,
    Flag,
    /// A map whose values are arrays of strings (a spin's PACKAGES).
    TextsByName,
}

/// One declaration a script may make.
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    /// Whether leaving it out is an error rather than its default.
    pub required: bool,
    pub doc: &'static str,
}

/// A field scripts may leave out.
pub const fn optional(name: &'static str, kind: Kind, doc: &'static str) -> Field {
    Field {
        name,
        kind,
        required: false,
        doc,
    }
}

/// A field scripts must give.
pub const fn required(name: &'static str, kind: Kind, doc: &'static str) -> Field {
    Field {
        name,
        kind,
        required: true,
        doc,
    }
}

/// The declarations of one kind of script.
pub struct Schema {
    /// How messages call one of its declarations: "declaration", "stage declaration", ...
    pub what: &'static str,
    /// The declaration holding the fields (a target's fields are in its final map: "").
    pub within: Option<&'static str>,
    pub fields: &'static [Field],
}

impl Kind {
    /// The Rhai type a value of this kind has, for editors' definitions.
    pub fn rhai_type(self) -> &'static str {
        match self {
            Kind::Text => "String",
            Kind::Texts | Kind::List => "Array",
            Kind::Table | Kind::TextsByName => "Map",
            Kind::Flag => "bool",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Text => "a string",
            Kind::Texts => "an array of strings",
            Kind::List => "an array",
            Kind::Table | Kind::TextsByName => "a map",
            Kind::Flag => "true or false",
        }
    }

    fn holds(self, value: &Dynamic) -> bool {
        let all_text = |value: &Dynamic| {
            value
                .read_lock::<Array>()
                .is_some_and(|items| items.iter().all(Dynamic::is_string))
        };
        match self {
            Kind::Text => value.is_string(),
            Kind::Texts => all_text(value),
            Kind::List => value.is_array(),
            Kind::Table => value.is_map(),
            Kind::TextsByName => value
                .read_lock::<Map>()
                .is_some_and(|map| map.values().all(all_text)),
            Kind::Flag => value.is_bool(),
        }
    }

    fn default(self) -> Dynamic {
        match self {
            Kind::Text => Dynamic::from(String::new()),
            Kind::Texts | Kind::List => Dynamic::from(Array::new()),
            Kind::Table | Kind::TextsByName => Dynamic::from(Map::new()),
            Kind::Flag => Dynamic::FALSE,
        }
    }
}

impl Schema {
    pub fn names(&self) -> Vec<&'static str> {
        self.fields.iter().map(|field| field.name).collect()
    }

    /// Checks `values` against the schema and returns every field under its lower-case name,
    /// with the default for those not given. An unknown name, a value of the wrong kind or a
    /// missing required field is reported (and the field left at its default), so that one
    /// run names every problem.
    pub fn read(
        &self,
        values: impl IntoIterator<Item = (String, Dynamic)>,
        problems: &mut Problems,
    ) -> Map {
        let mut read: Map = self
            .fields
            .iter()
            .map(|field| (field.name.to_lowercase().into(), field.kind.default()))
            .collect();
        let mut given = Vec::new();
        for (name, value) in values {
            let Some(field) = self.fields.iter().find(|field| field.name == name) else {
                self.unknown(&name, problems);
                continue;
            };
            given.push(field.name);
            if !field.kind.holds(&value) {
                let message = format!(
                    "{name} must be {}, not {}",
                    field.kind.name(),
                    value.type_name()
                );
                self.problem(&name, problems, message, None);
                continue;
            }
            read.insert(name.to_lowercase().into(), value);
        }
        for field in self.fields.iter().filter(|field| field.required) {
            if !given.contains(&field.name) {
                let message = format!("missing {} `{}`: {}", self.what, field.name, field.doc);
                problems.add(self.within.unwrap_or(field.name), None, message, None);
            }
        }
        read
    }

    /// The values `read` returned as the script's typed struct. The kinds were checked, so
    /// only a deeper shape (a map's keys, a choice among words) can still be wrong; each such
    /// field is reported at its place and left at its default. Empty text counts as not given,
    /// so the struct's default holds.
    pub fn typed<T: DeserializeOwned + Default>(&self, read: &Map, problems: &mut Problems) -> T {
        let mut given: Map = read
            .iter()
            .filter(|(_, value)| !(value.is_string() && value.to_string().is_empty()))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        loop {
            let value = Dynamic::from(given.clone());
            let deserializer = rhai::serde::DynamicDeserializer::new(&value);
            let error = match serde_path_to_error::deserialize(deserializer) {
                Ok(typed) => return typed,
                Err(error) => error,
            };
            let path = error.path().to_string();
            let top = path.split('.').next().unwrap_or_default().to_string();
            self.misshapen(&path, &error.inner().to_string(), problems);
            if given.remove(top.as_str()).is_none() {
                return T::default();
            }
        }
    }

    /// Reports what serde found wrong at `path` (`flags.add`), pointing at the name the
    /// message quotes or the path's last step.
    fn misshapen(&self, path: &str, message: &str, problems: &mut Problems) {
        let message = message.trim_start_matches("Syntax error: ");
        let top = path.split('.').next().unwrap_or_default();
        let needle = message
            .split('`')
            .nth(1)
            .or_else(|| path.rsplit('.').next())
            .map(str::to_string);
        let name = match self.within {
            Some(_) => top.to_string(),
            None => top.to_uppercase(),
        };
        let message = format!("{name}: {}", message.trim_end_matches(['.', ' ']));
        match self.within {
            Some(within) => problems.add(within, Some(&format!("{top}:")), message, None),
            None => problems.add(&name, needle.as_deref(), message, None),
        }
    }

    /// An unknown name is most likely a misspelt one, which would otherwise be ignored.
    fn unknown(&self, name: &str, problems: &mut Problems) {
        let known = self.names();
        let help = match closest(name, &known) {
            Some(guess) => format!("did you mean `{guess}`?"),
            None => format!("known: {}", known.join(", ")),
        };
        let message = format!("unknown {} `{name}`", self.what);
        self.problem(name, problems, message, Some(help));
    }

    fn problem(&self, name: &str, problems: &mut Problems, message: String, help: Option<String>) {
        match self.within {
            Some(within) => problems.add(within, Some(&format!("{name}:")), message, help),
            None => problems.add(name, None, message, help),
        }
    }
}
