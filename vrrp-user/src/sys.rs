//! Small wrappers over socket system calls shared by the datapath and the sender.

use std::{
    io,
    mem::size_of,
    os::fd::{AsRawFd, OwnedFd},
};

/// `setsockopt(2)` with a typed value.
pub fn setsockopt<T>(fd: &OwnedFd, level: i32, name: i32, value: &T) -> io::Result<()> {
    // SAFETY: value points to a T of the given size for the duration of the call.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Hands the heap's free pages back to the kernel.
///
/// glibc keeps freed memory in the process for reuse, so a short-lived peak (parsing
/// the configuration: toml's document for 255 instances is about 2.4 MiB) would stay
/// resident for the daemon's life. Called after start-up and after each reload.
pub fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
