//! Integration tests: each drives the real `serpent` binary against a throw-away project.

mod server;
mod tarball;
mod test;

mod check;
mod chroot;
mod errors;
mod fetch;
mod graph;
mod musl;
mod new;
mod patch;
mod sandbox;
mod unpack;
