//! A TCP stream that re-arms `TCP_QUICKACK` after every read, so Jupyter's writes (Nagle left
//! on: small websocket frames, and the last partial segment of every HTTP answer) are acknowledged
//! at once instead of after Linux's 40 ms delayed-ACK timer. Used for every upstream connection.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The proxy's HTTP connector: [`HttpConnector`]'s connections, as [`QuickAck`] streams.
#[derive(Clone)]
pub struct QuickAckConnector(pub HttpConnector);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower::Service<Uri> for QuickAckConnector {
    type Response = TokioIo<QuickAck>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move { Ok(TokioIo::new(QuickAck::new(connecting.await?.into_inner()))) })
    }
}

impl Connection for QuickAck {
    fn connected(&self) -> Connected {
        self.0.connected()
    }
}

pub struct QuickAck(pub TcpStream);

impl QuickAck {
    pub fn new(stream: TcpStream) -> Self {
        let _ = stream.set_nodelay(true);
        let s = Self(stream);
        s.arm();
        s
    }

    #[cfg(target_os = "linux")]
    fn arm(&self) {
        use std::os::fd::AsRawFd;
        let one: libc::c_int = 1;
        // SAFETY: a valid socket fd and a pointer to a c_int that outlives the call.
        unsafe {
            libc::setsockopt(
                self.0.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_QUICKACK,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn arm(&self) {}
}

impl AsyncRead for QuickAck {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.0).poll_read(cx, buf);
        // A read that filled the buffer is the middle of a burst: the kernel acknowledges that
        // as it goes. Re-arm after the read that ends one (one system call less per piece of a
        // large download).
        if polled.is_ready() && buf.remaining() > 0 {
            self.arm();
        }
        polled
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.0).poll_write(cx, buf);
        // Sending right after receiving puts Linux back into delayed-ACK ("pingpong") mode,
        // which would hold the ACK of Jupyter's reply: arm again.
        if polled.is_ready() {
            self.arm();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
