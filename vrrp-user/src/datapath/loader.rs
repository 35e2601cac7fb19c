//! Loading the XDP object in a short-lived child process, so the daemon never parses
//! kernel BTF.
//!
//! aya 0.14's `EbpfLoader::new()` reads and parses `/sys/kernel/btf/vmlinux` (5.5 MB
//! on this kernel) before anything else, and `.btf(None)` afterwards cannot undo it.
//! The parse costs about 18 MiB of heap for a moment, which stays in the daemon's peak
//! RSS (VmHWM) for its whole life. So the daemon re-runs its own executable
//! (`/proc/self/exe`) with [`CHILD_ENV`] set and a unix socket as its standard input;
//! the child loads and verifies the object with aya as usual, sends the program's and
//! every map's file descriptor back over the socket (`SCM_RIGHTS`), and exits. The
//! kernel objects live on through the passed descriptors.
//!
//! On the daemon's side the maps become aya handles again ([`MapData::from_fd`],
//! [`Map::from_map_data`]); every map of the object is handed over by name, whatever
//! the object contains. aya 0.14 has no public way to wrap a program descriptor
//! without `CAP_SYS_ADMIN` (`Xdp::from_program_info` re-opens the program by id,
//! which the unit's capability set does not allow), so [`Program`] does the two
//! things the daemon and the tests need itself: attach through a bpf_link
//! (`BPF_LINK_CREATE`, kernel 5.9+) and `BPF_PROG_TEST_RUN`.
//!
//! The child is whatever binary the daemon is: `vrrpd` calls [`run_if_child`] first
//! thing in `main`; a test binary that loads the datapath declares
//! [`xdp_loader_test!`](crate::xdp_loader_test), a test the child's libtest runs alone
//! (the arguments passed to the child select it; `vrrpd` ignores them). An error in
//! the child, the verifier log included, comes back as text and becomes
//! [`DatapathError::Load`].

use std::{
    collections::HashMap,
    fmt::Write as _,
    io::{self, Write as _},
    mem::{size_of, zeroed},
    os::{
        fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd},
        unix::net::UnixStream,
    },
    process::{Command, Stdio},
    time::Duration,
};

use aya::{
    EbpfLoader,
    maps::{Map, MapData},
    programs::Xdp,
};
use vrrp_common::names;

use super::{DatapathError, XDP_OBJECT};

/// Set in the child's environment: "you are the loader, your stdin is the socket".
pub const CHILD_ENV: &str = "VRRPD_INTERNAL_XDP_LOADER";

/// Name of the test that [`xdp_loader_test!`](crate::xdp_loader_test) declares; the
/// child's arguments select it when the executable is a test binary.
pub const CHILD_TEST: &str = "vrrpd_xdp_loader_child";

/// Most descriptors one `SCM_RIGHTS` message carries (the kernel's `SCM_MAX_FD`).
const MAX_FDS: usize = 253;

/// The loaded object as the daemon holds it: the program and every map by name.
///
/// `map`, `map_mut` and `take_map` mirror `aya::Ebpf`'s, so map code reads the same.
#[derive(Debug)]
pub struct Object {
    pub program: Program,
    maps: HashMap<String, Map>,
}

impl Object {
    pub fn map(&self, name: &str) -> Option<&Map> {
        self.maps.get(name)
    }

    pub fn map_mut(&mut self, name: &str) -> Option<&mut Map> {
        self.maps.get_mut(name)
    }

    pub fn take_map(&mut self, name: &str) -> Option<Map> {
        self.maps.remove(name)
    }
}

/// Loads and verifies the embedded object in a child process and takes over its
/// program and maps. The daemon's and the tests' only way to load it.
pub fn load() -> Result<Object, DatapathError> {
    let load_err = |what: &str, e: io::Error| DatapathError::Load(format!("{what}: {e}").into());
    let (ours, theirs) = UnixStream::pair().map_err(|e| load_err("loader socket pair", e))?;
    let mut child = Command::new("/proc/self/exe")
        .args([CHILD_TEST, "--exact", "--quiet", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| load_err("starting the loader process (/proc/self/exe)", e))?;
    let received = receive(&ours);
    drop(ours);
    let status = child.wait();
    let (text, fds) = received.map_err(|e| load_err("reading the loader's answer", e))?;
    let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
    answer(&text, fds, &status)
}

/// Makes an [`Object`] of the child's answer (`ok` and one line per descriptor, or
/// `error` and the message); `status` is how the child ended, for a missing answer.
fn answer(text: &str, fds: Vec<OwnedFd>, status: &str) -> Result<Object, DatapathError> {
    let Some(body) = text.strip_prefix("ok\n") else {
        if let Some(msg) = text.strip_prefix("error\n") {
            return Err(DatapathError::Load(msg.to_string().into()));
        }
        return Err(DatapathError::Load(
            format!(
                "the loader process ended without an answer ({status}); a test binary that \
                 loads the XDP datapath must declare vrrp_user::xdp_loader_test!()"
            )
            .into(),
        ));
    };
    let lines: Vec<&str> = body.lines().collect();
    if lines.len() != fds.len() {
        return Err(DatapathError::Load(
            format!(
                "the loader sent {} descriptors for {} objects",
                fds.len(),
                lines.len()
            )
            .into(),
        ));
    }
    let mut program = None;
    let mut maps = HashMap::new();
    for (line, fd) in lines.into_iter().zip(fds) {
        match line.split_once(' ') {
            Some(("program", _)) => program = Some(Program { fd }),
            Some(("map", name)) => {
                let map = MapData::from_fd(fd)
                    .and_then(Map::from_map_data)
                    .map_err(|e| DatapathError::Load(format!("map {name}: {e}").into()))?;
                maps.insert(name.to_string(), map);
            }
            _ => {
                return Err(DatapathError::Load(
                    format!("the loader sent {line:?}").into(),
                ));
            }
        }
    }
    let program =
        program.ok_or_else(|| DatapathError::Load("the loader sent no program".into()))?;
    Ok(Object { program, maps })
}

/// Reads the child's whole answer: text, and the descriptors that came with it.
fn receive(sock: &UnixStream) -> io::Result<(String, Vec<OwnedFd>)> {
    let mut text = Vec::new();
    let mut fds = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    // Room for MAX_FDS descriptors, aligned as cmsghdr needs.
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE((MAX_FDS * size_of::<RawFd>()) as u32) } as usize;
    let mut cbuf = vec![0u64; space.div_ceil(8)];
    loop {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: an all-zero msghdr is valid; the pointers set below outlive the call.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = space;
        // SAFETY: valid socket and msghdr.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        // SAFETY: walking the control messages the kernel wrote into cbuf.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                    let data = libc::CMSG_DATA(c).cast::<RawFd>();
                    let len = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                    for i in 0..len / size_of::<RawFd>() {
                        // The kernel installed these descriptors for us: we own them.
                        fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        if msg.msg_flags & libc::MSG_CTRUNC != 0 {
            return Err(io::Error::other("descriptors truncated"));
        }
        if n == 0 {
            break;
        }
        text.extend_from_slice(&buf[..n as usize]);
    }
    Ok((String::from_utf8_lossy(&text).into_owned(), fds))
}

/// The loader's entry point: if this process was started as the loader child, load
/// the object, send the answer to stdin (the socket) and exit; otherwise return at
/// once. `vrrpd` calls this before parsing its command line.
pub fn run_if_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    // SAFETY: fd 0 is the socket the parent gave us and stays open until we exit.
    let sock = unsafe { BorrowedFd::borrow_raw(0) };
    let code = match child_load() {
        Ok((text, fds)) => send(sock, &text, &fds),
        Err(e) => send(sock, &format!("error\n{e}"), &[]),
    };
    std::process::exit(if code.is_ok() { 0 } else { 1 });
}

/// Loads with aya as usual (kernel BTF and all) and lists what to hand over.
fn child_load() -> Result<(String, Vec<OwnedFd>), String> {
    raise_memlock();
    // The error and its sources, each once: aya's messages often repeat their source
    // (`map error: failed to create map ...`), but not always (the verifier log's
    // errno is only in the source).
    let chain = |e: &dyn std::error::Error| {
        let mut s = e.to_string();
        let mut src = e.source();
        while let Some(inner) = src {
            let text = inner.to_string();
            if !s.contains(&text) {
                let _ = write!(s, ": {text}");
            }
            src = inner.source();
        }
        s
    };
    let mut ebpf = EbpfLoader::new().load(XDP_OBJECT).map_err(|e| chain(&e))?;
    let prog: &mut Xdp = ebpf
        .program_mut(names::PROGRAM)
        .ok_or_else(|| format!("no program {}", names::PROGRAM))?
        .try_into()
        .map_err(|e: aya::programs::ProgramError| chain(&e))?;
    prog.load().map_err(|e| chain(&e))?;
    let dup = |fd: BorrowedFd<'_>| fd.try_clone_to_owned().map_err(|e| e.to_string());
    let mut text = String::from("ok\n");
    let mut fds = vec![dup(prog.fd().map_err(|e| chain(&e))?.as_fd())?];
    let _ = writeln!(text, "program {}", names::PROGRAM);
    for (name, map) in ebpf.maps() {
        fds.push(dup(map_data(map).fd().as_fd())?);
        let _ = writeln!(text, "map {name}");
    }
    if fds.len() > MAX_FDS {
        return Err(format!(
            "{} objects to hand over, at most {MAX_FDS}",
            fds.len()
        ));
    }
    Ok((text, fds))
}

/// Sends `text` with `fds` attached to its first byte, then closes.
fn send(sock: BorrowedFd<'_>, text: &str, fds: &[OwnedFd]) -> io::Result<()> {
    let bytes = text.as_bytes();
    let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    let payload = size_of::<RawFd>() * raw.len();
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(payload as u32) } as usize;
    let mut cbuf = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // SAFETY: an all-zero msghdr is valid; the pointers set below outlive the call.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !raw.is_empty() {
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = space;
        // SAFETY: cbuf has room for one cmsghdr with `payload` bytes of data.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(payload as u32) as usize;
            std::ptr::copy_nonoverlapping(raw.as_ptr().cast::<u8>(), libc::CMSG_DATA(c), payload);
        }
    }
    // SAFETY: valid socket and msghdr.
    let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // A long verifier log may not fit in one message: the rest as plain bytes.
    let mut rest = UnixStream::from(sock.try_clone_to_owned()?);
    rest.write_all(&bytes[n as usize..])
}

/// The `MapData` inside any `Map`: every variant holds one.
fn map_data(map: &Map) -> &MapData {
    match map {
        Map::Array(d)
        | Map::ArrayOfMaps(d)
        | Map::BloomFilter(d)
        | Map::CgroupArray(d)
        | Map::CgroupStorage(d)
        | Map::CgrpStorage(d)
        | Map::CpuMap(d)
        | Map::DevMap(d)
        | Map::DevMapHash(d)
        | Map::HashMap(d)
        | Map::HashOfMaps(d)
        | Map::InodeStorage(d)
        | Map::LpmTrie(d)
        | Map::LruHashMap(d)
        | Map::PerCpuArray(d)
        | Map::PerCpuCgroupStorage(d)
        | Map::PerCpuHashMap(d)
        | Map::PerCpuLruHashMap(d)
        | Map::PerfEventArray(d)
        | Map::ProgramArray(d)
        | Map::Queue(d)
        | Map::ReusePortSockArray(d)
        | Map::RingBuf(d)
        | Map::SockHash(d)
        | Map::SockMap(d)
        | Map::SkStorage(d)
        | Map::Stack(d)
        | Map::StackTraceMap(d)
        | Map::Unsupported(d)
        | Map::XskMap(d) => d,
    }
}

/// Older kernels charge BPF memory to RLIMIT_MEMLOCK. Raising it needs
/// CAP_SYS_RESOURCE, which newer kernels (memcg accounting) do not need: not fatal.
fn raise_memlock() {
    let rlim = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: valid pointer to an rlimit.
    let _ = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &rlim) };
}

/// The loaded XDP program, by descriptor.
#[derive(Debug)]
pub struct Program {
    fd: OwnedFd,
}

/// What one `BPF_PROG_TEST_RUN` returned.
#[derive(Clone, Copy, Debug)]
pub struct TestRun {
    /// The program's return value (`enum xdp_action`).
    pub return_value: u32,
    /// Mean run time per repetition, as the kernel measured it.
    pub duration: Duration,
}

/// `bpf(2)` commands and constants used here (linux/bpf.h, linux/if_link.h).
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_XDP: u32 = 37;
pub(crate) const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
pub(crate) const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

/// The `link_create` member of `union bpf_attr`, up to `flags`. The kernel zero-fills
/// the rest of a shorter attribute.
#[repr(C)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

/// The `test` member of `union bpf_attr` (BPF_PROG_TEST_RUN), whole. The kernel
/// rejects non-zero bytes after `batch_size`, hence the explicit padding.
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

/// `bpf(cmd, attr, sizeof attr)`.
///
/// # Safety
/// `attr` must be the attribute struct `cmd` expects, with valid pointers in it.
unsafe fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: the caller passes the right attribute type for cmd.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r)
}

impl Program {
    /// Attaches to `ifindex` through a bpf_link with `flags` (`XDP_FLAGS_*_MODE`).
    /// Closing the returned link detaches; so does the death of the process.
    pub(crate) fn attach(&self, ifindex: u32, flags: u32) -> io::Result<OwnedFd> {
        let mut attr = LinkCreateAttr {
            prog_fd: self.fd.as_raw_fd() as u32,
            target_ifindex: ifindex,
            attach_type: BPF_XDP,
            flags,
        };
        // SAFETY: link_create attributes, no pointers.
        let fd = unsafe { bpf(BPF_LINK_CREATE, &mut attr)? };
        // SAFETY: BPF_LINK_CREATE returned a new descriptor that nobody else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    }

    /// Instructions the verifier walked to accept the program (kernel 5.16+), from
    /// the descriptor's /proc fdinfo.
    pub fn verified_instructions(&self) -> Option<u64> {
        let info =
            std::fs::read_to_string(format!("/proc/self/fdinfo/{}", self.fd.as_raw_fd())).ok()?;
        info.lines()
            .find_map(|l| l.strip_prefix("verified_insns:"))
            .and_then(|v| v.trim().parse().ok())
    }

    /// Runs the program `repeat` times on `frame` (`BPF_PROG_TEST_RUN`): no interface
    /// needed.
    pub fn test_run(&self, frame: &[u8], repeat: u32) -> io::Result<TestRun> {
        let mut attr = TestRunAttr {
            prog_fd: self.fd.as_raw_fd() as u32,
            data_in: frame.as_ptr() as u64,
            data_size_in: frame.len() as u32,
            repeat,
            ..TestRunAttr::default()
        };
        // SAFETY: test-run attributes; data_in points to frame for the whole call.
        unsafe { bpf(BPF_PROG_TEST_RUN, &mut attr)? };
        Ok(TestRun {
            return_value: attr.retval,
            duration: Duration::from_nanos(attr.duration.into()),
        })
    }
}

/// Declares the test that a test binary's loader child runs (see the module docs).
/// Every test binary that loads the XDP datapath needs it once, at its crate root.
#[macro_export]
macro_rules! xdp_loader_test {
    () => {
        /// Not a test: the XDP loader child's entry point (returns at once otherwise).
        #[test]
        fn vrrpd_xdp_loader_child() {
            $crate::datapath::loader::run_if_child();
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The child's error (a verifier log can be megabytes) reaches the daemon intact,
    /// however many reads it takes.
    #[test]
    fn a_long_error_arrives_whole() {
        let log: String = (0..40_000)
            .map(|i| format!("{i}: R1 invalid mem access 'scalar'\n"))
            .collect();
        let (ours, theirs) = UnixStream::pair().unwrap();
        let text = format!("error\nthe BPF_PROG_LOAD syscall failed. Verifier output: {log}");
        let sender = std::thread::spawn(move || {
            send(theirs.as_fd(), &text, &[]).unwrap();
        });
        let (got, fds) = receive(&ours).unwrap();
        sender.join().unwrap();
        assert!(fds.is_empty());
        match answer(&got, fds, "exit status: 0") {
            Err(DatapathError::Load(e)) => assert_eq!(
                e.to_string(),
                format!("the BPF_PROG_LOAD syscall failed. Verifier output: {log}")
            ),
            other => panic!("{other:?}"),
        }
    }

    /// Descriptors sent with the answer arrive, in order.
    #[test]
    fn descriptors_arrive_in_order() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let files: Vec<OwnedFd> = (0..3)
            .map(|_| OwnedFd::from(std::fs::File::open("/dev/null").unwrap()))
            .collect();
        let ino = |fd: &OwnedFd| {
            // SAFETY: fstat on a valid descriptor into a zeroed stat.
            let mut st: libc::stat = unsafe { zeroed() };
            assert_eq!(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) }, 0);
            (st.st_dev, st.st_ino)
        };
        let want: Vec<_> = files.iter().map(ino).collect();
        send(theirs.as_fd(), "ok\nprogram p\nmap A\nmap B\n", &files).unwrap();
        drop(theirs);
        let (text, fds) = receive(&ours).unwrap();
        assert_eq!(text, "ok\nprogram p\nmap A\nmap B\n");
        assert_eq!(fds.iter().map(ino).collect::<Vec<_>>(), want);
    }

    /// A child that ends without answering (a test binary without the loader test)
    /// says what is missing.
    #[test]
    fn no_answer_names_the_missing_loader_test() {
        match answer("", Vec::new(), "exit status: 0") {
            Err(DatapathError::Load(e)) => {
                assert!(e.to_string().contains("xdp_loader_test!()"), "{e}")
            }
            other => panic!("{other:?}"),
        }
    }
}
