//! `users-api`: the REST API's user listing on hubs that hold the same users. The first target is
//! Ganymede; a second one (JupyterHub) is the baseline the ratios divide by.

use anyhow::Context;

use super::{rate, Rate, Target};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A hub to measure, as `name=URL=TOKEN` (an API token with `list:users`); give Ganymede first
    /// and the baseline second.
    #[arg(long = "target", required = true)]
    targets: Vec<String>,
    /// How many users the hubs hold, named `user-00000` … (pages are spread over all of them).
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
}

fn parse_target(spec: &str) -> anyhow::Result<Target> {
    let mut parts = spec.splitn(3, '=');
    let (Some(name), Some(base), Some(token)) = (parts.next(), parts.next(), parts.next()) else {
        anyhow::bail!("--target must be name=URL=TOKEN, got {spec:?}");
    };
    Ok(Target {
        name: name.to_owned(),
        base: base.trim_end_matches('/').to_owned(),
        header: ("authorization", format!("token {token}")),
    })
}

/// The requests of one measurement: a label and the paths it cycles through.
fn workloads(users: usize) -> Vec<(&'static str, Vec<String>)> {
    let pages = (0..200).map(|i| format!("/hub/api/users?offset={}&limit=50", (i * 997) % users.max(1)));
    let searches =
        (0..100).map(|i| format!("/hub/api/users?name_filter=user-{:03}&limit=50", (i * 37) % 1000));
    let singles = (0..200).map(|i| format!("/hub/api/users/user-{:05}", (i * 7919) % users.max(1)));
    vec![
        // What an admin page or a script listing the hub asks: the largest page there is.
        ("the first 200 (limit=200)", vec!["/hub/api/users?limit=200".to_owned()]),
        ("page of 50 (offset spread over all users)", pages.collect()),
        ("name_filter search, up to 50", searches.collect()),
        ("one user by name", singles.collect()),
    ]
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let targets = args.targets.iter().map(|t| parse_target(t)).collect::<anyhow::Result<Vec<_>>>()?;
    let mut header = String::from("| measurement |");
    let mut rule = String::from("|---|");
    for t in &targets {
        header.push_str(&format!(" {} |", t.name));
        rule.push_str("---:|");
    }
    if targets.len() == 2 {
        header.push_str(&format!(" ratio ({}/{}) |", targets[0].name, targets[1].name));
        rule.push_str("---:|");
    }
    println!("{header}\n{rule}");
    for (label, paths) in workloads(args.users) {
        for connections in [1, 10] {
            let mut results: Vec<Rate> = Vec::new();
            for t in &targets {
                let r = rate(t, &paths, connections, args.seconds)
                    .await
                    .with_context(|| format!("{} on {}", label, t.name))?;
                results.push(r);
            }
            let row = |what: &str, value: fn(&Rate) -> f64, digits: usize| {
                let mut line = format!("| {label}, {connections} conn: {what} |");
                for r in &results {
                    line.push_str(&format!(" {:.*} |", digits, value(r)));
                }
                if results.len() == 2 {
                    line.push_str(&format!(" {:.2} |", value(&results[0]) / value(&results[1])));
                }
                line
            };
            println!("{}", row("requests/s", |r| r.rps, 0));
            println!("{}", row("p50 ms", |r| r.p50_ms, 2));
            println!("{}", row("p99 ms", |r| r.p99_ms, 2));
        }
    }
    Ok(())
}
