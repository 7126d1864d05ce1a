//! Ports on the loopback interface, and a TCP proxy that can cut the network.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Child;
use std::time::{Duration, Instant};

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// Waits until something listens on `127.0.0.1:port`, for at most `within`, while `child` (the
/// server started to listen there) is alive. A child that exits first fails the wait at once with
/// its status, rather than after the whole wait with only "did not listen"; a child found dead
/// once the port answers means another process holds the port (the window between
/// [`free_port`] and the child's bind), and fails too, rather than a test talking to a stranger.
pub fn wait_for_listener(child: &mut Child, port: u16, within: Duration) -> Result<(), String> {
    let start = Instant::now();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // What became of the child, if it is no longer running.
    let ended = |child: &mut Child| match child.try_wait() {
        Ok(Some(status)) => Some(format!("it exited ({status})")),
        Ok(None) => None,
        Err(e) => Some(format!("its state could not be read ({e})")),
    };
    while start.elapsed() < within {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return ended(child).map_or(Ok(()), |why| Err(format!("{why}; another process holds 127.0.0.1:{port}")));
        }
        if let Some(why) = ended(child) {
            return Err(format!("{why} before listening on 127.0.0.1:{port}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("nothing listened on 127.0.0.1:{port} within {} s", within.as_secs()))
}

/// A TCP proxy in front of a local server that can cut the network: [`Self::partition`] resets
/// every open connection (a request in flight loses its response, whether or not the server
/// acted on it) and refuses new ones until [`Self::heal`]; [`Self::stall`] resets them too but
/// then accepts new ones and never answers (a black hole: a peer that stopped responding);
/// [`Self::lose_responses`] lets requests reach the server and closes the connection instead of
/// passing on its answer (the server acted, the client cannot know). The server's data is
/// untouched, so what a test then finds lost is lost by the client side.
pub struct FaultProxy {
    pub port: u16,
    partitioned: std::sync::Arc<std::sync::atomic::AtomicBool>,
    stalled: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<TcpStream>>>,
    held: std::sync::Arc<std::sync::Mutex<Vec<TcpStream>>>,
    /// Answers still to lose, and answers lost so far.
    to_lose: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    lost: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl FaultProxy {
    /// Listens on a free port and forwards each connection to `127.0.0.1:upstream`.
    pub fn start(upstream: u16) -> Self {
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("proxy bind: {e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_else(|e| panic!("proxy address: {e}"));
        let proxy = Self {
            port,
            partitioned: Default::default(),
            stalled: Default::default(),
            open: Default::default(),
            held: Default::default(),
            to_lose: Default::default(),
            lost: Default::default(),
        };
        let (partitioned, stalled, open, held) =
            (proxy.partitioned.clone(), proxy.stalled.clone(), proxy.open.clone(), proxy.held.clone());
        let (to_lose, lost) = (proxy.to_lose.clone(), proxy.lost.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if stalled.load(Ordering::SeqCst) {
                    if let Ok(mut list) = held.lock() {
                        list.push(client);
                    }
                    continue;
                }
                let server = match TcpStream::connect(("127.0.0.1", upstream)) {
                    Ok(server) if !partitioned.load(Ordering::SeqCst) => server,
                    _ => {
                        let _ = client.shutdown(std::net::Shutdown::Both);
                        continue;
                    }
                };
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else { continue };
                if let Ok(mut list) = open.lock() {
                    list.extend([c2, s2]);
                }
                for (answers, from, to) in
                    [(false, client.try_clone(), server.try_clone()), (true, server.try_clone(), client.try_clone())]
                {
                    let (Ok(mut from), Ok(mut to)) = (from, to) else { continue };
                    let (to_lose, lost) = (to_lose.clone(), lost.clone());
                    std::thread::spawn(move || {
                        if answers {
                            forward_answers(&mut from, &mut to, &to_lose, &lost);
                        } else {
                            let _ = std::io::copy(&mut from, &mut to);
                        }
                        let _ = from.shutdown(std::net::Shutdown::Both);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        proxy
    }

    /// Cuts the network: open connections are reset, new ones refused.
    pub fn partition(&self) {
        self.partitioned.store(true, std::sync::atomic::Ordering::SeqCst);
        Self::reset(&self.open);
    }

    /// Stops answering: open connections are reset, new ones accepted and left unanswered.
    pub fn stall(&self) {
        self.stalled.store(true, std::sync::atomic::Ordering::SeqCst);
        Self::reset(&self.open);
    }

    /// Connections accepted while stalled and left unanswered: proof a client reached the stall.
    pub fn held(&self) -> usize {
        self.held.lock().map_or(0, |list| list.len())
    }

    /// Loses the next `n` answers: each connection whose server starts answering while some are
    /// left to lose is closed instead, its request acted on and its answer never delivered.
    pub fn lose_responses(&self, n: usize) {
        self.to_lose.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Answers lost so far: proof the server acted on a request whose client never heard back.
    pub fn lost(&self) -> usize {
        self.lost.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Lets connections through again (the unanswered ones are closed).
    pub fn heal(&self) {
        self.partitioned.store(false, std::sync::atomic::Ordering::SeqCst);
        self.stalled.store(false, std::sync::atomic::Ordering::SeqCst);
        Self::reset(&self.held);
    }

    fn reset(streams: &std::sync::Mutex<Vec<TcpStream>>) {
        if let Ok(mut list) = streams.lock() {
            for stream in list.drain(..) {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

/// Copies a server's answers to its client, except that the first bytes of an answer arriving
/// while `to_lose` is above zero end the connection instead (counted in `lost`).
fn forward_answers(
    server: &mut TcpStream,
    client: &mut TcpStream,
    to_lose: &std::sync::atomic::AtomicUsize,
    lost: &std::sync::atomic::AtomicUsize,
) {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match server.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if to_lose.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(1)).is_ok() {
            lost.fetch_add(1, Ordering::SeqCst);
            return;
        }
        if client.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Child {
        std::process::Command::new("sh").arg("-c").arg(script).spawn().unwrap_or_else(|e| panic!("sh: {e}"))
    }

    #[test]
    fn a_server_that_exits_before_listening_fails_the_wait_with_its_status() {
        let port = free_port();
        let waited = wait_for_listener(&mut sh("exit 3"), port, Duration::from_secs(600));
        assert_eq!(waited, Err(format!("it exited (exit status: 3) before listening on 127.0.0.1:{port}")));
    }

    #[test]
    fn a_port_held_by_another_process_fails_the_wait_when_the_server_has_exited() {
        let stranger = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
        let port = stranger.local_addr().map(|a| a.port()).unwrap_or_else(|e| panic!("address: {e}"));
        let mut child = sh("exit 1");
        let _ = child.wait();
        let waited = wait_for_listener(&mut child, port, Duration::from_secs(600));
        assert_eq!(waited, Err(format!("it exited (exit status: 1); another process holds 127.0.0.1:{port}")));
    }

    #[test]
    fn a_live_server_that_listens_passes_the_wait() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_else(|e| panic!("address: {e}"));
        let mut child = sh("sleep 30");
        let waited = wait_for_listener(&mut child, port, Duration::from_secs(600));
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(waited, Ok(()));
    }
}
