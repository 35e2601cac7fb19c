//! Test support shared by the integration tests, the failure lab and benchmarks:
//! network namespaces with guaranteed teardown, crafted frames, and waits derived
//! from the protocol's timers.

pub mod bench;
pub mod chaos;
pub mod dual_scenario;
pub mod frames;
pub mod lab;
pub mod netns;
pub mod oracle;
pub mod scenario;
pub mod send;
pub mod timing;
pub mod tmp;
