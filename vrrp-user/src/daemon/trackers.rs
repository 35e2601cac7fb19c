//! Script, file and route trackers of every instance, restartable per instance on
//! reload. Interface tracking needs no task: it comes from the netlink watch.

use std::{collections::HashMap, time::Duration};

use tokio::{sync::mpsc, task::JoinHandle};
use vrrp_core::router::TrackUpdate;

use crate::{
    config::{self, Config},
    hooks::RunAs,
    track::{self, FileSpec, ScriptSpec, TrackEvent},
    track_route,
};

/// How often a tracked file is read.
const FILE_INTERVAL: Duration = Duration::from_millis(500);

pub struct Trackers {
    out: mpsc::Sender<(String, TrackUpdate)>,
    run_as: Option<RunAs>,
    tasks: HashMap<String, Vec<JoinHandle<()>>>,
}

impl Trackers {
    pub fn new(out: mpsc::Sender<(String, TrackUpdate)>, run_as: Option<RunAs>) -> Trackers {
        Trackers {
            out,
            run_as,
            tasks: HashMap::new(),
        }
    }

    pub fn stop_all(&mut self) {
        let names: Vec<String> = self.tasks.keys().cloned().collect();
        for n in names {
            self.stop(&n);
        }
    }

    /// Stops the trackers of `instance` (its tracked objects keep their last state).
    pub fn stop(&mut self, instance: &str) {
        for t in self.tasks.remove(instance).unwrap_or_default() {
            t.abort();
        }
    }

    /// Starts the trackers of `instance` as `config` defines them.
    pub fn start(&mut self, config: &Config, instance: &str) {
        let Some(cfg) = config.instance(instance) else {
            return;
        };
        let (tx, mut rx) = mpsc::channel::<TrackEvent>(16);
        let mut tasks = Vec::new();
        for s in &cfg.track.scripts {
            tasks.push(track::spawn_script(
                ScriptSpec {
                    name: config::tracked_script(&s.name),
                    command: s.command.clone(),
                    interval: s.interval,
                    timeout: s.timeout,
                    rise: s.rise,
                    fall: s.fall,
                    weight: s.weight,
                    run_as: self.run_as.clone(),
                },
                tx.clone(),
            ));
        }
        for f in &cfg.track.files {
            tasks.push(track::spawn_file(
                FileSpec {
                    name: config::tracked_file(&f.path),
                    path: f.path.clone(),
                    weight: f.weight,
                    interval: FILE_INTERVAL,
                },
                tx.clone(),
            ));
        }
        if !cfg.track.routes.is_empty() || cfg.track.peers.is_some() {
            tasks.push(track_route::spawn(
                cfg.track.routes.clone(),
                cfg.track.peers.clone(),
                tx.clone(),
            ));
        }
        if tasks.is_empty() {
            return;
        }
        drop(tx);
        let out = self.out.clone();
        let name = instance.to_string();
        tasks.push(tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                let update = TrackUpdate {
                    object: ev.name,
                    up: ev.up,
                    weight: ev.weight,
                };
                if out.send((name.clone(), update)).await.is_err() {
                    return;
                }
            }
        }));
        self.tasks.insert(instance.to_string(), tasks);
    }
}
