//! Integration tests: each drives the real `serpent` binary against a throw-away project.

mod server;
mod tarball;
mod test;

mod bootstrap;
mod check;
mod chroot;
mod code_shape;
mod completions;
mod conflict;
mod containment;
mod declared;
mod definitions;
mod doctor;
mod env;
mod errors;
mod explain;
mod fetch;
mod file_functions;
mod getconf_getent;
mod graph;
mod man;
mod merge;
mod new;
mod patch;
mod recipe_files;
mod remote_cache;
mod report;
mod resume;
mod sandbox;
mod sbom;
mod single_recipes;
mod spin_bases;
mod timeline;
mod unpack;
mod verify;
