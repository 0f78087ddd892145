//! Heavy synchronous work (parsing a delivered extract, hashing or checking a password) runs
//! on tokio's blocking pool, never on the async workers that serve pages and run the tick.
//! A semaphore bounds how many such jobs run at once, so a burst of uploads or logins queues
//! instead of taking every thread of the pool.

use std::sync::LazyLock;

use tokio::sync::Semaphore;

/// As many jobs as the machine has cores: they are CPU-bound, more would only wait.
static PERMITS: LazyLock<Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Semaphore::new(cores)
});

/// Runs `job` on the blocking pool once a permit is free. A panic in the job is raised
/// again here, as if the job had run in place.
pub async fn run<T, F>(job: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let _permit = PERMITS
        .acquire()
        .await
        .expect("the semaphore is never closed");
    match tokio::task::spawn_blocking(job).await {
        Ok(value) => value,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("a blocking job was cancelled: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_off_the_async_workers_and_return() {
        let caller = std::thread::current().id();
        let (value, thread) = run(|| (21 * 2, std::thread::current().id())).await;
        assert_eq!(value, 42);
        assert_ne!(thread, caller, "the job ran on another thread");
    }

    #[tokio::test]
    #[should_panic(expected = "bad row")]
    async fn a_panic_in_a_job_reaches_the_caller() {
        run(|| panic!("bad row")).await
    }
}
