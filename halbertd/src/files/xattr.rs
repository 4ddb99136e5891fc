//! Extended attributes of an open file: POSIX ACLs (`system.posix_acl_*`), the SELinux label
//! (`security.selinux`), `user.*` and the rest, copied from the old file to its replacement so
//! that an edit keeps everything but the content. libc has the calls; this wraps them.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

fn sized(mut f: impl FnMut(&mut [u8]) -> isize) -> io::Result<Vec<u8>> {
    // Ask for the size, then read; retry if it grew in between (ERANGE).
    loop {
        let n = f(&mut []);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; n as usize];
        let m = f(&mut buf);
        if m >= 0 {
            buf.truncate(m as usize);
            return Ok(buf);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ERANGE) {
            return Err(e);
        }
    }
}

/// The names of the attributes of `fd`.
pub fn list(fd: BorrowedFd<'_>) -> io::Result<Vec<CString>> {
    let raw = sized(|buf| {
        // SAFETY: the pointer and length describe `buf`, which outlives the call.
        unsafe { libc::flistxattr(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) }
    })?;
    Ok(raw
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
        .filter_map(|n| CString::new(n).ok())
        .collect())
}

/// The value of attribute `name` of `fd`.
pub fn get(fd: BorrowedFd<'_>, name: &CStr) -> io::Result<Vec<u8>> {
    sized(|buf| {
        // SAFETY: `name` is NUL-terminated; the pointer and length describe `buf`.
        unsafe {
            libc::fgetxattr(
                fd.as_raw_fd(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        }
    })
}

/// Sets attribute `name` of `fd` to `value`.
pub fn set(fd: BorrowedFd<'_>, name: &CStr, value: &[u8]) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated; the pointer and length describe `value`.
    let r = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Copies every attribute of `from` to `to`. A file system without extended attributes
/// (ENOTSUP) has nothing to copy.
pub fn copy_all(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> io::Result<usize> {
    let names = match list(from) {
        Ok(n) => n,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(0),
        Err(e) => return Err(e),
    };
    for n in &names {
        set(to, n, &get(from, n)?)?;
    }
    Ok(names.len())
}
