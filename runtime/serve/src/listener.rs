//! The connection loop of mlsys's HTTP servers: accepts TCP connections and serves HTTP/1.1 on each
//! with hyper, bounding what a client can hold on to.
//!
//! The policy ([`ListenerConfig`], defaults in brackets):
//! - **request head** [20 s]: a connection whose request line and headers have not fully arrived
//!   this long after it was accepted, or after the previous response on a kept-alive connection,
//!   is closed. So this is also the idle keep-alive timeout.
//! - **request body** [30 s]: a body not fully arrived this long after its head fails to read; the
//!   handler answers (the feature server: 408) and the connection is closed.
//! - **connections** [10,000, and never more than the open-file limit allows]: a connection
//!   accepted at the limit evicts (closes) the oldest open connection that is between requests
//!   (waiting for a head: idle or slow); if every open connection is in a request, the new
//!   connection is closed at once. A request being answered is never cut.
//!
//! [`raise_open_file_limit`] lifts the soft limit on open files to the hard limit, so the
//! connection limit, not the descriptor table, is what bounds connections.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::{Body as HttpBody, Bytes, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tower::Service;

/// Descriptors left for everything else the process opens (store connections, files, the JIT).
const RESERVED_DESCRIPTORS: u64 = 256;

/// The pause after a failed `accept` (out of descriptors, a connection reset before it was taken).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// How long clients may take and how many connections they may hold. See the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Until a request's head has arrived, from accept or from the previous response.
    pub head_timeout: Duration,
    /// Until a request's body has arrived, from the end of its head.
    pub body_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl Default for ListenerConfig {
    fn default() -> ListenerConfig {
        ListenerConfig {
            head_timeout: Duration::from_secs(20),
            body_timeout: Duration::from_secs(30),
            max_connections: 10_000,
        }
    }
}

/// Raises the soft limit on open files to the hard limit and returns the soft limit now in force
/// (`None`: unlimited). Failing to raise it is not an error: the connection limit adapts.
pub fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        // Refused (a container's policy): keep the current limit.
        let _ = setrlimit(Resource::Nofile, raised);
    }
    getrlimit(Resource::Nofile).current
}

/// Serves `router` on `listener` until `shutdown` completes, then closes the connections between
/// requests and lets the requests in flight finish. The open-file limit is raised first and the connection limit kept under it.
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    config: ListenerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let max_connections = match raise_open_file_limit() {
        Some(files) => config
            .max_connections
            .min(usize::try_from(files.saturating_sub(RESERVED_DESCRIPTORS)).unwrap_or(usize::MAX))
            .max(1),
        None => config.max_connections.max(1),
    };
    let connections = Arc::new(Connections::default());
    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // At the limit with every connection in a request: refused (dropped, closed).
                    if let Some(registration) = Connections::admit(&connections, max_connections) {
                        tasks.spawn(serve_connection(stream, router.clone(), config, registration, stopped.clone()));
                    }
                }
                Err(error) => {
                    if is_out_of_descriptors(&error) {
                        connections.evict_oldest_waiting();
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    }
    stop.send_replace(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

fn is_out_of_descriptors(error: &io::Error) -> bool {
    matches!(
        rustix::io::Errno::from_io_error(error),
        Some(rustix::io::Errno::MFILE | rustix::io::Errno::NFILE)
    )
}

/// One connection: HTTP/1.1 with the head timeout, each body under the body timeout, until the
/// client closes, a timeout fires, it is evicted, or the server stops.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    config: ListenerConfig,
    registration: Registration,
    mut stopped: watch::Receiver<bool>,
) {
    // Small responses on kept-alive connections: never wait for Nagle's algorithm.
    let _ = stream.set_nodelay(true);
    let slot = registration.slot.clone();
    let body_timeout = config.body_timeout;
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut router = router.clone();
        let in_flight = InFlight::enter(&slot);
        async move {
            let _in_flight = in_flight;
            router
                .call(request.map(|body| DeadlineBody::new(body, body_timeout)))
                .await
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.head_timeout);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        // Closed by the client or by a timeout; errors are the client's (a reset, a bad head).
        _ = connection.as_mut() => return,
        // Dropping the connection closes the socket.
        () = registration.slot.evicted.notified() => return,
        _ = stopped.wait_for(|stop| *stop) => {}
    }
    // Stopping: a connection between requests is closed now (a slow head would hold the stop
    // up to the head timeout); one in a request is answered first.
    if registration.slot.requests_in_flight.load(Ordering::Acquire) == 0 {
        return;
    }
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}

/// The open connections, oldest first, for eviction at the limit.
#[derive(Default)]
struct Connections {
    open: Mutex<BTreeMap<u64, Arc<Slot>>>,
    next_id: AtomicU64,
}

/// What the loop knows of one connection.
#[derive(Default)]
struct Slot {
    requests_in_flight: AtomicUsize,
    evicted: Notify,
}

impl Connections {
    fn open(&self) -> MutexGuard<'_, BTreeMap<u64, Arc<Slot>>> {
        // The map holds no invariant a panicking holder could break.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a new connection, first evicting the oldest waiting one when at `limit`; `None`
    /// when at the limit and none is waiting.
    fn admit(connections: &Arc<Connections>, limit: usize) -> Option<Registration> {
        if connections.open().len() >= limit && !connections.evict_oldest_waiting() {
            return None;
        }
        let id = connections.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot::default());
        connections.open().insert(id, slot.clone());
        Some(Registration {
            connections: connections.clone(),
            id,
            slot,
        })
    }

    /// Closes the oldest connection that is between requests; false if there is none.
    fn evict_oldest_waiting(&self) -> bool {
        let mut open = self.open();
        let oldest = open
            .iter()
            .find(|(_, slot)| slot.requests_in_flight.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id);
        match oldest.and_then(|id| open.remove(&id)) {
            Some(slot) => {
                // Stored as a permit if the connection's task is not waiting yet.
                slot.evicted.notify_one();
                true
            }
            None => false,
        }
    }
}

/// A connection's place in [`Connections`], given up when its task ends.
struct Registration {
    connections: Arc<Connections>,
    id: u64,
    slot: Arc<Slot>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.connections.open().remove(&self.id);
    }
}

/// Marks its connection as answering a request while it lives.
struct InFlight(Arc<Slot>);

impl InFlight {
    fn enter(slot: &Arc<Slot>) -> InFlight {
        slot.requests_in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(slot.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.requests_in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body did not arrive within {} s of its head", .0.as_secs_f64())]
    TimedOut(Duration),
    #[error("the connection failed while reading the request body")]
    Read(#[source] hyper::Error),
}

/// A request body that fails with [`BodyError::TimedOut`] once its deadline passes.
struct DeadlineBody {
    body: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
}

impl DeadlineBody {
    fn new(body: Incoming, limit: Duration) -> DeadlineBody {
        DeadlineBody {
            body,
            deadline: Box::pin(tokio::time::sleep(limit)),
            limit,
        }
    }
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(context) {
            return Poll::Ready(frame.map(|frame| frame.map_err(BodyError::Read)));
        }
        match this.deadline.as_mut().poll(context) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyError::TimedOut(this.limit)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
