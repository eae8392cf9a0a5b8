//! One accept loop for every in-process server (the mock RDP servers and the benchmark's raw
//! TLS baseline): a listener with a deep accept queue, served on a thread of its own by a
//! current-thread runtime, one local task per connection, until shut down.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tracing::{info, warn};

/// A non-blocking listening socket on `addr` with a deep accept queue: the standard
/// library's backlog of 128 overflows when hundreds of clients connect at once, and a
/// client whose handshake the kernel dropped for a full queue waits for SYN-ACK
/// retransmissions (seconds) before the server even sees it.
pub(crate) fn listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    // The kernel caps this at net.core.somaxconn.
    socket.listen(4096)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// A server running on its own thread. Dropping it stops the server and joins the thread.
#[derive(Debug)]
pub(crate) struct ServerThread {
    addr: SocketAddr,
    shutdown_tx: Option<oneshot::Sender<()>>,
    done_rx: Option<oneshot::Receiver<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    /// Serves `listener` on a new thread named `name`: every accepted connection runs
    /// `handle(state, stream, peer)` as a local task; the connections still open when the
    /// server stops are cancelled.
    pub(crate) fn start<S, H, F>(
        name: String,
        listener: std::net::TcpListener,
        state: S,
        handle: H,
    ) -> io::Result<Self>
    where
        S: Send + 'static,
        H: Fn(Rc<S>, TcpStream, SocketAddr) -> F + Send + 'static,
        F: Future<Output = ()> + 'static,
    {
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener)
        };
        let listener = match listener {
            Ok(listener) => listener,
            Err(e) => {
                // Dropping a runtime inside the caller's async context would panic.
                runtime.shutdown_background();
                return Err(e);
            }
        };
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let thread = std::thread::Builder::new().name(name).spawn(move || {
            runtime.block_on(async move {
                let local = tokio::task::LocalSet::new();
                local
                    .run_until(accept_loop(listener, Rc::new(state), handle, shutdown_rx))
                    .await;
                // Dropping the LocalSet cancels the connections still open.
                drop(local);
            });
            drop(runtime);
            let _ = done_tx.send(());
        })?;
        Ok(Self {
            addr,
            shutdown_tx: Some(shutdown_tx),
            done_rx: Some(done_rx),
            thread: Some(thread),
        })
    }

    /// The address served.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Keeps the serving thread to `cpu` (see [`crate::affinity`]).
    pub(crate) fn pin(&self, cpu: usize) -> io::Result<()> {
        match &self.thread {
            Some(thread) => crate::affinity::pin_thread(thread, cpu),
            None => Ok(()),
        }
    }

    /// Stops the server and waits, without blocking the caller's runtime, until its thread
    /// has ended.
    pub(crate) async fn shutdown(mut self) {
        self.signal();
        if let Some(done_rx) = self.done_rx.take() {
            // An error means the thread ended without reporting (it panicked): join anyway.
            let _ = done_rx.await;
        }
        self.join();
    }

    fn signal(&mut self) {
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
    }

    fn join(&mut self) {
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                warn!(addr = %self.addr, "Server thread panicked");
            }
            info!(addr = %self.addr, "Server stopped");
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        self.signal();
        self.join();
    }
}

async fn accept_loop<S, H, F>(
    listener: tokio::net::TcpListener,
    state: Rc<S>,
    handle: H,
    mut shutdown: oneshot::Receiver<()>,
) where
    H: Fn(Rc<S>, TcpStream, SocketAddr) -> F,
    F: Future<Output = ()> + 'static,
{
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                tokio::task::spawn_local(handle(Rc::clone(&state), stream, peer));
            }
            Err(error) => {
                // EMFILE and friends: back off instead of spinning, keep serving.
                warn!(%error, "Accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
