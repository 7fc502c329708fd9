//! What a benchmarked process cost: CPU seconds (user + system) from
//! `/proc/<pid>/stat` while it runs, and its whole life's CPU and peak RSS
//! from `wait4(2)` when it is reaped.
#![allow(unsafe_code)]

use std::io;
use std::process::Child;

/// CPU seconds (user + system) a live process has used so far.
pub fn cpu_seconds(pid: u32) -> io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command (which may hold spaces) in parentheses.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| io::Error::other("unreadable /proc stat"))?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat; 12 and 13 here.
    let ticks = |i: usize| -> io::Result<f64> {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| io::Error::other("unreadable /proc stat"))
    };
    Ok((ticks(11)? + ticks(12)?) / clock_ticks())
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as f64 } else { 100.0 }
}

/// How a reaped process ended and what its whole life cost.
#[derive(Debug, Clone, Copy)]
pub struct Reaped {
    /// Exit code (None: killed by a signal).
    pub code: Option<i32>,
    /// User + system CPU seconds over its life.
    pub cpu_seconds: f64,
    /// Peak resident set, bytes.
    pub max_rss_bytes: u64,
}

/// Waits for `child` to exit and reaps it with `wait4`, which also returns
/// its resource usage (the standard library's `wait` does not).
pub fn reap(child: &mut Child) -> io::Result<Reaped> {
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our unreaped child; status and usage are valid
        // out-pointers for the duration of the call.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(Reaped {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        cpu_seconds: secs(usage.ru_utime) + secs(usage.ru_stime),
        // Linux reports kilobytes.
        max_rss_bytes: usage.ru_maxrss.max(0) as u64 * 1024,
    })
}

/// Sends SIGTERM.
pub fn terminate(child: &Child) -> io::Result<()> {
    // SAFETY: kill has no memory preconditions; the pid is our unreaped child.
    if unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_busy_child() {
        let mut c = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
            .spawn()
            .expect("sh");
        let before = cpu_seconds(c.id()).expect("stat");
        let r = reap(&mut c).expect("reap");
        assert_eq!(r.code, Some(0));
        assert!(r.cpu_seconds >= before, "{r:?} vs {before}");
        assert!(r.cpu_seconds > 0.0 && r.max_rss_bytes > 0, "{r:?}");
    }
}
