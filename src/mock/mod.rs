//! Loopback mock RDP servers that reproduce each failure class on the wire.
//!
//! A [`MockServer`] serves one [`Scenario`] on a local address. The scenario catalogue says
//! what the server does and what a correct probe reports against it ([`Scenario::expected`]).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use rdpscope::mock::{MockServer, Scenario};
//!
//! let server = MockServer::builder()
//!     .scenario(Scenario::SuccessHybridEx)
//!     .start()
//!     .await?;
//! println!("listening on {}", server.addr());
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! IronRDP's acceptor futures are `!Send`, so every server runs on one dedicated thread with
//! a current-thread tokio runtime and a `LocalSet`; each connection is a local task.

mod catalogue;
pub(crate) mod cert;
mod check;
pub(crate) mod conn;
pub(crate) mod credssp;
mod fault;
mod raw;
mod scenario;
mod serving;
mod wire;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use ironrdp_pdu::rdp::client_info::Credentials;
use tracing::{debug, info};

use self::fault::{Certificate, Fault};

pub use self::catalogue::{catalogue, render_catalogue, CatalogueEntry};
pub use self::scenario::{
    Expected, Scenario, UnknownScenario, ERRINFO_SERVER_DENIED_CONNECTION,
    HYBRID_REQUIRED_BY_SERVER, INCONSISTENT_FLAGS, SSL_CERT_NOT_ON_SERVER,
    SSL_NOT_ALLOWED_BY_SERVER, SSL_REQUIRED_BY_SERVER, SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER,
    STATUS_LOGON_FAILURE,
};
pub(crate) use self::serving::{listener, ServerThread};

/// The user name the mock server accepts by default.
pub const MOCK_USER: &str = "rdpscope";
/// The password the mock server accepts by default.
pub const MOCK_PASSWORD: &str = "rdpscope-mock-password";

/// The probe credentials that the NLA scenarios accept ([`MOCK_USER`], [`MOCK_PASSWORD`]).
pub fn credentials() -> crate::Credentials {
    crate::Credentials {
        user: MOCK_USER.to_owned(),
        domain: None,
        password: crate::Secret::new(MOCK_PASSWORD.to_owned()),
    }
}

/// How long [`Scenario::SlowServer`] waits before every answer by default.
pub const SLOW_SERVER_DELAY: Duration = Duration::from_secs(3);

/// The default bound on every wait in the server (a read, a TLS handshake, a CredSSP exchange).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Entry point of the mock RDP server.
#[derive(Debug)]
pub struct MockServer;

impl MockServer {
    /// A builder with the defaults: [`Scenario::SuccessTls`] on `127.0.0.1:0`, the
    /// [`MOCK_USER`] / [`MOCK_PASSWORD`] credentials and a generated self-signed certificate.
    pub fn builder() -> MockServerBuilder {
        MockServerBuilder::default()
    }
}

/// Configures and starts a [`MockServer`].
#[derive(Clone)]
pub struct MockServerBuilder {
    scenario: Scenario,
    listen: SocketAddr,
    user: String,
    domain: Option<String>,
    password: String,
    identity: Option<(Vec<Vec<u8>>, Vec<u8>)>,
    timeout: Duration,
    delay: Option<Duration>,
}

impl std::fmt::Debug for MockServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No password, no private key.
        f.debug_struct("MockServerBuilder")
            .field("scenario", &self.scenario)
            .field("listen", &self.listen)
            .field("user", &self.user)
            .field("domain", &self.domain)
            .field("custom_certificate", &self.identity.is_some())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Default for MockServerBuilder {
    fn default() -> Self {
        Self {
            scenario: Scenario::SuccessTls,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            user: MOCK_USER.to_owned(),
            domain: None,
            password: MOCK_PASSWORD.to_owned(),
            identity: None,
            timeout: DEFAULT_TIMEOUT,
            delay: None,
        }
    }
}

impl MockServerBuilder {
    /// The behaviour to serve (default [`Scenario::SuccessTls`]).
    pub fn scenario(mut self, s: Scenario) -> Self {
        self.scenario = s;
        self
    }

    /// The address to bind (default `127.0.0.1:0`, port 0 picks a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// The credentials CredSSP (NLA) accepts (default [`MOCK_USER`] / [`MOCK_PASSWORD`]).
    ///
    /// TLS-only scenarios accept any Client Info credentials, like a server that shows its
    /// logon screen.
    pub fn credentials(mut self, user: &str, domain: Option<&str>, password: &str) -> Self {
        self.user = user.to_owned();
        self.domain = domain.map(str::to_owned);
        self.password = password.to_owned();
        self
    }

    /// Serves this certificate (DER) and private key (DER: PKCS#8, PKCS#1 or SEC1) instead
    /// of the generated self-signed one: a chain of one, see
    /// [`certificate_chain`](Self::certificate_chain).
    pub fn certificate(self, cert_der: Vec<u8>, key_der: Vec<u8>) -> Self {
        self.certificate_chain(vec![cert_der], key_der)
    }

    /// Serves this certificate chain (DER, leaf first, sent as given in the TLS handshake)
    /// and the leaf's private key (DER: PKCS#8, PKCS#1 or SEC1) instead of the generated
    /// self-signed certificate. CredSSP binds to the leaf's public key.
    ///
    /// RSA keys under 2048 bits, which *ring* refuses, are served too (signed with the `rsa`
    /// crate). [`start`](Self::start) fails on an empty chain or a key that does not match
    /// the leaf.
    pub fn certificate_chain(mut self, chain_der: Vec<Vec<u8>>, key_der: Vec<u8>) -> Self {
        self.identity = Some((chain_der, key_der));
        self
    }

    /// How long the server waits before every answer of the RDP connection sequence (the
    /// slow server; default none, 3 s for [`Scenario::SlowServer`]).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// The bound on every wait in the server (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Binds the address and starts serving on a dedicated thread.
    ///
    /// Returns once the listener is bound: [`MockServerHandle::addr`] has the real port.
    pub async fn start(self) -> io::Result<MockServerHandle> {
        let (server, fault) = self.scenario.behaviour();
        if fault == Fault::NotListening {
            return MockServerHandle::reserve(self.listen, self.scenario);
        }
        let identity = match (self.identity, server.certificate) {
            (Some((chain_der, key_der)), _) => cert::Identity { chain_der, key_der },
            (None, Certificate::Fixture(name)) => {
                let (chain_der, key_der) = crate::fixtures::embedded(name).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("no certificate fixture `{name}`"),
                    )
                })??;
                cert::Identity { chain_der, key_der }
            }
            (None, _) => cert::default_identity()?,
        };
        let delay = match (self.delay, server.slow) {
            (Some(delay), _) => delay,
            (None, true) => SLOW_SERVER_DELAY,
            (None, false) => Duration::ZERO,
        };
        let tls = cert::server_config(&identity)?;
        let public_key = cert::subject_public_key(identity.leaf_der()?)?;

        let config = wire::Config {
            name: self.scenario.name(),
            server,
            fault,
            tls: tokio_rustls::TlsAcceptor::from(tls),
            public_key,
            credentials: Credentials {
                username: self.user,
                password: self.password,
                domain: self.domain,
            },
            timeout: self.timeout,
            delay,
        };

        let scenario = self.scenario;
        let listener = serving::listener(self.listen)?;
        let port = listener.local_addr()?.port();
        let server = ServerThread::start(
            format!("rdpscope-mock-{port}"),
            listener,
            config,
            |config, stream, peer| async move {
                info!(%peer, scenario = config.name, "Connection accepted");
                // On the heap: the connection's state (the acceptor, the TLS connection,
                // CredSSP) is kilobytes, which the task would otherwise copy whole when it
                // is spawned and again when it ends.
                match Box::pin(conn::serve(stream, peer, &config)).await {
                    Ok(()) => debug!(%peer, "Connection closed"),
                    Err(error) => info!(%peer, %error, "Connection ended early"),
                }
            },
        )?;
        let addr = server.addr();

        info!(%addr, scenario = scenario.name(), "Mock server started");

        Ok(MockServerHandle {
            addr,
            scenario,
            chain_der: identity.chain_der,
            _reserved: None,
            server: Some(server),
        })
    }
}

/// A running mock server. Dropping it shuts the server down too.
#[derive(Debug)]
pub struct MockServerHandle {
    addr: SocketAddr,
    scenario: Scenario,
    chain_der: Vec<Vec<u8>>,
    /// The socket holding the port of [`Scenario::NothingListening`] (bound, never listening).
    _reserved: Option<tokio::net::TcpSocket>,
    /// The serving thread (none for [`Scenario::NothingListening`]).
    server: Option<ServerThread>,
}

impl MockServerHandle {
    /// Binds `listen` without listening, so that connections to the port are refused and
    /// no other process takes it.
    fn reserve(listen: SocketAddr, scenario: Scenario) -> io::Result<Self> {
        let socket = if listen.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.bind(listen)?;
        let addr = socket.local_addr()?;
        info!(%addr, scenario = scenario.name(), "Reserved a port that nothing listens on");
        Ok(Self {
            addr,
            scenario,
            chain_der: Vec::new(),
            _reserved: Some(socket),
            server: None,
        })
    }

    /// The address the server listens on (with the real port when bound to port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The scenario the server serves.
    pub fn scenario(&self) -> Scenario {
        self.scenario
    }

    /// Keeps the serving thread to `cpu` (nothing to do for a port nothing listens on).
    pub(crate) fn pin(&self, cpu: usize) -> io::Result<()> {
        self.server
            .as_ref()
            .map_or(Ok(()), |server| server.pin(cpu))
    }

    /// The DER of the (leaf) certificate the server presents in the TLS handshake.
    pub fn certificate_der(&self) -> &[u8] {
        self.chain_der.first().map_or(&[], Vec::as_slice)
    }

    /// The DER of every certificate the server presents in the TLS handshake, leaf first.
    pub fn certificate_chain_der(&self) -> &[Vec<u8>] {
        &self.chain_der
    }

    /// Stops accepting, closes every open connection and waits for the server thread.
    pub async fn shutdown(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}
