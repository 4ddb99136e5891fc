//! Which local user owns the client end of a loopback TCP connection.
//!
//! The kernel is asked for exactly that socket with `sock_diag` netlink (`SOCK_DIAG_BY_FAMILY`
//! with the full 4-tuple, not a dump): one request, one answer, whatever the number of other
//! sockets on the host. Reading `/proc/net/tcp{,6}` instead costs time in proportion to every
//! socket of the host on every accept; it stays only as the fallback for a kernel without
//! `inet_diag`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::Path;

use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, recv, sendto,
    setsockopt, socket, sockopt,
};

/// `::ffff:a.b.c.d` as `a.b.c.d`: a listener on `::` sees IPv4 clients that way, and they
/// must be judged (loopback or not, whose socket) as the IPv4 clients they are.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), addr.port()),
            None => addr,
        },
        IpAddr::V4(_) => addr,
    }
}

/// The uid of the process that owns the client socket of a connection to `server`;
/// `Ok(None)` when the kernel has no such socket (it closed already). Microseconds, so callers
/// on an async runtime may call it inline; on `Err` (no `inet_diag` in this kernel) the
/// fallback is [`proc_client_uid`], which reads the whole socket table.
pub fn netlink_client_uid(client: SocketAddr, server: SocketAddr) -> nix::Result<Option<u32>> {
    sock_diag_uid(canonical(client), canonical(server))
}

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_HDRLEN: usize = 16;
/// `struct inet_diag_sockid`: ports, two 16-byte addresses, interface, cookie.
const SOCKID_LEN: usize = 48;
/// Offset of `idiag_uid` in `struct inet_diag_msg` (family, state, timer, retrans, sockid,
/// expires, rqueue, wqueue).
const UID_OFFSET: usize = 4 + SOCKID_LEN + 12;

/// Asks the kernel for the one TCP socket whose local end is `client` and remote end is
/// `server`. `Ok(None)`: no such socket. `Err`: netlink itself failed (use the fallback).
fn sock_diag_uid(client: SocketAddr, server: SocketAddr) -> nix::Result<Option<u32>> {
    // An IPv4 client normally has an AF_INET socket; one with a dual-stack AF_INET6 socket
    // shows up under AF_INET6 with mapped addresses.
    let families: &[u8] = match client.ip() {
        IpAddr::V4(_) => &[libc::AF_INET as u8, libc::AF_INET6 as u8],
        IpAddr::V6(_) => &[libc::AF_INET6 as u8],
    };
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkSockDiag,
    )?;
    // The kernel answers at once; the bound only guards against a kernel that never does.
    setsockopt(
        &fd,
        sockopt::ReceiveTimeout,
        &nix::sys::time::TimeVal::new(1, 0),
    )?;
    for (seq, &family) in families.iter().enumerate() {
        let req = request(family, client, server, seq as u32 + 1);
        sendto(
            fd.as_raw_fd(),
            &req,
            &NetlinkAddr::new(0, 0),
            MsgFlags::empty(),
        )?;
        let mut buf = [0u8; 1024];
        let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty())?;
        match parse_answer(&buf[..n]) {
            Answer::Uid(uid) => return Ok(Some(uid)),
            Answer::NotFound => continue,
            Answer::Error(errno) => return Err(nix::errno::Errno::from_raw(errno)),
        }
    }
    Ok(None)
}

fn addr_bytes(ip: IpAddr, family: u8) -> [u8; 16] {
    let mut out = [0u8; 16];
    match (ip, family as i32) {
        (IpAddr::V4(v4), libc::AF_INET) => out[..4].copy_from_slice(&v4.octets()),
        (IpAddr::V4(v4), _) => out = v4.to_ipv6_mapped().octets(),
        (IpAddr::V6(v6), _) => out = v6.octets(),
    }
    out
}

/// `nlmsghdr` + `inet_diag_req_v2` for one exact socket.
fn request(family: u8, client: SocketAddr, server: SocketAddr, seq: u32) -> Vec<u8> {
    let len = NLMSG_HDRLEN + 8 + SOCKID_LEN;
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    m.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    // family, protocol, extensions, padding, states (all)
    m.extend_from_slice(&[family, libc::IPPROTO_TCP as u8, 0, 0]);
    m.extend_from_slice(&u32::MAX.to_ne_bytes());
    // sockid: the client socket's own end is "source", the server is "destination".
    m.extend_from_slice(&client.port().to_be_bytes());
    m.extend_from_slice(&server.port().to_be_bytes());
    m.extend_from_slice(&addr_bytes(client.ip(), family));
    m.extend_from_slice(&addr_bytes(server.ip(), family));
    m.extend_from_slice(&0u32.to_ne_bytes());
    // INET_DIAG_NOCOOKIE: match by address, not by cookie.
    m.extend_from_slice(&u32::MAX.to_ne_bytes());
    m.extend_from_slice(&u32::MAX.to_ne_bytes());
    m
}

#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Uid(u32),
    NotFound,
    Error(i32),
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn parse_answer(b: &[u8]) -> Answer {
    let kind = b
        .get(4..6)
        .map(|t| u16::from_ne_bytes([t[0], t[1]]))
        .unwrap_or(0);
    match kind {
        SOCK_DIAG_BY_FAMILY => match u32_at(b, NLMSG_HDRLEN + UID_OFFSET) {
            Some(uid) => Answer::Uid(uid),
            None => Answer::Error(libc::EPROTO),
        },
        NLMSG_ERROR => {
            let errno = u32_at(b, NLMSG_HDRLEN).map(|e| -(e as i32)).unwrap_or(0);
            if errno == libc::ENOENT {
                Answer::NotFound
            } else {
                Answer::Error(errno)
            }
        }
        _ => Answer::Error(libc::EPROTO),
    }
}

/// Parses one address of the socket table (`0100007F:1F40`, or 32 hex digits for IPv6, each
/// 32-bit word in host byte order).
fn parse_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(ip, 16).ok()?.to_ne_bytes(),
        )),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                let word = u32::from_str_radix(&ip[i * 8..i * 8 + 8], 16).ok()?;
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Finds the uid owning the socket whose local end is `client` and remote end is `server`.
pub fn find_uid(table: &str, client: SocketAddr, server: SocketAddr) -> Option<u32> {
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        // sl local_address rem_address st tx:rx tr:when retrnsmt uid ...
        let (local, remote, uid) = (parse_addr(f.get(1)?)?, parse_addr(f.get(2)?)?, f.get(7)?);
        (canonical(local) == client && canonical(remote) == server)
            .then(|| uid.parse().ok())
            .flatten()
    })
}

/// The fallback: the same answer from `proc` (normally `/proc/self`: the unit's
/// `ProcSubset=pid` hides `/proc/net`, which is only a link to `self/net`), reading the whole
/// table.
pub fn proc_client_uid(proc: &Path, client: SocketAddr, server: SocketAddr) -> Option<u32> {
    let (client, server) = (canonical(client), canonical(server));
    ["net/tcp", "net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(proc.join(f)).ok())
        .find_map(|t| find_uid(&t, client, server))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1 0 100 0 0 10 0
   1: 0100007F:1F40 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 2 1 0 20 4 30 10 -1
   2: 0100007F:D431 0100007F:1F40 01 00000000:00000000 00:00000000 00000000  1001        0 3 1 0 20 4 30 10 -1
";

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    #[test]
    fn finds_the_client_end() {
        let server = addr("127.0.0.1:8000");
        assert_eq!(find_uid(TCP, addr("127.0.0.1:54321"), server), Some(1001));
        assert_eq!(find_uid(TCP, addr("127.0.0.1:1"), server), None);
    }

    #[test]
    fn ipv6_words() {
        // ::1 port 8000 as the kernel prints it.
        assert_eq!(
            parse_addr("00000000000000000000000001000000:1F40"),
            Some(addr("[::1]:8000"))
        );
    }

    #[test]
    fn mapped_addresses_are_their_ipv4_selves() {
        let mapped = addr("[::ffff:127.0.0.1]:4000");
        assert!(!mapped.ip().is_loopback(), "the reason canonical() exists");
        assert_eq!(canonical(mapped), addr("127.0.0.1:4000"));
        assert!(canonical(mapped).ip().is_loopback());
        assert_eq!(canonical(addr("[::1]:4000")), addr("[::1]:4000"));
    }

    #[test]
    fn netlink_answers_are_parsed() {
        let mut found = vec![0u8; NLMSG_HDRLEN + UID_OFFSET + 8];
        found[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        found[NLMSG_HDRLEN + UID_OFFSET..NLMSG_HDRLEN + UID_OFFSET + 4]
            .copy_from_slice(&1234u32.to_ne_bytes());
        assert_eq!(parse_answer(&found), Answer::Uid(1234));
        let mut err = vec![0u8; NLMSG_HDRLEN + 4];
        err[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        err[NLMSG_HDRLEN..].copy_from_slice(&(-libc::ENOENT).to_ne_bytes());
        assert_eq!(parse_answer(&err), Answer::NotFound);
        err[NLMSG_HDRLEN..].copy_from_slice(&(-libc::EPERM).to_ne_bytes());
        assert_eq!(parse_answer(&err), Answer::Error(libc::EPERM));
        assert_eq!(parse_answer(&[]), Answer::Error(libc::EPROTO));
    }

    fn real_pair(listen: &str) -> (std::net::TcpListener, std::net::TcpStream) {
        let l = std::net::TcpListener::bind(listen).expect("bind");
        let c = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        (l, c)
    }

    #[test]
    fn real_connections_are_ours_by_netlink_and_by_proc() {
        let me = nix::unistd::geteuid().as_raw();
        for listen in ["127.0.0.1:0", "[::1]:0"] {
            let (l, c) = real_pair(listen);
            let (client, server) = (c.local_addr().expect("addr"), l.local_addr().expect("addr"));
            assert_eq!(sock_diag_uid(client, server), Ok(Some(me)), "{listen}");
            assert_eq!(netlink_client_uid(client, server), Ok(Some(me)), "{listen}");
            assert_eq!(
                proc_client_uid(Path::new("/proc/self"), client, server),
                Some(me),
                "{listen}"
            );
            // The server's own end is not the client's.
            assert_eq!(sock_diag_uid(server, client).ok().flatten(), Some(me));
            let gone = SocketAddr::new(client.ip(), 1);
            assert_eq!(sock_diag_uid(gone, server), Ok(None), "{listen}");
        }
    }

    #[test]
    fn an_ipv4_client_of_a_dual_stack_listener_is_found() {
        // A listener on [::] sees 127.0.0.1 as ::ffff:127.0.0.1 at both ends.
        let l = std::net::TcpListener::bind("[::]:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let (_s, seen) = l.accept().expect("accept");
        assert!(seen.ip().to_string().starts_with("::ffff:"), "{seen}");
        let local = _s.local_addr().expect("local");
        assert_eq!(canonical(seen), c.local_addr().expect("addr"));
        assert_eq!(
            netlink_client_uid(seen, local),
            Ok(Some(nix::unistd::geteuid().as_raw()))
        );
    }
}
