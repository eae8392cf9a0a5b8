//! Where the benchmark's threads run. With the servers in-process, the load threads and the
//! server threads are each kept to CPUs of their own: left to the scheduler, a client and a
//! server that wake each other on loopback are often put on the same CPU (the waker's), and
//! a run then measures them taking turns instead of running side by side, in some runs and
//! not in others (`rdpscope bench --baseline tls` over HYBRID_EX: 0.43-0.48 of the TLS rate
//! in five runs left to the scheduler, 0.52-0.56 in five placed, interleaved with them).

use serde::Serialize;

/// The CPUs the load threads and the in-process server threads are kept to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Placement {
    /// The load threads' CPUs (thread N runs on `load[N % load.len()]`).
    pub load: Vec<usize>,
    /// The one CPU every in-process server thread runs on.
    pub servers: usize,
}

impl Placement {
    /// The CPUs this process may run on, split: the last for the servers, the others for
    /// the load threads. `None` with fewer than two, or where threads cannot be placed.
    pub fn split() -> Option<Self> {
        let mut cpus = allowed_cpus()?;
        let servers = cpus.pop()?;
        (!cpus.is_empty()).then_some(Self {
            load: cpus,
            servers,
        })
    }

    /// The CPU of load thread `thread`.
    pub fn load_cpu(&self, thread: usize) -> usize {
        self.load[thread % self.load.len()]
    }
}

/// The CPUs the calling thread may run on (its affinity mask, which `taskset` and cgroup
/// cpusets narrow), in order.
#[cfg(target_os = "linux")]
pub(crate) fn allowed_cpus() -> Option<Vec<usize>> {
    // SAFETY: a zeroed cpu_set_t is an empty set; sched_getaffinity writes at most
    // size_of::<cpu_set_t>() bytes into it, and CPU_ISSET reads it within CPU_SETSIZE.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return None;
        }
        Some(
            (0..libc::CPU_SETSIZE as usize)
                .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
                .collect(),
        )
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn allowed_cpus() -> Option<Vec<usize>> {
    None
}

/// Keeps the calling thread to `cpu`.
#[cfg(target_os = "linux")]
pub(crate) fn pin_current_thread(cpu: usize) -> std::io::Result<()> {
    // SAFETY: pthread_self has no preconditions and names the calling thread.
    pin(unsafe { libc::pthread_self() }, cpu)
}

/// Keeps `thread` (running or about to) to `cpu`.
#[cfg(target_os = "linux")]
pub(crate) fn pin_thread<T>(
    thread: &std::thread::JoinHandle<T>,
    cpu: usize,
) -> std::io::Result<()> {
    use std::os::unix::thread::JoinHandleExt as _;
    // The handle has not been joined, so its pthread_t names a live (or not yet reaped)
    // thread.
    pin(thread.as_pthread_t(), cpu)
}

/// Keeps `thread`, a thread of this process not yet joined, to `cpu`.
#[cfg(target_os = "linux")]
fn pin(thread: libc::pthread_t, cpu: usize) -> std::io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    }
    // SAFETY: as in allowed_cpus; `cpu` is below CPU_SETSIZE, and the caller passes a
    // thread that has not been joined.
    let result = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::pthread_setaffinity_np(thread, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    match result {
        0 => Ok(()),
        errno => Err(std::io::Error::from_raw_os_error(errno)),
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn pin_current_thread(_cpu: usize) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn pin_thread<T>(
    _thread: &std::thread::JoinHandle<T>,
    _cpu: usize,
) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_get_the_last_allowed_cpu_and_the_load_the_rest() {
        let placement = Placement {
            load: vec![0, 2],
            servers: 3,
        };
        assert_eq!(
            (0..4).map(|t| placement.load_cpu(t)).collect::<Vec<_>>(),
            [0, 2, 0, 2]
        );
        let Some(cpus) = allowed_cpus() else { return };
        match Placement::split() {
            Some(split) => {
                assert_eq!(split.servers, *cpus.last().expect("two or more"));
                assert_eq!(split.load, cpus[..cpus.len() - 1]);
            }
            None => assert!(cpus.len() < 2),
        }
    }

    #[test]
    fn a_thread_kept_to_a_cpu_runs_only_there() {
        let Some(cpus) = allowed_cpus() else { return };
        let cpu = *cpus.last().expect("one at least");
        let on = std::thread::spawn(move || {
            pin_current_thread(cpu).expect("an allowed cpu");
            allowed_cpus()
        })
        .join()
        .expect("the thread ends");
        assert_eq!(on, Some(vec![cpu]));
        assert!(pin_current_thread(usize::MAX).is_err());

        // From outside: the thread waits until it has been placed, then reports.
        let (placed, wait) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            wait.recv().expect("placed");
            allowed_cpus()
        });
        pin_thread(&thread, cpu).expect("an allowed cpu");
        placed.send(()).expect("the thread waits");
        assert_eq!(thread.join().expect("the thread ends"), Some(vec![cpu]));
    }
}
