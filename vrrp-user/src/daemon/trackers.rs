//! Script and file trackers of every instance, restartable per instance on reload.
//! Interface tracking needs no task: it comes from the netlink watch.

use std::{collections::HashMap, time::Duration};

use tokio::{sync::mpsc, task::JoinHandle};
use vrrp_core::router::{TrackUpdate, TrackWeight};

use crate::{
    config::Config,
    hooks::RunAs,
    track::{self, FileSpec, ScriptSpec, TrackEvent},
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

    pub fn start_all(&mut self, config: &Config) {
        for i in &config.instances {
            self.start(config, &i.name);
        }
    }

    /// Stops the trackers of `stopped` instances and starts those of `started` ones.
    pub fn restart(&mut self, config: &Config, stopped: &[String], started: &[String]) {
        for name in stopped {
            self.stop(name);
        }
        for name in started {
            self.start(config, name);
        }
    }

    pub fn stop_all(&mut self) {
        let names: Vec<String> = self.tasks.keys().cloned().collect();
        for n in names {
            self.stop(&n);
        }
    }

    fn stop(&mut self, instance: &str) {
        for t in self.tasks.remove(instance).unwrap_or_default() {
            t.abort();
        }
    }

    fn start(&mut self, config: &Config, instance: &str) {
        let Some(cfg) = config.instance(instance) else {
            return;
        };
        let (tx, mut rx) = mpsc::channel::<TrackEvent>(16);
        let mut tasks = Vec::new();
        for s in &cfg.track.scripts {
            tasks.push(track::spawn_script(
                ScriptSpec {
                    name: s.name.clone(),
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
                    name: f.path.display().to_string(),
                    path: f.path.clone(),
                    weight: f.weight,
                    interval: FILE_INTERVAL,
                },
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
                    object: format!("track:{}", ev.name),
                    up: ev.up,
                    weight: match ev.weight {
                        track::TrackWeight::Delta(d) => TrackWeight::Delta(d),
                        track::TrackWeight::Fault => TrackWeight::Fault,
                    },
                };
                if out.send((name.clone(), update)).await.is_err() {
                    return;
                }
            }
        }));
        self.tasks.insert(instance.to_string(), tasks);
    }
}
