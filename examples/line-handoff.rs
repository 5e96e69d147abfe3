//! What a cache line costs a core when another core read or wrote it last: the price
//! `replay --threads N` pays for every packet the reading thread routes to another worker (the
//! reader loads the packet's header lines to route it, the worker loads them again), and for
//! every lane entry (written on one core, read on the other). docs/scale.md, "Throughput".
//!
//!     cargo run --release --example line-handoff -- [LINES] [ROUNDS]
//!
//! A random walk over LINES cache lines (default 4 096: 256 KiB, inside one core's L2), each
//! load depending on the one before, timed on the first CPU of the process's affinity mask
//! after the lines were: flushed from every cache (memory), walked on the same core (own
//! cache), read on the second CPU (another core read them), written there (another core wrote
//! them). Prints each case's median over ROUNDS (default 15), in ns a line. x86_64 Linux only.

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn main() {
    use std::sync::atomic::{AtomicU8, Ordering};

    let mut args = std::env::args().skip(1);
    let lines: usize = args.next().map_or(4096, |a| a.parse().expect("LINES: a number"));
    let rounds: usize = args.next().map_or(15, |a| a.parse().expect("ROUNDS: a number"));
    let cpus = probe::cpus();
    assert!(cpus.len() >= 2, "needs two CPUs in the affinity mask, has {cpus:?}");
    let lines = probe::Lines::new(lines.max(2));
    probe::pin(cpus[0]);
    let cases = ["memory", "own cache", "another core read them", "another core wrote them"];
    let mut ns: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    // The other core's jobs: 1 walk, 2 rewrite, 3 leave. Both threads stay busy throughout,
    // spinning while the other works, as replay's threads are: on a virtual machine, where the
    // host runs a virtual CPU that was idle is the host's choice, and probes that started or
    // woke a thread for each step gave numbers that depended on how it was done.
    let job = AtomicU8::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            probe::pin(cpus[1]);
            loop {
                match job.load(Ordering::Acquire) {
                    1 => {
                        std::hint::black_box(lines.walk());
                    }
                    2 => lines.rewrite(),
                    3 => return,
                    _ => {
                        std::hint::spin_loop();
                        continue;
                    }
                }
                job.store(0, Ordering::Release);
            }
        });
        let other = |j: u8| {
            job.store(j, Ordering::Release);
            while job.load(Ordering::Acquire) != 0 {
                std::hint::spin_loop();
            }
        };
        for _ in 0..rounds {
            lines.flush();
            ns[0].push(lines.walk());
            ns[1].push(lines.walk());
            lines.flush();
            other(1);
            ns[2].push(lines.walk());
            lines.flush();
            other(2);
            ns[3].push(lines.walk());
        }
        job.store(3, Ordering::Release);
    });
    println!(
        "{} lines ({} KiB), CPUs {} and {}, median of {rounds} rounds:",
        lines.len(),
        lines.len() / 16,
        cpus[0],
        cpus[1]
    );
    for (case, mut v) in cases.iter().zip(ns) {
        v.sort_by(f64::total_cmp);
        println!("  {case:<24} {:6.1} ns a line", v[v.len() / 2]);
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn main() {
    eprintln!("line-handoff: x86_64 Linux only");
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod probe {
    use std::arch::x86_64::{_mm_clflush, _mm_mfence};
    use std::cell::UnsafeCell;
    use std::time::Instant;

    /// Cache lines whose first word is the index of the next line of one random cycle.
    #[repr(C, align(64))]
    struct Line(UnsafeCell<u64>, [u64; 7]);

    // Each thread touches the lines only while the other spins waiting for it (the job
    // handshake in `main`).
    unsafe impl Sync for Line {}

    pub struct Lines(Vec<Line>);

    impl Lines {
        pub fn new(n: usize) -> Self {
            // A fixed-seed shuffle (xorshift): one cycle through every line, no stride for the
            // hardware prefetcher to follow.
            let mut order: Vec<u64> = (0..n as u64).collect();
            let mut x = 0x9e37_79b9_7f4a_7c15_u64;
            for i in (1..n).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                order.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let lines: Vec<Line> = (0..n).map(|_| Line(UnsafeCell::new(0), [0; 7])).collect();
            for i in 0..n {
                unsafe { *lines[order[i] as usize].0.get() = order[(i + 1) % n] };
            }
            Lines(lines)
        }

        pub fn len(&self) -> usize {
            self.0.len()
        }

        /// Evicts every line from every cache.
        pub fn flush(&self) {
            for l in &self.0 {
                unsafe { _mm_clflush(l as *const Line as *const u8) };
            }
            unsafe { _mm_mfence() };
        }

        /// One walk of the cycle: ns a line.
        pub fn walk(&self) -> f64 {
            let start = Instant::now();
            let mut at = 0u64;
            for _ in 0..self.0.len() {
                at = unsafe { std::ptr::read_volatile(self.0[at as usize].0.get()) };
            }
            std::hint::black_box(at);
            start.elapsed().as_nanos() as f64 / self.0.len() as f64
        }

        /// Writes every line (the same values), leaving them modified in this core's cache.
        pub fn rewrite(&self) {
            for l in &self.0 {
                unsafe { std::ptr::write_volatile(l.0.get(), *l.0.get()) };
            }
        }
    }

    /// The CPUs this process may run on.
    pub fn cpus() -> Vec<usize> {
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::cpu_set_t>();
        assert_eq!(unsafe { libc::sched_getaffinity(0, size, &mut set) }, 0, "sched_getaffinity");
        (0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) }).collect()
    }

    /// Keeps the calling thread on `cpu`.
    pub fn pin(cpu: usize) {
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        unsafe { libc::CPU_SET(cpu, &mut set) };
        let size = std::mem::size_of::<libc::cpu_set_t>();
        assert_eq!(unsafe { libc::sched_setaffinity(0, size, &set) }, 0, "sched_setaffinity");
    }
}
