//! How much a script may do and hold, shared by the engine that enforces it and the errors
//! that explain it.

/// Limits that stop a runaway script within seconds. They are set explicitly so debug and
/// release builds behave the same. serpent stops a script that passes one of them when it next
/// reads a variable; the engine's own limits, at twice these, catch what that misses.
///
/// Rhai measures a whole array or map again after every change to it, so growing one to n items
/// one at a time costs n²/2 item visits: the array and map limits are what keeps a runaway
/// `push` short. Recipes hold tens of items; a long listing belongs in a file or a command.
pub const MAX_OPERATIONS: u64 = 20_000_000;
pub const MAX_CALL_LEVELS: usize = 48;
pub const MAX_EXPRESSION_DEPTH: usize = 64;
pub const MAX_STRING_SIZE: usize = 8 << 20;
pub const MAX_ARRAY_SIZE: usize = 8 << 10;
pub const MAX_MAP_SIZE: usize = 8 << 10;
pub const MAX_MODULES: usize = 256;
