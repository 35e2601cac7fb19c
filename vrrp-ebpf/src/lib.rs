//! The XDP program lives in the `vrrp-xdp` binary target; this empty library lets
//! vrrp-user declare a build-dependency on the crate so cargo tracks its changes.
#![no_std]
