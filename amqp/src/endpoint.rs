//! Where a broker is and how to log in: `amqp[s]://[USER[:PASSWORD]@]HOST[:PORT]/VHOST?…`, the part every URL of
//! ours shares. Two query parameters belong here: `password_file=PATH` (the password in a file, e.g. a mounted
//! Secret, read again at every connect so that a rotated one is picked up) and `ca_file=PATH` (PEM certificates to
//! trust for `amqps://` besides the system's). The rest of the query is the caller's (queue, exchange, …).

use std::fmt;
use std::path::PathBuf;

use lapin::{Connection, ConnectionProperties, tcp::OwnedTLSConfig};

/// A broker address with its credentials. `Debug` and [`Endpoint::redacted`] never show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL without our query parameters; its password, when given inline.
    url: url::Url,
    password_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
}

impl Endpoint {
    /// Parses `text` and returns the endpoint and the query parameters it did not take, in order.
    pub fn parse(text: &str) -> Result<(Endpoint, Vec<(String, String)>), String> {
        let url = url::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(url.scheme(), "amqp" | "amqps") {
            return Err("not an amqp:// or amqps:// URL".into());
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("no host".into());
        }
        if url.fragment().is_some() {
            return Err("a fragment (#…) is not allowed".into());
        }
        let mut endpoint = Endpoint { url: url.clone(), password_file: None, ca_file: None };
        endpoint.url.set_query(None);
        let mut rest = Vec::new();
        for (key, value) in url.query_pairs() {
            let (key, value) = (key.into_owned(), value.into_owned());
            match key.as_str() {
                "password_file" | "ca_file" if value.is_empty() => return Err(format!("`{key}` is empty")),
                "password_file" => endpoint.password_file = Some(PathBuf::from(value)),
                "ca_file" => endpoint.ca_file = Some(PathBuf::from(value)),
                _ => rest.push((key, value)),
            }
        }
        if endpoint.password_file.is_some() && url.password().is_some() {
            return Err("give the password once: in the URL or in `password_file`".into());
        }
        if endpoint.ca_file.is_some() && url.scheme() != "amqps" {
            return Err("`ca_file` needs an amqps:// URL".into());
        }
        Ok((endpoint, rest))
    }

    /// The URL without the password, for logs and errors.
    pub fn redacted(&self) -> String {
        let mut url = self.url.clone();
        if url.password().is_some() {
            let _ = url.set_password(Some("***"));
        }
        url.to_string()
    }

    /// Opens a connection, named `name` in the broker's management views.
    pub async fn connect(&self, name: &str) -> Result<Connection, String> {
        let mut url = self.url.clone();
        if let Some(file) = &self.password_file {
            let password = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read the password file {}: {e}", file.display()))?;
            url.set_password(Some(password.trim_end_matches(['\r', '\n'])))
                .map_err(|()| "this URL cannot carry a password".to_string())?;
        }
        let tls = match &self.ca_file {
            Some(file) => OwnedTLSConfig {
                identity: None,
                cert_chain: Some(
                    std::fs::read_to_string(file)
                        .map_err(|e| format!("cannot read the CA file {}: {e}", file.display()))?,
                ),
            },
            None => OwnedTLSConfig::default(),
        };
        let runtime = lapin::runtime::default_runtime().map_err(|e| e.to_string())?;
        let properties = ConnectionProperties::default().with_connection_name(name.into());
        Connection::connect_with_config(url.as_str(), properties, tls, runtime)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", self.redacted()))
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_stay_out_of_sight_and_parameters_are_split() {
        let (endpoint, rest) = Endpoint::parse("amqp://user:s3cret@broker:5672/%2f?queue=facts&x=1").unwrap();
        assert!(!format!("{endpoint:?}").contains("s3cret"));
        assert_eq!(endpoint.redacted(), "amqp://user:***@broker:5672/%2f");
        assert_eq!(rest, vec![("queue".into(), "facts".into()), ("x".into(), "1".into())]);

        let (endpoint, rest) =
            Endpoint::parse("amqps://user@broker/vh?password_file=/run/pw&ca_file=/run/ca.pem").unwrap();
        assert!(rest.is_empty());
        assert_eq!(endpoint.password_file.as_deref(), Some(std::path::Path::new("/run/pw")));
        assert_eq!(endpoint.ca_file.as_deref(), Some(std::path::Path::new("/run/ca.pem")));
    }

    #[test]
    fn bad_urls_say_why() {
        for (url, why) in [
            ("http://broker/%2f", "not an amqp"),
            ("amqp:///%2f", "no host"),
            ("amqp://u:p@b/%2f?password_file=/x", "password once"),
            ("amqp://b/%2f?ca_file=/ca", "needs an amqps"),
            ("amqp://b/%2f?password_file=", "empty"),
        ] {
            let err = Endpoint::parse(url).err().unwrap_or_default();
            assert!(err.contains(why), "{url}: {err}");
        }
    }
}
