//! Processes as the local spawner knows them: identities that survive pid reuse (`/proc` start
//! times), descendants, signals.

/// A process identity: the pid and its start time (clock ticks since boot, `/proc/PID/stat`
/// field 22), so that a pid the kernel has reused is not taken for ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessId {
    pub pid: i32,
    pub start_time: u64,
}

impl ProcessId {
    /// Parses a pid file: `PID START_TIME`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split_whitespace();
        let pid: i32 = parts.next()?.parse().ok()?;
        let start_time = parts.next()?.parse().ok()?;
        (pid > 1 && parts.next().is_none()).then_some(Self { pid, start_time })
    }

    pub(super) fn render(&self) -> String {
        format!("{} {}\n", self.pid, self.start_time)
    }

    /// Whether this very process still runs (not a zombie, not a reused pid).
    pub(super) fn alive(&self) -> bool {
        read_stat(self.pid).is_some_and(|s| s.start_time == self.start_time && s.state != 'Z')
    }
}

/// The fields of `/proc/PID/stat` the spawner uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub state: char,
    pub ppid: i32,
    pub start_time: u64,
}

/// Parses `/proc/PID/stat`. The command name (field 2) is in parentheses and may itself hold
/// spaces and parentheses, so fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state), so field N is fields[N - 3].
    let state = fields.first()?.chars().next()?;
    let ppid = fields.get(1)?.parse().ok()?;
    let start_time = fields.get(19)?.parse().ok()?;
    Some(Stat { state, ppid, start_time })
}

pub(super) fn read_stat(pid: i32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Every live process below `root` (children, their children, ...), with identities.
pub(super) fn descendants(root: i32) -> Vec<ProcessId> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let all: Vec<(i32, Stat)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| Some((pid, read_stat(pid)?)))
        .collect();
    let mut found = vec![root];
    let mut out = Vec::new();
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        for (pid, stat) in &all {
            if stat.ppid == parent && !found.contains(pid) {
                found.push(*pid);
                out.push(ProcessId { pid: *pid, start_time: stat.start_time });
            }
        }
        i += 1;
    }
    out
}

pub(super) fn signal_group(pgid: i32, signal: libc::c_int) -> bool {
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is shared.
    unsafe { libc::kill(-pgid, signal) == 0 }
}

pub(super) fn signal_process(p: &ProcessId, signal: libc::c_int) {
    if p.alive() {
        // SAFETY: kill(2) on a pid whose start time was just checked.
        unsafe {
            libc::kill(p.pid, signal);
        }
    }
}
