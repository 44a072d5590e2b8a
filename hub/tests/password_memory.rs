//! Resident memory while many password checks run at once (issue 9, item 1).
//!
//! Its own test binary, so no other test shares the process whose peak memory it reads.

/// `VmHWM` (peak resident) and `VmRSS` from `/proc/self/status`, in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .expect("field present")
    };
    (field("VmHWM:"), field("VmRSS:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_password_checks_stay_within_bounded_memory() {
    // One check first, so the dummy hash and the runtime are in place before the baseline.
    assert!(!hub::accounts::verify_password("warm-up", None).await.unwrap());
    let (_, idle) = memory_kib();
    let checks = (0..48).map(|i| {
        tokio::spawn(async move { hub::accounts::verify_password(&format!("guess-{i}"), None).await })
    });
    for check in futures_util::future::join_all(checks).await {
        assert!(!check.expect("task").expect("checked"), "a wrong password is refused");
    }
    let (peak, after) = memory_kib();
    let peak_mib = peak.saturating_sub(idle) / 1024;
    let after_mib = after.saturating_sub(idle) / 1024;
    eprintln!("idle {idle} KiB, peak +{peak_mib} MiB, after +{after_mib} MiB");
    // argon2id's default needs 19 MiB per check: 48 at once would be ~900 MiB.
    // The hub runs at most one check per core (at most 8), each with a buffer it keeps.
    let workers = std::thread::available_parallelism().map_or(2, usize::from).min(8) as u64;
    let bound = 19 * workers + 30;
    assert!(peak_mib <= bound, "peak resident grew by {peak_mib} MiB (bound {bound} MiB)");
    assert!(after_mib <= bound, "resident memory stayed {after_mib} MiB above idle (bound {bound} MiB)");
}
