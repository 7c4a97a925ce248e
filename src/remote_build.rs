//! `serpent remote-build`: the command a remote action runs, inside its input root. It plans
//! the spin there as the client did, refuses to build under any key but the client's, builds
//! the one instance with the usual builder (phases, sandbox, merge) and leaves it in the
//! executing server's cache, from which the client pulls it.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::plan::Status;
use crate::session::Session;

pub fn build(session: &Session, id: &str, expect_key: &str) -> Result<i32> {
    let config = &session.config;
    if config.remote_cache.is_none() || !config.remote_cache_write {
        return Err(Error::Usage(
            "remote-build puts what it builds in the executing server's cache: give it \
             --remote-cache-write and the cache's address (SERPENT_REMOTE_CACHE)"
                .into(),
        ));
    }
    let _lock = session.lock(&config.work_dir)?;
    let plan = session.plan(None)?;
    let index = plan
        .instances
        .iter()
        .position(|instance| instance.id == id)
        .ok_or_else(|| {
            Error::Usage(format!(
                "{id} is not in the plan of the action's input root"
            ))
        })?;
    let instance = &plan.instances[index];
    if instance.key != expect_key {
        return Err(Error::Usage(format!(
            "{id}: this worker keys it {}, the client {}: its serpent or the scripts it was sent differ from the client's",
            short(&instance.key),
            short(expect_key)
        )));
    }
    let unbuilt: Vec<&str> = plan
        .closure(&[index])
        .into_iter()
        .filter(|other| *other != index && plan.instances[*other].status != Status::Built)
        .map(|other| plan.instances[other].id.as_str())
        .collect();
    if !unbuilt.is_empty() {
        return Err(Error::Usage(format!(
            "{id}: the action's input root lacks what it is built on: {}",
            unbuilt.join(", ")
        )));
    }
    let worker = Config {
        worker: Some(crate::remote_exec::worker::worker_name()),
        ..config.clone()
    };
    crate::build::build_selection(session, &worker, &plan, &[index])?;
    Ok(0)
}

fn short(key: &str) -> &str {
    &key[..key.len().min(12)]
}
