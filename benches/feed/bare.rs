//! The baseline: a bare tokio-tungstenite server that sends every message of one broadcast
//! channel to every connected client, with nothing else in the way.

use std::net::SocketAddr;

use futures::{SinkExt, StreamExt};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// A running baseline server and the channel its messages come from.
pub struct BareServer {
    pub address: SocketAddr,
    pub sender: broadcast::Sender<Utf8Bytes>,
}

/// Starts the baseline on a loopback port with a channel of `capacity` messages.
pub async fn start(capacity: usize) -> BareServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = listener.local_addr().expect("a local address");
    let (sender, _) = broadcast::channel(capacity);
    let accepting = sender.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let receiver = accepting.subscribe();
            tokio::spawn(serve(stream, receiver));
        }
    });
    BareServer { address, sender }
}

async fn serve(stream: tokio::net::TcpStream, mut receiver: broadcast::Receiver<Utf8Bytes>) {
    let Ok(socket) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut sink, mut incoming) = socket.split();
    tokio::spawn(async move { while incoming.next().await.is_some() {} });
    loop {
        match receiver.recv().await {
            Ok(text) => {
                if sink.send(Message::Text(text)).await.is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let _ = sink.send(Message::Close(None)).await;
                return;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
