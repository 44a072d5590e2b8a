//! GPU quota arithmetic, pure: which limits apply to a person, how many GPU-hours a rolling
//! window holds, whether a start fits, when a running session must end, and how long a queued
//! request may wait. The database and the clock stay outside; [`super::meter`] feeds them in.

use crate::config::GpuLimits;

const HOUR_MS: f64 = 3_600_000.0;
const DAY_MS: i64 = 86_400_000;
/// The window `gpu_hours` counts over when no entry says.
pub const DEFAULT_WINDOW_DAYS: u32 = 7;

/// The limits that apply to one person, resolved from their entries.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Effective {
    pub gpus_at_once: Option<u32>,
    pub gpu_servers_at_once: Option<u32>,
    pub gpu_hours: Option<f64>,
    pub window_days: u32,
    pub max_session_hours: Option<f64>,
}

impl Effective {
    pub fn window_ms(&self) -> i64 {
        i64::from(self.window_days) * DAY_MS
    }
}

/// Each field: the user's own entry, else the most generous of their groups' entries, else the
/// default; unset everywhere, no limit. `gpu_hours` and its `window_days` come from the same entry.
pub fn resolve(user: Option<&GpuLimits>, groups: &[GpuLimits], default: &GpuLimits) -> Effective {
    fn most<T: PartialOrd + Copy>(values: impl Iterator<Item = T>) -> Option<T> {
        values.fold(None, |best, v| match best {
            Some(b) if b >= v => Some(b),
            _ => Some(v),
        })
    }
    fn pick<T: PartialOrd + Copy>(
        user: Option<&GpuLimits>,
        groups: &[GpuLimits],
        default: &GpuLimits,
        field: impl Fn(&GpuLimits) -> Option<T>,
    ) -> Option<T> {
        user.and_then(&field).or_else(|| most(groups.iter().filter_map(&field))).or_else(|| field(default))
    }
    let hours_entry = user
        .filter(|u| u.gpu_hours.is_some())
        .or_else(|| {
            groups.iter().filter(|g| g.gpu_hours.is_some()).fold(None, |best: Option<&GpuLimits>, g| {
                match best {
                    Some(b) if b.gpu_hours >= g.gpu_hours => Some(b),
                    _ => Some(g),
                }
            })
        })
        .unwrap_or(default);
    Effective {
        gpus_at_once: pick(user, groups, default, |l| l.gpus_at_once),
        gpu_servers_at_once: pick(user, groups, default, |l| l.gpu_servers_at_once),
        gpu_hours: hours_entry.gpu_hours,
        window_days: hours_entry.window_days.or(default.window_days).unwrap_or(DEFAULT_WINDOW_DAYS),
        max_session_hours: pick(user, groups, default, |l| l.max_session_hours),
    }
}

/// One metered session, as the arithmetic sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metered {
    pub started_at: i64,
    /// `None` while the session runs.
    pub ended_at: Option<i64>,
    /// GPUs held, in thousandths (a whole GPU is 1000; a MIG slice its fraction).
    pub units_milli: i64,
}

impl Metered {
    /// GPU-hours of this session between `from` and `to`.
    pub fn hours_between(&self, from: i64, to: i64) -> f64 {
        let start = self.started_at.max(from);
        let end = self.ended_at.unwrap_or(to).min(to);
        if end <= start {
            return 0.0;
        }
        (end - start) as f64 / HOUR_MS * self.units_milli as f64 / 1000.0
    }
}

/// GPU-hours used in the window that ends `now`.
pub fn used_hours(sessions: &[Metered], window_ms: i64, now: i64) -> f64 {
    sessions.iter().map(|s| s.hours_between(now - window_ms, now)).sum()
}

/// Why a start is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("you may hold at most {limit} GPU(s) at once: you hold {held} and this size needs {asked}")]
    GpusAtOnce { limit: u32, held: u32, asked: u32 },
    #[error("you may run at most {limit} GPU server(s) at once; stop one first")]
    GpuServersAtOnce { limit: u32 },
    #[error("your GPU-hours are used up: {used:.1} of {limit} in the last {window_days} days")]
    GpuHours { limit: f64, used: f64, window_days: u32 },
}

/// What a person holds and has used when they ask for more.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Holding {
    /// Units held by their servers now.
    pub units: u32,
    /// Their servers holding GPUs now.
    pub servers: u32,
    /// GPU-hours used in the window.
    pub used_hours: f64,
}

/// Whether a start asking for `asked` units fits the limits (a start without GPUs always does).
pub fn check_start(limits: &Effective, holding: Holding, asked: u32) -> Result<(), Refusal> {
    if asked == 0 {
        return Ok(());
    }
    if let Some(limit) = limits.gpus_at_once {
        if holding.units + asked > limit {
            return Err(Refusal::GpusAtOnce { limit, held: holding.units, asked });
        }
    }
    if let Some(limit) = limits.gpu_servers_at_once {
        if holding.servers + 1 > limit {
            return Err(Refusal::GpuServersAtOnce { limit });
        }
    }
    if let Some(limit) = limits.gpu_hours {
        // A start needs some time left: at least a minute of the size's GPUs.
        if holding.used_hours + f64::from(asked) / 60.0 > limit {
            return Err(Refusal::GpuHours {
                limit,
                used: holding.used_hours,
                window_days: limits.window_days,
            });
        }
    }
    Ok(())
}

/// Which limit ends a running session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ending {
    /// `max_session_hours` (moved by extensions).
    SessionLength,
    /// The person's GPU-hours run out.
    GpuHours,
    /// Its GPUs stayed idle for `gpu_idle_timeout_minutes`.
    Idle,
}

impl Ending {
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::SessionLength => "session-length",
            Ending::GpuHours => "gpu-hours",
            Ending::Idle => "idle",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Ending::SessionLength, Ending::GpuHours, Ending::Idle].into_iter().find(|e| e.as_str() == s)
    }

    /// Why the server was (or will be) stopped, in words for its owner.
    pub fn reason(self, limits: &Effective, idle_minutes: u64) -> String {
        match self {
            Ending::SessionLength => format!(
                "the GPU session limit of {} h was reached",
                trim(limits.max_session_hours.unwrap_or_default())
            ),
            Ending::GpuHours => format!(
                "the GPU-hours quota ({} h per {} days) is used up",
                trim(limits.gpu_hours.unwrap_or_default()),
                limits.window_days
            ),
            Ending::Idle => format!("its GPUs were idle for {idle_minutes} minutes"),
        }
    }
}

fn trim(hours: f64) -> String {
    let text = format!("{hours:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The first limit that ends a running session, and when: its length limit (`limit_at`), the
/// moment the person's GPU-hours run out at their current rate (`rate_milli`: the units all their
/// open sessions hold), or `idle_since` plus the idle timeout.
pub fn deadline(
    limits: &Effective,
    limit_at: Option<i64>,
    used_hours: f64,
    rate_milli: i64,
    idle: Option<(i64, i64)>,
    now: i64,
) -> Option<(i64, Ending)> {
    let mut candidates = Vec::new();
    if let Some(at) = limit_at {
        candidates.push((at, Ending::SessionLength));
    }
    if let (Some(limit), true) = (limits.gpu_hours, rate_milli > 0) {
        let left_hours = (limit - used_hours).max(0.0);
        let left_ms = left_hours / (rate_milli as f64 / 1000.0) * HOUR_MS;
        candidates.push((now + left_ms.min(i64::MAX as f64 / 4.0) as i64, Ending::GpuHours));
    }
    if let Some((since, timeout_ms)) = idle {
        candidates.push((since + timeout_ms, Ending::Idle));
    }
    candidates.into_iter().min_by_key(|(at, _)| *at)
}

/// How long a queued request may wait: `releases` are the running GPU sessions' deadlines with the
/// units each frees; the requests ahead and this one are served in order from what is free now
/// plus what comes free. `None` when the known deadlines never free enough (sessions without a
/// limit), which the page says as "no estimate".
pub fn estimated_wait(
    releases: &[(i64, u32)],
    free_now: u32,
    ahead_units: u32,
    own_units: u32,
    now: i64,
) -> Option<i64> {
    let need = ahead_units + own_units;
    if free_now >= need {
        return Some(0);
    }
    let mut sorted = releases.to_vec();
    sorted.sort_by_key(|(at, _)| *at);
    let mut have = free_now;
    for (at, units) in sorted {
        have += units;
        if have >= need {
            return Some((at - now).max(0));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const H: i64 = 3_600_000;

    fn limits(gpus: Option<u32>, hours: Option<f64>, days: Option<u32>) -> GpuLimits {
        GpuLimits { gpus_at_once: gpus, gpu_hours: hours, window_days: days, ..GpuLimits::default() }
    }

    #[test]
    fn the_user_entry_wins_then_the_most_generous_group_then_the_default() {
        let default = GpuLimits { max_session_hours: Some(8.0), ..limits(Some(1), Some(30.0), Some(7)) };
        let groups = [limits(Some(2), Some(50.0), Some(14)), limits(Some(4), Some(40.0), None)];
        let e = resolve(None, &groups, &default);
        assert_eq!(e.gpus_at_once, Some(4));
        // GPU-hours and their window come from one entry: 50 h per 14 days.
        assert_eq!((e.gpu_hours, e.window_days), (Some(50.0), 14));
        assert_eq!(e.max_session_hours, Some(8.0));
        let user = limits(Some(1), None, None);
        let e = resolve(Some(&user), &groups, &default);
        assert_eq!(e.gpus_at_once, Some(1));
        assert_eq!(e.gpu_hours, Some(50.0));
        let e = resolve(None, &[], &GpuLimits::default());
        assert_eq!(
            e,
            Effective {
                gpus_at_once: None,
                gpu_servers_at_once: None,
                gpu_hours: None,
                window_days: DEFAULT_WINDOW_DAYS,
                max_session_hours: None
            }
        );
    }

    #[test]
    fn a_window_counts_only_what_falls_inside_it_and_a_mig_slice_its_fraction() {
        let now = 100 * H;
        let sessions = [
            // 10 h of one GPU, 4 of them inside a 24 h window.
            Metered { started_at: now - 30 * H, ended_at: Some(now - 20 * H), units_milli: 1000 },
            // Running for 3 h on a 1g slice of 7.
            Metered { started_at: now - 3 * H, ended_at: None, units_milli: 143 },
            // Two GPUs for half an hour.
            Metered { started_at: now - 2 * H, ended_at: Some(now - 2 * H + H / 2), units_milli: 2000 },
        ];
        let used = used_hours(&sessions, 24 * H, now);
        assert!((used - (4.0 + 3.0 * 0.143 + 1.0)).abs() < 1e-9, "{used}");
        assert!((used_hours(&sessions, 1000 * H, now) - (10.0 + 0.429 + 1.0)).abs() < 1e-9);
    }

    #[test]
    fn a_start_is_refused_by_the_first_limit_it_breaks() {
        let e = Effective {
            gpus_at_once: Some(2),
            gpu_servers_at_once: Some(1),
            gpu_hours: Some(30.0),
            window_days: 7,
            max_session_hours: None,
        };
        let none = Holding { units: 0, servers: 0, used_hours: 0.0 };
        assert_eq!(check_start(&e, none, 2), Ok(()));
        assert_eq!(check_start(&e, none, 3), Err(Refusal::GpusAtOnce { limit: 2, held: 0, asked: 3 }));
        let one = Holding { units: 1, servers: 1, used_hours: 0.0 };
        assert_eq!(check_start(&e, one, 1), Err(Refusal::GpuServersAtOnce { limit: 1 }));
        let spent = Holding { units: 0, servers: 0, used_hours: 29.99 };
        assert!(matches!(check_start(&e, spent, 1), Err(Refusal::GpuHours { .. })));
        assert_eq!(check_start(&e, spent, 0), Ok(()), "a CPU start is never a GPU quota matter");
        let message = check_start(&e, spent, 1).unwrap_err().to_string();
        assert_eq!(message, "your GPU-hours are used up: 30.0 of 30 in the last 7 days");
    }

    #[test]
    fn the_first_limit_to_arrive_ends_the_session() {
        let e = Effective {
            gpus_at_once: None,
            gpu_servers_at_once: None,
            gpu_hours: Some(10.0),
            window_days: 7,
            max_session_hours: Some(8.0),
        };
        let now = 1000 * H;
        // 6 h used, 2 GPUs running: the hours run out in 2 h, before the 8 h limit (5 h away).
        assert_eq!(
            deadline(&e, Some(now + 5 * H), 6.0, 2000, None, now),
            Some((now + 2 * H, Ending::GpuHours))
        );
        // One GPU: 4 h left, the length limit comes first.
        assert_eq!(
            deadline(&e, Some(now + 3 * H), 6.0, 1000, None, now),
            Some((now + 3 * H, Ending::SessionLength))
        );
        // Idle since an hour ago with a 90 min timeout: 30 min from now.
        assert_eq!(
            deadline(&e, Some(now + 3 * H), 6.0, 1000, Some((now - H, 90 * 60_000)), now),
            Some((now + H / 2, Ending::Idle))
        );
        let free = Effective { gpu_hours: None, max_session_hours: None, ..e };
        assert_eq!(deadline(&free, None, 6.0, 1000, None, now), None);
        assert_eq!(Ending::SessionLength.reason(&e, 0), "the GPU session limit of 8 h was reached");
        assert_eq!(Ending::GpuHours.reason(&e, 0), "the GPU-hours quota (10 h per 7 days) is used up");
    }

    #[test]
    fn a_wait_is_estimated_from_the_running_sessions_deadlines() {
        let now = 0;
        let releases = [(3 * H, 1), (H, 1), (2 * H, 2)];
        assert_eq!(estimated_wait(&releases, 0, 0, 1, now), Some(H));
        // Two ahead of us, one unit each: the third unit frees at 2 h.
        assert_eq!(estimated_wait(&releases, 0, 2, 1, now), Some(2 * H));
        assert_eq!(estimated_wait(&releases, 1, 0, 1, now), Some(0));
        assert_eq!(estimated_wait(&releases, 0, 4, 1, now), None, "never enough known releases");
    }

    proptest! {
        /// Usage is additive over windows and never exceeds units × window.
        #[test]
        fn usage_is_bounded_and_monotone_in_the_window(
            spans in prop::collection::vec((0i64..200, 0i64..50, prop::option::of(0i64..60), 1i64..3000), 0..20),
            window in 1i64..300,
        ) {
            let now = 300 * H;
            let sessions: Vec<Metered> = spans.iter().map(|&(start, _, len, units)| Metered {
                started_at: start * H,
                ended_at: len.map(|l| (start + l) * H),
                units_milli: units,
            }).collect();
            let small = used_hours(&sessions, window * H, now);
            let large = used_hours(&sessions, (window + 10) * H, now);
            prop_assert!(small <= large + 1e-9);
            let bound: f64 = sessions.iter().map(|s| s.units_milli as f64 / 1000.0).sum::<f64>() * window as f64;
            prop_assert!(small <= bound + 1e-9);
            prop_assert!(small >= 0.0);
        }

        /// Whatever the holding, a start the check accepts stays within every limit.
        #[test]
        fn an_accepted_start_stays_within_the_limits(
            limit in 0u32..6, servers_limit in 0u32..4, hours in 0u32..40,
            units in 0u32..6, servers in 0u32..4, used in 0u32..45, asked in 1u32..4,
        ) {
            let e = Effective { gpus_at_once: Some(limit), gpu_servers_at_once: Some(servers_limit),
                                gpu_hours: Some(f64::from(hours)), window_days: 7, max_session_hours: None };
            let holding = Holding { units, servers, used_hours: f64::from(used) };
            if check_start(&e, holding, asked).is_ok() {
                prop_assert!(units + asked <= limit);
                prop_assert!(servers < servers_limit);
                prop_assert!(f64::from(used) < f64::from(hours));
            }
        }
    }
}
