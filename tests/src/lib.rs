//! Test support shared by the integration tests, the failure lab and benchmarks:
//! network namespaces with guaranteed teardown, and crafted frames.

pub mod bench;
pub mod frames;
pub mod lab;
pub mod netns;
pub mod scenario;
pub mod send;
pub mod tmp;
