use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use neosl_runtime::RuntimeMode;
use neosl_runtime::certs::{DevCa, PemPair, Validity};
use neosl_runtime::error::ApiJson;
use neosl_runtime::identity::Caller;
use neosl_runtime::server::{self, Limits, ServiceInfo};
use neosl_runtime::tls::TlsMaterial;
use serde_json::{Value, json};
use tokio::sync::watch;

async fn whoami(caller: Caller) -> ApiJson<Value> {
    ApiJson(json!({ "service_id": caller.service_id, "verified": caller.verified }))
}

struct Server {
    url: String,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(material: &TlsMaterial) -> Server {
    let info = Arc::new(ServiceInfo::new(
        "accountpool",
        RuntimeMode::Simulation,
        true,
        true,
    ));
    let app = server::router(
        info,
        Router::new().route("/whoami", get(whoami)),
        Limits::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "https://accountpool:{}",
        listener.local_addr().expect("addr").port()
    );
    let (stop, stopped) = watch::channel(false);
    let tls = material.server_config().expect("server config");
    let task = tokio::spawn(server::serve(
        listener,
        app,
        Some(tls),
        stopped,
        Duration::from_secs(2),
    ));
    Server { url, stop, task }
}

fn material(pair: &PemPair, ca: &DevCa) -> TlsMaterial {
    TlsMaterial::from_pem(&pair.cert_pem, &pair.key_pem, &ca.cert_pem()).expect("material")
}

/// A client that resolves the service name to loopback (certificates name services, not IPs).
fn client(material: &TlsMaterial, port: u16) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(material.client_config().expect("client config"))
        .resolve("accountpool", ([127, 0, 0, 1], port).into())
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port")
}

#[tokio::test]
async fn mutual_tls_identifies_callers_and_refuses_the_rest() {
    let ca = DevCa::generate("neosl test CA").expect("ca");
    let server_material = material(
        &ca.issue("accountpool", Validity::Current).expect("cert"),
        &ca,
    );
    let server = start(&server_material).await;
    let port = port_of(&server.url);

    // The right CA: the handler sees the certificate's identity.
    let mixer = material(&ca.issue("mixer", Validity::Current).expect("cert"), &ca);
    let mixer_client = client(&mixer, port);
    let response = mixer_client
        .get(format!("{}/whoami", server.url))
        .send()
        .await
        .expect("reaches the handler");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body, json!({ "service_id": "mixer", "verified": true }));

    // Strict mode: a spoofed X-Service-ID is refused with a clear code.
    let response = mixer_client
        .get(format!("{}/whoami", server.url))
        .header("X-Service-ID", "gateway")
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], "identity_mismatch");
    assert_eq!(body["success"], false);
    // Naming itself correctly is fine.
    let response = mixer_client
        .get(format!("{}/whoami", server.url))
        .header("X-Service-ID", "mixer")
        .send()
        .await
        .expect("ok");
    assert_eq!(response.status(), 200);

    // A certificate from another CA is refused.
    let other_ca = DevCa::generate("someone else's CA").expect("ca");
    let stranger_pair = other_ca.issue("mixer", Validity::Current).expect("cert");
    let stranger = TlsMaterial::from_pem(
        &stranger_pair.cert_pem,
        &stranger_pair.key_pem,
        &ca.cert_pem(),
    )
    .expect("material");
    assert!(
        client(&stranger, port)
            .get(format!("{}/whoami", server.url))
            .send()
            .await
            .is_err(),
        "wrong CA refused"
    );

    // An expired certificate from the right CA is refused.
    let expired = material(&ca.issue("mixer", Validity::Expired).expect("cert"), &ca);
    assert!(
        client(&expired, port)
            .get(format!("{}/whoami", server.url))
            .send()
            .await
            .is_err(),
        "expired refused"
    );

    // No client certificate at all is refused.
    let mut roots = rustls::RootCertStore::empty();
    use rustls_pki_types::pem::PemObject;
    roots
        .add(
            rustls_pki_types::CertificateDer::from_pem_slice(ca.cert_pem().as_bytes())
                .expect("pem"),
        )
        .expect("root");
    let anonymous = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let anonymous = reqwest::Client::builder()
        .tls_backend_preconfigured(anonymous)
        .resolve("accountpool", ([127, 0, 0, 1], port).into())
        .build()
        .expect("client");
    assert!(
        anonymous
            .get(format!("{}/health", server.url))
            .send()
            .await
            .is_err(),
        "no certificate refused"
    );

    // The server keeps serving good clients after refusing bad ones, then shuts down gracefully.
    assert_eq!(
        mixer_client
            .get(format!("{}/health", server.url))
            .send()
            .await
            .expect("ok")
            .status(),
        200
    );
    server.stop.send(true).expect("stop");
    server.task.await.expect("joined").expect("clean shutdown");
}

#[tokio::test]
async fn marble_environment_is_all_or_nothing() {
    use std::collections::HashMap;
    let ca = DevCa::generate("ca").expect("ca");
    let pair = ca.issue("vrf", Validity::Current).expect("cert");
    let mut env: HashMap<String, String> = HashMap::new();
    assert!(
        TlsMaterial::from_marble_env(&env)
            .expect("none set")
            .is_none()
    );
    env.insert(
        neosl_runtime::tls::ENV_CERT_CHAIN.into(),
        pair.cert_pem.clone(),
    );
    assert!(
        TlsMaterial::from_marble_env(&env).is_err(),
        "partial set refused"
    );
    env.insert(
        neosl_runtime::tls::ENV_PRIVATE_KEY.into(),
        pair.key_pem.to_string(),
    );
    env.insert(neosl_runtime::tls::ENV_ROOT_CA.into(), ca.cert_pem());
    let material = TlsMaterial::from_marble_env(&env)
        .expect("valid")
        .expect("some");
    assert_eq!(material.own_name().as_deref(), Some("vrf"));
    assert!(!format!("{material:?}").contains("PRIVATE KEY"));
    env.insert(
        neosl_runtime::tls::ENV_ROOT_CA.into(),
        "not a certificate".into(),
    );
    assert!(TlsMaterial::from_marble_env(&env).is_err());
}

#[tokio::test]
async fn one_client_code_path_in_process_and_over_mutual_tls() {
    use axum::http::Method;
    use neosl_runtime::client::{ServiceTransport, StandardApi};

    let ca = DevCa::generate("ca").expect("ca");
    let server_material = material(
        &ca.issue("accountpool", Validity::Current).expect("cert"),
        &ca,
    );
    let server = start(&server_material).await;
    let port = port_of(&server.url);
    let mixer = material(&ca.issue("mixer", Validity::Current).expect("cert"), &ca);
    let remote = ServiceTransport::Http {
        base_url: server.url.clone(),
        client: client(&mixer, port),
        caller: "mixer".into(),
    };

    let info = Arc::new(ServiceInfo::new(
        "accountpool",
        RuntimeMode::Simulation,
        true,
        true,
    ));
    let local = ServiceTransport::InProcess {
        router: server::router(
            info,
            Router::new().route("/whoami", get(whoami)),
            Limits::default(),
        ),
        caller: "mixer".into(),
    };
    for transport in [&remote, &local] {
        let health = transport.health().await.expect("health");
        assert_eq!(health["service"], "accountpool", "{transport:?}");
        let info = transport.info().await.expect("info");
        assert_eq!(info["strict_identity"], true);
        let who: Value = transport
            .call::<(), _>(Method::GET, "/whoami", None)
            .await
            .expect("whoami");
        assert_eq!(
            who,
            json!({ "service_id": "mixer", "verified": true }),
            "{transport:?}"
        );
        let missing = transport
            .call::<(), Value>(Method::GET, "/nope", None)
            .await;
        assert!(
            matches!(missing, Err(neosl_runtime::client::TransportError::Api { status: 404, ref code, .. }) if code == "not_found")
        );
    }
    // Over mTLS the certificate decides: a transport claiming another name is refused.
    let liar = ServiceTransport::Http {
        base_url: server.url.clone(),
        client: client(&mixer, port),
        caller: "gateway".into(),
    };
    let refused = liar.call::<(), Value>(Method::GET, "/whoami", None).await;
    assert!(
        matches!(
            refused,
            Err(neosl_runtime::client::TransportError::Api { status: 403, .. })
        ),
        "{refused:?}"
    );
    server.stop.send(true).expect("stop");
    server.task.await.expect("joined").expect("clean");
}
