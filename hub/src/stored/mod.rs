//! The value types that server rows hold, in a leaf module (it imports nothing of the hub), so
//! that `db/` can read and write them without depending on `servers/` or `spawner/`, which
//! depend on `db/`: the server's state (`server_state`, the only place that spells the states)
//! and the spawner's record (`workload`).

pub mod server_state;
pub mod workload;

pub use server_state::ServerState;
pub use workload::{Scheme, SpawnerKind, Upstream, WorkloadState};
