//! argon2id password hashing, off the async threads, with bounded concurrency and bounded memory.
//!
//! Every check needs argon2id's whole memory (19 MiB with the default parameters). Unbounded, 20
//! sign-ins at once took 400 MiB, and the allocator kept it. So at most [`workers`] checks run at
//! once (one per core, at most [`MAX_WORKERS`]), and the hub's memory for passwords never exceeds
//! `workers × 19 MiB`. Each check's memory is a mapping of its own ([`Memory`]): reused by the
//! next check while others run (a burst of sign-ins), and unmapped — given back to the system at
//! once — when the last running check ends, so an idle hub holds none. A check that cannot start
//! within [`QUEUE_TIMEOUT`] gives up with [`HashError::Busy`], which the edges answer with 503 and
//! `Retry-After`.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use anyhow::{anyhow, Context};
use argon2::password_hash::{rand_core::OsRng, Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use crate::domain::Password;

/// At most this many checks run at once, however many cores there are (memory: 19 MiB each).
pub const MAX_WORKERS: usize = 8;
/// How long a check waits for a free worker before the hub answers "busy".
pub const QUEUE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("The hub is busy checking passwords. Try again in {retry_after_seconds} seconds.")]
    Busy { retry_after_seconds: u64 },
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// argon2's working memory: an anonymous mapping of its own, so that dropping it gives the pages
/// back to the system at once (the allocator would keep a freed 19 MiB block in its heap).
pub struct Memory {
    blocks: NonNull<Block>,
    len: usize,
}

// SAFETY: the mapping is owned by this value alone; it moves between threads as a whole.
unsafe impl Send for Memory {}

impl Memory {
    fn new(len: usize) -> anyhow::Result<Self> {
        let bytes = len.max(1) * std::mem::size_of::<Block>();
        // SAFETY: a fresh private anonymous mapping; the kernel zero-fills it, and zeroed bytes are a
        // valid `Block` (an array of integers). Page alignment exceeds `Block`'s.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(anyhow!("mapping {bytes} bytes for argon2: {}", std::io::Error::last_os_error()));
        }
        let blocks = NonNull::new(ptr.cast::<Block>()).ok_or_else(|| anyhow!("mmap returned null"))?;
        Ok(Self { blocks, len: len.max(1) })
    }

    fn len(&self) -> usize {
        self.len
    }

    fn as_mut_slice(&mut self) -> &mut [Block] {
        // SAFETY: the mapping holds `len` blocks and lives as long as `self`, borrowed mutably here.
        unsafe { std::slice::from_raw_parts_mut(self.blocks.as_ptr(), self.len) }
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `new` made; nothing borrows it any more.
        unsafe {
            libc::munmap(self.blocks.as_ptr().cast(), self.len * std::mem::size_of::<Block>());
        }
    }
}

/// A bounded set of argon2 workers and the memory that running checks share.
pub struct PasswordWorkers {
    permits: Semaphore,
    workers: usize,
    buffers: Mutex<Vec<Memory>>,
    /// Mappings made so far (the tests read it).
    mapped: AtomicUsize,
    queue_timeout: Duration,
}

/// The number of concurrent checks the hub allows: the cores, at most [`MAX_WORKERS`].
pub fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from).clamp(1, MAX_WORKERS)
}

fn shared() -> &'static PasswordWorkers {
    static WORKERS: OnceLock<PasswordWorkers> = OnceLock::new();
    WORKERS.get_or_init(|| PasswordWorkers::new(workers(), QUEUE_TIMEOUT))
}

impl PasswordWorkers {
    pub fn new(workers: usize, queue_timeout: Duration) -> Self {
        Self {
            permits: Semaphore::new(workers),
            workers,
            buffers: Mutex::new(Vec::new()),
            mapped: AtomicUsize::new(0),
            queue_timeout,
        }
    }

    /// Runs `work` on a blocking thread with one of the reusable buffers, once a worker is free.
    async fn run<T: Send + 'static>(
        &'static self,
        work: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let permit = match tokio::time::timeout(self.queue_timeout, self.permits.acquire()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(closed)) => return Err(HashError::Failed(anyhow!(closed))),
            Err(_) => {
                tracing::warn!("password check refused: every worker stayed busy");
                return Err(HashError::Busy { retry_after_seconds: self.queue_timeout.as_secs().max(1) });
            }
        };
        let result = tokio::task::spawn_blocking(move || {
            let mut buffer = self.take_buffer()?;
            let out = work(&mut buffer);
            self.give_back(buffer);
            Ok::<_, anyhow::Error>(out)
        })
        .await
        .context("password task failed")??;
        drop(permit);
        Ok(result)
    }

    fn take_buffer(&self) -> anyhow::Result<Memory> {
        if let Some(kept) = self.buffers.lock().map(|mut pool| pool.pop()).unwrap_or(None) {
            return Ok(kept);
        }
        self.mapped.fetch_add(1, Ordering::Relaxed);
        Memory::new(Params::default().block_count())
    }

    /// Keeps the memory for the next check while others run or wait; the last one to finish
    /// unmaps everything (this check still holds its permit here).
    fn give_back(&self, buffer: Memory) {
        let Ok(mut pool) = self.buffers.lock() else { return };
        if self.permits.available_permits() + 1 >= self.workers {
            pool.clear();
            drop(buffer);
        } else {
            pool.push(buffer);
        }
    }

    /// Hashes a new password with argon2id (the crate's default, OWASP-recommended parameters).
    pub async fn hash(&'static self, password: &Password) -> Result<String, HashError> {
        let password = password.expose().to_owned();
        self.run(move |buffer| hash_with(password.as_bytes(), buffer)).await?.map_err(HashError::Failed)
    }

    /// Checks `password` against `hash`; with no hash, checks against a dummy and returns false.
    pub async fn verify(&'static self, password: &str, hash: Option<&str>) -> Result<bool, HashError> {
        let password = password.to_owned();
        let hash = hash.map(str::to_owned);
        self.run(move |buffer| {
            let real = hash.is_some();
            let stored = hash.as_deref().unwrap_or_else(|| dummy_hash());
            verify_with(password.as_bytes(), stored, buffer) && real
        })
        .await
    }
}

fn hash_with(password: &[u8], buffer: &mut Memory) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let params = Params::default();
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.decode_b64(&mut salt_bytes).map_err(|e| anyhow!("salt: {e}"))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    fill(Algorithm::Argon2id, Version::V0x13, params.clone(), password, salt_raw, &mut out, buffer)?;
    let output = Output::new(&out).map_err(|e| anyhow!("hash output: {e}"))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params).try_into().map_err(|e| anyhow!("hash parameters: {e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Checks `password` against a PHC string, in constant time, using `buffer` for argon2's memory.
fn verify_with(password: &[u8], stored: &str, buffer: &mut Memory) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) =
        (Algorithm::try_from(parsed.algorithm), Params::try_from(&parsed), parsed.salt, parsed.hash)
    else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_raw) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    if fill(algorithm, version, params, password, salt_raw, &mut out, buffer).is_err() {
        return false;
    }
    // `Output`'s equality is constant-time.
    Output::new(&out).is_ok_and(|computed| computed == expected)
}

fn fill(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    buffer: &mut Memory,
) -> anyhow::Result<()> {
    if buffer.len() < params.block_count() {
        // A hash made with more memory than the default: a larger mapping for this check.
        *buffer = Memory::new(params.block_count())?;
    }
    let blocks = params.block_count();
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt, out, &mut buffer.as_mut_slice()[..blocks])
        .map_err(|e| anyhow!("argon2: {e}"))
}

/// A hash of a random value, checked when there is no real hash so the work done is the same.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let Ok(mut buffer) = Memory::new(Params::default().block_count()) else { return String::new() };
        hash_with(b"ganymede-dummy-password-for-timing", &mut buffer).unwrap_or_default()
    })
}

/// Hashes a new password on the hub's shared workers.
pub async fn hash_password(password: &Password) -> Result<String, HashError> {
    shared().hash(password).await
}

/// Checks a password on the hub's shared workers.
pub async fn verify_password(password: &str, hash: Option<&str>) -> Result<bool, HashError> {
    shared().verify(password, hash).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    fn leaked(workers: usize, timeout: Duration) -> &'static PasswordWorkers {
        Box::leak(Box::new(PasswordWorkers::new(workers, timeout)))
    }

    #[tokio::test]
    async fn hashes_are_standard_phc_strings_both_ways() {
        let workers = leaked(1, QUEUE_TIMEOUT);
        let name = crate::domain::UserName::parse("alice").unwrap();
        let password =
            Password::parse("correct horse", &name, crate::domain::PasswordPolicy { min_length: 8 }).unwrap();
        let ours = workers.hash(&password).await.unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{ours}");
        // The argon2 crate accepts ours, and we accept the crate's.
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default().hash_password(b"correct horse", &salt).unwrap().to_string();
        assert!(workers.verify("correct horse", Some(&theirs)).await.unwrap());
        assert!(!workers.verify("wrong horse", Some(&theirs)).await.unwrap());
        assert!(!workers.verify("correct horse", None).await.unwrap());
        assert!(!workers.verify("correct horse", Some("not a hash")).await.unwrap());
        // Other parameters (more memory, argon2i) are honoured.
        let salt = SaltString::generate(&mut OsRng);
        let other =
            Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::new(32 * 1024, 1, 1, None).unwrap())
                .hash_password(b"pw", &salt)
                .unwrap()
                .to_string();
        assert!(workers.verify("pw", Some(&other)).await.unwrap());
        assert!(!workers.verify("px", Some(&other)).await.unwrap());
    }

    #[tokio::test]
    async fn a_check_that_cannot_start_in_time_is_busy() {
        let workers = leaked(1, Duration::from_millis(50));
        let held = workers.permits.acquire().await.unwrap();
        match workers.verify("x", None).await {
            Err(HashError::Busy { retry_after_seconds }) => assert!(retry_after_seconds >= 1),
            other => panic!("expected Busy, got {other:?}"),
        }
        drop(held);
        assert!(!workers.verify("x", None).await.unwrap());
    }

    #[tokio::test]
    async fn memory_is_reused_during_a_burst_and_given_back_when_idle() {
        let workers = leaked(2, QUEUE_TIMEOUT);
        let checks = (0..8).map(|_| workers.verify("x", None));
        for result in futures_util::future::join_all(checks).await {
            assert!(!result.unwrap());
        }
        let mapped = workers.mapped.load(Ordering::Relaxed);
        assert!((1..=2).contains(&mapped), "{mapped} mappings for 8 checks on 2 workers");
        assert_eq!(workers.buffers.lock().unwrap().len(), 0, "an idle hub keeps no argon2 memory");
    }
}
