//! Running one external command: its own process group, optional run-as
//! user, a hard timeout that kills the whole group, bounded output capture.
//!
//! Shared by state hooks and track scripts so both get the same guarantees:
//! a hung script never outlives its timeout (nor do the children it forked),
//! and a chatty one cannot grow the daemon's memory.

use std::ffi::CString;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

/// Bytes of stdout and of stderr kept per run; the rest is read and dropped
/// so the child never blocks on a full pipe.
pub const OUTPUT_LIMIT: usize = 4096;

/// How long to wait for the output pipes to close after the command exited.
/// A command that leaves a background child holding them must not delay the
/// result until the timeout.
const PIPE_GRACE: Duration = Duration::from_millis(200);

/// A user to run commands as, resolved once (at config load) so a typo is
/// an error then and not a failed hook during a failover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (from the group database), so a script run as
    /// `vrrp` can still use e.g. the routing daemon's control socket.
    pub groups: Vec<u32>,
}

#[derive(Debug, Error)]
pub enum UserError {
    #[error("user {0:?} does not exist")]
    NotFound(String),
    #[error("user name {0:?} contains a NUL byte")]
    InvalidName(String),
    #[error("cannot look up user {name:?}: {source}")]
    Lookup { name: String, source: io::Error },
}

impl RunAs {
    /// Resolves a user name with `getpwnam_r` and its groups with
    /// `getgrouplist`.
    pub fn lookup(name: &str) -> Result<RunAs, UserError> {
        let cname = CString::new(name).map_err(|_| UserError::InvalidName(name.to_owned()))?;
        let (uid, gid) = getpwnam(&cname)
            .map_err(|source| UserError::Lookup {
                name: name.to_owned(),
                source,
            })?
            .ok_or_else(|| UserError::NotFound(name.to_owned()))?;
        let groups = grouplist(&cname, gid);
        Ok(RunAs {
            name: name.to_owned(),
            uid,
            gid,
            groups,
        })
    }
}

fn getpwnam(name: &CString) -> io::Result<Option<(u32, u32)>> {
    // SAFETY: sysconf has no preconditions.
    let hint = unsafe { libc::sysconf(libc::_SC_GETPW_R_SIZE_MAX) };
    let mut buf = vec![0u8; if hint > 0 { hint as usize } else { 1024 }];
    loop {
        // SAFETY: all-zero is a valid `passwd` (null pointers, zero ids).
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call and `buf.len()` is its size.
        let rc = unsafe {
            libc::getpwnam_r(
                name.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        match rc {
            0 if result.is_null() => return Ok(None),
            0 => return Ok(Some((pwd.pw_uid, pwd.pw_gid))),
            libc::ERANGE if buf.len() < 1 << 20 => buf.resize(buf.len() * 2, 0),
            // glibc reports "no such user" as one of these for some NSS setups.
            libc::ENOENT | libc::ESRCH => return Ok(None),
            e => return Err(io::Error::from_raw_os_error(e)),
        }
    }
}

fn grouplist(name: &CString, gid: u32) -> Vec<u32> {
    let mut n: libc::c_int = 32;
    loop {
        let mut groups = vec![0 as libc::gid_t; n as usize];
        let asked = n;
        // SAFETY: `groups` holds `n` elements and `n` is updated in place.
        let rc = unsafe { libc::getgrouplist(name.as_ptr(), gid, groups.as_mut_ptr(), &mut n) };
        if rc >= 0 {
            groups.truncate(n as usize);
            return groups;
        }
        if n <= asked {
            // No better size offered: fall back to the primary group only.
            return vec![gid];
        }
    }
}

/// One command to run.
#[derive(Debug, Clone)]
pub struct ExecSpec {
    /// argv; `argv[0]` is the program (no PATH search is relied upon).
    pub argv: Vec<String>,
    /// Added to the daemon's environment.
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub run_as: Option<RunAs>,
    /// Capture stdout/stderr (else they go to /dev/null).
    pub capture: bool,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitKind {
    /// Exited with this code.
    Exited(i32),
    /// Killed by this signal (not by us).
    Signaled(i32),
    /// Still running at the timeout; its process group was killed.
    TimedOut,
    /// Could not be started (missing program, permission, bad user).
    SpawnFailed(String),
}

impl ExitKind {
    pub fn success(&self) -> bool {
        *self == ExitKind::Exited(0)
    }
}

impl std::fmt::Display for ExitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitKind::Exited(c) => write!(f, "exit status {c}"),
            ExitKind::Signaled(s) => write!(f, "killed by signal {s}"),
            ExitKind::TimedOut => f.write_str("timed out"),
            ExitKind::SpawnFailed(e) => write!(f, "could not start: {e}"),
        }
    }
}

/// The start of a stream's output and how much was dropped after it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    pub text: String,
    /// Bytes read beyond [`OUTPUT_LIMIT`].
    pub dropped: usize,
}

impl std::fmt::Display for Captured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text.trim_end())?;
        if self.dropped > 0 {
            write!(f, " [... {} more bytes]", self.dropped)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct ExecResult {
    pub exit: ExitKind,
    pub duration: Duration,
    pub stdout: Captured,
    pub stderr: Captured,
}

/// Kills the process group of a child that has not been reaped yet, so a
/// cancelled run (task aborted, daemon shutting down) leaves nothing behind.
/// The PGID cannot have been reused while its leader is unreaped.
struct GroupGuard(Option<i32>);

impl GroupGuard {
    fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            // SAFETY: plain syscall; `pgid` is our own unreaped child's group.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `spec` to completion or timeout. Never panics on a bad command:
/// start failures come back as [`ExitKind::SpawnFailed`].
pub async fn run(spec: &ExecSpec) -> ExecResult {
    let start = Instant::now();
    let failed = |e: String| ExecResult {
        exit: ExitKind::SpawnFailed(e),
        duration: start.elapsed(),
        stdout: Captured::default(),
        stderr: Captured::default(),
    };
    let Some((program, args)) = spec.argv.split_first() else {
        return failed("empty command".into());
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    if spec.capture {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    } else {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
    }
    if let Some(user) = &spec.run_as {
        drop_privileges(&mut cmd, user);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return failed(e.to_string()),
    };
    let mut guard = GroupGuard(child.id().map(|p| p as i32));
    let out = child.stdout.take().map(collect);
    let err = child.stderr.take().map(collect);

    let exit = match tokio::time::timeout(spec.timeout, child.wait()).await {
        Ok(Ok(status)) => {
            // Reaped: the PID may be reused from here on, never kill by it.
            guard.0 = None;
            exit_kind(status)
        }
        Ok(Err(e)) => {
            guard.kill();
            let _ = child.wait().await;
            ExitKind::SpawnFailed(format!("wait failed: {e}"))
        }
        Err(_) => {
            guard.kill();
            let _ = child.wait().await;
            ExitKind::TimedOut
        }
    };
    let duration = start.elapsed();
    let stdout = finish(out).await;
    let stderr = finish(err).await;
    ExecResult {
        exit,
        duration,
        stdout,
        stderr,
    }
}

fn exit_kind(status: ExitStatus) -> ExitKind {
    match (status.code(), status.signal()) {
        (Some(c), _) => ExitKind::Exited(c),
        (None, Some(s)) => ExitKind::Signaled(s),
        (None, None) => ExitKind::Exited(-1),
    }
}

/// Switches to `user` in the child between fork and exec. Done by hand
/// rather than with `Command::uid/gid` because those clear the
/// supplementary groups instead of setting the user's.
fn drop_privileges(cmd: &mut Command, user: &RunAs) {
    // SAFETY: geteuid/getegid have no preconditions.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if euid == user.uid && egid == user.gid {
        return; // Already that user; setgroups would need privileges we may lack.
    }
    let (uid, gid) = (user.uid, user.gid);
    let groups: Vec<libc::gid_t> = user.groups.clone();
    // SAFETY: the closure only makes async-signal-safe syscalls on memory
    // allocated before the fork; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setgroups(groups.len(), groups.as_ptr()) != 0
                || libc::setgid(gid) != 0
                || libc::setuid(uid) != 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

type Buf = Arc<Mutex<(Vec<u8>, usize)>>;

/// Reads a pipe to EOF in the background, keeping the first
/// [`OUTPUT_LIMIT`] bytes; the buffer is shared so a reader abandoned
/// after [`PIPE_GRACE`] still yields what it got.
fn collect<R: AsyncRead + Unpin + Send + 'static>(
    mut pipe: R,
) -> (Buf, tokio::task::JoinHandle<()>) {
    let buf: Buf = Arc::default();
    let shared = buf.clone();
    let task = tokio::spawn(async move {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            let mut b = shared.lock().unwrap_or_else(|p| p.into_inner());
            let keep = n.min(OUTPUT_LIMIT - b.0.len());
            b.0.extend_from_slice(&chunk[..keep]);
            b.1 += n - keep;
        }
    });
    (buf, task)
}

async fn finish(reader: Option<(Buf, tokio::task::JoinHandle<()>)>) -> Captured {
    let Some((buf, mut task)) = reader else {
        return Captured::default();
    };
    if tokio::time::timeout(PIPE_GRACE, &mut task).await.is_err() {
        task.abort();
    }
    let b = buf.lock().unwrap_or_else(|p| p.into_inner());
    Captured {
        text: String::from_utf8_lossy(&b.0).into_owned(),
        dropped: b.1,
    }
}
