//! Starting the emulator on a real socket and stopping it.

use keyward_emulator::{Emulator, EmulatorConfig, EmulatorError, demo_keys};

fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

#[tokio::test]
async fn serves_then_shuts_down() -> anyhow::Result<()> {
    let config = EmulatorConfig {
        listen: "127.0.0.1:0".parse()?,
        keys: demo_keys(),
        market_data: None,
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start(config).await?;
    assert_ne!(emulator.local_addr().port(), 0);
    let base_url = emulator.base_url();
    assert!(base_url.starts_with("http://127.0.0.1:"), "{base_url}");

    let client = http_client();
    let response = client
        .get(format!("{base_url}/fapi/v1/ping"))
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-mbx-used-weight-1m"));
    drop(response);
    drop(client);

    emulator.shutdown().await?;
    let after = http_client()
        .get(format!("{base_url}/fapi/v1/ping"))
        .send()
        .await;
    assert!(after.is_err(), "the socket is closed after shutdown");
    Ok(())
}

#[tokio::test]
async fn missing_market_data_fails_start() {
    let config = EmulatorConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        keys: Vec::new(),
        market_data: Some("/nonexistent/klines.csv".into()),
        ..EmulatorConfig::default()
    };
    let result = Emulator::start(config).await;
    assert!(matches!(result, Err(EmulatorError::MarketData { .. })));
}

#[tokio::test]
async fn unspecified_listen_address_gets_loopback_base_url() -> anyhow::Result<()> {
    let config = EmulatorConfig {
        listen: "0.0.0.0:0".parse()?,
        keys: Vec::new(),
        market_data: None,
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start(config).await?;
    assert!(
        emulator.base_url().starts_with("http://127.0.0.1:"),
        "{}",
        emulator.base_url()
    );
    emulator.shutdown().await?;
    Ok(())
}

/// Sends a websocket handshake request to `url` and returns the status of the answer.
async fn handshake_status(client: &reqwest::Client, url: &str) -> anyhow::Result<u16> {
    let response = client
        .get(url)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await?;
    Ok(response.status().as_u16())
}

#[tokio::test]
async fn websocket_outage_refuses_handshakes_until_ended() -> anyhow::Result<()> {
    let emulator = Emulator::start(EmulatorConfig {
        keys: demo_keys(),
        ..EmulatorConfig::default()
    })
    .await?;
    let base_url = emulator.base_url();
    let client = http_client();
    let public = format!("{base_url}/ws/v5/public");
    assert_eq!(handshake_status(&client, &public).await?, 101);

    let outage = format!("{base_url}/_emulator/websockets/outage");
    let started = client.post(&outage).send().await?;
    assert_eq!(started.status(), 200);
    assert_eq!(handshake_status(&client, &public).await?, 503);
    let ping = client
        .get(format!("{base_url}/fapi/v1/ping"))
        .send()
        .await?;
    assert_eq!(ping.status(), 200, "REST keeps working during the outage");

    let ended = client.delete(&outage).send().await?;
    assert_eq!(ended.status(), 200);
    assert_eq!(handshake_status(&client, &public).await?, 101);
    emulator.shutdown().await?;
    Ok(())
}
