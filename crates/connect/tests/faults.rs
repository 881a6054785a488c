//! Every transport and protocol failure, against a loopback server in the test that misbehaves on purpose,
//! and the shape of what the client sends (version 6, key, Content-Length, one connection per request).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use ankiops_connect::{Action, Client, Config, Error, NewNote, NotAdded, SyncOutcome};
use serde_json::{Value, json};

/// One request as the fake server received it.
#[derive(Debug, Clone)]
struct Request {
    head: String,
    body: Value,
}

impl Request {
    fn action(&self) -> &str {
        self.body["action"].as_str().unwrap_or("")
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
        })
    }
}

/// A loopback server that hands every connection to a handler: (connection index, request, stream).
struct Fake {
    url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    connections: Arc<AtomicUsize>,
}

type Handler = dyn Fn(usize, &Request, &mut TcpStream) + Send + Sync + 'static;

fn serve(handler: impl Fn(usize, &Request, &mut TcpStream) + Send + Sync + 'static) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let handler: Arc<Handler> = Arc::new(handler);
    {
        let requests = requests.clone();
        let connections = connections.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let index = connections.fetch_add(1, Ordering::SeqCst);
                let Some(request) = read_request(&mut stream) else {
                    continue;
                };
                requests.lock().expect("lock").push(request.clone());
                let handler = handler.clone();
                // One thread per connection, so that a stalled reply does not block the next test step.
                thread::spawn(move || handler(index, &request, &mut stream));
            }
        });
    }
    Fake { url, requests, connections }
}

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(pos) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Some(Request { head, body })
}

/// Answers as the add-on does: 200, JSON, Content-Length, no Connection header, then closes.
fn reply(stream: &mut TcpStream, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nAccess-Control-Allow-Origin: http://localhost\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        body
    );
}

fn ok(stream: &mut TcpStream, result: Value) {
    reply(stream, &json!({"result": result, "error": null}).to_string());
}

fn fail(stream: &mut TcpStream, message: &str) {
    reply(stream, &json!({"result": null, "error": message}).to_string());
}

/// A reply cut off in the middle: the headers promise more bytes than arrive.
fn cut_off(stream: &mut TcpStream) {
    let _ = stream.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"result\": [\"Def",
    );
}

fn client(url: &str) -> Client {
    Client::new(Config {
        url: url.to_owned(),
        api_key: None,
        timeout: Duration::from_secs(5),
        long_timeout: Duration::from_secs(5),
    })
}

fn keyed(url: &str, key: &str) -> Client {
    Client::new(Config { api_key: Some(key.to_owned()), ..Config::new(url) })
}

// ---- unreachable, not AnkiConnect ----

#[test]
fn nothing_listening_is_unreachable() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let err = client(&url).version().expect_err("nobody listens");
    assert!(err.is_unreachable(), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot reach AnkiConnect at {url}: start Anki and check that the AnkiConnect add-on (2055492159) is installed and enabled"
        )
    );
}

#[test]
fn garbage_is_not_anki_connect() {
    let fake = serve(|_, _, s| {
        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.6\r\nProtocol mismatch.\r\n");
    });
    let err = client(&fake.url).version().expect_err("garbage");
    assert!(err.is_not_anki_connect(), "{err:?}");
    assert!(err.to_string().contains(&fake.url), "{err}");
    assert!(err.to_string().contains("`version`"), "{err}");
}

#[test]
fn html_is_not_anki_connect() {
    let fake = serve(|_, _, s| {
        let body = "<!DOCTYPE html><html><body>Welcome to nginx</body></html>";
        let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    });
    let err = client(&fake.url).deck_names_and_ids().expect_err("html");
    assert!(err.is_not_anki_connect(), "{err:?}");
    assert!(err.to_string().contains("an HTML page"), "{err}");
}

#[test]
fn non_200_status_is_not_anki_connect() {
    let fake = serve(|_, _, s| {
        let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found");
    });
    let err = client(&fake.url).get_profiles().expect_err("404");
    assert!(err.is_not_anki_connect(), "{err:?}");
    assert!(err.to_string().contains("HTTP status 404"), "{err}");
}

#[test]
fn plain_text_is_not_anki_connect() {
    let fake = serve(|_, _, s| reply(s, "hello world"));
    let err = client(&fake.url).model_names().expect_err("text");
    assert!(err.is_not_anki_connect(), "{err:?}");
    assert!(err.to_string().contains("not JSON"), "{err}");
}

#[test]
fn json_of_the_wrong_shape_names_the_action() {
    let fake = serve(|_, _, s| reply(s, r#"{"status": "ok", "uptime": 12}"#));
    let c = client(&fake.url);
    let err = c.version().expect_err("wrong shape");
    assert!(err.is_not_anki_connect(), "{err:?}");
    let err = c.deck_names_and_ids().expect_err("wrong shape");
    assert!(matches!(&err, Error::Malformed { action, .. } if action == "deckNamesAndIds"), "{err:?}");
    assert!(err.to_string().contains("`deckNamesAndIds`"), "{err}");
}

// ---- dropped connections and retries ----

#[test]
fn a_read_is_retried_once_after_a_dropped_reply() {
    let fake = serve(|index, _, s| {
        if index == 0 {
            cut_off(s);
        } else {
            ok(s, json!(["Default"]));
        }
    });
    let names: Vec<String> = client(&fake.url).call("deckNames", Value::Null).expect("retried");
    assert_eq!(names, ["Default"]);
    assert_eq!(fake.connections.load(Ordering::SeqCst), 2);
}

#[test]
fn a_read_dropped_twice_fails_as_dropped() {
    let fake = serve(|_, _, s| cut_off(s));
    let err = client(&fake.url).find_notes("deck:x").expect_err("dropped");
    assert!(matches!(err, Error::Dropped { write: false, .. }), "{err:?}");
    assert!(err.is_transient() && !err.is_outcome_unknown());
    assert!(err.to_string().contains("`findNotes`"), "{err}");
    assert_eq!(fake.connections.load(Ordering::SeqCst), 2);
}

#[test]
fn a_connection_closed_without_a_reply_is_dropped_and_retried_for_reads() {
    let fake = serve(|index, _, s| {
        if index == 0 {
            let _ = s.shutdown(std::net::Shutdown::Both);
        } else {
            ok(s, json!(6));
        }
    });
    assert_eq!(client(&fake.url).version().expect("retried"), 6);
    assert_eq!(fake.connections.load(Ordering::SeqCst), 2);
}

#[test]
fn a_write_is_never_retried() {
    let fake = serve(|_, _, s| cut_off(s));
    let note = NewNote {
        deck_name: "Default".into(),
        model_name: "Basic".into(),
        fields: [("Front".to_owned(), "q".to_owned())].into(),
        ..NewNote::default()
    };
    let err = client(&fake.url).add_note(&note).expect_err("dropped");
    assert!(matches!(err, Error::Dropped { write: true, .. }), "{err:?}");
    assert!(err.is_outcome_unknown());
    assert!(err.to_string().contains("may or may not have been applied"), "{err}");
    thread::sleep(Duration::from_millis(200));
    assert_eq!(fake.connections.load(Ordering::SeqCst), 1);
}

// ---- timeouts ----

#[test]
fn a_stalled_server_times_out_naming_the_action() {
    let fake = serve(|_, _, s| {
        thread::sleep(Duration::from_secs(3));
        ok(s, json!(6));
    });
    let c = Client::new(Config {
        timeout: Duration::from_millis(300),
        long_timeout: Duration::from_millis(400),
        ..Config::new(&fake.url)
    });
    let start = Instant::now();
    let err = c.get_profiles().expect_err("stalled");
    assert!(err.is_timeout(), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    assert!(err.to_string().contains("`getProfiles`"), "{err}");
    assert!(err.to_string().contains("0.3s"), "{err}");
    // A timeout is not retried: Anki is busy, and a second request would only queue behind the first.
    assert_eq!(fake.connections.load(Ordering::SeqCst), 1);

    let err = c.sync().expect_err("stalled");
    assert!(err.is_timeout(), "{err:?}");
}

#[test]
fn version_uses_the_short_probe_timeout() {
    let fake = serve(|_, _, s| {
        thread::sleep(Duration::from_secs(5));
        ok(s, json!(6));
    });
    let c = Client::new(Config { timeout: Duration::from_secs(30), ..Config::new(&fake.url) });
    let start = Instant::now();
    let err = c.version().expect_err("stalled");
    assert!(err.is_timeout(), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(4), "{:?}", start.elapsed());
}

// ---- envelopes, reply shapes and Anki's own errors ----

#[test]
fn bare_version_4_results_are_accepted() {
    let fake = serve(|_, r, s| match r.action() {
        "version" => reply(s, "6"),
        "deckNamesAndIds" => reply(s, r#"{"Default": 1}"#),
        "multi" => reply(s, r#"[["Default"], {"result": null, "error": "unsupported action"}, null]"#),
        _ => fail(s, "unsupported action"),
    });
    let c = client(&fake.url);
    assert_eq!(c.version().expect("bare"), 6);
    assert_eq!(c.deck_names_and_ids().expect("bare")["Default"], 1);
    let actions = [
        Action::new("deckNames", Value::Null),
        Action::new("noSuchAction", Value::Null),
        Action::new("updateNoteFields", json!({"note": {"id": 1, "fields": {}}})),
    ];
    let results = c.multi(&actions, &mut |_, _| {}).expect("multi");
    assert_eq!(results, [Ok(json!(["Default"])), Err("unsupported action".to_owned()), Ok(Value::Null)]);
}

#[test]
fn an_error_envelope_is_an_anki_error() {
    let fake = serve(|_, _, s| fail(s, "model was not found: Nope"));
    let err = client(&fake.url).model_field_names("Nope").expect_err("error");
    assert!(
        matches!(&err, Error::Anki { action, message } if action == "modelFieldNames" && message == "model was not found: Nope"),
        "{err:?}"
    );
    assert_eq!(err.anki_message(), Some("model was not found: Nope"));
    assert_eq!(err.to_string(), "AnkiConnect `modelFieldNames` failed: model was not found: Nope");
}

#[test]
fn unsupported_action_says_to_update_the_add_on() {
    let fake = serve(|_, _, s| fail(s, "unsupported action"));
    let err = client(&fake.url).call_value("noSuchAction", Value::Null).expect_err("unsupported");
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
    assert!(err.to_string().contains("update the add-on"), "{err}");
}

#[test]
fn collection_not_available_is_classified() {
    let fake = serve(|_, _, s| fail(s, "collection is not available"));
    let err = client(&fake.url).find_notes("x").expect_err("loading");
    assert!(err.is_collection_unavailable() && err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("retry"), "{err}");
}

#[test]
fn missing_api_key_and_wrong_api_key() {
    let fake = serve(|_, _, s| fail(s, "valid api key must be provided"));
    let err = client(&fake.url).version().expect_err("needs key");
    assert!(matches!(err, Error::ApiKeyRequired { .. }) && err.is_auth(), "{err:?}");
    assert!(err.to_string().contains("ANKICONNECT_API_KEY"), "{err}");
    assert!(err.to_string().contains("--api-key"), "{err}");

    let err = keyed(&fake.url, "hunter2-secret").version().expect_err("wrong key");
    assert!(matches!(err, Error::ApiKeyRejected { .. }) && err.is_auth(), "{err:?}");
    let requests = fake.requests.lock().expect("lock").clone();
    assert_eq!(requests.last().map(|r| r.action().to_owned()).as_deref(), Some("requestPermission"));
    assert_eq!(requests.last().map(|r| r.body.get("key").is_none()), Some(true));
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("hunter2"), "the key leaked: {shown}");
}

#[test]
fn sync_errors_are_classified() {
    let fake = serve(|index, r, s| match r.action() {
        "apiReflect" => ok(s, json!({"scopes": ["actions"], "actions": ["sync", "notesModTime", "getActiveProfile"]})),
        "sync" if index == 1 => fail(s, "sync: auth not configured"),
        "sync" if index == 2 => fail(
            s,
            "Sync status 2 not one of [0, 1] - see SyncCollectionResponse.ChangesRequired for list of sync statuses: https://github.com/ankitects/anki/blob/e41c4573d789afe8b020fab5d9d1eede50c3fa3d/proto/anki/sync.proto#L57-L65",
        ),
        "sync" => ok(s, Value::Null),
        _ => fail(s, "unsupported action"),
    });
    let c = client(&fake.url);
    let err = c.sync().expect_err("not logged in");
    assert!(matches!(err, Error::SyncNotLoggedIn), "{err:?}");
    let err = c.sync().expect_err("full sync");
    assert!(matches!(err, Error::FullSyncRequired { status: 2 }), "{err:?}");
    assert!(err.to_string().contains("upload or download"), "{err}");
    assert_eq!(c.sync().expect("synced"), SyncOutcome::Synced);
}

// ---- multi ----

#[test]
fn multi_with_fewer_entries_than_sent_is_malformed() {
    let fake = serve(|_, _, s| ok(s, json!([{"result": 1, "error": null}, {"result": 2, "error": null}])));
    let actions: Vec<Action> = (0..3).map(|i| Action::new("createDeck", json!({"deck": format!("d{i}")}))).collect();
    let err = client(&fake.url).multi(&actions, &mut |_, _| {}).expect_err("short");
    assert!(matches!(&err, Error::Malformed { action, .. } if action == "multi"), "{err:?}");
    assert!(err.to_string().contains("2 results for 3 actions"), "{err}");
}

#[test]
fn multi_reports_the_failing_index() {
    let fake = serve(|_, _, s| {
        ok(
            s,
            json!([
                {"result": 11, "error": null},
                {"result": null, "error": "cannot create note because it is a duplicate"},
                {"result": 13, "error": null},
            ]),
        )
    });
    let c = client(&fake.url);
    let actions: Vec<Action> = (0..3).map(|i| Action::new("addNote", json!({"note": {"n": i}}))).collect();
    let err = c.multi_all(&actions, &mut |_, _| {}).expect_err("one failed");
    assert!(
        matches!(&err, Error::SubAction { index: 1, action, message } if action == "addNote" && message == "cannot create note because it is a duplicate"),
        "{err:?}"
    );
    let note = NewNote { deck_name: "D".into(), model_name: "Basic".into(), ..NewNote::default() };
    let added = c.add_notes(&[note.clone(), note.clone(), note], &mut |_, _| {}).expect("per-note results");
    assert_eq!(
        added,
        [Ok(11), Err(NotAdded::Refused("cannot create note because it is a duplicate".to_owned())), Ok(13)]
    );
}

#[test]
fn multi_is_chunked_and_reports_progress() {
    let fake = serve(|_, r, s| {
        let n = r.body["params"]["actions"].as_array().map_or(0, Vec::len);
        let results: Vec<Value> = (0..n).map(|i| json!({"result": i, "error": null})).collect();
        ok(s, Value::Array(results));
    });
    let actions: Vec<Action> =
        (0..600).map(|i| Action::new("createDeck", json!({"deck": format!("deck {i}")}))).collect();
    let mut calls = Vec::new();
    let results = client(&fake.url).multi(&actions, &mut |done, total| calls.push((done, total))).expect("chunked");
    assert_eq!(results.len(), 600);
    assert_eq!(results[250], Ok(json!(0)), "the second chunk starts over");
    assert_eq!(calls, [(0, 600), (250, 600), (500, 600), (600, 600)]);
    let sizes: Vec<usize> = fake
        .requests
        .lock()
        .expect("lock")
        .iter()
        .map(|r| r.body["params"]["actions"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, [250, 250, 100]);
}

#[test]
fn multi_is_chunked_by_size() {
    let fake = serve(|_, r, s| {
        let n = r.body["params"]["actions"].as_array().map_or(0, Vec::len);
        ok(s, Value::Array(vec![json!({"result": "ok.png", "error": null}); n]));
    });
    let data = "A".repeat(1_500_000);
    let actions: Vec<Action> =
        (0..5).map(|i| Action::new("storeMediaFile", json!({"filename": format!("{i}.png"), "data": data}))).collect();
    client(&fake.url).multi(&actions, &mut |_, _| {}).expect("chunked");
    let requests = fake.requests.lock().expect("lock");
    let sizes: Vec<usize> =
        requests.iter().map(|r| r.body["params"]["actions"].as_array().map_or(0, Vec::len)).collect();
    assert_eq!(sizes, [2, 2, 1]);
}

#[test]
fn multi_keeps_finished_chunks_when_a_later_one_fails() {
    let fake = serve(|_, r, s| {
        let n = r.body["params"]["actions"].as_array().map_or(0, Vec::len);
        if r.body["params"]["actions"][0]["params"]["i"] == json!(0) {
            ok(s, Value::Array(vec![json!({"result": 7, "error": null}); n]));
        } else {
            cut_off(s);
        }
    });
    let actions: Vec<Action> = (0..300).map(|i| Action::new("addNote", json!({"i": i}))).collect();
    let results = client(&fake.url).multi(&actions, &mut |_, _| {}).expect("first chunk kept");
    assert_eq!(results.len(), 300);
    assert!(results[..250].iter().all(|r| r == &Ok(json!(7))));
    let Err(message) = &results[250] else {
        panic!("expected an error: {:?}", results[250]);
    };
    assert!(message.starts_with("outcome unknown"), "{message}");
    assert_eq!(fake.connections.load(Ordering::SeqCst), 2, "writes are not retried");
}

#[test]
fn an_empty_multi_sends_nothing() {
    let fake = serve(|_, _, s| ok(s, json!([])));
    let results = client(&fake.url).multi(&[], &mut |_, _| {}).expect("empty");
    assert!(results.is_empty());
    assert_eq!(fake.connections.load(Ordering::SeqCst), 0);
}

// ---- what goes on the wire ----

#[test]
fn every_request_carries_version_6_key_and_content_length_on_a_fresh_connection() {
    let fake = serve(|_, r, s| match r.action() {
        "multi" => ok(s, json!([{"result": 6, "error": null}, {"result": ["rig"], "error": null}])),
        _ => ok(s, json!(6)),
    });
    let c = keyed(&fake.url, "k");
    c.version().expect("version");
    c.version().expect("version again");
    c.multi(&[Action::new("version", Value::Null), Action::new("getProfiles", Value::Null)], &mut |_, _| {})
        .expect("multi");
    let requests = fake.requests.lock().expect("lock").clone();
    assert_eq!(requests.len(), 3);
    assert_eq!(fake.connections.load(Ordering::SeqCst), 3, "one connection per request");
    for r in &requests {
        assert!(r.head.starts_with("POST / HTTP/1.1"), "{}", r.head);
        let length = r.header("content-length").expect("Content-Length");
        assert_eq!(length.parse::<usize>().ok(), Some(r.body.to_string().len()));
        assert_eq!(r.header("transfer-encoding"), None);
        assert_eq!(r.header("connection").as_deref(), Some("close"));
        assert_eq!(r.header("origin"), None, "a CLI sends no Origin");
        assert_eq!(r.body["version"], json!(6));
        assert_eq!(r.body["key"], json!("k"));
    }
    assert_eq!(requests[0].body, json!({"action": "version", "version": 6, "key": "k"}));
    let subs = requests[2].body["params"]["actions"].as_array().expect("actions");
    assert_eq!(
        subs,
        &[
            json!({"action": "version", "version": 6, "key": "k"}),
            json!({"action": "getProfiles", "version": 6, "key": "k"}),
        ]
    );
}

#[test]
fn no_key_field_without_an_api_key() {
    let fake = serve(|_, _, s| ok(s, json!(6)));
    client(&fake.url).version().expect("version");
    let requests = fake.requests.lock().expect("lock");
    assert_eq!(requests[0].body, json!({"action": "version", "version": 6}));
}

// ---- capabilities and fallbacks for the 2023 add-on ----

#[test]
fn capabilities_are_asked_once() {
    let fake = serve(|_, r, s| match r.action() {
        "apiReflect" => {
            ok(s, json!({"scopes": ["actions"], "actions": ["version", "notesModTime", "getActiveProfile"]}))
        }
        "getActiveProfile" => ok(s, json!("rig")),
        _ => fail(s, "unsupported action"),
    });
    let c = client(&fake.url);
    let caps = c.capabilities().expect("caps");
    assert!(caps.is_modern() && caps.has_notes_mod_time() && !caps.has("sync"));
    assert_eq!(c.get_active_profile().expect("profile").as_deref(), Some("rig"));
    assert_eq!(c.get_active_profile().expect("profile").as_deref(), Some("rig"));
    let actions: Vec<String> = fake.requests.lock().expect("lock").iter().map(|r| r.action().to_owned()).collect();
    assert_eq!(actions, ["apiReflect", "getActiveProfile", "getActiveProfile"]);
}

#[test]
fn the_2023_add_on_gets_fallbacks() {
    // The 2023 add-on: apiReflect without notesModTime/getActiveProfile/canAddNotesWithErrorDetail,
    // notesInfo without `mod`, sync that only presses the button.
    let fake = serve(|_, r, s| match r.action() {
        "apiReflect" => ok(s, json!({"scopes": ["actions"], "actions": ["notesInfo", "sync", "canAddNotes", "multi"]})),
        "notesInfo" => ok(
            s,
            json!([
                {"noteId": 5, "tags": [], "fields": {"Front": {"value": "q", "order": 0}}, "modelName": "Basic", "cards": [6]},
                {}
            ]),
        ),
        "canAddNotes" => ok(s, json!([true, false])),
        "sync" => ok(s, Value::Null),
        _ => fail(s, "unsupported action"),
    });
    let c = client(&fake.url);
    assert!(!c.capabilities().expect("caps").is_modern());
    assert_eq!(c.get_active_profile().expect("no action, no profile"), None);
    let mods = c.notes_mod_time(&[5, 1]).expect("fallback");
    assert_eq!(mods.len(), 2);
    assert_eq!(mods[0].map(|m| (m.note_id, m.mod_time)), Some((5, None)));
    assert_eq!(mods[1], None);
    let note = NewNote::default();
    let can = c.can_add_notes_with_error_detail(&[note.clone(), note]).expect("fallback");
    assert!(can[0].is_ok() && can[1].is_err());
    assert_eq!(c.sync().expect("fire and forget"), SyncOutcome::Started);
    let actions: Vec<String> = fake.requests.lock().expect("lock").iter().map(|r| r.action().to_owned()).collect();
    assert_eq!(actions, ["apiReflect", "notesInfo", "canAddNotes", "sync"]);
}

#[test]
fn an_add_on_without_api_reflect_is_legacy() {
    let fake = serve(|_, r, s| match r.action() {
        "apiReflect" => fail(s, "unsupported action"),
        _ => ok(s, Value::Null),
    });
    let caps = client(&fake.url).capabilities().expect("legacy");
    assert!(caps.has("notesInfo") && !caps.has("notesModTime") && !caps.is_modern());
}

#[test]
fn missing_ids_and_files_are_none() {
    let fake = serve(|_, r, s| match r.action() {
        "notesInfo" => ok(
            s,
            json!([{"noteId": 5, "profile": "rig", "tags": ["a"], "fields": {"Back": {"value": "b", "order": 1}, "Front": {"value": "f", "order": 0}}, "modelName": "Basic", "mod": 1795312281, "cards": [6]}, {}]),
        ),
        "retrieveMediaFile" if r.body["params"]["filename"] == json!("missing.png") => ok(s, json!(false)),
        "retrieveMediaFile" => ok(s, json!("b3RoZXIgYnl0ZXM=")),
        _ => fail(s, "unsupported action"),
    });
    let c = client(&fake.url);
    let notes = c.notes_info(&[5, 1]).expect("notes");
    let first = notes[0].as_ref().expect("known id");
    assert_eq!(first.mod_time, Some(1795312281));
    assert_eq!(first.fields_in_order(), [("Front", "f"), ("Back", "b")]);
    assert_eq!(notes[1], None);
    assert_eq!(c.retrieve_media_file("missing.png").expect("missing"), None);
    assert_eq!(c.retrieve_media_file("x.png").expect("present").as_deref(), Some(&b"other bytes"[..]));
}

#[test]
fn after_a_good_reply_a_garbled_reply_to_a_write_is_an_unknown_outcome_not_a_wrong_url() {
    // The first request is answered properly; every later one gets an HTML error page.
    let fake = serve(|n, _, s| {
        if n == 0 {
            ok(s, json!(6));
        } else {
            let body = "<html><body>502 Bad Gateway</body></html>";
            let _ = write!(
                s,
                "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let c = client(&fake.url);
    c.version().expect("first reply");
    let err = c.delete_notes(&[1]).expect_err("garbled");
    assert!(matches!(&err, Error::Garbled { action, .. } if action == "deleteNotes"), "{err:?}");
    assert!(err.is_outcome_unknown(), "{err:?}");
    assert!(!err.to_string().contains("check the URL"), "{err}");
    // A read can be repeated: it stays what it is.
    let err = c.deck_names_and_ids().expect_err("read");
    assert!(err.is_not_anki_connect(), "{err:?}");
    // A short `multi` reply to writes is an unknown outcome too.
    let actions: Vec<Action> = (0..2).map(|i| Action::update_note_tags(i, &[])).collect();
    let err = c.multi(&actions, &mut |_, _| {}).expect_err("garbled multi");
    assert!(err.is_outcome_unknown(), "{err:?}");
}

#[test]
fn a_garbled_reply_before_any_good_one_is_a_wrong_address() {
    let fake = serve(|_, _, s| {
        let body = "<html><body>hello</body></html>";
        let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    });
    let err = client(&fake.url).delete_notes(&[1]).expect_err("html");
    assert!(err.is_not_anki_connect(), "{err:?}");
    assert!(!err.is_outcome_unknown(), "{err:?}");
}
