//! Which local user owns the client end of a loopback TCP connection, from the kernel's socket
//! table (`/proc/net/tcp` and `/proc/net/tcp6`, in our network namespace).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

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

fn same(a: SocketAddr, b: SocketAddr) -> bool {
    let canon = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    a.port() == b.port() && canon(a.ip()) == canon(b.ip())
}

/// Finds the uid owning the socket whose local end is `client` and remote end is `server`.
pub fn find_uid(table: &str, client: SocketAddr, server: SocketAddr) -> Option<u32> {
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        // sl local_address rem_address st tx:rx tr:when retrnsmt uid ...
        let (local, remote, uid) = (parse_addr(f.get(1)?)?, parse_addr(f.get(2)?)?, f.get(7)?);
        (same(local, client) && same(remote, server))
            .then(|| uid.parse().ok())
            .flatten()
    })
}

/// The uid of the process that owns the client socket of a connection to `server`, read
/// from `proc` (normally `/proc`). `None` when the kernel has no such socket (it closed).
pub fn client_uid(proc: &Path, client: SocketAddr, server: SocketAddr) -> Option<u32> {
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

    #[test]
    fn finds_the_client_end() {
        let server: SocketAddr = "127.0.0.1:8000".parse().expect("addr");
        let client: SocketAddr = "127.0.0.1:54321".parse().expect("addr");
        assert_eq!(find_uid(TCP, client, server), Some(1001));
        assert_eq!(
            find_uid(TCP, "127.0.0.1:1".parse().expect("addr"), server),
            None
        );
    }

    #[test]
    fn ipv6_words() {
        // ::1 port 8000 as the kernel prints it.
        assert_eq!(
            parse_addr("00000000000000000000000001000000:1F40"),
            Some("[::1]:8000".parse().expect("addr"))
        );
    }

    #[test]
    fn real_connection_is_ours() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let c = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let uid = client_uid(
            Path::new("/proc"),
            c.local_addr().expect("addr"),
            l.local_addr().expect("addr"),
        );
        assert_eq!(uid, Some(nix::unistd::geteuid().as_raw()));
    }
}
