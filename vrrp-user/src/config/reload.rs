//! Telling unchanged instances from changed ones on reload.
//!
//! The typed config carries no spans, so an instance whose meaning did not
//! change compares equal even if the file was reformatted or reordered;
//! the controller can then leave it running untouched.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use super::types::{Config, Instance};

impl Instance {
    /// A hash of everything that defines this instance. Stable within one
    /// vrrpd binary (for logs and quick comparison); not for storing.
    pub fn fingerprint(&self) -> u64 {
        let mut h = DefaultHasher::new();
        self.hash(&mut h);
        h.finish()
    }
}

/// How the instances of a new config relate to the running one, by name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct InstanceDiff<'a> {
    /// In the new config only: start them.
    pub added: Vec<&'a Instance>,
    /// In the old config only: stop them.
    pub removed: Vec<&'a Instance>,
    /// In both with different settings: (old, new); restart them.
    pub changed: Vec<(&'a Instance, &'a Instance)>,
    /// In both and equal: leave them alone.
    pub unchanged: Vec<&'a Instance>,
}

/// Compares instances by name. Sync group or global changes are not
/// folded in here; compare `old.sync_groups` and `old.global` directly.
pub fn diff_instances<'a>(old: &'a Config, new: &'a Config) -> InstanceDiff<'a> {
    let old_by_name: HashMap<&str, &Instance> =
        old.instances.iter().map(|i| (i.name.as_str(), i)).collect();
    let mut diff = InstanceDiff::default();
    for n in &new.instances {
        match old_by_name.get(n.name.as_str()) {
            None => diff.added.push(n),
            Some(o) if *o == n => diff.unchanged.push(n),
            Some(o) => diff.changed.push((o, n)),
        }
    }
    for o in &old.instances {
        if new.instance(&o.name).is_none() {
            diff.removed.push(o);
        }
    }
    diff
}
