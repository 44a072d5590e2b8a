//! Live usage of running servers (CPU, memory, GPUs and their utilization, and when a GPU limit
//! stops them), as the dashboard and the admin's GPU page show it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveView {
    pub user: String,
    /// `""` for the default server.
    pub server: String,
    pub cpu_percent: Option<f64>,
    pub memory_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    pub gpus: Vec<String>,
    /// Mean utilization over its units, where the driver says.
    pub gpu_utilization_percent: Option<u32>,
    pub gpu_memory_used_mib: Option<u64>,
    pub gpu_processes: Option<u32>,
    /// When a GPU limit stops it, why, and whether its owner was warned / may extend.
    pub stops_at_ms: Option<i64>,
    pub stop_reason: Option<String>,
    pub warned: bool,
    pub extensible: bool,
    /// When the culler stops it, if it does.
    pub cull: Option<CullView>,
}

/// The culler's deadline for a running server, as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CullView {
    pub at_ms: i64,
    /// "no activity for 1 h".
    pub reason: String,
    /// Whether the warning period has begun.
    pub warned: bool,
    /// Whether Keep running moves it (not for a maximum age).
    pub keepable: bool,
}

impl LiveView {
    /// `default` for the default server.
    pub fn label(&self) -> String {
        if self.server.is_empty() {
            "default".to_owned()
        } else {
            self.server.clone()
        }
    }

    /// "12% CPU · 1.2 GiB of 4.0 GiB · 1 GPU: 87% busy, 30.2 GiB, 1 process".
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let (Some(cpu), Some(memory)) = (self.cpu_percent, self.memory_bytes) {
            parts.push(format!("{cpu:.0}% CPU"));
            let limit = self.memory_limit_bytes.map(|l| format!(" of {}", bytes(l))).unwrap_or_default();
            parts.push(format!("{}{limit}", bytes(memory)));
        }
        if !self.gpus.is_empty() {
            let unit = if self.gpus.len() == 1 { "GPU" } else { "GPUs" };
            let mut gpu = format!("{} {unit}", self.gpus.len());
            let mut figures = Vec::new();
            if let Some(u) = self.gpu_utilization_percent {
                figures.push(format!("{u}% busy"));
            }
            if let Some(m) = self.gpu_memory_used_mib {
                figures.push(bytes(m * 1024 * 1024));
            }
            if let Some(p) = self.gpu_processes {
                figures.push(format!("{p} process{}", if p == 1 { "" } else { "es" }));
            }
            if !figures.is_empty() {
                gpu.push_str(&format!(": {}", figures.join(", ")));
            }
            parts.push(gpu);
        }
        parts.join(" · ")
    }
}

fn bytes(b: u64) -> String {
    let mib = b / (1024 * 1024);
    if mib >= 1024 {
        format!("{:.1} GiB", mib as f64 / 1024.0)
    } else {
        format!("{mib} MiB")
    }
}

#[cfg(feature = "ssr")]
impl From<hub::servers::LiveServer> for LiveView {
    fn from(l: hub::servers::LiveServer) -> Self {
        let known: Vec<u32> = l.gpu_readings.iter().filter_map(|r| r.utilization_percent).collect();
        let utilization =
            (!known.is_empty()).then(|| known.iter().sum::<u32>() / u32::try_from(known.len()).unwrap_or(1));
        let memory = l.gpu_readings.iter().map(|r| r.memory_used_mib).sum::<Option<u64>>();
        let processes = l.gpu_readings.iter().map(|r| r.processes).sum::<Option<u32>>();
        let read_all = !l.gpu_readings.is_empty();
        let session = l.session;
        LiveView {
            user: l.user.to_string(),
            server: l.server.to_string(),
            cpu_percent: l.usage.as_ref().map(|u| u.cpu_percent),
            memory_bytes: l.usage.as_ref().map(|u| u.memory_bytes),
            memory_limit_bytes: l.usage.as_ref().and_then(|u| u.memory_limit_bytes),
            gpus: l.gpus,
            gpu_utilization_percent: utilization,
            gpu_memory_used_mib: memory.filter(|_| read_all),
            gpu_processes: processes.filter(|_| read_all),
            stops_at_ms: session.as_ref().and_then(|s| s.stops_at_ms),
            stop_reason: session.as_ref().and_then(|s| s.reason.clone()),
            warned: session.as_ref().is_some_and(|s| s.warned),
            extensible: session.as_ref().is_some_and(|s| s.extensible),
            cull: l.cull.map(|c| CullView {
                at_ms: c.at_ms,
                reason: c.reason,
                warned: c.warned,
                keepable: c.keepable,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_says_cpu_memory_and_gpus_plainly() {
        let mut v = LiveView {
            user: "alice".into(),
            server: String::new(),
            cpu_percent: Some(12.4),
            memory_bytes: Some(1288 * 1024 * 1024),
            memory_limit_bytes: Some(4096 * 1024 * 1024),
            gpus: vec!["GPU-a".into()],
            gpu_utilization_percent: Some(87),
            gpu_memory_used_mib: Some(30_925),
            gpu_processes: Some(1),
            stops_at_ms: None,
            stop_reason: None,
            warned: false,
            extensible: false,
            cull: None,
        };
        assert_eq!(v.summary(), "12% CPU · 1.3 GiB of 4.0 GiB · 1 GPU: 87% busy, 30.2 GiB, 1 process");
        v.gpu_utilization_percent = None;
        v.gpu_memory_used_mib = None;
        v.gpu_processes = None;
        v.cpu_percent = None;
        assert_eq!(v.summary(), "1 GPU");
        assert_eq!(v.label(), "default");
    }
}
