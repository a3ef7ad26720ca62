//! A contract asks for a confidential computation on a real devnet: code uploaded off chain by
//! its owner (naming the contract and a secret), run by its hash, the signed result delivered
//! to the contract's callback and verifiable from chain data alone; a contract the upload does
//! not name gets a refusal in its callback instead.

mod common;

use common::neosl;

use std::time::Duration;

use neosl_contracts::Deployed;
use neosl_contracts::confidential::ComputeResult;
use neosl_neo::param::ContractParameter as P;
use neosl_testkit::TempDir;
use num_bigint::BigInt;
use reqwest::Method;
use serde_json::{Value, json};

const SECRET: &str = "on-chain job secret 51f0";
const CODE: &str = "platform.hmacSha256Hex(platform.secret('job-key'), input)";

struct Api {
    url: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut request = common::with_auth(
            self.http.request(method, format!("{}{path}", self.url)),
            &self.token,
        );
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = common::send(request).await;
        assert!(
            answer.status < 300,
            "{path}: {} {}",
            answer.status,
            answer.body
        );
        answer.body["data"].clone()
    }

    async fn until_fulfilled(&self, id: u64) -> Value {
        neosl_testkit::wait_until(
            Duration::from_secs(90),
            format_args!("request {id} to be fulfilled"),
            || async {
                let request = common::with_auth(
                    self.http.get(format!("{}/onchain/requests/{id}", self.url)),
                    &self.token,
                );
                let answer = common::send(request).await;
                (answer.status == 200 && answer.body["data"]["status"] == "fulfilled")
                    .then(|| answer.body["data"].clone())
            },
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_contract_gets_a_signed_confidential_result_in_its_callback() {
    let dir = TempDir::new("neosl-confidential-chain").expect("temp dir");
    let data_dir = dir.path().join("data");
    let port = neosl_devnet::free_port().expect("port").to_string();
    neosl(
        &data_dir,
        &["devnet", "--port", &port, "--block-time-ms", "300"],
    );
    let deployed: Deployed = serde_json::from_slice(
        &std::fs::read(data_dir.join(Deployed::FILE)).expect("contracts.json"),
    )
    .expect("json");
    assert_ne!(deployed.confidential_service, Default::default());
    let running = common::serve(&dir, &[], &[("NEOSL_POOL_TARGET_SIZE", "10")]).expect("serve");
    let http = reqwest::Client::new();
    let url = running.urls["gateway"].clone();
    let token = common::register(&http, &url, "compute@example.org").await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let data_dir_text = data_dir.display().to_string();
    common::dev_credit(
        "compute@example.org",
        100_000_000,
        &[("NEOSL_DATA_DIR", &data_dir_text)],
    );
    let api = Api { url, token, http };
    let consumer = deployed.example_consumer;
    api.call(
        Method::POST,
        "/api/v1/gasbank/pay-contract",
        Some(json!({"contract": consumer.to_string(), "amount": 1_000_000, "reference": "fund"})),
    )
    .await;
    api.call(
        Method::PUT,
        "/secrets/job-key",
        Some(json!({"value": SECRET, "allowed_services": ["confidential"]})),
    )
    .await;
    let upload = api
        .call(
            Method::POST,
            "/confidential/code",
            Some(
                json!({"runtime": "js", "code": CODE, "secrets": ["job-key"],
                    "allowed_contracts": [consumer.to_string()]}),
            ),
        )
        .await;
    let code_hash = upload["code_hash"].as_str().expect("hash").to_owned();
    assert_eq!(
        code_hash,
        hex::encode(neosl_crypto::hash::sha256(CODE.as_bytes()))
    );
    let upload_id = upload["upload_id"].as_str().expect("upload id").to_owned();
    assert_ne!(
        upload_id, code_hash,
        "an upload is its owner's, not any upload of the code"
    );
    let public_key = api
        .call(Method::GET, "/confidential/public-key", None)
        .await["public_key"]
        .as_str()
        .expect("key")
        .to_owned();

    let invoke = |hash: &str, input: &str| {
        common::request_id_of(&neosl(
            &data_dir,
            &[
                "devnet",
                "invoke",
                "--from",
                "alice",
                "ExampleConsumer",
                "compute",
                &format!("bytes:{hash}"),
                &format!("bytes:{}", hex::encode(input)),
            ],
        ))
    };
    let id = invoke(&upload_id, "chain input");
    let unknown = invoke(&"ab".repeat(32), "x");
    api.until_fulfilled(id).await;
    api.until_fulfilled(unknown).await;

    let rpc = neosl_chain::RpcClient::single(
        serde_json::from_slice::<Value>(
            &std::fs::read(data_dir.join("devnet/devnet.json")).expect("devnet.json"),
        )
        .expect("json")["rpc_url"]
            .as_str()
            .expect("url")
            .to_owned(),
    )
    .expect("rpc");
    let stored = |id: u64| {
        let rpc = rpc.clone();
        async move {
            let item = neosl::contracts::read(
                &rpc,
                &consumer,
                "getCompute",
                &[P::Integer(BigInt::from(id))],
            )
            .await
            .expect("getCompute");
            let fields = item.as_array().expect("[success, result]");
            (
                fields[0].as_bool().expect("success"),
                fields[1].as_bytes().expect("result"),
            )
        }
    };
    let (success, result) = stored(id).await;
    assert!(success);
    let result = ComputeResult::from_bytes(&result).expect("a compute result");
    // The program answers the HMAC as hex text.
    assert_eq!(
        String::from_utf8(result.output.clone()).expect("text"),
        hex::encode(neosl_crypto::hash::hmac_sha256(
            SECRET.as_bytes(),
            b"chain input"
        ))
    );
    assert_eq!(hex::encode(result.code_hash), code_hash);
    assert_eq!(
        result.input_hash,
        neosl_crypto::hash::sha256(b"chain input")
    );
    // The signature verifies offline under the published key, and only for this output.
    let key = neosl_crypto::ecdsa::PublicKey::from_slice(&hex::decode(&public_key).expect("hex"))
        .expect("key");
    let signature =
        neosl_crypto::ecdsa::Signature::from_slice(&result.signature).expect("signature");
    assert!(key.verify(&result.attestation("js").message(), &signature));
    let mut altered = result.clone();
    altered.output[0] ^= 1;
    assert!(!key.verify(&altered.attestation("js").message(), &signature));
    assert!(!format!("{result:?}").contains(SECRET));

    let (success, reason) = stored(unknown).await;
    assert!(!success);
    assert_eq!(String::from_utf8(reason).expect("code"), "unknown_code");
    running.stop();
    neosl(&data_dir, &["devnet", "stop"]);
}
