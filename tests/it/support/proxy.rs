//! A TCP proxy in front of a server that the test can cut and restore: a database on the
//! other side of a network that goes away for a while.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct CutProxy {
    pub addr: SocketAddr,
    up: watch::Sender<bool>,
}

impl CutProxy {
    /// Forwards connections to `backend` until cut; runs until the test's runtime ends.
    pub async fn start(backend: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (up, _) = watch::channel(true);
        let watch = up.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut up = watch.subscribe();
                if !*up.borrow_and_update() {
                    // Cut: the connection closes at once, as a refused one would.
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(backend).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = up.wait_for(|up| !up) => {}
                    }
                });
            }
        });
        Self { addr, up }
    }

    /// Every open connection ends and new ones are closed at once.
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}
