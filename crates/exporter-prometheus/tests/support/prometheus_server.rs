//! A real Prometheus server for tests, and how tests find outside tools.
//!
//! Included by path from the HTTP exporter's tests as well, so both crates
//! start Prometheus the same way; it uses only std, ureq and serde_json.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Finds a tool on PATH. Missing is a failure when CI=true, and a logged
/// skip elsewhere.
pub fn find_tool(name: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{name} is not on PATH; CI must install Debian's prometheus package"
        );
        eprintln!("skipping: {name} is not on PATH (install Debian's prometheus package)");
    }
    found
}

/// One series of a query answer: its labels and value.
pub type QueryResult = (BTreeMap<String, String>, f64);

/// A real Prometheus server on 127.0.0.1, started in a temporary directory
/// and killed by its own process id when dropped: scraping one target
/// every second, or receiving remote write.
pub struct PrometheusServer {
    child: std::process::Child,
    dir: std::path::PathBuf,
    base: String,
    pub api: String,
}

impl PrometheusServer {
    /// Starts `prometheus` scraping `target` (`host:port`). `None` when the
    /// binary is missing outside CI.
    pub fn start(target: &str) -> Result<Option<PrometheusServer>, Box<dyn std::error::Error>> {
        PrometheusServer::start_with(target, &[])
    }

    /// [`start`](PrometheusServer::start) with extra command-line flags,
    /// such as `--enable-feature=exemplar-storage`.
    pub fn start_with(
        target: &str,
        flags: &[&str],
    ) -> Result<Option<PrometheusServer>, Box<dyn std::error::Error>> {
        PrometheusServer::launch(
            &format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: census\n    static_configs:\n      - targets: ['{target}']\n"
            ),
            flags,
        )
    }

    /// Starts `prometheus` with its remote write receiver on and nothing to
    /// scrape; push to [`write_url`](Self::write_url). Returns once the
    /// server says it is ready. `None` when the binary is missing outside
    /// CI.
    pub fn receiver() -> Result<Option<PrometheusServer>, Box<dyn std::error::Error>> {
        let Some(mut server) = PrometheusServer::launch(
            "global:\n  evaluation_interval: 1s\n",
            &["--web.enable-remote-write-receiver"],
        )?
        else {
            return Ok(None);
        };
        server.wait_ready(std::time::Instant::now() + Duration::from_secs(30))?;
        Ok(Some(server))
    }

    fn launch(
        config_text: &str,
        args: &[&str],
    ) -> Result<Option<PrometheusServer>, Box<dyn std::error::Error>> {
        let Some(binary) = find_tool("prometheus") else {
            return Ok(None);
        };
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "census-prometheus-e2e-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(dir.join("data"))?;
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, config_text)?;
        // Prometheus binds its own port; a port the OS just handed out and
        // released is the best that can be passed to another process.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log = std::fs::File::create(dir.join("prometheus.log"))?;
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        Ok(Some(PrometheusServer {
            child,
            dir,
            base: format!("http://127.0.0.1:{port}"),
            api: format!("http://127.0.0.1:{port}/api/v1"),
        }))
    }

    /// Where the remote write receiver listens.
    pub fn write_url(&self) -> String {
        format!("{}/write", self.api)
    }

    /// Polls `/-/ready` until the server answers 200 or `deadline` passes.
    pub fn wait_ready(
        &mut self,
        deadline: std::time::Instant,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .http_status_as_error(false)
            .build()
            .into();
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Err(format!("prometheus exited with {status}: {}", self.log()).into());
            }
            if let Ok(response) = agent.get(&format!("{}/-/ready", self.base)).call() {
                if response.status().as_u16() == 200 {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("prometheus was not ready in time: {}", self.log()).into())
    }

    /// Runs an instant query; returns the value of each result series,
    /// with its labels.
    pub fn query(&self, promql: &str) -> Result<Vec<QueryResult>, Box<dyn std::error::Error>> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        let body = agent
            .get(&format!("{}/query", self.api))
            .query("query", promql)
            .call()?
            .body_mut()
            .read_to_string()?;
        let json: serde_json::Value = serde_json::from_str(&body)?;
        if json["status"] != "success" {
            return Err(format!("query {promql:?} failed: {body}").into());
        }
        let mut out = Vec::new();
        for result in json["data"]["result"].as_array().into_iter().flatten() {
            let labels = result["metric"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            let value = result["value"][1]
                .as_str()
                .ok_or_else(|| format!("no value in {result}"))?;
            // The API spells values as Go does ("1.5", "NaN", "+Inf"),
            // which Rust's parser reads.
            out.push((labels, value.parse::<f64>()?));
        }
        Ok(out)
    }

    /// Queries until `promql` has exactly one series whose value satisfies
    /// `want`, or `deadline` passes. Prometheus offers no notification of a
    /// completed scrape, so this polls, a few times a second.
    pub fn wait_for(
        &mut self,
        promql: &str,
        deadline: std::time::Instant,
        want: impl Fn(f64) -> bool,
    ) -> Result<f64, Box<dyn std::error::Error>> {
        let mut last = String::from("no answer yet");
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Err(format!("prometheus exited with {status}: {}", self.log()).into());
            }
            match self.query(promql) {
                Ok(results) => match results.as_slice() {
                    [(_, v)] if want(*v) => return Ok(*v),
                    other => last = format!("{other:?}"),
                },
                Err(err) => last = err.to_string(),
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Err(format!(
            "{promql:?} never matched; last answer: {last}\n{}",
            self.log()
        )
        .into())
    }

    /// The `data` of an API answer to `GET {api}/{path}` with `params`,
    /// or an error when its status is not success.
    pub fn api_get(
        &self,
        path: &str,
        params: &[(&str, &str)],
    ) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        let mut request = agent.get(&format!("{}/{path}", self.api));
        for (k, v) in params {
            request = request.query(*k, *v);
        }
        let body = request.call()?.body_mut().read_to_string()?;
        let json: serde_json::Value = serde_json::from_str(&body)?;
        if json["status"] != "success" {
            return Err(format!("{path} failed: {body}").into());
        }
        Ok(json["data"].clone())
    }

    /// Whether the server is still running; its log when it is not.
    pub fn check_alive(&mut self) -> Result<(), Box<dyn std::error::Error>> {
        match self.child.try_wait()? {
            Some(status) => Err(format!("prometheus exited with {status}: {}", self.log()).into()),
            None => Ok(()),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        // Killed by its own pid (Child::kill), then reaped.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
