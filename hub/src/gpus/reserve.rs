//! One call for a start's GPUs, inside the start's transaction: the owner's limits, the ledger's
//! claim, and the metering session that opens with it. Transitions that end in `stopped` give
//! them back (`ledger::release`, `meter::close`).

use super::ledger::{self, Claim};
use super::limits::Refusal;
use super::{meter, Inventory};
use crate::config::{Config, SizeConfig};
use crate::db::DbConn;

/// What a start asks for.
pub struct Ask<'a> {
    pub server_id: i64,
    pub user_id: i64,
    pub user: &'a str,
    pub server: &'a str,
    pub size: &'a SizeConfig,
    /// Servers wait in the queue already: a GPU start goes behind them (its limits still apply).
    pub behind_queue: bool,
}

/// The answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reservation {
    /// These units are the server's now, metered from now on (none for a size without GPUs).
    Granted(Vec<String>),
    /// Over one of the owner's limits.
    Refused(Refusal),
    /// Within the limits, but no suitable unit is free (or others wait first): queue.
    NoneFree,
}

pub async fn reserve(
    conn: &mut DbConn,
    config: &Config,
    inventory: &Inventory,
    ask: Ask<'_>,
    now: i64,
) -> Result<Reservation, sqlx::Error> {
    if let Err(refusal) = meter::check_start(conn, config, ask.user_id, ask.user, ask.size.gpus, now).await? {
        return Ok(Reservation::Refused(refusal));
    }
    if ask.behind_queue && ask.size.gpus > 0 {
        return Ok(Reservation::NoneFree);
    }
    match ledger::claim(conn, inventory, ask.server_id, ask.size, now).await? {
        Claim::NoneFree => Ok(Reservation::NoneFree),
        Claim::Claimed(gpus) => {
            meter::open(
                conn,
                config,
                inventory,
                ask.server_id,
                ask.user_id,
                ask.user,
                ask.server,
                &ask.size.id,
                &gpus,
                now,
            )
            .await?;
            Ok(Reservation::Granted(gpus))
        }
    }
}
