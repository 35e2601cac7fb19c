//! Load on one node: a busy loop per core (shell processes in the node's namespace,
//! killed by PID), or memory allocated and touched page by page.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use anyhow::Result;

use crate::{lab::Node, scenario::Rig};

/// Busy loops in a node's namespace.
pub struct CpuHog {
    node: Node,
    pids: Vec<u32>,
}

impl CpuHog {
    /// One busy loop per online CPU.
    pub fn start(rig: &mut Rig, node: Node) -> Result<CpuHog> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut pids = Vec::with_capacity(cores);
        for _ in 0..cores {
            pids.push(
                rig.lab
                    .node_mut(node)
                    .spawn(&["sh", "-c", "while :; do :; done"])?,
            );
        }
        Ok(CpuHog { node, pids })
    }

    pub fn stop(self, rig: &mut Rig) -> Result<()> {
        for pid in &self.pids {
            rig.lab.node(self.node).signal(*pid, libc::SIGKILL)?;
        }
        for pid in self.pids {
            rig.lab
                .node_mut(self.node)
                .wait_exit(pid, Duration::from_secs(5))?;
        }
        Ok(())
    }
}

/// `mib` MiB held and kept resident by a thread of the chaos process. (Memory has
/// no namespace; the node only names where the schedule meant it.) The size stays
/// far below a shared machine's memory: this is churn, not an OOM test.
pub struct MemHog {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

const PAGE: usize = 4096;

impl MemHog {
    pub fn start(mib: u32) -> MemHog {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let len = mib as usize * 1024 * 1024;
            let mut buf: Vec<u8> = Vec::with_capacity(len);
            // Touch every page (allocation alone maps nothing), then keep touching
            // so the pages stay hot while the hog lasts.
            buf.resize(len, 1);
            let mut round: u8 = 1;
            while !s.load(Ordering::Relaxed) {
                round = round.wrapping_add(1);
                for b in buf.iter_mut().step_by(PAGE) {
                    *b = round;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            std::hint::black_box(&buf);
        });
        MemHog {
            stop,
            handle: Some(handle),
        }
    }

    pub fn stop(mut self) {
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for MemHog {
    fn drop(&mut self) {
        self.stop_thread();
    }
}
